"""The portfolio heatmap: one row of trade statistics per symbol of a strategy (SPEC 12.7).

Every sum runs over a symbol's stored closed signals in their stored order, newest first, and
so does the running sum behind ``max_drawdown``: the original walks the list that way, and the
numbers (case 30) depend on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.model import ClosedResult
from engine.reports.columns import columns_for
from engine.reports.format import NA, printf
from engine.reports.markdown import Column, render_table, truncation_lines
from engine.reports.statistics import left_sum, safe

__all__ = ["HeatRow", "HeatStatistics", "heat_row", "heat_statistics", "render_heat_report"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HeatRow:
    """One symbol's statistics. Ratios that need at least two trades, a win and a loss, or a
    non-zero deviation are ``None`` without them; ``seen_trades`` counts every closed signal of
    the symbol, stored or already dropped."""

    symbol: str
    total_pnl: float | None
    sharpe_ratio: float | None
    max_drawdown: float | None
    total_trades: int
    win_count: int
    loss_count: int
    win_rate: float | None
    avg_pnl: float | None
    std_dev: float | None
    profit_factor: float | None
    avg_win: float | None
    avg_loss: float | None
    max_win_streak: int
    max_loss_streak: int
    expectancy: float | None
    seen_trades: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HeatStatistics:
    """Rows sorted by Sharpe ratio (best first, ``None`` last, ties in first-seen order) and the
    portfolio totals computed over them in that order."""

    symbols: tuple[HeatRow, ...]
    total_symbols: int
    portfolio_total_pnl: float | None
    portfolio_sharpe_ratio: float | None
    portfolio_total_trades: int
    seen_trades: int

    @property
    def is_truncated(self) -> bool:
        return self.seen_trades > self.portfolio_total_trades


def _streaks(pnls: Sequence[float]) -> tuple[int, int]:
    """Longest runs of wins and of losses; a zero-PNL trade leaves both runs as they are."""
    best_win = best_loss = win_run = loss_run = 0
    for r in pnls:
        if r > 0:
            win_run += 1
            loss_run = 0
            best_win = max(best_win, win_run)
        elif r < 0:
            loss_run += 1
            win_run = 0
            best_loss = max(best_loss, loss_run)
    return best_win, best_loss


def _max_drawdown(pnls: Sequence[float]) -> float:
    """Largest ``|S|`` of the running sum ``S`` over the list while ``S <= 0`` (0 if never)."""
    running = 0.0
    worst = 0.0
    for r in pnls:
        running += r
        drawdown = 0.0 if running > 0 else abs(running)
        if drawdown > worst:
            worst = drawdown
    return worst


def heat_row(symbol: str, closed: Sequence[ClosedResult], seen: int | None = None) -> HeatRow:
    """Statistics of one symbol's stored closed signals (newest first)."""
    if getattr(closed, "packed_view", False):  # its chunks' PnL column: the values its objects would hold
        pnls = closed.pnl_and_duration()[0]  # type: ignore[attr-defined]
    else:
        pnls = [c.pnl.pnl_percentage for c in closed]
    n = len(pnls)
    wins = [r for r in pnls if r > 0]
    losses = [r for r in pnls if r < 0]
    win_streak, loss_streak = _streaks(pnls)
    seen_trades = max(n, seen if seen is not None else n)
    if n == 0:
        return HeatRow(
            symbol=symbol,
            total_pnl=None,
            sharpe_ratio=None,
            max_drawdown=None,
            total_trades=0,
            win_count=0,
            loss_count=0,
            win_rate=None,
            avg_pnl=None,
            std_dev=None,
            profit_factor=None,
            avg_win=None,
            avg_loss=None,
            max_win_streak=0,
            max_loss_streak=0,
            expectancy=None,
            seen_trades=seen_trades,
        )
    win_rate = len(wins) / n * 100
    total_pnl = left_sum(pnls)
    avg_pnl = total_pnl / n
    std_dev = math.sqrt(left_sum((r - avg_pnl) * (r - avg_pnl) for r in pnls) / n) if n > 1 else None
    sharpe = avg_pnl / std_dev if std_dev is not None and std_dev != 0 else None
    sum_wins, sum_losses = left_sum(wins), left_sum(losses)
    profit_factor = sum_wins / abs(sum_losses) if wins and losses else None
    avg_win = sum_wins / len(wins) if wins else None
    avg_loss = sum_losses / len(losses) if losses else None
    expectancy = None
    if avg_win is not None and avg_loss is not None:
        expectancy = (win_rate / 100) * avg_win + ((100 - win_rate) / 100) * avg_loss
    return HeatRow(
        symbol=symbol,
        total_pnl=safe(total_pnl),
        sharpe_ratio=safe(sharpe),
        max_drawdown=safe(_max_drawdown(pnls)),
        total_trades=n,
        win_count=len(wins),
        loss_count=len(losses),
        win_rate=safe(win_rate),
        avg_pnl=safe(avg_pnl),
        std_dev=safe(std_dev),
        profit_factor=safe(profit_factor),
        avg_win=safe(avg_win),
        avg_loss=safe(avg_loss),
        max_win_streak=win_streak,
        max_loss_streak=loss_streak,
        expectancy=safe(expectancy),
        seen_trades=seen_trades,
    )


def heat_statistics(
    by_symbol: Mapping[str, Sequence[ClosedResult]], seen: Mapping[str, int] | None = None
) -> HeatStatistics:
    """``Heat.get_data``: ``by_symbol`` maps each symbol, in first-seen order, to its stored
    closed signals (newest first); ``seen`` optionally maps it to its count of all closed signals."""
    seen = seen or {}
    rows = [heat_row(symbol, closed, seen.get(symbol)) for symbol, closed in by_symbol.items()]
    rows.sort(key=lambda r: (r.sharpe_ratio is None, -(r.sharpe_ratio or 0.0)))
    total_trades = 0
    weighted = 0.0
    any_sharpe = False
    for row in rows:
        total_trades += row.total_trades
        if row.sharpe_ratio is not None:
            weighted += row.sharpe_ratio * row.total_trades
            any_sharpe = True
    total_pnl = left_sum(row.total_pnl or 0.0 for row in rows) if rows else None
    sharpe = weighted / total_trades if any_sharpe and total_trades > 0 else None
    return HeatStatistics(
        symbols=tuple(rows),
        total_symbols=len(rows),
        portfolio_total_pnl=safe(total_pnl),
        portfolio_sharpe_ratio=safe(sharpe),
        portfolio_total_trades=total_trades,
        seen_trades=sum(row.seen_trades for row in rows),
    )


def _fmt(fmt: str, value: float | None) -> str:
    return NA if value is None else printf(fmt, value)


def render_heat_report(strategy_name: str, stats: HeatStatistics, columns: Sequence[Column] | None = None) -> str:
    """``Heat.get_report``: the portfolio line and one row per symbol (printf formats as the
    original intended, e.g. ``+1.21%``)."""
    title = f"# Portfolio Heatmap: {strategy_name}"
    if stats.total_symbols == 0:
        return "\n".join([title, "", "*No data available*"])
    cols = columns_for("heat_columns", columns)
    summary = (
        f"**Total Symbols:** {stats.total_symbols} | "
        f"**Portfolio PNL:** {_fmt('%+.2f%%', stats.portfolio_total_pnl)} | "
        f"**Portfolio Sharpe:** {_fmt('%.2f', stats.portfolio_sharpe_ratio)} | "
        f"**Total Trades:** {stats.portfolio_total_trades}"
    )
    lines = [
        title,
        "",
        *truncation_lines(stats.portfolio_total_trades, stats.seen_trades, "closed signals", per="symbol"),
        summary,
        "",
        render_table(cols, stats.symbols),
    ]
    return "\n".join(lines)
