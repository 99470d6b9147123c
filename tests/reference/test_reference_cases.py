"""The reference backtest (tests/reference/backtest_ref.py) against the SPEC 16 acceptance cases.

These tests validate the *reference* itself: if they pass, the reference is a faithful reading of the
SPEC and can then be used as an oracle for the engine. Case numbers follow SPEC 16.
"""

from __future__ import annotations

import math

import pytest

from .backtest_ref import MINUTE_MS, RefConfig, pnl, run_reference_backtest, vwap

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def m(x: float) -> int:
    return T0 + int(x * MINUTE_MS)


def minute_of(t: int) -> int:
    return (t - T0) // MINUTE_MS


def F(p: float) -> tuple[float, float, float, float, float]:
    return (p, p + 100, p - 100, p, 100)


def flat(p: float) -> tuple[float, float, float, float, float]:
    return (p, p, p, p, 100)


def sig(position: str, *, tp, sl, met=60, open_=None, **extra) -> dict:
    """A signal DTO (snake_case keys, SPEC 1.2); ``open_`` -> ``price_open`` (omitted when None)."""
    dto = {"position": position, "price_take_profit": tp, "price_stop_loss": sl, "minute_estimated_time": met}
    if open_ is not None:
        dto["price_open"] = open_
    dto.update(extra)
    return dto


def by_minute(fn):
    """candle_at from a function of the minute index relative to T0 (absolute candles)."""
    return lambda t: fn(minute_of(t))


def once(dto: dict):
    calls = []

    def get_signal(when, price):
        calls.append(when)
        return dict(dto) if len(calls) == 1 else None

    return get_signal


def first_n(dto: dict, n: int):
    calls = []

    def get_signal(when, price):
        calls.append(when)
        return dict(dto) if len(calls) <= n else None

    return get_signal


def run(candle_fn, get_signal, end=20, start=0, config=None, **kw):
    return run_reference_backtest(
        candle_at=by_minute(candle_fn),
        get_signal=get_signal,
        frame_start_ms=m(start),
        frame_end_ms=m(end),
        config=config if config is not None else RefConfig.test_profile(),
        **kw,
    )


def actions(results):
    return [r["action"] for r in results]


def cb_names(outcome, *names):
    return [c for c in outcome.callbacks if c[0] in names]


# ----------------------------------------------------------------------- statistics (SPEC 12.2/12.7)


def backtest_stats(closed_oldest_first):
    """SPEC 12.2 over the store (newest first), in the SPEC's summation order."""
    lst = list(reversed(closed_oldest_first))
    n = len(lst)
    rs = [r["pnl_percentage"] for r in lst]
    win = sum(1 for r in rs if r > 0)
    loss = sum(1 for r in rs if r < 0)
    s = 0
    for r in rs:
        s += r
    avg = s / n
    total = 0
    for r in rs:
        total += r
    var = 0
    for r in rs:
        var += (r - avg) * (r - avg)
    std = math.sqrt(var / n)
    sharpe = avg / std if std > 0 else 0
    wins = [r for r in rs if r > 0]
    losses = [r for r in rs if r < 0]
    sw = 0
    for r in wins:
        sw += r
    sl = 0
    for r in losses:
        sl += r
    avg_win = sw / len(wins) if wins else 0
    avg_loss = sl / len(losses) if losses else 0
    certainty = avg_win / abs(avg_loss) if avg_loss < 0 else 0
    dur = 0
    for r in lst:
        dur += r["close_timestamp"] - r["signal"]["pending_at"]
    days = dur / n / 86_400_000
    per_year = 365 / days if days > 0 else 0
    return {
        "win_rate": win / n * 100,
        "win_count": win,
        "loss_count": loss,
        "avg_pnl": avg,
        "total_pnl": total,
        "std_dev": std,
        "sharpe": sharpe,
        "annualized_sharpe": sharpe * math.sqrt(365),
        "certainty": certainty,
        "expected_yearly_returns": avg * per_year,
    }


def heat_row(closed_oldest_first):
    lst = list(reversed(closed_oldest_first))
    rs = [r["pnl_percentage"] for r in lst]
    n = len(rs)
    total = 0
    for r in rs:
        total += r
    running = 0
    max_dd = 0
    for r in rs:
        running += r
        dd = 0 if running > 0 else abs(running)
        max_dd = max(max_dd, dd)
    sw = 0
    for r in (r for r in rs if r > 0):
        sw += r
    sl = 0
    for r in (r for r in rs if r < 0):
        sl += r
    nw = sum(1 for r in rs if r > 0)
    nl = sum(1 for r in rs if r < 0)
    win_rate = nw / n * 100
    avg_win = sw / nw
    avg_loss = sl / nl
    return {
        "total_pnl": total,
        "avg_pnl": total / n,
        "max_drawdown": max_dd,
        "profit_factor": sw / abs(sl),
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "expectancy": win_rate / 100 * avg_win + (100 - win_rate) / 100 * avg_loss,
    }


# ----------------------------------------------------------------------- A. lifecycle and timing


def test_case_01_immediate_long_take_profit_and_case_14_skip():
    def candles(k):
        return F(42000) if k < 5 else (43000, 43100, 42900, 43000, 100)

    calls = []

    def get_signal(when, price):
        calls.append(when)
        if len(calls) == 1:
            assert price == 42000
            return sig("long", tp=price + 1000, sl=price - 1000, met=60)
        return None

    out = run(candles, get_signal, end=20)
    opened = out.emitted[0]
    assert opened["action"] == "opened" and opened["current_price"] == 42000
    assert opened["signal"]["pending_at"] == m(0) == opened["signal"]["scheduled_at"]
    closed = out.emitted[1]
    assert closed["action"] == "closed" and closed["close_reason"] == "take_profit"
    assert closed["close_timestamp"] == m(5)
    assert closed["current_price"] == 43000
    assert closed["pnl_percentage"] == 1.9763950335379084
    assert closed["pnl_price_open"] == 42000 and closed["pnl_price_close"] == 43000
    assert out.yielded == [closed]
    assert actions(out.emitted[2:]) == ["idle"] * 15
    # case 14: the m5 frame is skipped, next tick at m6
    assert out.frames_ticked == [m(0)] + [m(k) for k in range(6, 21)]
    stats = backtest_stats(out.yielded)
    assert stats["win_rate"] == 100
    assert stats["std_dev"] == 0
    assert stats["sharpe"] == 0
    assert stats["certainty"] == 0
    assert stats["expected_yearly_returns"] == 207758.6459255049
    assert out.errors == []
    # callbacks: SPEC 1.7 / 5.4 order
    assert out.callbacks[:6] == [
        ("on_write", "sig-1"),
        ("on_open", "sig-1", 42000.0, m(0)),
        ("on_tick", "opened"),
        ("on_close", "sig-1", 43000.0),
        ("on_write", None),
        ("on_tick", "closed"),
    ]


def test_case_02_immediate_time_expiry():
    out = run(lambda k: F(42000), once(sig("long", tp=43000, sl=41000, met=10)))
    [closed] = out.yielded
    assert closed["close_reason"] == "time_expired"
    assert closed["close_timestamp"] == m(9)
    assert closed["current_price"] == 42000
    assert closed["pnl_percentage"] == -0.39980019980018255
    assert out.frames_ticked[1] == m(10)


def test_case_03_scheduled_never_reached():
    out = run(lambda k: F(42000), once(sig("long", open_=41000, tp=43000, sl=40000, met=10)), end=30)
    assert actions(out.emitted) == ["scheduled", "cancelled"]
    assert out.emitted[0]["current_price"] == 42000
    [cancelled] = out.yielded
    assert cancelled["close_timestamp"] == m(120)
    assert cancelled["current_price"] == 42000
    assert cancelled["cancel_reason"] == "timeout"
    assert cb_names(out, "on_open") == []
    assert cb_names(out, "on_cancel") == [("on_cancel", "sig-1", 42000.0)]
    assert cb_names(out, "on_write") == []  # never for scheduled rows
    assert out.frames_ticked == [m(0)]


def test_case_04_scheduled_long_jumps_below_sl():
    out = run(lambda k: F(45000) if k < 5 else F(39000), once(sig("long", open_=42000, tp=43000, sl=40000, met=60)))
    assert out.emitted[0]["action"] == "scheduled" and out.emitted[0]["signal"]["scheduled_at"] == m(0)
    [cancelled] = out.yielded
    assert cancelled["action"] == "cancelled"
    assert cancelled["close_timestamp"] == m(5)
    assert cancelled["current_price"] == 43800
    assert cancelled["cancel_reason"] == "price_reject"
    assert cb_names(out, "on_open") == []


def touching_both(k):
    return (42000, 43500, 40500, 42000, 100) if k == 5 else F(42000)


def test_case_05_long_candle_touching_both():
    out = run(touching_both, once(sig("long", tp=43000, sl=41000, met=60)))
    [closed] = out.yielded
    assert (closed["close_reason"], closed["close_timestamp"], closed["current_price"]) == (
        "take_profit",
        m(5),
        43000,
    )


def test_case_06_short_candle_touching_both():
    out = run(touching_both, once(sig("short", tp=41000, sl=43000, met=60)))
    [closed] = out.yielded
    assert (closed["close_reason"], closed["close_timestamp"], closed["current_price"]) == (
        "take_profit",
        m(5),
        41000,
    )
    assert closed["pnl_percentage"] == 1.9855188521855365


def test_case_07_short_stop_loss():
    out = run(lambda k: F(42000) if k < 5 else F(43100), once(sig("short", tp=41000, sl=43000, met=60)))
    [closed] = out.yielded
    assert (closed["close_reason"], closed["close_timestamp"], closed["current_price"]) == (
        "stop_loss",
        m(5),
        43000,
    )
    assert closed["pnl_percentage"] == -2.7859192525859022


def test_case_08_scheduled_short_activation_and_sl_same_candle():
    out = run(
        lambda k: (42000, 44500, 41900, 42000, 100) if k == 5 else F(42000),
        once(sig("short", open_=43000, tp=41500, sl=44000, met=60)),
    )
    [cancelled] = out.yielded
    assert cancelled["action"] == "cancelled"
    assert cancelled["close_timestamp"] == m(5)
    assert cancelled["current_price"] == 42160
    assert cb_names(out, "on_open") == []


def test_case_09_truncated_data():
    out = run(lambda k: F(42000) if k <= 7 else None, once(sig("long", tp=43000, sl=41000, met=60)), end=10)
    [closed] = out.yielded
    assert (closed["close_reason"], closed["close_timestamp"], closed["current_price"]) == (
        "time_expired",
        m(7),
        42000,
    )
    # the frame equal to the close (m7) is skipped; m8..m10 are ticked
    assert out.frames_ticked == [m(0), m(8), m(9), m(10)]


def case10_candles(k):
    if k < 3:
        return F(43000)
    if k == 3:
        return (42100, 42200, 41950, 42100, 100)
    if k == 4:
        return (42200, 43500, 42100, 42200, 100)
    return F(42200)


def test_case_10_activation_time_and_blind_window():
    out = run(case10_candles, once(sig("long", open_=42000, tp=43000, sl=41000, met=30)), end=10)
    assert cb_names(out, "on_schedule") == [("on_schedule", "sig-1", 43000.0)]
    assert cb_names(out, "on_open") == [("on_open", "sig-1", 42000.0, m(3))]
    [closed] = out.yielded
    assert closed["close_reason"] == "time_expired"
    assert closed["close_timestamp"] == m(33)
    assert closed["current_price"] == 42200
    assert closed["pnl_percentage"] == 0.07543884686744257
    assert closed["signal"]["is_scheduled"] is False
    assert closed["signal"]["pending_at"] == m(3) and closed["signal"]["scheduled_at"] == m(0)
    # schedule statistics (SPEC 12.4) over the signal subject
    scheduled = [r for r in out.emitted if r["action"] == "scheduled"]
    opened = [
        r for r in out.emitted if r["action"] == "opened" and r["signal"]["scheduled_at"] != r["signal"]["pending_at"]
    ]
    cancelled = [r for r in out.emitted if r["action"] == "cancelled"]
    assert (len(scheduled), len(opened), len(cancelled)) == (1, 0, 0)
    assert len(cancelled) / len(scheduled) * 100 == 0 and len(opened) / len(scheduled) * 100 == 0
    # first examined candle m8: vw = VWAP(m4..m8) = (42600 + 4*42200)/5 = 42280 -> 28 % -> levels 10, 20
    assert [(e[0], e[2], e[3], e[4]) for e in out.partial_events] == [
        ("profit", 10, 42280, m(8)),
        ("profit", 20, 42280, m(8)),
    ]
    assert out.frames_ticked == [m(0)]  # the close at m33 skips every remaining frame


def test_case_11_throttling():
    out = run(lambda k: F(42000), lambda when, price: None, end=30, signal_interval_minutes=5)
    assert out.get_signal_calls == [m(k) for k in range(0, 31, 5)]
    assert len(out.frames_ticked) == 31


def test_case_12_risk_rejects_at_scheduled_activation():
    calls = []

    def validate(payload):
        calls.append(payload)
        if len(calls) >= 2:
            raise RuntimeError("nope")

    out = run(
        lambda k: (42000, 42100, 41400, 42000, 100) if k == 3 else F(42000),
        once(sig("long", open_=41500, tp=43000, sl=40000, met=10)),
        risk_validations=[{"validate": validate, "note": "second check rejects"}],
    )
    assert out.emitted[0]["action"] == "scheduled"
    assert out.emitted[0]["signal"]["scheduled_at"] == m(0)
    assert len(out.risk_events) == 1
    ev = out.risk_events[0]
    assert ev["comment"] == "second check rejects"
    assert ev["current_price"] == 41500
    assert ev["active_position_count"] == 0
    assert ev["backtest"] is True
    assert ev["symbol"] == "BTCUSDT" and ev["strategy_name"] == "ref-strategy"
    assert out.errors == ["no pending signal after scheduled activation"]
    assert out.yielded == []
    assert cb_names(out, "on_open") == []
    # the scheduled signal is gone: later frames are plain idle ticks
    assert set(actions(out.emitted[1:])) == {"idle"}
    assert out.frames_ticked == [m(k) for k in range(21)]
    # check #1 got the raw DTO, check #2 the scheduled row at the activation time
    assert "id" not in calls[0]["pending_signal"] and calls[0]["current_price"] == 42000
    assert calls[1]["pending_signal"]["is_scheduled"] is True
    assert calls[1]["timestamp"] == m(3) and calls[1]["current_price"] == 41500


def test_case_13_risk_runs_twice_per_immediate_open():
    seen = []
    out = run(
        lambda k: F(42000),
        once(sig("long", tp=43000, sl=41000, met=10)),
        risk_validations=[
            lambda p: seen.append(("a", p["active_position_count"])),
            lambda p: seen.append(("b", p["active_position_count"])),
        ],
    )
    assert seen == [("a", 0), ("b", 0), ("a", 0), ("b", 0)]
    assert len(out.yielded) == 1


def test_case_14_skip_with_coarse_frames():
    """Literal 6.3 loop: advance while T[i] < closeTimestamp, then the common tail i += 1. With 5m frames
    and a close at m9 the m10 frame (first >= close) is skipped as well; the next tick is m15."""
    out = run(lambda k: F(42000), once(sig("long", tp=43000, sl=41000, met=10)), end=30, frame_step_minutes=5)
    assert out.yielded[0]["close_timestamp"] == m(9)
    assert out.frames_ticked == [m(0), m(15), m(20), m(25), m(30)]


def test_case_16_vwap_on_upstream_mock_candles():
    """Case 16 uses "relative" mock candles (i-th candle from the request's `since`). Restated with absolute
    timestamps for the VWAP request at m0 (since = m-4): candle at minute k has i = k + 4."""

    def mock(k):
        i = k + 4
        base = 42000 + 100 * i
        return (base, base + 380.2, base + 100, base + 250.8, 100 + 10 * i)

    prices = []
    run(mock, lambda when, price: prices.append((when, price)), end=0)
    assert prices == [(m(0), 42460.33333333333)]


def test_case_17_zero_volume_vwap_is_mean_of_closes():
    closes = {-4: 100.0, -3: 200.0, -2: 300.0, -1: 400.0, 0: 600.0}
    prices = []
    run(
        lambda k: (closes[k], closes[k] + 5, closes[k] - 5, closes[k], 0),
        lambda when, price: prices.append(price),
        end=0,
    )
    assert prices == [320.0]


def test_case_18_long_activates_when_low_equals_price_open():
    out = run(
        lambda k: (42500, 42600, 42000, 42500, 100) if k == 5 else F(42500),
        once(sig("long", open_=42000, tp=43000, sl=41000, met=20)),
    )
    assert out.emitted[0]["action"] == "scheduled"
    assert cb_names(out, "on_open") == [("on_open", "sig-1", 42000.0, m(5))]
    [closed] = out.yielded
    assert closed["action"] == "closed" and closed["signal"]["pending_at"] == m(5)


def test_case_19_gap_through_price_open():
    out = run(
        lambda k: F(45000) if k < 5 else ((42000, 42500, 41500, 42000, 100) if k == 5 else F(42000)),
        once(sig("long", open_=43000, tp=46000, sl=40000, met=30)),
    )
    assert cb_names(out, "on_open") == [("on_open", "sig-1", 43000.0, m(5))]
    [closed] = out.yielded
    assert closed["close_reason"] == "time_expired"
    assert closed["close_timestamp"] == m(35)


def test_case_20_limit_reaches_price_open_before_sl():
    """Case 20 uses "relative" candles (base 43000 - 200*i from the request's `since`). Restated with
    absolute timestamps so that the first request (the VWAP at m0, since = m-4) sees the same values:
    candle at minute k has base 43000 - 200*(k+4), high base+50, low base-50."""

    def falling(k):
        base = 43000 - 200 * (k + 4)
        return (base, base + 50, base - 50, base, 100)

    out = run(falling, once(sig("long", open_=41000, tp=42000, sl=40000, met=60)))
    assert out.emitted[0]["action"] == "scheduled"
    assert cb_names(out, "on_open") == [("on_open", "sig-1", 41000.0, m(6))]
    [closed] = out.yielded
    assert closed["close_reason"] == "stop_loss" and closed["pnl_percentage"] < 0
    assert closed["close_timestamp"] == m(11)  # 4 blind candles m7..m10 after activation

    def rising(k):
        base = 41000 + 200 * (k + 4)
        return (base, base + 50, base - 50, base, 100)

    out = run(rising, once(sig("short", open_=43000, tp=42000, sl=44000, met=60)))
    assert out.emitted[0]["action"] == "scheduled"
    assert cb_names(out, "on_open") == [("on_open", "sig-1", 43000.0, m(6))]
    [closed] = out.yielded
    assert closed["close_reason"] == "stop_loss" and closed["pnl_percentage"] < 0


def test_case_21_immediate_activation_of_a_limit():
    out = run(lambda k: F(42000), once(sig("long", open_=43000, tp=44000, sl=41000, met=10)))
    opened = out.emitted[0]
    assert opened["action"] == "opened" and opened["current_price"] == 43000
    assert opened["signal"]["price_open"] == 43000
    assert opened["signal"]["scheduled_at"] == opened["signal"]["pending_at"] == m(0)
    assert cb_names(out, "on_schedule") == []

    out = run(lambda k: F(43000), once(sig("short", open_=42000, tp=41000, sl=44000, met=10)))
    assert out.emitted[0]["action"] == "opened" and out.emitted[0]["current_price"] == 42000


def test_case_22_immediate_activation_refused():
    for candle, dto in (
        (F(40000), sig("long", open_=43000, tp=45000, sl=41000, met=10)),
        (F(45000), sig("short", open_=42000, tp=40000, sl=44000, met=10)),
    ):
        out = run(lambda k, c=candle: c, once(dto))
        assert set(actions(out.emitted)) == {"idle"}
        assert len(out.errors) == 1
        assert "stop_loss" in out.errors[0] and "current_price" in out.errors[0]
        assert cb_names(out, "on_schedule", "on_open") == []


def test_case_23_scheduled_lifetime_counts_from_activation():
    out = run(
        lambda k: (42000, 42100, 41800, 42000, 100) if k == 7 else F(42000),
        once(sig("long", open_=41850, tp=45000, sl=39000, met=1440)),
    )
    [closed] = out.yielded
    assert closed["signal"]["pending_at"] == m(7)
    assert closed["close_reason"] == "time_expired"
    assert closed["close_timestamp"] - closed["signal"]["pending_at"] == 1440 * MINUTE_MS


def test_case_24_scheduled_timeout_boundary():
    out = run(lambda k: F(42000), once(sig("long", open_=40000, tp=41000, sl=39000, met=10)))
    [cancelled] = out.yielded
    assert cancelled["close_timestamp"] - cancelled["signal"]["scheduled_at"] == 7_200_000


def test_case_25_schedule_await_minutes_config():
    cfg = RefConfig.test_profile()
    cfg.schedule_await_minutes = 45
    out = run(lambda k: F(42000), once(sig("long", open_=41000, tp=43000, sl=40000, met=10)), end=30, config=cfg)
    [cancelled] = out.yielded
    assert cancelled["close_timestamp"] == m(45) and cancelled["cancel_reason"] == "timeout"


def test_case_26_scheduled_signals_never_overlap():
    out = run(lambda k: F(42000), lambda when, price: sig("long", open_=41950, tp=42500, sl=41000, met=10), end=32)
    seq = [c[0] for c in out.callbacks if c[0] in ("on_schedule", "on_open", "on_close", "on_cancel")]
    assert seq == ["on_schedule", "on_open", "on_close"] * 3  # created m0, m11, m22
    assert [r["signal"]["scheduled_at"] for r in out.yielded] == [m(0), m(11), m(22)]
    # activation on the creation candle, close at pendingAt + max(mET, W)
    assert [r["close_timestamp"] for r in out.yielded] == [m(10), m(21), m(32)]
    open_now = 0
    for c in out.callbacks:
        if c[0] == "on_open":
            open_now += 1
        elif c[0] == "on_close":
            open_now -= 1
        assert open_now in (0, 1)


# ----------------------------------------------------------------------- B. PNL and statistics


def test_case_27_pnl_table():
    cfg = RefConfig()
    assert pnl("long", 42000, 43000, cfg) == 1.9763950335379084
    assert pnl("short", 42000, 41000, cfg) == 1.9855188521855365
    assert pnl("short", 42000, 43000, cfg) == -2.7859192525859022
    assert pnl("long", 42000, 42000, cfg) == -0.39980019980018255
    assert pnl("long", 42000, 42084, cfg) == -0.200199800199789
    assert pnl("long", 42000, 42210, cfg) == 0.09920079920081859


@pytest.mark.parametrize(("tp", "expected"), [(42084, -0.200199800199789), (42210, 0.09920079920081859)])
def test_case_28_29_breakeven_and_small_profit(tp, expected):
    out = run(lambda k: flat(42000) if k < 5 else F(42200), once(sig("long", tp=tp, sl=41000, met=60)))
    [closed] = out.yielded
    assert closed["close_reason"] == "take_profit" and closed["close_timestamp"] == m(5)
    assert closed["pnl_percentage"] == expected


def test_case_30_three_trades_stats_and_heat():
    def candles(k):
        if k in (5, 25):
            return F(43100)
        if k == 15:
            return F(40900)
        return F(42000)

    out = run(candles, first_n(sig("long", tp=43000, sl=41000, met=30), 3), end=40)
    trades = [
        (
            minute_of(r["signal"]["pending_at"]),
            r["signal"]["price_open"],
            r["close_reason"],
            minute_of(r["close_timestamp"]),
            r["pnl_percentage"],
        )
        for r in out.yielded
    ]
    assert trades == [
        (0, 42000, "take_profit", 5, 1.9763950335379084),
        (6, 42220, "stop_loss", 15, -3.2836524915160497),
        (16, 41780, "take_profit", 25, 2.5144229633458957),
    ]
    s = backtest_stats(out.yielded)
    assert s["win_rate"] == 66.66666666666666
    assert s["avg_pnl"] == 0.40238850178925145
    assert s["total_pnl"] == 1.2071655053677544
    assert s["std_dev"] == 2.615663353282645
    assert s["sharpe"] == 0.15383803167340163
    assert s["annualized_sharpe"] == 2.9390714683448036
    assert s["certainty"] == 0.6838144426803231
    assert s["expected_yearly_returns"] == 27586.356070490943
    h = heat_row(out.yielded)
    assert h["max_drawdown"] == 0.769229528170154
    assert h["profit_factor"] == 1.3676288853606462
    assert h["avg_win"] == 2.245408998441902
    assert h["avg_loss"] == -3.2836524915160497
    assert h["expectancy"] == 0.4023885017892508


# ----------------------------------------------------------------------- C. validation and robustness

BAD_DTOS = {
    "long TP < priceOpen": sig("long", open_=41000, tp=40500, sl=40000, met=10),
    "long SL >= priceOpen": sig("long", open_=41000, tp=43000, sl=41000, met=10),
    "short TP > priceOpen": sig("short", open_=43000, tp=43500, sl=44000, met=10),
    "short SL <= priceOpen": sig("short", open_=43000, tp=42000, sl=43000, met=10),
    "SL = 0": sig("long", tp=43000, sl=0, met=10),
    "mET = 0": sig("long", tp=43000, sl=41000, met=0),
    "TP = priceOpen": sig("long", open_=41000, tp=41000, sl=40000, met=10),
    "priceOpen negative": sig("long", open_=-1, tp=43000, sl=40000, met=10),
    "priceOpen NaN": sig("long", open_=math.nan, tp=43000, sl=40000, met=10),
    "TP = +inf": sig("long", tp=math.inf, sl=40000, met=10),
}


@pytest.mark.parametrize("name", list(BAD_DTOS))
def test_case_36_invalid_dtos(name):
    out = run(lambda k: F(42000), once(BAD_DTOS[name]), end=3)
    assert set(actions(out.emitted)) == {"idle"}
    assert len(out.errors) == 1 and out.errors[0].startswith("Invalid signal for ")
    assert cb_names(out, "on_schedule", "on_open", "on_write") == []


def test_case_36_nan_price_gives_only_finite_lines():
    out = run(lambda k: F(42000), once(sig("long", open_=math.nan, tp=43000, sl=40000, met=10)), end=0)
    lines = out.errors[0].split("\n")[1:]
    assert lines == ["price_open must be a finite number, got nan"]


@pytest.mark.parametrize(
    ("field", "value", "dto"),
    [
        ("min_takeprofit_distance_percent", 0.3, sig("long", tp=42010, sl=41000, met=10)),
        ("max_stoploss_distance_percent", 20, sig("long", tp=43000, sl=20000, met=10)),
        ("max_signal_lifetime_minutes", 43200, sig("long", tp=43000, sl=41000, met=50000)),
    ],
)
def test_case_37_config_limits(field, value, dto):
    ok = run(lambda k: F(42000), once(dto), end=0)
    assert ok.errors == [] and ok.emitted[0]["action"] == "opened"
    cfg = RefConfig.test_profile()
    setattr(cfg, field, value)
    out = run(lambda k: F(42000), once(dto), end=0, config=cfg)
    assert len(out.errors) == 1 and out.emitted[0]["action"] == "idle"


def test_case_38_five_validation_lines_with_defaults():
    def mock(k):
        i = k + 4
        base = 42000 + 100 * i
        return (base, base + 380.2, base + 100, base + 250.8, 100 + 10 * i)

    out = run(mock, once(sig("long", tp=100, sl=200, met=0)), end=0, config=RefConfig())
    assert len(out.errors) == 1
    head, *lines = out.errors[0].split("\n")
    assert head == "Invalid signal for long position:"
    assert len(lines) == 5
    assert "price_take_profit (100.0) must be > price_open (42460.33333333333)" in lines[0]
    assert "current_price (42460.33333333333) >= price_take_profit (100.0)" in lines[1]
    assert "-99.764%" in lines[2]
    assert "99.529%" in lines[3] and "too far" in lines[3]
    assert "minute_estimated_time must be positive" in lines[4]


def test_case_39_anomalous_candle():
    """Case 39 uses "relative" candles (the 4th candle of every request is anomalous). Restated with
    absolute timestamps: the candle at m-1 is {0.1, 0.12, 0.08, 0.1, volume 0}; every VWAP window of the
    frame m0..m3 contains it, so every tick fails (the pipeline's VWAP and then the idle path's VWAP)."""
    out = run(
        lambda k: (0.1, 0.12, 0.08, 0.1, 0) if k == -1 else F(42000),
        once(sig("long", tp=43000, sl=41000, met=10)),
        end=3,
    )
    assert out.errors and all("anomalously low price" in e for e in out.errors)
    assert len(out.errors) == 8  # per frame: pipeline error + tick error
    assert out.emitted == [] and out.get_signal_calls == []


def test_anomalous_candle_in_the_future_fetch():
    """A failed sanity check on the fast-forward fetch is an error; the position stays open and the
    following ticks monitor it with tick rules (SPEC 6.3 handle_opened step 1)."""
    out = run(
        lambda k: (0.1, 0.12, 0.08, 0.1, 0) if k == 30 else (F(42000) if k < 3 else F(43100)),
        once(sig("long", tp=43000, sl=41000, met=60)),
        end=10,
    )
    assert len(out.errors) == 1 and "anomalously low price" in out.errors[0]
    assert out.yielded == []
    # tick VWAPs: m1, m2 42000; m3 42220; m4 42440; m5 42660; m6 42880; m7 43100 >= TP
    assert actions(out.emitted) == ["opened"] + ["active"] * 6 + ["closed"] + ["idle"] * 3
    closed = out.emitted[7]
    assert (closed["close_reason"], closed["close_timestamp"], closed["current_price"]) == (
        "take_profit",
        m(7),
        43000,
    )
    assert [r["current_price"] for r in out.emitted[1:7]] == [42000, 42000, 42220, 42440, 42660, 42880]


# ----------------------------------------------------------------------- D. partial milestones


def test_case_45_profit_levels():
    out = run(
        lambda k: flat(100000) if k <= 0 else flat(100000 + 1000 * k),
        once(sig("long", tp=110000, sl=90000, met=60)),
    )
    assert out.partial_events == [
        ("profit", "sig-1", 10 * (j + 1), price, m(j + 3))
        for j, price in enumerate([101200, 102000, 103000, 104000, 105000, 106000, 107000])
    ]
    pp = cb_names(out, "on_partial_profit")
    assert pp[0][2] == 100200 and pp[0][3] == pytest.approx(2.0, abs=1e-9)
    assert pp[1][2] == 100600 and pp[1][3] == pytest.approx(6.0, abs=1e-9)
    assert len(pp) == 9  # m1..m9
    [closed] = out.yielded
    assert (closed["close_reason"], closed["close_timestamp"], closed["current_price"]) == (
        "take_profit",
        m(10),
        110000,
    )
    levels_newest_first = [e[2] for e in reversed(out.partial_events)]
    assert levels_newest_first == [70, 60, 50, 40, 30, 20, 10]


def test_case_46_loss_levels_short():
    out = run(
        lambda k: flat(100000) if k <= 0 else flat(100000 + 500 * k),
        once(sig("short", tp=95000, sl=105000, met=60)),
    )
    prices = [100600, 101000, 101500, 102000, 102500, 103000, 103500]
    assert out.partial_events == [("loss", "sig-1", 10 * (j + 1), price, m(j + 3)) for j, price in enumerate(prices)]
    [closed] = out.yielded
    assert (closed["close_reason"], closed["close_timestamp"], closed["current_price"]) == (
        "stop_loss",
        m(10),
        105000,
    )


def test_case_47_partial_dedupe():
    def price(k):
        if k <= 0:
            return 100000
        if k <= 10:
            return 102000  # 20 %
        if k <= 20:
            return 101200  # back to 12 %
        if k <= 30:
            return 102500  # 25 %
        return 103500  # 35 %

    out = run(lambda k: flat(price(k)), once(sig("long", tp=110000, sl=90000, met=40)))
    assert [e[2] for e in out.partial_events] == [10, 20, 30]
    assert [minute_of(e[4]) for e in out.partial_events] == [3, 5, 33]
    [closed] = out.yielded
    assert closed["close_reason"] == "time_expired" and closed["close_timestamp"] == m(39)


# ----------------------------------------------------------------------- degenerate paths and extras


def test_next_candles_past_wall_clock_leaves_position_to_ticks():
    """SPEC 4.1/6.5: end > now -> [] -> nothing fast-forwarded; ticks monitor the position."""
    out = run(
        lambda k: F(42000) if k < 5 else F(43100),
        once(sig("long", tp=43000, sl=41000, met=60)),
        end=10,
        now_ms=m(30),
    )
    assert out.yielded == []
    assert actions(out.emitted)[:4] == ["opened", "active", "active", "active"]
    closed = [r for r in out.emitted if r["action"] == "closed"]
    assert closed[0]["close_reason"] == "take_profit"
    assert closed[0]["close_timestamp"] == m(9)  # VWAP(m5..m9) = 43100 >= 43000
    assert closed[0]["current_price"] == 43000


def test_scheduled_phase_returns_active_with_too_few_candles():
    """SPEC 6.4 rule 6 / 6.5: not timed out and undecided -> `active` yielded, no skip, tick rules later."""
    out = run(
        lambda k: F(42000) if k <= 3 else None,
        once(sig("long", open_=41000, tp=43000, sl=40000, met=10)),
        end=2,
    )
    assert out.yielded[0]["action"] == "active"
    assert out.yielded[0]["current_price"] == 42000
    assert out.yielded[0]["percent_tp"] == 0 and out.yielded[0]["percent_sl"] == 0
    assert out.frames_ticked == [m(0), m(1), m(2)]
    assert actions(out.emitted) == ["scheduled", "active", "active", "active"]


def test_empty_sub_array_quirk():
    """Activation on the last fetched candle: closes time_expired at vw(k) with the scheduled row."""
    out = run(
        lambda k: (42000, 42100, 40900, 42000, 100) if k == 0 else (F(42000) if k <= 0 else None),
        once(sig("long", open_=41000, tp=43000, sl=40000, met=10)),
        end=0,
    )
    [closed] = out.yielded
    assert closed["close_reason"] == "time_expired" and closed["close_timestamp"] == m(0)
    assert closed["signal"]["is_scheduled"] is True
    assert closed["signal"]["pending_at"] == closed["signal"]["scheduled_at"]


def test_avg_price_candles_count_one_is_unknown_time_adjust():
    cfg = RefConfig.test_profile()
    cfg.avg_price_candles_count = 1
    out = run(lambda k: F(42000), lambda when, price: None, end=1, config=cfg)
    assert len(out.errors) == 4 and all("unknown time adjust" in e for e in out.errors)


def test_no_candles_data():
    out = run(lambda k: None, lambda when, price: None, end=0)
    assert len(out.errors) == 2 and all("no candles data" in e for e in out.errors)


def test_get_signal_raises_is_an_error_and_consumes_throttle():
    def boom(when, price):
        raise RuntimeError("user failure")

    out = run(lambda k: F(42000), boom, end=6, signal_interval_minutes=5)
    assert out.errors == ["user failure", "user failure"]
    assert out.get_signal_calls == [m(0), m(5)]
    assert actions(out.emitted) == ["idle"] * 7


def test_risk_rejects_immediate_open_at_second_check():
    calls = []

    def validate(payload):
        calls.append(payload)
        if len(calls) == 2:
            raise RuntimeError("x")

    out = run(lambda k: F(42000), once(sig("long", tp=43000, sl=41000, met=10)), end=1, risk_validations=[validate])
    assert actions(out.emitted) == ["idle", "idle"]
    assert out.callbacks[:4] == [
        ("on_write", "sig-1"),
        ("on_write", None),
        ("on_idle", 42000.0),
        ("on_tick", "idle"),
    ]
    assert out.risk_events[0]["comment"] == "N/A"
    assert out.risk_events[0]["pending_signal"]["id"] == "sig-1"


def test_stop_after_first_yield():
    out = run(
        lambda k: F(42000),
        lambda when, price: sig("long", tp=43000, sl=41000, met=3),
        end=20,
        stop_after_yields=1,
    )
    assert len(out.yielded) == 1
    assert out.frames_ticked == [m(0)]
    assert out.progress[-1] == (21, 21, 1.0)


def test_merge_risk_checks_every_child():
    seen = []

    def reject(payload):
        seen.append("r1")
        raise RuntimeError("r1")

    out = run(
        lambda k: F(42000),
        once(sig("long", tp=43000, sl=41000, met=10)),
        end=0,
        risk_validations=[reject],
        risk_list=[[lambda p: seen.append("r2a"), {"validate": lambda p: seen.append("r2b"), "note": "n"}]],
    )
    assert seen == ["r1", "r2a", "r2b"]
    assert len(out.risk_events) == 1 and out.emitted[0]["action"] == "idle"


def test_vwap_helper_sums_in_list_order():
    from .backtest_ref import RefCandle

    cs = [RefCandle(0, 1, 3, 1, 2, 0.1), RefCandle(1, 1, 3, 1, 2, 0.2), RefCandle(2, 1, 3, 1, 2, 0.3)]
    expected = ((0 + 2 * 0.1) + 2 * 0.2 + 2 * 0.3) / ((0 + 0.1) + 0.2 + 0.3)
    assert vwap(cs) == expected


def test_activation_in_the_last_minute_before_timeout_with_short_lifetime():
    """SPEC 6.4 end: mET < W - 1 and activation at scheduledAt + AWAIT - 1 -> the sub-array (m120..m122)
    is shorter than W, nothing is examined, the fallback closes on the last fetched candle (m122) at the
    VWAP of the sub-array's candles."""
    out = run(
        lambda k: (42000, 42100, 40900, 42000, 100) if k == 119 else (F(42000) if k != 121 else F(42300)),
        once(sig("long", open_=41000, tp=43000, sl=40000, met=2)),
    )
    assert cb_names(out, "on_open") == [("on_open", "sig-1", 41000.0, m(119))]
    [closed] = out.yielded
    assert closed["close_reason"] == "time_expired" and closed["close_timestamp"] == m(122)
    assert closed["current_price"] == (42000 * 100 + 42300 * 100 + 42000 * 100) / 300
    assert closed["signal"]["pending_at"] == m(119)


def test_unaligned_frame_filters_candles_after_when():
    """SPEC 4.1: since = when - 4m is not a minute boundary; the exchange answers from the next boundary
    and the candle opening after `when` is filtered out, so the VWAP uses 4 candles."""
    prices = []
    run_reference_backtest(
        candle_at=by_minute(lambda k: F(1000 * (k + 10))),
        get_signal=lambda when, price: prices.append(price),
        frame_start_ms=m(0) + 30_000,
        frame_end_ms=m(0) + 30_000,
        config=RefConfig.test_profile(),
    )
    assert prices == [(7000 * 100 + 8000 * 100 + 9000 * 100 + 10000 * 100) / 400]
