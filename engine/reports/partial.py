"""Partial profit / loss milestones reached by open signals (SPEC 12.5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from engine.model import PartialEvent
from engine.reports.columns import columns_for
from engine.reports.markdown import Column, table_report

__all__ = [
    "PartialRecord",
    "PartialStatistics",
    "partial_record",
    "partial_statistics",
    "render_partial_report",
]

PartialAction = Literal["profit", "loss"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PartialRecord:
    """One milestone as the partial store keeps it: which way (``profit``/``loss``), which level
    (10..100, a share of the way to TP or SL) and where the price was."""

    timestamp: int
    action: PartialAction
    symbol: str
    strategy_name: str
    signal_id: str
    position: str
    current_price: float
    level: int
    backtest: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PartialStatistics:
    """Counts over the stored records (newest first); ``seen_events`` counts every record."""

    event_list: tuple[PartialRecord, ...]
    total_events: int
    total_profit: int
    total_loss: int
    seen_events: int

    @property
    def is_truncated(self) -> bool:
        return self.seen_events > self.total_events


def partial_record(event: PartialEvent, action: PartialAction) -> PartialRecord:
    """The store row for a partialProfit (``action="profit"``) or partialLoss event."""
    return PartialRecord(
        timestamp=event.timestamp,
        action=action,
        symbol=event.symbol,
        strategy_name=event.strategy_name,
        signal_id=event.data.id,
        position=event.data.position,
        current_price=event.current_price,
        level=event.level,
        backtest=event.backtest,
    )


def partial_statistics(events: Sequence[PartialRecord], seen: int | None = None) -> PartialStatistics:
    """``Partial.get_data``: how many milestones were stored, split by direction."""
    n = len(events)
    profit = sum(1 for e in events if e.action == "profit")
    return PartialStatistics(
        event_list=tuple(events),
        total_events=n,
        total_profit=profit,
        total_loss=sum(1 for e in events if e.action == "loss"),
        seen_events=max(n, seen if seen is not None else n),
    )


def render_partial_report(
    symbol: str, strategy_name: str, stats: PartialStatistics, columns: Sequence[Column] | None = None
) -> str:
    """``Partial.get_report``: the milestone table (newest first) and the three counts."""
    title = f"# Partial Profit/Loss Report: {symbol}:{strategy_name}"
    return table_report(
        title,
        empty="No partial profit/loss events recorded yet.",
        columns=columns_for("partial_columns", columns),
        items=stats.event_list,
        seen=stats.seen_events,
        noun="events",
        summary=lambda: [
            f"**Total events:** {stats.total_events}",
            f"**Profit events:** {stats.total_profit}",
            f"**Loss events:** {stats.total_loss}",
        ],
    )
