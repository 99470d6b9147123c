"""Scheduled (limit) entries: what was scheduled, activated or cancelled (SPEC 12.4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from engine.model import CancelledResult, OpenedResult, ScheduledResult, TickResult
from engine.reports.columns import columns_for
from engine.reports.format import NA, js_round, to_fixed
from engine.reports.markdown import Column, table_report

__all__ = [
    "ScheduleEvent",
    "ScheduleStatistics",
    "render_schedule_report",
    "schedule_event",
    "schedule_statistics",
]

ScheduleAction = Literal["scheduled", "opened", "cancelled"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleEvent:
    """One row of the schedule store. ``duration`` is in whole minutes: the wait until
    activation (opened) or until cancellation (cancelled); ``None`` for scheduled."""

    timestamp: int
    action: ScheduleAction
    symbol: str
    signal_id: str
    position: str
    note: str | None
    current_price: float
    price_open: float
    take_profit: float
    stop_loss: float
    close_timestamp: int | None = None
    duration: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleStatistics:
    """SPEC 12.4 over the stored events (newest first); rates in percent, times in minutes.
    ``seen_events`` counts every event recorded, stored or already dropped."""

    event_list: tuple[ScheduleEvent, ...]
    total_events: int
    total_scheduled: int
    total_opened: int
    total_cancelled: int
    cancellation_rate: float | None
    activation_rate: float | None
    avg_wait_time: float | None
    avg_activation_time: float | None
    seen_events: int

    @property
    def is_truncated(self) -> bool:
        return self.seen_events > self.total_events


def schedule_event(result: TickResult) -> ScheduleEvent | None:
    """The store row for a tick result, or ``None`` when the schedule store ignores it.

    ``opened`` counts only when a scheduled signal activated later than it was created
    (``scheduled_at != pending_at``); an immediate open is not a schedule event.
    """
    if isinstance(result, ScheduledResult | OpenedResult | CancelledResult):
        row = result.signal
    else:
        return None
    common = {
        "symbol": row.symbol,
        "signal_id": row.id,
        "position": row.position,
        "note": row.note,
        "current_price": result.current_price,
        "price_open": row.price_open,
        "take_profit": row.price_take_profit,
        "stop_loss": row.price_stop_loss,
    }
    if isinstance(result, ScheduledResult):
        return ScheduleEvent(timestamp=row.scheduled_at, action="scheduled", **common)
    if isinstance(result, OpenedResult):
        if row.pending_at is None or row.scheduled_at == row.pending_at:
            return None
        return ScheduleEvent(
            timestamp=row.pending_at,
            action="opened",
            duration=js_round((row.pending_at - row.scheduled_at) / 60_000),
            **common,
        )
    return ScheduleEvent(
        timestamp=result.close_timestamp,
        action="cancelled",
        close_timestamp=result.close_timestamp,
        duration=js_round((result.close_timestamp - row.scheduled_at) / 60_000),
        **common,
    )


def _mean_duration(events: list[ScheduleEvent]) -> float | None:
    if not events:
        return None
    total = 0
    for e in events:
        total += e.duration or 0
    return total / len(events)


def schedule_statistics(events: Sequence[ScheduleEvent], seen: int | None = None) -> ScheduleStatistics:
    """``Schedule.get_data``: counts, rates and mean waits over the stored events only."""
    n = len(events)
    scheduled = sum(1 for e in events if e.action == "scheduled")
    opened = [e for e in events if e.action == "opened"]
    cancelled = [e for e in events if e.action == "cancelled"]
    return ScheduleStatistics(
        event_list=tuple(events),
        total_events=n,
        total_scheduled=scheduled,
        total_opened=len(opened),
        total_cancelled=len(cancelled),
        cancellation_rate=len(cancelled) / scheduled * 100 if scheduled else None,
        activation_rate=len(opened) / scheduled * 100 if scheduled else None,
        avg_wait_time=_mean_duration(cancelled),
        avg_activation_time=_mean_duration(opened),
        seen_events=max(n, seen if seen is not None else n),
    )


def _fixed(value: float | None, tail: str) -> str:
    return NA if value is None else to_fixed(value, 2) + tail


def render_schedule_report(
    strategy_name: str, stats: ScheduleStatistics, columns: Sequence[Column] | None = None
) -> str:
    """``Schedule.get_report``: the event table (newest first) and the summary."""
    title = f"# Scheduled Signals Report: {strategy_name}"
    return table_report(
        title,
        empty="No scheduled signals recorded yet.",
        columns=columns_for("schedule_columns", columns),
        items=stats.event_list,
        seen=stats.seen_events,
        noun="events",
        summary=lambda: [
            f"**Total events:** {stats.total_events}",
            f"**Scheduled signals:** {stats.total_scheduled}",
            f"**Opened signals:** {stats.total_opened}",
            f"**Cancelled signals:** {stats.total_cancelled}",
            f"**Activation rate:** {_fixed(stats.activation_rate, '% (higher is better)')}",
            f"**Cancellation rate:** {_fixed(stats.cancellation_rate, '% (lower is better)')}",
            f"**Average activation time:** {_fixed(stats.avg_activation_time, ' minutes')}",
            f"**Average wait time (cancelled):** {_fixed(stats.avg_wait_time, ' minutes')}",
        ],
    )
