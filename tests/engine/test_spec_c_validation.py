"""SPEC 16 part C (cases 36-44): validation and robustness, through the engine's public API, plus the
btk additions of the engine-core issue (every failed rule listed, get_signal errors and timeouts, config
keys named, unknown names at call time, cancel reasons)."""

from __future__ import annotations

import asyncio
import math

import pytest
from spec_helpers import (
    EXCHANGE,
    FRAME,
    STRATEGY,
    SYMBOL,
    F,
    Harness,
    backtest,
    m,
    minute,
    restart,
    sig,
    use_test_profile,
)

import engine as e


@pytest.fixture(autouse=True)
def _profile():
    use_test_profile()


def _mock(k):
    """SPEC 4.2's upstream mock candles as seen by the VWAP request at m0 (i = k + 4): VWAP 42460.33..."""
    i = k + 4
    base = 42000 + 100 * i
    # open = the low: upstream's open (base) lies below its low, which the OHLC rule (issue 20)
    # refuses as an impossible candle; no VWAP reads the open, so every price is unchanged
    return (base + 100, base + 380.2, base + 100, base + 250.8, 100 + 10 * i)


# --------------------------------------------------------------------------- 36-39: signals and candles

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
async def test_case_36_invalid_dtos(name):
    out = await backtest(lambda k: F(42000), [BAD_DTOS[name]], end=3)
    assert set(out.actions()) == {"idle"}
    [err] = out.errors
    assert isinstance(err, e.SignalValidationError)
    assert str(err).startswith(f"Invalid signal for {BAD_DTOS[name]['position']} position")
    assert out.cb("on_schedule") == [] and out.cb("on_open") == [] and out.cb("on_write") == []
    assert out.calls == [0, 1, 2, 3]  # the run goes on


async def test_case_36_nan_price_gives_only_the_finite_number_line():
    out = await backtest(lambda k: F(42000), [BAD_DTOS["priceOpen NaN"]], end=0)
    [err] = out.errors
    assert err.problems == ["price_open must be a finite number, got nan"]
    assert str(err).split("\n")[1:] == err.problems


@pytest.mark.parametrize(
    ("key", "value", "dto"),
    [
        ("CC_MIN_TAKEPROFIT_DISTANCE_PERCENT", 0.3, sig("long", tp=42010, sl=41000, met=10)),
        ("CC_MAX_STOPLOSS_DISTANCE_PERCENT", 20, sig("long", tp=43000, sl=20000, met=10)),
        ("CC_MAX_SIGNAL_LIFETIME_MINUTES", 43200, sig("long", tp=43000, sl=41000, met=50000)),
    ],
)
async def test_case_37_config_limits(key, value, dto):
    ok = await backtest(lambda k: F(42000), [dto], end=0)
    assert ok.errors == [] and ok.actions()[0] == "opened"  # the test profile lets it through
    restart()
    use_test_profile(**{key: value})
    out = await backtest(lambda k: F(42000), [dto], end=0)
    assert out.actions() == ["idle"]
    [err] = out.errors
    assert len(err.problems) == 1 and key in err.problems[0]


async def test_case_38_five_validation_lines_with_defaults():
    e.reset_config()
    out = await backtest(_mock, [sig("long", tp=100, sl=200, met=0)], end=0)
    assert out.prices == [42460.33333333333]
    [err] = out.errors
    head, *lines = str(err).split("\n")
    assert head.startswith("Invalid signal for long position") and head.endswith(":")
    assert lines == err.problems and len(lines) == 5
    assert "price_take_profit" in lines[0] and "price_open" in lines[0] and "42460.33333333333" in lines[0]
    assert "current price (42460.33333333333) >= price_take_profit (100.0)" in lines[1]
    assert "-99.764%" in lines[2] and "CC_MIN_TAKEPROFIT_DISTANCE_PERCENT" in lines[2]
    assert "99.529%" in lines[3] and "too far" in lines[3] and "CC_MAX_STOPLOSS_DISTANCE_PERCENT" in lines[3]
    assert "minute_estimated_time must be positive" in lines[4]


async def test_case_39_anomalous_candle():
    """Case 39 uses "relative" candles (the 4th candle of every request, i == 3, is anomalous). Restated with
    absolute timestamps for the first request (the VWAP at m0, since = m-4): the candle of m-1 is
    {0.1, 0.12, 0.08, 0.1, volume 0}. Every VWAP window of the frame m0..m3 contains it, so every tick fails
    twice (the getSignal pipeline's VWAP, then the idle path's) and getSignal is never reached."""
    out = await backtest(
        lambda k: (0.1, 0.12, 0.08, 0.1, 0) if k == -1 else F(42000),
        [sig("long", tp=43000, sl=41000, met=10)],
        end=3,
    )
    assert len(out.errors) == 8
    assert all("anomalously low price" in msg for msg in out.messages())
    assert out.signals == [] and out.calls == [] and out.yielded == []


# --------------------------------------------------------------------------- 40-41: failures keep the run going


async def test_case_40_exchange_always_raises():
    def down(k):
        raise ConnectionError("exchange down")

    h = Harness(down, [sig("long", tp=43000, sl=41000)], end=4, record=False)
    done = []
    finished = asyncio.Event()

    def on_done(ev):
        done.append(ev)
        finished.set()

    e.listen_done_backtest(on_done)
    cancel = e.Backtest.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    assert callable(cancel)
    await asyncio.wait_for(finished.wait(), timeout=10)
    assert done == [e.DoneEvent(exchange_name=EXCHANGE, strategy_name=STRATEGY, backtest=True, symbol=SYMBOL)]
    assert len(h.out.errors) == 2 * 5  # each of the 5 ticks: the pipeline's VWAP, then the idle path's
    assert all("exchange down" in msg for msg in h.out.messages())
    assert h.out.calls == []
    [task] = e.Backtest.list()
    assert task.status == "fulfilled"


async def test_case_41_a_raising_signal_listener_reaches_the_error_stream():
    boom = RuntimeError("listener boom")

    def bad_listener(result):
        raise boom

    e.listen_signal_backtest(bad_listener)
    out = await backtest(lambda k: F(42000), None, end=5, quiet_check=False)
    assert out.errors == [boom] * 6  # one per frame
    assert out.calls == [0, 1, 2, 3, 4, 5]  # the run went on to the end
    assert out.progress[-1].progress == 1.0


async def test_case_41_raising_on_opened_leaves_the_position_to_tick_monitoring():
    """A listener that raises on the opened result aborts that frame's handling (SPEC 6.3: a failed tick is
    an error, then the next frame), so no fast-forward happens; later ticks still close the position."""
    boom = RuntimeError("listener boom")

    def bad_listener(result):
        if result.action == "opened":
            raise boom

    e.listen_signal_backtest(bad_listener)
    out = await backtest(
        lambda k: F(42000) if k < 5 else (43000, 43100, 42900, 43000, 100),
        [sig("long", tp=43000, sl=41000, met=60)],
        quiet_check=False,
    )
    assert out.errors == [boom]
    [closed] = out.of("closed")
    assert (closed.close_reason, minute(closed.close_timestamp), closed.current_price) == ("take_profit", 9, 43000)
    assert out.yielded == []  # closed results of tick() are emitted, not yielded
    assert out.progress[-1].progress == 1.0


# --------------------------------------------------------------------------- 42: config validation


def _assert_rejected(overrides, *keys):
    before = e.get_config()
    with pytest.raises(e.ConfigError) as info:
        e.set_config(overrides)
    msg = str(info.value)
    assert msg.startswith("GLOBAL_CONFIG validation failed:\n")
    lines = msg.split("\n")[1:]
    assert lines == [f"  {n}. {p}" for n, p in enumerate(info.value.problems, 1)]
    for key in keys:
        assert any(key in line for line in lines), (key, lines)
    assert e.get_config() == before
    return lines


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"CC_PERCENT_SLIPPAGE": -0.1}, "CC_PERCENT_SLIPPAGE"),
        ({"CC_PERCENT_FEE": -0.1}, "CC_PERCENT_FEE"),
        ({"CC_PERCENT_SLIPPAGE": math.inf}, "CC_PERCENT_SLIPPAGE"),
        ({"CC_PERCENT_FEE": math.nan}, "CC_PERCENT_FEE"),
        ({"CC_MAX_STOPLOSS_DISTANCE_PERCENT": math.inf}, "CC_MAX_STOPLOSS_DISTANCE_PERCENT"),
        ({"CC_MIN_TAKEPROFIT_DISTANCE_PERCENT": 0.3}, "CC_MIN_TAKEPROFIT_DISTANCE_PERCENT"),
        ({"CC_MIN_TAKEPROFIT_DISTANCE_PERCENT": 0}, "CC_MIN_TAKEPROFIT_DISTANCE_PERCENT"),
        ({"CC_MIN_STOPLOSS_DISTANCE_PERCENT": 20}, "CC_MIN_STOPLOSS_DISTANCE_PERCENT"),
        ({"CC_MIN_STOPLOSS_DISTANCE_PERCENT": 25}, "CC_MIN_STOPLOSS_DISTANCE_PERCENT"),
        ({"CC_MIN_STOPLOSS_DISTANCE_PERCENT": 0}, "CC_MIN_STOPLOSS_DISTANCE_PERCENT"),
        ({"CC_MIN_STOPLOSS_DISTANCE_PERCENT": -1}, "CC_MIN_STOPLOSS_DISTANCE_PERCENT"),
        ({"CC_MAX_STOPLOSS_DISTANCE_PERCENT": 0}, "CC_MAX_STOPLOSS_DISTANCE_PERCENT"),
        ({"CC_MAX_STOPLOSS_DISTANCE_PERCENT": -5}, "CC_MAX_STOPLOSS_DISTANCE_PERCENT"),
        ({"CC_SCHEDULE_AWAIT_MINUTES": 0}, "CC_SCHEDULE_AWAIT_MINUTES"),
        ({"CC_SCHEDULE_AWAIT_MINUTES": -5}, "CC_SCHEDULE_AWAIT_MINUTES"),
        ({"CC_SCHEDULE_AWAIT_MINUTES": 1.5}, "CC_SCHEDULE_AWAIT_MINUTES"),
        ({"CC_MAX_SIGNAL_LIFETIME_MINUTES": 10.5}, "CC_MAX_SIGNAL_LIFETIME_MINUTES"),
        ({"CC_MAX_SIGNAL_LIFETIME_MINUTES": 0}, "CC_MAX_SIGNAL_LIFETIME_MINUTES"),
        ({"CC_MAX_SIGNAL_GENERATION_SECONDS": 0}, "CC_MAX_SIGNAL_GENERATION_SECONDS"),
        ({"CC_MAX_SIGNAL_GENERATION_SECONDS": -1}, "CC_MAX_SIGNAL_GENERATION_SECONDS"),
        ({"CC_AVG_PRICE_CANDLES_COUNT": 0}, "CC_AVG_PRICE_CANDLES_COUNT"),
        ({"CC_AVG_PRICE_CANDLES_COUNT": 2.5}, "CC_AVG_PRICE_CANDLES_COUNT"),
        ({"CC_GET_CANDLES_RETRY_COUNT": -1}, "CC_GET_CANDLES_RETRY_COUNT"),
        ({"CC_GET_CANDLES_RETRY_DELAY_MS": -1}, "CC_GET_CANDLES_RETRY_DELAY_MS"),
        ({"CC_GET_CANDLES_PRICE_ANOMALY_THRESHOLD_FACTOR": 0}, "CC_GET_CANDLES_PRICE_ANOMALY_THRESHOLD_FACTOR"),
        ({"CC_GET_CANDLES_MIN_CANDLES_FOR_MEDIAN": 0}, "CC_GET_CANDLES_MIN_CANDLES_FOR_MEDIAN"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else ",".join(f"{k}={x}" for k, x in v.items()),
)
def test_case_42_config_validation_rejects(overrides, key):
    e.reset_config()
    _assert_rejected(overrides, key)


def test_case_42_several_problems_are_numbered_together():
    e.reset_config()
    lines = _assert_rejected(
        {"CC_PERCENT_FEE": -1, "CC_SCHEDULE_AWAIT_MINUTES": 0, "CC_GET_CANDLES_RETRY_DELAY_MS": -1},
        "CC_PERCENT_FEE",
        "CC_SCHEDULE_AWAIT_MINUTES",
        "CC_GET_CANDLES_RETRY_DELAY_MS",
    )
    assert len(lines) >= 3 and lines[0].startswith("  1. ") and lines[2].startswith("  3. ")


def test_case_42_valid_configs_pass():
    e.reset_config()
    e.set_config(e.get_default_config())  # the defaults pass validation
    assert e.get_config() == e.get_default_config()
    e.set_config(CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0.4)  # exactly 2*0.1 + 2*0.1
    assert e.get_config()["CC_MIN_TAKEPROFIT_DISTANCE_PERCENT"] == 0.4
    e.set_config(CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0.399, unsafe=True)  # unsafe skips the value rules
    assert e.get_config()["CC_MIN_TAKEPROFIT_DISTANCE_PERCENT"] == 0.399


@pytest.mark.parametrize("unsafe", [False, True])
def test_bad_config_key_or_value_raises_at_once_naming_the_key(unsafe):
    before = e.get_config()
    with pytest.raises(e.ConfigError, match="CC_SCHEDULE_AWAIT_MINUTS"):
        e.set_config(CC_SCHEDULE_AWAIT_MINUTS=10, unsafe=unsafe)
    with pytest.raises(e.ConfigError, match="CC_PERCENT_FEE"):
        e.set_config(CC_PERCENT_FEE="0.1", unsafe=unsafe)
    assert e.get_config() == before


# --------------------------------------------------------------------------- 43: columns


def _col(key="k", label="L", **over):
    col = {"key": key, "label": label, "format": lambda item, i: "x", "is_visible": lambda: True}
    col.update(over)
    return {k: v for k, v in col.items() if v is not ...}


@pytest.mark.parametrize(
    ("column", "problem"),
    [
        (_col(key=...), "key"),
        (_col(label=...), "label"),
        (_col(format=...), "format"),
        (_col(is_visible=...), "is_visible"),
        (_col(key=""), "key"),
        (_col(label=""), "label"),
        (_col(key=7), "key"),
        (_col(label=None), "label"),
        (_col(format="not callable"), "format"),
        (_col(is_visible=True), "is_visible"),
    ],
    ids=[
        "missing key",
        "missing label",
        "missing format",
        "missing is_visible",
        "empty key",
        "empty label",
        "int key",
        "None label",
        "str format",
        "bool is_visible",
    ],
)
def test_case_43_invalid_column_is_rejected(column, problem):
    before = e.get_columns()
    with pytest.raises(e.ColumnConfigError) as info:
        e.set_columns(backtest_columns=[_col("ok", "OK"), column])
    [line] = info.value.problems
    assert "backtest_columns[1]" in line and problem in line
    assert e.get_columns() == before


def test_case_43_errors_are_aggregated_and_rolled_back():
    before = e.get_columns()
    with pytest.raises(e.ColumnConfigError) as info:
        e.set_columns(
            backtest_columns=[_col("a", "A")],  # valid, but must not be applied
            heat_columns=[_col("a", "A"), _col("a", "B"), _col(key="")],
            live_columns="not a list",
        )
    problems = info.value.problems
    assert len(problems) == 3
    assert any("heat_columns[1]" in p and "duplicate" in p for p in problems)
    assert any("heat_columns[2]" in p and "key" in p for p in problems)
    assert any("live_columns" in p for p in problems)
    assert e.get_columns() == before


def test_case_43_get_columns_is_a_copy_and_partial_updates_keep_the_rest():
    cols = e.get_columns()
    cols["backtest_columns"].clear()
    cols["heat_columns"] = []
    assert e.get_columns() == e.get_default_columns()
    e.set_columns(backtest_columns=[_col("a", "A")])
    now = e.get_columns()
    assert [c.key for c in now["backtest_columns"]] == ["a"]
    defaults = e.get_default_columns()
    assert all(now[name] == defaults[name] for name in defaults if name != "backtest_columns")


# --------------------------------------------------------------------------- 44: registration


async def _get_signal(symbol, when, price):
    return None


async def _get_candles(symbol, interval, since, limit):
    return []


def test_case_44_lists_are_empty_before_registration():
    lists = (e.list_strategies, e.list_exchanges, e.list_frames, e.list_risks, e.list_sizings, e.list_walkers)
    assert [fn() for fn in lists] == [[]] * len(lists)


def test_case_44_duplicate_names_raise():
    def on_tick(*args):
        pass

    registrations = {
        "strategy": lambda: e.add_strategy("dup", "1m", _get_signal),
        "exchange": lambda: e.add_exchange("dup", _get_candles),
        "frame": lambda: e.add_frame("dup", "1m", m(0), m(10)),
        "risk": lambda: e.add_risk("dup", validations=[]),
        "sizing": lambda: e.add_sizing("dup", "fixed-percentage", risk_percentage=2),
        "walker": lambda: e.add_walker("dup", "x", "f", ["s"]),
    }
    for kind, register in registrations.items():
        register()
        with pytest.raises(e.DuplicateError, match=f"^{kind} dup already exist$"):
            register()
    assert len(e.list_strategies()) == 1 and len(e.list_walkers()) == 1


def test_case_44_lists_include_note_and_callbacks():
    def on_rejected(symbol, args):
        pass

    def on_tick(symbol, result, backtest):
        pass

    def on_timeframe(*args):
        pass

    e.add_risk("r1", validations=[lambda p: None], callbacks={"on_rejected": on_rejected}, note="risk note")
    e.add_risk("r2")
    e.add_strategy("s1", "5m", _get_signal, risk_name="r1", callbacks={"on_tick": on_tick}, note="strategy note")
    e.add_frame("f1", "1h", m(0), m(600), callbacks={"on_timeframe": on_timeframe}, note="frame note")
    e.add_exchange("x1", _get_candles, note="exchange note")
    e.add_sizing("z1", "kelly-criterion", note="sizing note")
    e.add_walker("w1", "x1", "f1", ["s1"], note="walker note")
    [r1, r2] = e.list_risks()
    assert (r1.risk_name, r1.note, r1.callbacks.on_rejected) == ("r1", "risk note", on_rejected)
    assert (r2.risk_name, r2.note) == ("r2", None)
    [s1] = e.list_strategies()
    assert (s1.note, s1.callbacks.on_tick, s1.risk_name, s1.interval) == ("strategy note", on_tick, "r1", "5m")
    [f1] = e.list_frames()
    assert (f1.note, f1.callbacks.on_timeframe) == ("frame note", on_timeframe)
    assert e.list_exchanges()[0].note == "exchange note"
    assert e.list_sizings()[0].note == "sizing note"
    assert e.list_walkers()[0].note == "walker note"


def test_case_44_unknown_names_raise_at_backtest_run_call_time():
    e.add_exchange(EXCHANGE, _get_candles)
    e.add_frame(FRAME, "1m", m(0), m(10))
    e.add_strategy(STRATEGY, "1m", _get_signal)
    e.add_strategy("risky", "1m", _get_signal, risk_name="nope")
    names = {"strategy_name": STRATEGY, "exchange_name": EXCHANGE, "frame_name": FRAME}
    for kind, override, registered in (
        ("strategy", {"strategy_name": "typo"}, "s, risky"),
        ("exchange", {"exchange_name": "typo"}, EXCHANGE),
        ("frame", {"frame_name": "typo"}, FRAME),
    ):
        with pytest.raises(e.NotFoundError) as info:
            e.Backtest.run(SYMBOL, **{**names, **override})  # raises before any iteration
        msg = str(info.value)
        assert msg.startswith(f"{kind} typo not found source=Backtest.run")
        assert registered in msg
    with pytest.raises(e.NotFoundError, match=r"^risk nope not found source=Backtest\.run"):
        e.Backtest.run(SYMBOL, **{**names, "strategy_name": "risky"})
    e.add_risk("fine")
    e.add_strategy("listed", "1m", _get_signal, risk_list=["fine", "missing"])
    with pytest.raises(e.NotFoundError, match=r"^risk missing not found source=Backtest\.run"):
        e.Backtest.run(SYMBOL, **{**names, "strategy_name": "listed"})
    with pytest.raises(e.NotFoundError, match=r"^strategy typo not found source=Backtest\.background"):
        e.Backtest.background(SYMBOL, **{**names, "strategy_name": "typo"})
    assert [t.status for t in e.Backtest.list()] in ([], ["ready"])  # nothing started


# --------------------------------------------------------------------------- btk additions


async def test_invalid_signal_lists_every_failed_rule_one_per_line():
    out = await backtest(lambda k: F(42000), [sig("short", tp=43000, sl=41000, met=2.5)], end=0)
    [err] = out.errors
    head, *lines = str(err).split("\n")
    assert head.startswith("Invalid signal for short position")
    assert lines == err.problems
    assert len(lines) == 5
    assert "price_take_profit (43000.0) must be < price_open (42000.0)" in lines[0]
    assert "price_stop_loss (41000.0) must be > price_open (42000.0)" in lines[1]
    assert "current price (42000.0) >= price_stop_loss (41000.0)" in lines[2]
    assert "current price (42000.0) <= price_take_profit (43000.0)" in lines[3]
    assert "minute_estimated_time must be an integer" in lines[4]


async def test_get_signal_that_raises_goes_to_the_error_stream_and_the_run_continues():
    failure = ValueError("strategy bug")

    def faulty(k, price):
        if k == 0:
            raise failure
        return sig("long", tp=43000, sl=41000, met=3) if k == 5 else None

    out = await backtest(lambda k: F(42000), faulty, end=10, interval="5m")
    assert out.errors == [failure]  # the user's own exception object
    assert out.calls == [0, 5, 10]  # the failed call consumed its throttle slot
    [closed] = out.yielded
    assert (minute(closed.signal.pending_at), closed.close_reason) == (5, "time_expired")


async def test_get_signal_timeout_goes_to_the_error_stream_and_the_run_continues():
    """A get_signal that never returns: with a frozen SimulatedClock the CC_MAX_SIGNAL_GENERATION_SECONDS
    timer fires at once, without waiting; the hung call is abandoned and the run goes on."""
    e.set_clock(e.SimulatedClock(m(100_000), speed=0))
    use_test_profile(CC_MAX_SIGNAL_GENERATION_SECONDS=5)
    never = asyncio.Event()
    cancelled = []

    async def hangs(k, price):
        if k < 2:
            try:
                await never.wait()
            except asyncio.CancelledError:
                cancelled.append(k)
                raise
        return sig("long", tp=43000, sl=41000, met=5) if k == 2 else None

    out = await backtest(lambda k: F(42000), hangs, end=10)
    assert out.calls[:3] == [0, 1, 2]
    assert len(out.errors) == 2
    for err in out.errors:
        assert "Timeout for s symbol=BTCUSDT" in str(err)
    assert sorted(set(cancelled)) == [0, 1]
    [closed] = out.yielded
    assert (minute(closed.signal.pending_at), closed.close_reason, minute(closed.close_timestamp)) == (
        2,
        "time_expired",
        6,
    )


@pytest.mark.parametrize(
    ("candles", "reason", "close_minute"),
    [
        (lambda k: F(42000), "timeout", 120),
        (lambda k: F(42000) if k < 5 else F(39000), "price_reject", 5),
    ],
    ids=["timeout", "price_reject"],
)
async def test_cancelled_results_carry_cancel_reason(candles, reason, close_minute):
    out = await backtest(candles, [sig("long", open_=41000, tp=43000, sl=40000, met=10)])
    [cancelled] = out.yielded
    assert isinstance(cancelled, e.CancelledResult)
    assert cancelled.cancel_reason == reason
    assert minute(cancelled.close_timestamp) == close_minute
    assert out.of("cancelled") == [cancelled]
