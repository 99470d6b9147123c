"""The live trading report (SPEC 12.3): a running log of live ticks and trade statistics.

A live strategy ticks every minute, mostly with nothing to say, so the log does not grow by one
row per tick: a new idle tick overwrites an earlier idle row, and a new ``active`` tick of a
position overwrites that position's earlier ``active`` row. ``LiveEventList`` holds those rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from engine.config import report_cap
from engine.model import ActiveResult, ClosedResult, IdleResult, OpenedResult, TickResult, TradeMetrics
from engine.reports.backtest import trade_summary_lines
from engine.reports.columns import columns_for
from engine.reports.format import js_round
from engine.reports.markdown import Column, table_report
from engine.reports.statistics import EMPTY_TRADE_METRICS, left_sum, pnl_metrics, trade_metrics

__all__ = [
    "LiveEvent",
    "LiveEventList",
    "LiveStatistics",
    "live_event",
    "live_statistics",
    "render_live_report",
]

LiveAction = Literal["idle", "opened", "active", "closed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveEvent:
    """One row of the live log. Idle rows carry only ``timestamp`` and ``current_price``;
    ``percent_tp``/``percent_sl`` belong to active rows, ``pnl``/``close_reason``/``duration``
    (whole minutes since the position opened) to closed rows."""

    timestamp: int
    action: LiveAction
    current_price: float
    symbol: str | None = None
    signal_id: str | None = None
    position: str | None = None
    note: str | None = None
    open_price: float | None = None
    take_profit: float | None = None
    stop_loss: float | None = None
    percent_tp: float | None = None
    percent_sl: float | None = None
    pnl: float | None = None
    close_reason: str | None = None
    duration: int | None = None


def live_event(result: TickResult, now_ms: int) -> LiveEvent | None:
    """The log row for a live tick result, or ``None`` for actions the live log ignores
    (scheduled, cancelled). ``now_ms`` is the wall clock, the time of idle and active rows."""
    if isinstance(result, IdleResult):
        return LiveEvent(timestamp=now_ms, action="idle", current_price=result.current_price)
    if not isinstance(result, OpenedResult | ActiveResult | ClosedResult):
        return None
    row = result.signal
    common = {
        "symbol": row.symbol,
        "signal_id": row.id,
        "position": row.position,
        "note": row.note,
        "open_price": row.price_open,
        "take_profit": row.price_take_profit,
        "stop_loss": row.price_stop_loss,
    }
    if isinstance(result, OpenedResult):
        opened_at = row.pending_at if row.pending_at is not None else now_ms
        return LiveEvent(timestamp=opened_at, action="opened", current_price=row.price_open, **common)
    if isinstance(result, ActiveResult):
        return LiveEvent(
            timestamp=now_ms,
            action="active",
            current_price=result.current_price,
            percent_tp=result.percent_tp,
            percent_sl=result.percent_sl,
            **common,
        )
    duration = None
    if row.pending_at is not None:
        duration = js_round((result.close_timestamp - row.pending_at) / 60_000)
    return LiveEvent(
        timestamp=result.close_timestamp,
        action="closed",
        current_price=result.current_price,
        pnl=result.pnl.pnl_percentage,
        close_reason=result.close_reason,
        duration=duration,
        **common,
    )


class LiveEventList:
    """The live log, newest first, with the original's insertion rules ("oldest" = largest index):

    - idle: if there is an idle row and no opened/active row is older than the oldest idle row,
      that oldest idle row is overwritten in place; otherwise the row goes to the front;
    - active: the oldest active row of the same signal is overwritten in place, if any;
      otherwise the row goes to the front;
    - opened, closed: to the front.

    Rows pushed past the cap (``cap``, or CC_MAX_REPORT_EVENTS read at each insert) drop off the
    old end; ``seen`` counts stored plus dropped rows.
    """

    __slots__ = ("_cap", "_dropped", "_events")

    def __init__(self, cap: int | None = None) -> None:
        self._cap = cap
        self._events: list[LiveEvent] = []
        self._dropped = 0

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[LiveEvent]:
        return iter(self._events)

    @property
    def seen(self) -> int:
        return len(self._events) + self._dropped

    def events(self) -> tuple[LiveEvent, ...]:
        return tuple(self._events)

    def clear(self) -> None:
        self._events.clear()
        self._dropped = 0

    def add(self, event: LiveEvent) -> None:
        events = self._events
        if event.action == "idle":
            for i in range(len(events) - 1, -1, -1):
                action = events[i].action
                if action == "idle":
                    events[i] = event
                    return
                if action in ("opened", "active"):
                    break
        elif event.action == "active":
            for i in range(len(events) - 1, -1, -1):
                if events[i].action == "active" and events[i].signal_id == event.signal_id:
                    events[i] = event
                    return
        events.insert(0, event)
        cap = self._cap if self._cap is not None else report_cap()
        while cap is not None and len(events) > cap:
            events.pop()
            self._dropped += 1


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveStatistics(TradeMetrics):
    """SPEC 12.3. Null metrics only for an empty log; with rows but no closed trade the PNL
    metrics are 0 and ``win_rate`` is null. ``seen_events`` counts stored plus dropped rows."""

    event_list: tuple[LiveEvent, ...]
    total_events: int
    total_closed: int
    seen_events: int

    @property
    def is_truncated(self) -> bool:
        return self.seen_events > self.total_events


def live_statistics(events: Sequence[LiveEvent], seen: int | None = None) -> LiveStatistics:
    """``Live.get_data`` over the log rows (newest first); trade metrics use the closed rows."""
    n = len(events)
    base = {"event_list": tuple(events), "total_events": n, "seen_events": max(n, seen or n)}
    if n == 0:
        return LiveStatistics(**base, total_closed=0, **EMPTY_TRADE_METRICS)
    closed = [e for e in events if e.action == "closed"]
    if not closed:
        return LiveStatistics(
            **base,
            total_closed=0,
            win_count=0,
            loss_count=0,
            win_rate=None,
            avg_pnl=0.0,
            total_pnl=0.0,
            std_dev=0.0,
            sharpe_ratio=0.0,
            annualized_sharpe_ratio=0.0,
            certainty_ratio=0.0,
            expected_yearly_returns=0.0,
            compounded_return=0.0,  # no trade closed: the account is where it started
            max_drawdown=0.0,
        )
    pnls = [e.pnl if e.pnl is not None else float("nan") for e in closed]
    m = pnl_metrics(pnls)
    total_minutes = left_sum(float(e.duration) if e.duration is not None else float("nan") for e in closed)
    avg_days = total_minutes / len(closed) / 1440
    return LiveStatistics(
        **base,
        total_closed=len(closed),
        **trade_metrics(m, avg_days, pnls),
    )


def render_live_report(strategy_name: str, stats: LiveStatistics, columns: Sequence[Column] | None = None) -> str:
    """``Live.get_report``: the log table (newest first) and the trade summary."""
    title = f"# Live Trading Report: {strategy_name}"
    return table_report(
        title,
        empty="No events recorded yet.",
        columns=columns_for("live_columns", columns),
        items=stats.event_list,
        seen=stats.seen_events,
        noun="events",
        summary=lambda: [
            f"**Total events:** {stats.total_events}",
            f"**Closed signals:** {stats.total_closed}",
            *trade_summary_lines(stats),
        ],
    )
