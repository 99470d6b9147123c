"""Indicator columns (issue 13): computed once over the candle store, served at "now", never ahead.

The oracle is the way a strategy computes an indicator without them: the same function over
``get_candles(symbol, interval, history)`` inside ``get_signal``, whose last value is the value at
"now" (SPEC 4.1's candles). For functions of a bounded number of candles (TA-Lib's MAX and MIN,
the close itself) the two must agree exactly, on stores with random gaps, for every interval, and
a strategy written both ways must make the same trades. A function that looks ahead (a centred
moving average, ``shift(-1)``) must be refused, naming the indicator and the strategy.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import talib

import engine as e
from engine.exchanges.synthetic import SyntheticFeed
from engine.model import CANDLE_INTERVALS, MINUTE_MS

START = datetime(2024, 1, 1, tzinfo=UTC)
T0 = int(START.timestamp() * 1000)
SYMBOL = "BTCUSDT"


async def backtest(strategy: str, exchange: str = "x", frame: str = "f") -> list:
    return [r async for r in e.Backtest.run(SYMBOL, strategy_name=strategy, exchange_name=exchange, frame_name=frame)]


def gappy_exchange(seed: int, gap_pct: int):
    """User-style get_candles: a candle per slot that depends only on the slot, some slots missing."""

    def present(slot: int) -> bool:
        return (slot * 2654435761 + seed * 40503) % 100 >= gap_pct

    async def get_candles(symbol, interval, since, limit):
        step = CANDLE_INTERVALS[interval] * MINUTE_MS
        first = int(since.timestamp() * 1000) // step
        out = []
        for slot in range(first, first + limit):
            if present(slot):
                base = 100.0 + (slot * 7919 % 1000) / 10
                row = {"timestamp": slot * step, "open": base, "high": base + 1.5 + slot % 3, "low": base - 1.25}
                out.append(row | {"close": base + 0.25 * (slot % 5 - 2), "volume": float(slot % 17)})
        return out

    return get_candles


# --------------------------------------------------------------------------- the value at "now"


@pytest.mark.parametrize(("seed", "gap_pct", "interval"), [(1, 0, "1m"), (2, 20, "1m"), (3, 35, "5m"), (4, 10, "1h")])
async def test_values_equal_the_function_over_get_candles(seed: int, gap_pct: int, interval: str) -> None:
    """At every call: indicator(name) is fn(get_candles(history))[-1], indicator(name, n) its tail."""
    e.set_config(CC_MAX_CANDLES_PER_REQUEST=97, CC_GET_CANDLES_RETRY_DELAY_MS=0, unsafe=True)
    e.add_exchange("x", gappy_exchange(seed, gap_pct))
    e.add_frame("f", "1m", START, START + timedelta(hours=30))
    history = 40
    compared = []

    async def get_signal(symbol, when, price):
        candles = await e.get_candles(symbol, interval, history)
        want_max = talib.MAX(candles.high, 10)[-1] if len(candles) else np.nan
        got_max = await e.indicator("max")
        got_closes = await e.indicator("close", 5)
        assert not got_closes.flags.writeable
        assert got_closes.tolist() == candles.close[-5:].tolist()
        assert (np.isnan(want_max) and np.isnan(got_max)) or got_max == want_max, (when, got_max, want_max)
        assert await e.indicator("close") == (candles.close[-1] if len(candles) else None)
        compared.append(when)

    indicators = {
        "max": e.Indicator(lambda c: talib.MAX(c.high, 10), interval=interval, history=history),
        "close": e.Indicator(lambda c: c.close, interval=interval, history=history),
    }
    e.add_strategy("s", "5m", get_signal, indicators=indicators)
    errors: list = []
    e.listen_error(errors.append)
    await backtest("s")
    assert errors == [] and len(compared) > 100


LIFETIME = {"minute_estimated_time": 240}


def donchian_strategy(name: str, *, columns: bool) -> None:
    """Breakout of the previous 30-minute range, written with get_candles or with indicator columns."""

    async def signal(price: float, close: float, top: float, bottom: float) -> dict | None:
        if np.isnan(top) or bottom <= close <= top:
            return None
        side, tp = ("long", 1.006) if close > top else ("short", 0.994)
        return {"position": side, "price_take_profit": price * tp, "price_stop_loss": price * (2 - tp), **LIFETIME}

    async def with_candles(symbol, when, price):
        candles = await e.get_candles(symbol, "1m", 60)
        top, bottom = talib.MAX(candles.high, 30)[-2], talib.MIN(candles.low, 30)[-2]
        return await signal(price, candles.close[-1], top, bottom)

    async def with_columns(symbol, when, price):
        top, bottom = (await e.indicator("top", 2))[0], (await e.indicator("bottom", 2))[0]
        return await signal(price, await e.indicator("close"), top, bottom)

    indicators = {
        "top": e.Indicator(lambda c: talib.MAX(c.high, 30), history=60),
        "bottom": e.Indicator(lambda c: talib.MIN(c.low, 30), history=60),
        "close": e.Indicator(lambda c: c.close, history=60),
    }
    if columns:
        e.add_strategy(name, "5m", with_columns, indicators=indicators)
    else:
        e.add_strategy(name, "5m", with_candles)


def trades(results: list) -> list[tuple]:
    return [
        (r.signal.position, r.signal.pending_at, r.close_timestamp, r.close_reason, r.pnl.pnl_percentage)
        for r in results
        if r.action == "closed"
    ]


@pytest.mark.parametrize("seed", [1, 7, 42, 2024])
async def test_same_trades_as_the_get_candles_way(seed: int) -> None:
    e.add_synthetic_exchange("x", seed=seed)
    e.add_frame("f", "1m", START, START + timedelta(days=4))
    donchian_strategy("candles", columns=False)
    donchian_strategy("columns", columns=True)
    errors: list = []
    e.listen_error(errors.append)
    old, new = trades(await backtest("candles")), trades(await backtest("columns"))
    assert errors == []
    assert len(old) > 20 and new == old


async def test_talib_sma_and_rsi_are_accepted_and_computed_over_the_run() -> None:
    """Causal TA-Lib functions pass the check; each value served is the function over the candles
    from ``history - 1`` before the frame's first one up to "now"."""
    e.add_synthetic_exchange("x", seed=5)
    e.add_frame("f", "1m", START, START + timedelta(days=2))
    feed = SyntheticFeed(5)
    origin = T0 - 199 * MINUTE_MS
    seen: list[tuple[int, float, float]] = []

    async def get_signal(symbol, when, price):
        now = int(when.timestamp() * 1000)
        seen.append((now, await e.indicator("sma"), await e.indicator("rsi")))

    e.add_strategy(
        "s",
        "15m",
        get_signal,
        indicators={
            "sma": e.Indicator(lambda c: talib.SMA(c.close, 20), history=200),
            "rsi": e.Indicator(lambda c: talib.RSI(c.close, 14), history=200),
        },
    )
    errors: list = []
    e.listen_error(errors.append)
    await backtest("s")
    assert errors == [] and len(seen) == 2 * 96 + 1  # both ends of the frame
    for now, sma, rsi in seen:
        closes = feed.columns(SYMBOL, "1m", origin, now + MINUTE_MS).close
        assert sma == talib.SMA(closes, 20)[-1] and rsi == talib.RSI(closes, 14)[-1]


# --------------------------------------------------------------------------- refusing look-ahead


def centred_mean(c) -> np.ndarray:
    return np.convolve(c.close, np.ones(5) / 5, mode="same")  # value i averages candles i-2 .. i+2


def next_close(c) -> np.ndarray:
    return np.append(c.close[1:], np.nan)  # shift(-1): tomorrow's close today


@pytest.mark.parametrize(("fn", "name"), [(centred_mean, "cma"), (next_close, "peek")])
async def test_a_look_ahead_indicator_is_refused(fn, name: str) -> None:
    e.add_synthetic_exchange("x", seed=1)
    e.add_frame("f", "1m", START, START + timedelta(hours=6))
    asked: list = []

    async def get_signal(symbol, when, price):
        asked.append(await e.indicator(name))

    e.add_strategy("peeker", "15m", get_signal, indicators={name: fn})
    with pytest.raises(e.IndicatorError) as info:
        await backtest("peeker")
    message = str(info.value)
    assert f"indicator {name!r} of strategy peeker looks ahead" in message
    assert "is refused" in message and asked == []  # no value was ever served


def test_the_check_catches_look_ahead_at_every_cut() -> None:
    """A function that peeks only a little (one candle) is caught whatever the length."""
    from engine.indicators import Indicator, IndicatorError, _check_causal, _evaluate
    from engine.window import CandleWindow

    for n in (2, 3, 7, 100, 1001):
        close = np.cumsum(np.random.default_rng(n).normal(size=n)) + 100
        window = CandleWindow(close, close + 1, close - 1, close, np.ones(n), T0, MINUTE_MS)
        spec = Indicator(next_close)
        with pytest.raises(IndicatorError, match="looks ahead"):
            _check_causal(spec, "peek", "s", window, _evaluate(spec, "peek", "s", window, n))
        causal = Indicator(lambda c: talib.EMA(c.close, 3))
        _check_causal(causal, "ema", "s", window, _evaluate(causal, "ema", "s", window, n))


# --------------------------------------------------------------------------- live


async def test_live_recomputes_when_the_store_grows_and_matches_get_candles() -> None:
    """Live: the value at each tick is the function over the candles up to that tick's "now"
    (including the candle still forming, as get_candles gives it); asking twice in a tick computes
    once."""
    e.add_synthetic_exchange("x", seed=9)
    start = T0 + 3 * 60 * MINUTE_MS
    clock = e.SimulatedClock(start, speed=0)
    e.set_clock(clock)
    computed: list[int] = []
    ticks: list[int] = []
    mismatches: list = []

    def last_close(c):
        computed.append(len(c))
        return c.close

    async def get_signal(symbol, when, price):
        ticks.append(int(when.timestamp() * 1000))
        if len(ticks) == 20:
            e.Live.stop(symbol, "s")
        candles = await e.get_candles(symbol, "1m", 60)
        n = len(candles)
        got = (await e.indicator("close"), (await e.indicator("close", n)).tolist(), await e.indicator("max"))
        want = (candles.close[-1], candles.close.tolist(), talib.MAX(candles.high, 30)[-1])
        if got != want:
            mismatches.append((when, got, want))

    indicators = {"close": e.Indicator(last_close, history=60), "max": e.Indicator(lambda c: talib.MAX(c.high, 30))}
    e.add_strategy("s", "1m", get_signal, indicators=indicators)
    errors: list = []
    e.listen_error(errors.append)
    handle = e.Live.run(SYMBOL, strategy_name="s", exchange_name="x")
    async with asyncio.timeout(60):
        _ = [r async for r in handle]
    assert errors == [] and mismatches == [] and len(ticks) == 20
    # once a tick (not once a call): the whole range, then the check's four prefixes
    assert len(computed) == 20 * 5
    full = computed[::5]
    assert full == sorted(full) and full[-1] >= full[0] + 19  # over a store that grows with the ticks


# --------------------------------------------------------------------------- bad declarations


def test_bad_declarations_are_named() -> None:
    def ok(c):
        return c.close

    cases = [
        ([("rsi", ok)], "indicators must be a mapping"),
        ({"": ok}, "indicators: every name must be a non-empty string"),
        ({"rsi": 14}, "indicators['rsi'] must be a function of the candles"),
        ({"rsi": e.Indicator(ok, interval="7m")}, "indicators['rsi']: interval must be one of"),
        ({"rsi": e.Indicator(ok, history=0)}, "indicators['rsi']: history must be a positive integer"),
    ]
    for i, (indicators, message) in enumerate(cases):
        with pytest.raises(e.SchemaError, match=r"strategy s\d: " + message.replace("[", r"\[").replace("]", r"\]")):
            e.add_strategy(f"s{i}", "1m", lambda symbol, when: None, indicators=indicators)


@pytest.mark.parametrize(
    ("fn", "asked", "message"),
    [
        (lambda c: c.close, "rsi", "strategy s: no indicator 'rsi' \\(declared: 'close'\\)"),
        (lambda c: c.close[1:], "close", "must return one value per candle"),
        (lambda c: 1 / 0, "close", "raised ZeroDivisionError"),
        (lambda c: ["a"] * len(c), "close", "must return numbers"),
    ],
)
async def test_bad_indicators_fail_the_run_with_one_clear_error(fn, asked: str, message: str) -> None:
    e.add_synthetic_exchange("x", seed=1)
    e.add_frame("f", "1m", START, START + timedelta(hours=2))

    async def get_signal(symbol, when, price):
        await e.indicator(asked)

    e.add_strategy("s", "15m", get_signal, indicators={"close": fn})
    with pytest.raises(e.IndicatorError, match=message):
        await backtest("s")


async def test_indicator_outside_a_run_says_so() -> None:
    with pytest.raises(RuntimeError, match="no execution context"):
        await e.indicator("rsi")


async def test_a_backtest_sees_the_same_values_whatever_ran_before_it() -> None:
    """The range starts at the run's own frame (minus history), not wherever an earlier run on the
    same store started: a recursive indicator (RSI) gives each frame the same values alone or after
    another frame."""
    from engine.testing import reset_engine

    def register() -> list:
        e.add_synthetic_exchange("x", seed=11)
        e.add_frame("early", "1m", START, START + timedelta(days=2))
        e.add_frame("late", "1m", START + timedelta(days=1), START + timedelta(days=2))
        seen: list = []

        async def get_signal(symbol, when, price):
            seen.append((when, await e.indicator("rsi")))

        rsi = e.Indicator(lambda c: talib.RSI(c.close, 14), history=30)  # short: the start shows
        e.add_strategy("s", "15m", get_signal, indicators={"rsi": rsi})
        return seen

    alone = register()
    await backtest("s", frame="late")
    reset_engine()
    after = register()
    await backtest("s", frame="early")
    del after[:]
    await backtest("s", frame="late")
    assert len(alone) > 90 and after == alone
