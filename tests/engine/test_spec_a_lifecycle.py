"""SPEC 16 part A (cases 1-26): core lifecycle and backtest timing, through the engine's public API.

Unless a case says otherwise: symbol BTCUSDT, 1m frame T0..m20, the test profile (SPEC 2), and every
run is repeated with nobody listening to check the fast path yields the same (``spec_helpers.backtest``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from spec_helpers import (
    SYMBOL,
    F,
    backtest,
    flat,
    m,
    minute,
    restart,
    risk_stats,
    schedule_stats,
    sig,
    use_test_profile,
)

import engine as e


@pytest.fixture(autouse=True)
def _profile():
    use_test_profile()


def _case1_candles(k):
    return F(42000) if k < 5 else (43000, 43100, 42900, 43000, 100)


# --------------------------------------------------------------------------- 1-9: settlement


async def test_case_1_immediate_long_take_profit():
    def once(k, price):
        return sig("long", tp=price + 1000, sl=price - 1000, met=60) if k == 0 else None

    out = await backtest(_case1_candles, once)
    assert out.errors == []
    assert out.prices[0] == 42000
    opened, closed, *rest = out.signals
    assert opened.action == "opened" and opened.current_price == 42000
    assert opened.signal.pending_at == opened.signal.scheduled_at == m(0)
    assert closed.action == "closed" and closed.close_reason == "take_profit"
    assert closed.close_timestamp == m(5)
    assert closed.current_price == 43000
    assert closed.pnl.pnl_percentage == 1.9763950335379084
    assert (closed.pnl.price_open, closed.pnl.price_close) == (42000, 43000)
    assert out.yielded == [closed]
    assert [r.action for r in rest] == ["idle"] * 15
    assert out.calls == [0, *range(6, 21)]  # the m5 frame is skipped (case 14)
    # SPEC 5.2 / 5.4 order of side effects around the open and the close
    assert [(c[0], *(x.action if hasattr(x, "action") else x for x in c[2:-1])) for c in out.callbacks[:6]] == [
        ("on_write", opened.signal),
        ("on_open", opened.signal, 42000),
        ("on_tick", "opened"),
        ("on_close", opened.signal, 43000),
        ("on_write", None),
        ("on_tick", "closed"),
    ]
    stats = e.Backtest.get_data(SYMBOL, "s")
    assert stats.total_signals == 1
    assert stats.win_rate == 100
    assert stats.std_dev == 0
    assert stats.sharpe_ratio == 0
    assert stats.certainty_ratio == 0
    assert stats.expected_yearly_returns == 207758.6459255049


async def test_case_2_immediate_time_expiry():
    out = await backtest(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=10)])
    [closed] = out.yielded
    assert closed.close_reason == "time_expired"
    assert closed.close_timestamp == m(9)  # when + mET - 1
    assert closed.current_price == 42000
    assert closed.pnl.pnl_percentage == -0.39980019980018255
    assert out.calls[:2] == [0, 10]


async def test_case_3_scheduled_never_reached():
    out = await backtest(lambda k: F(42000), [sig("long", open_=41000, tp=43000, sl=40000, met=10)], end=30)
    assert out.actions() == ["scheduled", "cancelled"]
    scheduled = out.signals[0]
    assert scheduled.current_price == 42000 and scheduled.signal.scheduled_at == m(0)
    [cancelled] = out.yielded
    assert cancelled.close_timestamp == m(120)  # scheduledAt + CC_SCHEDULE_AWAIT_MINUTES
    assert cancelled.current_price == 42000
    assert cancelled.cancel_reason == "timeout"
    assert out.cb("on_open") == [] and out.cb("on_write") == []  # onWrite is never called for scheduled rows
    assert [(row.id, price) for row, price in out.cb("on_cancel")] == [(cancelled.signal.id, 42000)]
    assert out.calls == [0]  # no frame is processed after the cancellation


async def test_case_4_scheduled_long_jumps_below_stop_loss():
    out = await backtest(
        lambda k: F(45000) if k < 5 else F(39000), [sig("long", open_=42000, tp=43000, sl=40000, met=60)]
    )
    assert out.actions()[0] == "scheduled" and out.signals[0].signal.scheduled_at == m(0)
    [cancelled] = out.yielded
    assert cancelled.action == "cancelled"
    assert cancelled.close_timestamp == m(5)
    assert cancelled.current_price == 43800  # VWAP of m1..m5 = (4*45000 + 39000) / 5
    assert cancelled.cancel_reason == "price_reject"
    assert out.cb("on_open") == []


def _touching_both(k):
    return (42000, 43500, 40500, 42000, 100) if k == 5 else F(42000)


async def test_case_5_long_candle_touching_both():
    out = await backtest(_touching_both, [sig("long", tp=43000, sl=41000, met=60)])
    [closed] = out.yielded
    assert (closed.close_reason, minute(closed.close_timestamp), closed.current_price) == ("take_profit", 5, 43000)
    assert closed.pnl.pnl_percentage == 1.9763950335379084


async def test_case_6_short_candle_touching_both():
    out = await backtest(_touching_both, [sig("short", tp=41000, sl=43000, met=60)])
    [closed] = out.yielded
    assert (closed.close_reason, minute(closed.close_timestamp), closed.current_price) == ("take_profit", 5, 41000)
    assert closed.pnl.pnl_percentage == 1.9855188521855365


@pytest.mark.parametrize(
    ("position", "tp", "sl", "candle", "reason"),
    [
        ("long", 42500, 41500, (42000, 42500, 41900, 42000, 100), "take_profit"),  # high == TP
        ("long", 42500, 41500, (42000, 42100, 41500, 42000, 100), "stop_loss"),  # low == SL
        ("short", 41500, 42500, (42000, 42100, 41500, 42000, 100), "take_profit"),  # low == TP
        ("short", 41500, 42500, (42000, 42500, 41900, 42000, 100), "stop_loss"),  # high == SL
    ],
)
async def test_a_touch_to_the_cent_closes(position, tp, sl, candle, reason):
    """A candle that reaches TP or SL exactly (not beyond) decides the signal (SPEC 6.4's >= and <=),
    on the per-frame path and on the quiet path that reads the candle store directly."""
    out = await backtest(
        lambda k: candle if k == 7 else (42000, 42100, 41900, 42000, 100), [sig(position, tp=tp, sl=sl, met=60)]
    )
    [closed] = out.yielded
    price = tp if reason == "take_profit" else sl
    assert (closed.close_reason, minute(closed.close_timestamp), closed.current_price) == (reason, 7, price)


async def test_case_7_short_stop_loss():
    out = await backtest(lambda k: F(42000) if k < 5 else F(43100), [sig("short", tp=41000, sl=43000)])
    [closed] = out.yielded
    assert (closed.close_reason, minute(closed.close_timestamp), closed.current_price) == ("stop_loss", 5, 43000)
    assert closed.pnl.pnl_percentage == -2.7859192525859022


async def test_case_8_scheduled_short_activation_and_stop_loss_on_one_candle():
    out = await backtest(
        lambda k: (42000, 44500, 41900, 42000, 100) if k == 5 else F(42000),
        [sig("short", open_=43000, tp=41500, sl=44000, met=60)],
    )
    [cancelled] = out.yielded
    assert cancelled.action == "cancelled"  # cancellation beats activation
    assert cancelled.close_timestamp == m(5)
    assert cancelled.current_price == 42160
    assert cancelled.cancel_reason == "price_reject"
    assert out.cb("on_open") == []


async def test_case_9_truncated_data():
    out = await backtest(lambda k: F(42000) if k <= 7 else None, [sig("long", tp=43000, sl=41000, met=60)], end=10)
    [closed] = out.yielded
    assert (closed.close_reason, minute(closed.close_timestamp), closed.current_price) == (
        "time_expired",
        7,
        42000,
    )
    assert out.calls == [0, 8, 9, 10]  # the frame equal to the close (m7) is skipped


# --------------------------------------------------------------------------- 10-16: timing, risk, frames


def _case10_candles(k):
    if k < 3:
        return F(43000)
    if k == 3:
        return (42100, 42200, 41950, 42100, 100)
    if k == 4:
        return (42200, 43500, 42100, 42200, 100)
    return F(42200)


async def test_case_10_activation_time_and_blind_window():
    out = await backtest(_case10_candles, [sig("long", open_=42000, tp=43000, sl=41000, met=30)], end=10)
    [(scheduled_row, schedule_price)] = out.cb("on_schedule")
    assert schedule_price == 43000
    [(opened_row, open_price)] = out.cb("on_open")
    assert open_price == 42000
    assert opened_row.pending_at == m(3) and opened_row.scheduled_at == m(0)
    assert opened_row.id == scheduled_row.id
    [closed] = out.yielded  # the TP touch at m4 is inside the blind window
    assert closed.close_reason == "time_expired"
    assert closed.close_timestamp == m(33)  # pendingAt + 30
    assert closed.current_price == 42200
    assert closed.pnl.pnl_percentage == 0.07543884686744257
    assert closed.signal.is_scheduled is False
    assert out.of("opened") == []  # a backtest activation produces no opened result
    st = schedule_stats()
    assert (st.total_scheduled, st.total_opened, st.total_cancelled) == (1, 0, 0)
    assert st.cancellation_rate == 0 and st.activation_rate == 0
    assert st.avg_wait_time is None and st.avg_activation_time is None


async def test_case_11_throttling():
    out = await backtest(lambda k: F(42000), None, end=30, interval="5m")
    assert out.calls == [0, 5, 10, 15, 20, 25, 30]
    assert [p.processed_frames for p in out.progress] == [*range(31), 31]  # every frame, then the final event
    assert (out.progress[-1].total_frames, out.progress[-1].progress) == (31, 1.0)


async def test_case_12_risk_rejects_at_scheduled_activation():
    seen = []

    def second_check_rejects(payload):
        seen.append(payload)
        if len(seen) >= 2:
            raise RuntimeError("rejected")

    out = await backtest(
        lambda k: (42000, 42100, 41400, 42000, 100) if k == 3 else F(42000),
        [sig("long", open_=41500, tp=43000, sl=40000, met=10)],
        risk=[{"validate": second_check_rejects, "note": "second check rejects"}],
        quiet_check=False,
    )
    assert out.signals[0].action == "scheduled" and out.signals[0].signal.scheduled_at == m(0)
    [ev] = out.risk
    assert ev.comment == "second check rejects"
    assert ev.current_price == 41500
    assert ev.active_position_count == 0
    assert ev.backtest is True
    assert (ev.symbol, ev.strategy_name) == (SYMBOL, "s")
    assert len(out.errors) == 1
    assert "no pending signal after scheduled activation" in str(out.errors[0])
    assert out.yielded == []
    assert out.cb("on_open") == []
    assert set(out.actions()[1:]) == {"idle"}  # the scheduled signal is gone
    # check #1 saw the raw DTO at the VWAP, check #2 the scheduled row at its activation time
    assert seen[0].current_price == 42000 and seen[0].timestamp == m(0)
    assert seen[1].pending_signal.is_scheduled is True
    assert seen[1].timestamp == m(3) and seen[1].current_price == 41500
    rs = e.risk_instance("r", True)
    assert rs.positions == {}
    stats = risk_stats()
    assert stats.total_rejections == 1
    assert stats.by_symbol == {SYMBOL: 1}
    assert stats.by_strategy == {"s": 1}


async def test_case_13_immediate_open_runs_each_validation_twice():
    seen = []
    out = await backtest(
        lambda k: F(42000),
        [sig("long", tp=43000, sl=41000, met=10)],
        risk=[
            lambda p: seen.append(("a", p.active_position_count)),
            lambda p: seen.append(("b", p.active_position_count)),
        ],
        quiet_check=False,
    )
    assert seen == [("a", 0), ("b", 0), ("a", 0), ("b", 0)]
    assert len(out.yielded) == 1 and out.risk == []


async def test_case_14_next_frame_after_a_close():
    """1m frames: the next frame processed is the first strictly after closeTimestamp (case 1: m6)."""
    out = await backtest(_case1_candles, [sig("long", tp=43000, sl=41000, met=60)])
    assert minute(out.yielded[0].close_timestamp) == 5
    assert out.calls[:2] == [0, 6]
    assert [p.processed_frames for p in out.progress][:3] == [0, 6, 7]


async def test_case_14_skip_with_coarse_frames():
    """SPEC 6.3 literally: skip while T[i] < closeTimestamp, then the loop's ``i += 1``. With 5m frames and
    a close at m9 the m10 frame (the first >= the close) is skipped as well, so the next tick is m15."""
    out = await backtest(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=10)], end=30, frame_interval="5m")
    assert minute(out.yielded[0].close_timestamp) == 9
    assert out.calls == [0, 15, 20, 25, 30]


async def test_case_15_frame_generation():
    seen = []
    cb = {"on_timeframe": lambda ts, start, end, interval: seen.append((list(ts), start, end, interval))}
    out = await backtest(lambda k: F(42000), None, end=40, frame_interval="15m", frame_callbacks=cb)
    assert out.calls == [0, 15, 30]
    assert seen[0] == (
        [m(0), m(15), m(30)],
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 40, tzinfo=UTC),
        "15m",
    )
    seen.clear()
    restart()
    out = await backtest(lambda k: F(42000), None, end=1440, frame_interval="1d", frame_callbacks=cb)
    assert out.calls == [0, 1440]
    assert seen[0][0] == [m(0), m(1440)]


def _mock(k):
    """The upstream mock candles of SPEC 4.2 for a request at m0 (since = m-4): i = k + 4 (F(42000)
    before m-4, where the formula would give a negative volume)."""
    if k < -4:
        return F(42000)
    i = k + 4
    base = 42000 + 100 * i
    # open = the low: upstream's open (base) lies below its low, which the OHLC rule (issue 20)
    # refuses as an impossible candle; no VWAP reads the open, so every price is unchanged
    return (base + 100, base + 380.2, base + 100, base + 250.8, 100 + 10 * i)


async def test_case_16_vwap_and_context_helpers():
    """Case 16 uses "relative" mock candles (the i-th candle from a request's since). Restated with
    absolute timestamps so that the VWAP request at m0 (since = m-4) sees them: candle k has i = k + 4."""
    seen = {}

    async def probe(k, price):
        seen["price"] = price
        seen["avg"] = await e.get_average_price(SYMBOL)
        seen["date"] = e.get_date()
        seen["mode"] = e.get_mode()
        seen["hourly"] = await e.get_candles(SYMBOL, "1h", 5)
        return None

    await backtest(_mock, probe, end=0)
    assert seen["price"] == 42460.33333333333
    assert seen["avg"] == 42460.33333333333
    assert seen["date"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert seen["mode"] == "backtest"
    assert [c.timestamp for c in seen["hourly"]] == [m(-240), m(-180), m(-120), m(-60), m(0)]
    dates = []

    async def dates_probe(k, price):
        dates.append((k, e.get_date()))

    restart()
    await backtest(_mock, dates_probe, end=3, quiet_check=False)
    assert dates == [(k, datetime.fromtimestamp(m(k) / 1000, tz=UTC)) for k in range(4)]


async def test_case_17_zero_volume_vwap_is_the_mean_of_closes():
    closes = {-4: 100.0, -3: 200.0, -2: 300.0, -1: 400.0, 0: 600.0}
    out = await backtest(
        lambda k: (closes[k], closes[k] + 5, closes[k] - 5, closes[k], 0) if k in closes else None, None, end=0
    )
    assert out.errors == []
    assert out.prices == [320.0]


# --------------------------------------------------------------------------- 18-26: limit entries


async def test_case_18_long_activates_when_low_equals_price_open():
    out = await backtest(
        lambda k: (42500, 42600, 42000, 42500, 100) if k == 5 else F(42500),
        [sig("long", open_=42000, tp=43000, sl=41000, met=20)],
    )
    assert out.signals[0].action == "scheduled"
    [(row, price)] = out.cb("on_open")
    assert price == 42000 and row.pending_at == m(5)
    [closed] = out.yielded
    assert closed.action == "closed" and closed.signal.pending_at == m(5)
    assert (closed.close_reason, minute(closed.close_timestamp)) == ("time_expired", 25)


async def test_case_19_gap_through_price_open():
    def candles(k):
        if k < 5:
            return F(45000)
        return (42000, 42500, 41500, 42000, 100) if k == 5 else F(42000)

    out = await backtest(candles, [sig("long", open_=43000, tp=46000, sl=40000, met=30)])
    [(row, price)] = out.cb("on_open")
    assert price == 43000 and row.pending_at == m(5)
    [closed] = out.yielded
    assert (closed.close_reason, minute(closed.close_timestamp)) == ("time_expired", 35)


async def test_case_20_limit_reaches_price_open_before_stop_loss():
    """Case 20 uses "relative" candles (base 43000 - 200*i from a request's since). Restated with absolute
    timestamps so that the first request (the VWAP at m0, since = m-4) sees the same values: the candle
    of minute k has base 43000 - 200*(k+4), high base + 50, low base - 50 (mirror: 41000 + 200*(k+4))."""

    def falling(k):
        base = 43000 - 200 * (k + 4)
        return (base, base + 50, base - 50, base, 100)

    out = await backtest(falling, [sig("long", open_=41000, tp=42000, sl=40000, met=60)])
    assert out.signals[0].action == "scheduled"
    [(row, price)] = out.cb("on_open")
    assert price == 41000 and row.pending_at == m(6)
    assert out.cb("on_cancel") == []
    [closed] = out.yielded
    assert closed.close_reason == "stop_loss" and closed.pnl.pnl_percentage < 0
    assert closed.close_timestamp == m(11)  # m7..m10 are the blind window

    def rising(k):
        base = 41000 + 200 * (k + 4)
        return (base, base + 50, base - 50, base, 100)

    restart()
    out = await backtest(rising, [sig("short", open_=43000, tp=42000, sl=44000, met=60)])
    assert out.signals[0].action == "scheduled"
    [(row, price)] = out.cb("on_open")
    assert price == 43000 and row.pending_at == m(6)
    [closed] = out.yielded
    assert closed.close_reason == "stop_loss" and closed.pnl.pnl_percentage < 0


@pytest.mark.parametrize(
    ("price", "dto"),
    [
        (42000, sig("long", open_=43000, tp=44000, sl=41000, met=10)),
        (43000, sig("short", open_=42000, tp=41000, sl=44000, met=10)),
    ],
    ids=["long", "short"],
)
async def test_case_21_immediate_activation_of_a_limit(price, dto):
    out = await backtest(lambda k: F(price), [dto])
    opened = out.signals[0]
    assert opened.action == "opened"
    assert opened.current_price == dto["price_open"] == opened.signal.price_open
    assert opened.signal.scheduled_at == opened.signal.pending_at == m(0)
    assert out.of("scheduled") == [] and out.cb("on_schedule") == []


@pytest.mark.parametrize(
    ("price", "dto"),
    [
        (40000, sig("long", open_=43000, tp=45000, sl=41000, met=10)),
        (45000, sig("short", open_=42000, tp=40000, sl=44000, met=10)),
    ],
    ids=["long", "short"],
)
async def test_case_22_immediate_activation_refused(price, dto):
    out = await backtest(lambda k: F(price), [dto])
    assert set(out.actions()) == {"idle"}
    [err] = out.errors
    assert isinstance(err, e.SignalValidationError)
    assert any("current price" in line and "price_stop_loss" in line for line in err.problems)
    assert out.cb("on_schedule") == [] and out.cb("on_open") == [] and out.yielded == []


async def test_case_23_scheduled_lifetime_counts_from_activation():
    out = await backtest(
        lambda k: (42000, 42100, 41800, 42000, 100) if k == 7 else F(42000),
        [sig("long", open_=41850, tp=45000, sl=39000, met=1440)],
    )
    [closed] = out.yielded
    assert closed.signal.pending_at == m(7) and closed.signal.scheduled_at == m(0)
    assert closed.close_reason == "time_expired"
    assert closed.close_timestamp - closed.signal.pending_at == 1440 * 60_000


async def test_case_24_scheduled_timeout_boundary():
    out = await backtest(lambda k: F(42000), [sig("long", open_=40000, tp=41000, sl=39000)])
    [cancelled] = out.yielded
    assert cancelled.action == "cancelled" and cancelled.cancel_reason == "timeout"
    assert cancelled.close_timestamp - cancelled.signal.scheduled_at == 7_200_000


@pytest.mark.parametrize("await_minutes", [10, 45, 200])
async def test_case_25_schedule_await_minutes_config(await_minutes):
    e.reset_config()  # case 3 is valid under the defaults too, so the checked set_config can be used
    e.set_config(CC_SCHEDULE_AWAIT_MINUTES=await_minutes)
    out = await backtest(lambda k: F(42000), [sig("long", open_=41000, tp=43000, sl=40000, met=10)], end=30)
    [cancelled] = out.yielded
    assert cancelled.close_timestamp == m(await_minutes)
    assert cancelled.current_price == 42000 and cancelled.cancel_reason == "timeout"


async def test_case_26_scheduled_signals_never_overlap():
    out = await backtest(
        lambda k: F(42000), lambda k, price: sig("long", open_=41950, tp=42500, sl=41000, met=10), end=32
    )
    seq = [c[0] for c in out.callbacks if c[0] in ("on_schedule", "on_open", "on_close", "on_cancel")]
    assert seq == ["on_schedule", "on_open", "on_close"] * 3
    assert out.calls == [0, 11, 22]  # asked again only once the previous signal closed
    assert [minute(r.signal.scheduled_at) for r in out.yielded] == [0, 11, 22]
    assert [minute(r.close_timestamp) for r in out.yielded] == [10, 21, 32]
    open_now = 0
    for name, *_ in out.callbacks:
        open_now += {"on_open": 1, "on_close": -1}.get(name, 0)
        assert open_now in (0, 1)


async def test_flat_candles_helper_is_exact():
    """Sanity of the DSL itself: a flat candle's VWAP is its price."""
    out = await backtest(lambda k: flat(42000), None, end=0)
    assert out.prices == [42000]
