"""Schedule statistics and report (SPEC 12.4, case 33)."""

from __future__ import annotations

from dataclasses import replace

from engine.model import CancelledResult, IdleResult, OpenedResult, ScheduledResult
from engine.reports.schedule import (
    ScheduleEvent,
    render_schedule_report,
    schedule_event,
    schedule_statistics,
)

T0 = 1_704_067_200_000
M = 60_000


def ev(action: str, ts: int, duration: int | None = None, sid: str = "s") -> ScheduleEvent:
    return ScheduleEvent(
        timestamp=ts,
        action=action,
        symbol="BTCUSDT",
        signal_id=sid,
        position="long",
        note="",  # type: ignore[arg-type]
        current_price=42_000.0,
        price_open=41_000.0,
        take_profit=43_000.0,
        stop_loss=40_000.0,
        close_timestamp=ts if action == "cancelled" else None,
        duration=duration,
    )


def test_empty_store_case33() -> None:
    s = schedule_statistics([])
    assert (s.total_events, s.total_scheduled, s.total_opened, s.total_cancelled) == (0, 0, 0, 0)
    assert s.cancellation_rate is None and s.activation_rate is None
    assert s.avg_wait_time is None and s.avg_activation_time is None
    assert render_schedule_report("x", s) == "# Scheduled Signals Report: x\n\nNo scheduled signals recorded yet."


def test_one_scheduled_one_cancelled_case33() -> None:
    s = schedule_statistics([ev("cancelled", T0 + 120 * M, 120), ev("scheduled", T0)])
    assert s.cancellation_rate == 100 and s.activation_rate == 0
    assert s.avg_wait_time == 120 and s.avg_activation_time is None
    lines = render_schedule_report("strat", s).split("\n")
    assert lines[2] == (
        "| Timestamp | Action | Symbol | Signal ID | Position | Current Price | Entry Price | Take Profit "
        "| Stop Loss | Wait Time (min) |"
    )
    assert lines[4] == (
        "| 2024-01-01T02:00:00.000Z | CANCELLED | BTCUSDT | s "
        "| LONG | 42000.00000000 USD | 41000.00000000 USD "
        "| 43000.00000000 USD | 40000.00000000 USD | 120 |"
    )
    assert lines[5].endswith("| 40000.00000000 USD | N/A |")
    assert lines[6:] == [
        "",
        "**Total events:** 2",
        "**Scheduled signals:** 1",
        "**Opened signals:** 0",
        "**Cancelled signals:** 1",
        "**Activation rate:** 0.00% (higher is better)",
        "**Cancellation rate:** 100.00% (lower is better)",
        "**Average activation time:** N/A",
        "**Average wait time (cancelled):** 120.00 minutes",
    ]


def test_window_cut_rates_over_stored_events_only() -> None:
    events = [ev("scheduled", T0 + i) for i in range(189)] + [ev("cancelled", T0 + i, 7) for i in range(61)]
    s = schedule_statistics(events, seen=400)
    assert s.cancellation_rate == 61 / 189 * 100 == 32.27513227513227
    assert "**Cancellation rate:** 32.28% (lower is better)" in render_schedule_report("x", s)
    assert "*Statistics over the newest 250 of 400 events (CC_MAX_REPORT_EVENTS).*" in render_schedule_report("x", s)
    only_cancelled = schedule_statistics([ev("cancelled", T0, 3)])
    assert only_cancelled.cancellation_rate is None and only_cancelled.avg_wait_time == 3


def test_means_and_activation() -> None:
    s = schedule_statistics(
        [
            ev("opened", T0 + 10 * M, 10),
            ev("opened", T0 + 3 * M, 3),
            ev("scheduled", T0),
            ev("scheduled", T0),
            ev("cancelled", T0, 120),
            ev("scheduled", T0),
            ev("scheduled", T0),
        ]
    )
    assert s.total_opened == 2 and s.activation_rate == 50 and s.cancellation_rate == 25
    assert s.avg_activation_time == 6.5 and s.avg_wait_time == 120


def test_schedule_event_from_results(closed_factory) -> None:
    row = closed_factory(signal_id="q", open_m=0, close_m=5, pnl=1.0).signal
    common = {"strategy_name": "s", "exchange_name": "x", "symbol": "BTCUSDT", "backtest": True}
    scheduled_row = replace(row, is_scheduled=True)
    e = schedule_event(ScheduledResult(signal=scheduled_row, current_price=42_500.0, **common))
    assert e is not None and (e.action, e.timestamp, e.current_price, e.duration) == (
        "scheduled",
        T0,
        42_500.0,
        None,
    )
    # an immediate open is not a schedule event
    assert schedule_event(OpenedResult(signal=row, current_price=42_000.0, **common)) is None
    activated = replace(row, pending_at=T0 + 3 * M + 30_000)
    e = schedule_event(OpenedResult(signal=activated, current_price=41_000.0, **common))
    assert e is not None and (e.action, e.timestamp, e.duration) == (
        "opened",
        T0 + 3 * M + 30_000,
        4,
    )  # 3.5 -> 4
    e = schedule_event(
        CancelledResult(
            signal=scheduled_row,
            current_price=1.0,
            close_timestamp=T0 + 120 * M,
            cancel_reason="timeout",
            **common,
        )
    )
    assert e is not None and (e.action, e.close_timestamp, e.duration) == ("cancelled", T0 + 120 * M, 120)
    assert schedule_event(IdleResult(current_price=1.0, **common)) is None
