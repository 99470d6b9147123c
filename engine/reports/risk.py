"""Signals a risk profile rejected (SPEC 12.6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.model import RiskEvent
from engine.reports.columns import columns_for
from engine.reports.markdown import Column, table_report

__all__ = ["RiskStatistics", "render_risk_report", "risk_statistics"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskStatistics:
    """Rejections over the stored events (newest first). ``by_symbol`` and ``by_strategy`` keep
    the order in which each name first appears walking that list; ``seen_events`` counts every
    rejection recorded, stored or already dropped."""

    event_list: tuple[RiskEvent, ...]
    total_rejections: int
    by_symbol: dict[str, int]
    by_strategy: dict[str, int]
    seen_events: int

    @property
    def is_truncated(self) -> bool:
        return self.seen_events > self.total_rejections


def risk_statistics(events: Sequence[RiskEvent], seen: int | None = None) -> RiskStatistics:
    """``Risk.get_data``: total and per-symbol / per-strategy rejection counts."""
    by_symbol: dict[str, int] = {}
    by_strategy: dict[str, int] = {}
    for e in events:
        by_symbol[e.symbol] = by_symbol.get(e.symbol, 0) + 1
        by_strategy[e.strategy_name] = by_strategy.get(e.strategy_name, 0) + 1
    n = len(events)
    return RiskStatistics(
        event_list=tuple(events),
        total_rejections=n,
        by_symbol=by_symbol,
        by_strategy=by_strategy,
        seen_events=max(n, seen if seen is not None else n),
    )


def render_risk_report(
    symbol: str, strategy_name: str, stats: RiskStatistics, columns: Sequence[Column] | None = None
) -> str:
    """``Risk.get_report``: the rejection table (newest first), then the counts by symbol and
    by strategy."""
    title = f"# Risk Rejection Report: {symbol}:{strategy_name}"
    return table_report(
        title,
        empty="No risk rejections recorded yet.",
        columns=columns_for("risk_columns", columns),
        items=stats.event_list,
        seen=stats.seen_events,
        noun="rejections",
        summary=lambda: [
            f"**Total rejections:** {stats.total_rejections}",
            "",
            "## Rejections by Symbol",
            *(f"- {name}: {count}" for name, count in stats.by_symbol.items()),
            "",
            "## Rejections by Strategy",
            *(f"- {name}: {count}" for name, count in stats.by_strategy.items()),
        ],
    )
