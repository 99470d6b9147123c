"""The backtest report (SPEC 12.2): closed signals of one strategy as a markdown page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.model import BacktestStatistics
from engine.reports.columns import columns_for
from engine.reports.format import NA, signed_fixed, to_fixed
from engine.reports.markdown import Column, table_report

__all__ = ["render_backtest_report", "trade_summary_lines"]


def _or_na(value: float | None, text: str) -> str:
    return NA if value is None else text


def trade_summary_lines(stats: Any) -> list[str]:
    """The summary lines the backtest and live reports share; ``N/A`` for a null metric. The
    original's "Total PNL" is a sum of per-trade percentages and is labelled so; the compounded
    return and drawdown beside it are the account's view (btk's own).

    ``stats`` is a ``BacktestStatistics`` or ``LiveStatistics`` (they name these fields alike).
    """
    win_rate, win_count, loss_count = stats.win_rate, stats.win_count, stats.loss_count

    def fixed(v: float | None, digits: int, tail: str) -> str:
        return NA if v is None else to_fixed(v, digits) + tail

    def signed(v: float | None, tail: str) -> str:
        return NA if v is None else signed_fixed(v, 2) + tail

    win = _or_na(
        win_rate,
        f"{to_fixed(win_rate or 0.0, 2)}% ({win_count}W / {loss_count}L) (higher is better)",
    )
    return [
        f"**Win rate:** {win}",
        f"**Average PNL:** {signed(stats.avg_pnl, '% (higher is better)')}",
        f"**Total PNL (sum of trade %):** {signed(stats.total_pnl, '% (higher is better)')}",
        f"**Compounded return:** {signed(stats.compounded_return, '% (the account, each trade compounded)')}",
        f"**Max drawdown (compounded):** {fixed(stats.max_drawdown, 2, '% (lower is better)')}",
        f"**Standard Deviation:** {fixed(stats.std_dev, 3, '% (lower is better)')}",
        f"**Sharpe Ratio:** {fixed(stats.sharpe_ratio, 3, ' (higher is better)')}",
        f"**Annualized Sharpe Ratio:** {fixed(stats.annualized_sharpe_ratio, 3, ' (higher is better)')}",
        f"**Certainty Ratio:** {fixed(stats.certainty_ratio, 3, ' (higher is better)')}",
        f"**Expected Yearly Returns:** {signed(stats.expected_yearly_returns, '% (higher is better)')}",
    ]


def render_backtest_report(
    strategy_name: str, stats: BacktestStatistics, columns: Sequence[Column] | None = None
) -> str:
    """``Backtest.get_report``: title, the table of closed signals (newest first) and the summary.

    ``columns`` replaces the configured ``backtest_columns`` for this call only. When the store
    dropped older signals, a line under the title says how many the statistics cover.
    """
    title = f"# Backtest Report: {strategy_name}"
    return table_report(
        title,
        empty="No signals closed yet.",
        columns=columns_for("backtest_columns", columns),
        items=stats.signal_list,
        seen=stats.seen_signals,
        noun="closed signals",
        summary=lambda: [
            f"**Total signals:** {stats.total_signals}",
            f"**Closed signals:** {stats.total_signals}",
            *trade_summary_lines(stats),
        ],
    )
