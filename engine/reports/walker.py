"""The walker comparison report (SPEC 11.3, 12.9): strategies ranked by one metric."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.model import BacktestStatistics, ClosedResult, WalkerContract
from engine.reports.columns import columns_for
from engine.reports.format import NA, to_fixed
from engine.reports.markdown import Column, render_table, truncation_lines

__all__ = [
    "WalkerContract",
    "WalkerContractLike",
    "WalkerPnlRow",
    "WalkerStatistics",
    "WalkerStrategyResult",
    "pnl_rows",
    "ranked_results",
    "render_walker_report",
    "walker_statistics",
]

TOP_STRATEGIES = 10
_NOTE = (
    "*Note: strategies are ranked by the optimization metric, higher is better; a strategy "
    "without a value ranks last. Each strategy's statistics cover the closed signals its "
    "backtest report keeps.*"
)


class WalkerContractLike(Protocol):
    """Any object with the fields of ``WalkerContract`` (the runner may use its own class)."""

    @property
    def walker_name(self) -> str: ...
    @property
    def exchange_name(self) -> str: ...
    @property
    def frame_name(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def strategy_name(self) -> str: ...
    @property
    def stats(self) -> BacktestStatistics: ...
    @property
    def metric_value(self) -> float | None: ...
    @property
    def metric(self) -> str: ...
    @property
    def best_metric(self) -> float | None: ...
    @property
    def best_strategy(self) -> str | None: ...
    @property
    def total_strategies(self) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkerStrategyResult:
    """One tested strategy: its backtest statistics and its value of the walker's metric."""

    strategy_name: str
    stats: BacktestStatistics
    metric_value: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkerPnlRow:
    """One closed signal in the walker's PNL table, with the strategy that produced it."""

    strategy_name: str
    signal: ClosedResult


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkerStatistics:
    """``Walker.get_data``: the walkerComplete fields plus every strategy's result, newest first."""

    walker_name: str
    symbol: str
    exchange_name: str
    frame_name: str
    metric: str
    total_strategies: int
    best_strategy: str | None
    best_metric: float | None
    best_stats: BacktestStatistics | None
    strategy_results: tuple[WalkerStrategyResult, ...]


def walker_statistics(contracts: Sequence[WalkerContractLike]) -> WalkerStatistics:
    """Fold the walker store (contracts newest first) into ``WalkerStatistics``.

    The best strategy and metric come from the newest contract; ``best_stats`` are the stats of
    the newest contract whose strategy was the best one at that point. Raises ``ValueError``
    ("No walker data available") when nothing was recorded, as the original's ``getData`` does.
    """
    if not contracts:
        raise ValueError("No walker data available")
    latest = contracts[0]
    best_stats = next((c.stats for c in contracts if c.strategy_name == c.best_strategy), None)
    return WalkerStatistics(
        walker_name=latest.walker_name,
        symbol=latest.symbol,
        exchange_name=latest.exchange_name,
        frame_name=latest.frame_name,
        metric=latest.metric,
        total_strategies=latest.total_strategies,
        best_strategy=latest.best_strategy,
        best_metric=latest.best_metric,
        best_stats=best_stats,
        strategy_results=tuple(
            WalkerStrategyResult(strategy_name=c.strategy_name, stats=c.stats, metric_value=c.metric_value)
            for c in contracts
        ),
    )


def ranked_results(
    results: Sequence[WalkerStrategyResult], limit: int | None = TOP_STRATEGIES
) -> list[WalkerStrategyResult]:
    """Results by metric value, highest first; a missing value counts as minus infinity and
    ties keep their order (newest first)."""
    ordered = sorted(results, key=lambda r: r.metric_value if r.metric_value is not None else -math.inf, reverse=True)
    return ordered if limit is None else ordered[:limit]


def pnl_rows(results: Sequence[WalkerStrategyResult]) -> list[WalkerPnlRow]:
    """Every stored closed signal of every strategy: strategies in the given order (newest
    first), each strategy's signals newest first."""
    return [
        WalkerPnlRow(strategy_name=r.strategy_name, signal=signal) for r in results for signal in r.stats.signal_list
    ]


def render_walker_report(
    stats: WalkerStatistics,
    strategy_columns: Sequence[Column] | None = None,
    pnl_columns: Sequence[Column] | None = None,
) -> str:
    """``Walker.get_report``: the setup, the best strategy, the top-10 comparison and the table
    of every closed signal."""
    s_cols = columns_for("walker_strategy_columns", strategy_columns)
    p_cols = columns_for("walker_pnl_columns", pnl_columns)
    top = ranked_results(stats.strategy_results)
    rows = pnl_rows(stats.strategy_results)
    best_metric = NA if stats.best_metric is None else to_fixed(stats.best_metric, 2)
    best_total = stats.best_stats.total_signals if stats.best_stats is not None else 0
    cut = [
        truncation_lines(r.stats.total_signals, r.stats.seen_signals, f"closed signals of {r.strategy_name}")[0]
        for r in stats.strategy_results
        if r.stats.is_truncated
    ]
    lines = [
        f"# Walker Comparison Report: {stats.walker_name}",
        "",
        f"**Symbol:** {stats.symbol}",
        f"**Exchange:** {stats.exchange_name}",
        f"**Frame:** {stats.frame_name}",
        f"**Optimization Metric:** {stats.metric}",
        f"**Strategies Tested:** {stats.total_strategies}",
        "",
        f"## Best Strategy: {stats.best_strategy if stats.best_strategy is not None else NA}",
        "",
        f"**Best {stats.metric}:** {best_metric}",
        f"**Total Signals:** {best_total}",
        "",
        "## Top Strategies Comparison",
        "",
        render_table(s_cols, top) if top else "No strategy results available.",
        "",
        "## All Signals (PNL Table)",
        "",
        render_table(p_cols, rows) if rows else "No closed signals available.",
        "",
        *([*cut, ""] if cut else []),
        _NOTE,
    ]
    return "\n".join(lines)
