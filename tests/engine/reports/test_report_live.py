"""Live log insertion rules and live statistics (SPEC 12.3, cases 31, 32)."""

from __future__ import annotations

from dataclasses import replace

from engine import config
from engine.model import ActiveResult, CancelledResult, IdleResult, OpenedResult
from engine.reports.live import LiveEvent, LiveEventList, live_event, live_statistics, render_live_report
from engine.reports.statistics import expected_yearly_returns

T0 = 1_704_067_200_000


def idle(ts: int) -> LiveEvent:
    return LiveEvent(timestamp=ts, action="idle", current_price=42_000.0)


def opened(ts: int, sid: str = "s1") -> LiveEvent:
    return LiveEvent(timestamp=ts, action="opened", current_price=42_000.0, signal_id=sid)


def active(ts: int, sid: str = "s1") -> LiveEvent:
    return LiveEvent(timestamp=ts, action="active", current_price=42_100.0, signal_id=sid, percent_tp=10.0)


def closed(ts: int, pnl: float, duration: int, sid: str = "s1") -> LiveEvent:
    return LiveEvent(timestamp=ts, action="closed", current_price=43_000.0, signal_id=sid, pnl=pnl, duration=duration)


def actions(log: LiveEventList) -> list[tuple[str, int]]:
    return [(e.action, e.timestamp) for e in log]


def test_consecutive_idles_collapse_case32() -> None:
    log = LiveEventList(cap=250)
    for minute in range(5):
        log.add(idle(T0 + minute))
    assert actions(log) == [("idle", T0 + 4)]
    s = live_statistics(log.events(), log.seen)
    assert s.total_events == 1 and s.total_closed == 0
    assert s.win_rate is None
    for name in (
        "avg_pnl",
        "total_pnl",
        "std_dev",
        "sharpe_ratio",
        "annualized_sharpe_ratio",
        "certainty_ratio",
        "expected_yearly_returns",
    ):
        assert getattr(s, name) == 0, name
    lines = render_live_report("live", s).split("\n")
    assert lines[-12:] == [
        "**Total events:** 1",
        "**Closed signals:** 0",
        "**Win rate:** N/A",
        "**Average PNL:** 0.00% (higher is better)",
        "**Total PNL (sum of trade %):** 0.00% (higher is better)",
        "**Compounded return:** 0.00% (the account, each trade compounded)",
        "**Max drawdown (compounded):** 0.00% (lower is better)",
        "**Standard Deviation:** 0.000% (lower is better)",
        "**Sharpe Ratio:** 0.000 (higher is better)",
        "**Annualized Sharpe Ratio:** 0.000 (higher is better)",
        "**Certainty Ratio:** 0.000 (higher is better)",
        "**Expected Yearly Returns:** 0.00% (higher is better)",
    ]


def test_idle_replaces_oldest_idle_only_when_nothing_opened_before_it() -> None:
    log = LiveEventList(cap=250)
    log.add(idle(1))
    log.add(opened(2))
    assert actions(log) == [("opened", 2), ("idle", 1)]
    log.add(idle(3))  # the oldest idle (index 1) has nothing older: replaced in place
    assert actions(log) == [("opened", 2), ("idle", 3)]
    log2 = LiveEventList(cap=250)
    log2.add(opened(1))
    log2.add(idle(2))
    log2.add(idle(3))  # an opened row is older than the oldest idle: goes to the front
    assert actions(log2) == [("idle", 3), ("idle", 2), ("opened", 1)]
    log2.add(active(4))
    log2.add(idle(5))
    assert actions(log2)[0] == ("idle", 5)
    # closed rows do not block the replacement
    log3 = LiveEventList(cap=250)
    log3.add(closed(1, 1.0, 5))
    log3.add(idle(2))
    log3.add(idle(3))
    assert actions(log3) == [("idle", 3), ("closed", 1)]


def test_active_replaces_oldest_active_of_same_signal() -> None:
    log = LiveEventList(cap=250)
    log.add(opened(1, "a"))
    log.add(active(2, "a"))
    log.add(active(3, "b"))
    log.add(active(4, "a"))
    assert actions(log) == [("active", 3), ("active", 4), ("opened", 1)]
    assert [e.signal_id for e in log] == ["b", "a", "a"]
    log.add(closed(5, 2.0, 4, "a"))
    log.add(opened(6, "a"))
    assert actions(log)[:2] == [("opened", 6), ("closed", 5)]


def test_cap_drops_oldest_and_counts_seen() -> None:
    log = LiveEventList(cap=3)
    for i in range(5):
        log.add(opened(i, f"s{i}"))
    assert [e.signal_id for e in log] == ["s4", "s3", "s2"]
    assert len(log) == 3 and log.seen == 5
    s = live_statistics(log.events(), log.seen)
    assert s.is_truncated
    assert "*Statistics over the newest 3 of 5 events (CC_MAX_REPORT_EVENTS).*" in render_live_report("x", s)
    config.set_config(CC_MAX_REPORT_EVENTS=2)
    default_cap = LiveEventList()
    for i in range(3):
        default_cap.add(opened(i, f"s{i}"))
    assert len(default_cap) == 2
    default_cap.clear()
    assert len(default_cap) == 0 and default_cap.seen == 0


def test_empty_live_is_all_null_case31() -> None:
    s = live_statistics([])
    assert s.total_events == 0 and s.total_closed == 0
    assert all(
        getattr(s, n) is None
        for n in (
            "win_rate",
            "avg_pnl",
            "total_pnl",
            "std_dev",
            "sharpe_ratio",
            "annualized_sharpe_ratio",
            "certainty_ratio",
            "expected_yearly_returns",
        )
    )
    assert render_live_report("x", s) == "# Live Trading Report: x\n\nNo events recorded yet."


def test_metrics_over_closed_rows_match_backtest_formulas() -> None:
    events = [
        closed(30, 2.5144229633458957, 9, "t3"),
        active(29, "t3"),
        closed(20, -3.2836524915160497, 9, "t2"),
        idle(19),
        closed(10, 1.9763950335379084, 5, "t1"),
    ]
    s = live_statistics(events)
    assert s.total_events == 5 and s.total_closed == 3
    assert (s.win_count, s.loss_count) == (2, 1)
    assert s.win_rate == 66.66666666666666
    assert s.avg_pnl == 0.40238850178925145
    assert s.total_pnl == 1.2071655053677544
    assert s.std_dev == 2.615663353282645
    assert s.sharpe_ratio == 0.15383803167340163
    assert s.certainty_ratio == 0.6838144426803231
    # minutes: (9 + 9 + 5) / 3 / 1440 days
    assert s.expected_yearly_returns == expected_yearly_returns(0.40238850178925145, 23 / 3 / 1440)
    assert s.expected_yearly_returns == 27586.356070490943


def test_live_event_from_results(closed_factory) -> None:
    c = closed_factory(signal_id="x", open_m=0, close_m=7, pnl=-1.5, reason="stop_loss", note="n")
    row = c.signal
    common = {"strategy_name": "s", "exchange_name": "x", "symbol": "BTCUSDT", "backtest": False}
    e_idle = live_event(IdleResult(current_price=1.0, **common), now_ms=T0 + 99)
    assert e_idle == LiveEvent(timestamp=T0 + 99, action="idle", current_price=1.0)
    e_open = live_event(OpenedResult(signal=row, current_price=42_000.0, **common), now_ms=T0 + 99)
    assert (e_open.timestamp, e_open.current_price, e_open.open_price) == (
        row.pending_at,
        row.price_open,
        42_000.0,
    )
    e_act = live_event(
        ActiveResult(signal=row, current_price=41_500.0, percent_tp=0.0, percent_sl=50.0, **common),
        now_ms=T0 + 5,
    )
    assert (e_act.timestamp, e_act.percent_sl, e_act.current_price) == (T0 + 5, 50.0, 41_500.0)
    e_close = live_event(replace(c, backtest=False), now_ms=0)
    assert (e_close.timestamp, e_close.pnl, e_close.duration, e_close.close_reason) == (
        c.close_timestamp,
        -1.5,
        7,
        "stop_loss",
    )
    cancelled = CancelledResult(signal=row, current_price=1.0, close_timestamp=T0, cancel_reason="timeout", **common)
    assert live_event(cancelled, now_ms=0) is None
    config.set_config(CC_REPORT_SHOW_SIGNAL_NOTE=True)
    report = render_live_report("s", live_statistics([e_close, e_act, e_open, e_idle]))
    lines = report.split("\n")
    assert lines[2] == (
        "| Timestamp | Action | Symbol | Signal ID | Position "
        "| Note | Current Price | Open Price | Take Profit "
        "| Stop Loss | % to TP | % to SL | PNL (net) | Close Reason | Duration (min) |"
    )
    assert lines[4] == (
        "| 2024-01-01T00:07:00.000Z | CLOSED | BTCUSDT | x "
        "| LONG | n | 43000.00000000 USD | 42000.00000000 USD "
        "| 43000.00000000 USD | 41000.00000000 USD | N/A | N/A | -1.50% | stop_loss | 7 |"
    )
    assert lines[5].startswith("| 2024-01-01T00:00:00.005Z | ACTIVE |") and "| 0.00% | 50.00% | N/A |" in lines[5]
    assert lines[7] == (
        "| 2024-01-01T00:00:00.099Z | IDLE | N/A | N/A | N/A | N/A | 1.00000000 USD | N/A | N/A | N/A "
        "| N/A | N/A | N/A | N/A | N/A |"
    )
