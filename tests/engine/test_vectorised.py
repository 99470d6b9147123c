"""Vectorised signals (issue 13): a strategy's entries as arrays over the candle columns.

The oracle is the same rule written the ordinary way: a ``get_signal`` that reads indicator columns
at "now" with ``btk.indicator`` and decides in scalar Python. Both ways must give identical results,
events, errors and reports, on several seeds, with both sides and with limit entries (``price_open``),
whether somebody listens to the signal stream or not (the engine takes different paths for each).
A signal function that looks ahead, and results that cannot be served, are refused with a clear error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import talib

import engine as e
from engine.testing import reset_engine

START = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOL = "BTCUSDT"
FAST, SLOW, LIFETIME = 10, 40, 120


def limit_candle(ts: np.ndarray | int) -> np.ndarray | bool:
    """Every third minute enters with a limit order (``price_open``), the rest at the market."""
    return (np.asarray(ts) // 60_000) % 3 == 0


def vectorised_rule(c) -> dict:
    """Pullback in a trend: long under a rising fast SMA, short over a falling one; as arrays."""
    fast, slow, close = talib.SMA(c.close, FAST), talib.SMA(c.close, SLOW), c.close
    with np.errstate(invalid="ignore"):
        long_ = (fast > slow * 1.0005) & (close < fast)
        short = (fast < slow * 0.9995) & (close > fast)
    side = np.where(long_, 1, np.where(short, -1, 0))
    limit = limit_candle(c.timestamp)
    return {
        "side": side,
        "price_take_profit": np.where(side > 0, close * 1.006, close * 0.994),
        "price_stop_loss": np.where(side > 0, close * 0.994, close * 1.006),
        "minute_estimated_time": LIFETIME,
        "price_open": np.where(limit, np.where(side > 0, close * 0.999, close * 1.001), np.nan),
    }


INDICATORS = {
    "fast": e.Indicator(lambda c: talib.SMA(c.close, FAST), history=1000),
    "slow": e.Indicator(lambda c: talib.SMA(c.close, SLOW), history=1000),
    "close": e.Indicator(lambda c: c.close, history=1000),
    "ts": e.Indicator(lambda c: c.timestamp.astype(np.float64), history=1000),
}


async def scalar_rule(symbol, when, price):
    """The same rule, one candle at a time, over indicator columns read at "now"."""
    fast, slow, close = await e.indicator("fast"), await e.indicator("slow"), await e.indicator("close")
    if fast > slow * 1.0005 and close < fast:
        side = "long"
    elif fast < slow * 0.9995 and close > fast:
        side = "short"
    else:
        return None
    up, down = close * 1.006, close * 0.994
    dto = {
        "position": side,
        "price_take_profit": up if side == "long" else down,
        "price_stop_loss": down if side == "long" else up,
        "minute_estimated_time": LIFETIME,
    }
    if limit_candle(int(await e.indicator("ts"))):
        dto["price_open"] = close * (0.999 if side == "long" else 1.001)
    return dto


async def run(seed: int, way: str, listen: bool, interval: str = "1m") -> dict:
    """One backtest of the rule written ``way`` in a fresh engine; everything it produced."""
    reset_engine()
    e.add_synthetic_exchange("x", seed=seed)
    e.add_frame("f", "1m", START, START + timedelta(days=2))
    if way == "vectorised":
        e.add_strategy("rule", interval, signals=e.vectorised(vectorised_rule, history=1000))
    else:
        e.add_strategy("rule", interval, scalar_rule, indicators=INDICATORS)
    events: list = []
    errors: list = []
    e.listen_error(lambda exc: errors.append(str(exc)))
    if listen:
        e.listen_signal_backtest(events.append)
    results = [r async for r in e.Backtest.run(SYMBOL, strategy_name="rule", exchange_name="x", frame_name="f")]
    return {
        "results": results,
        "events": events,
        "errors": errors,
        "report": e.Backtest.get_report(SYMBOL, "rule"),
        "data": e.Backtest.get_data(SYMBOL, "rule"),
    }


@pytest.mark.parametrize("seed", [1, 7, 42, 2024])
@pytest.mark.parametrize("listen", [False, True])
async def test_same_results_events_and_reports_as_get_signal(seed: int, listen: bool) -> None:
    old, new = await run(seed, "get_signal", listen), await run(seed, "vectorised", listen)
    closed = [r for r in old["results"] if r.action == "closed"]
    assert len(closed) > 10  # the rule trades: the comparison is not vacuous
    assert {r.signal.position for r in closed} == {"long", "short"}
    assert any(r.action == "scheduled" for r in old["events"] + old["results"]) or not listen
    for key in ("results", "events", "errors", "report"):
        assert new[key] == old[key], key
    assert repr(new["data"]) == repr(old["data"])


async def test_limit_entries_are_scheduled_and_some_fill() -> None:
    """The limit entries of the comparison really go through the scheduled path (and some fill)."""
    out = await run(7, "vectorised", listen=True)
    actions = [ev.action for ev in out["events"]]
    assert actions.count("scheduled") >= 3 and "cancelled" in actions
    filled = [r for r in out["results"] if r.action == "closed" and r.signal.pending_at > r.signal.scheduled_at]
    assert filled  # a limit entry that waited for its price, then opened and closed


async def test_at_a_15_minute_interval_too() -> None:
    old, new = await run(3, "get_signal", False, "15m"), await run(3, "vectorised", False, "15m")
    assert len(old["results"]) > 3 and new["results"] == old["results"] and new["report"] == old["report"]


# --------------------------------------------------------------------------- refusals


def peeking_rule(c) -> dict:
    """Long when the next candle closes higher: reads the future."""
    up = np.append(c.close[1:] > c.close[:-1], False)
    return {
        "side": up.astype(int),
        "price_take_profit": c.close * 1.01,
        "price_stop_loss": c.close * 0.99,
        "minute_estimated_time": 60,
    }


def setup(fn, interval: str = "1m") -> None:
    e.add_synthetic_exchange("x", seed=1)
    e.add_frame("f", "1m", START, START + timedelta(hours=6))
    e.add_strategy("s", interval, signals=fn)


async def backtest() -> list:
    return [r async for r in e.Backtest.run(SYMBOL, strategy_name="s", exchange_name="x", frame_name="f")]


async def test_a_look_ahead_signal_function_is_refused() -> None:
    setup(peeking_rule)
    with pytest.raises(e.IndicatorError) as info:
        await backtest()
    message = str(info.value)
    assert "the vectorised signal function of strategy s looks ahead" in message and "is refused" in message


def columns(**over) -> callable:
    def fn(c):
        n = len(c)
        out = {
            "side": np.ones(n, dtype=np.int64),
            "price_take_profit": c.close * 1.01,
            "price_stop_loss": c.close * 0.99,
            "minute_estimated_time": 60,
        }
        out.update({k: (v(c) if callable(v) else v) for k, v in over.items()})
        return {k: v for k, v in out.items() if v is not None}

    return fn


def nan_at_end(c) -> np.ndarray:
    tp = c.close * 1.01
    tp[-1] = np.nan
    return tp


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda c: [1] * len(c), "must return a mapping of columns"),
        (columns(side=lambda c: np.ones(len(c) - 1)), "column 'side' must have one value per candle: "),
        (columns(side=1), "column 'side' must have one value per candle"),
        (columns(price_stop_loss=lambda c: c.close[:5]), "column 'price_stop_loss' must have one value per candle"),
        (columns(side=lambda c: np.array(["long"] * len(c))), "column 'side' must hold numbers, got dtype <U4"),
        (columns(side=lambda c: np.full(len(c), 2)), "side must be \\+1 \\(long\\), -1 \\(short\\) or 0"),
        (columns(side=lambda c: np.full(len(c), np.nan)), "side must be"),
        (columns(price_take_profit=nan_at_end), "column 'price_take_profit' must be a finite price on every entry"),
        (columns(minute_estimated_time=1.5), "'minute_estimated_time' must be a positive whole number of minutes"),
        (columns(price_stop_loss=None), "missing price_stop_loss"),
        (columns(size=1.0), "unknown size"),
        (lambda c: 1 / 0, "the vectorised signal function of strategy s raised ZeroDivisionError"),
    ],
)
async def test_bad_results_fail_the_run_with_one_clear_error(fn, message: str) -> None:
    setup(fn)
    with pytest.raises(e.IndicatorError, match=message):
        await backtest()


async def test_nan_take_profit_where_nothing_is_entered_is_fine() -> None:
    """NaN prices are only refused on an entry: a candle with side 0 may leave them empty."""

    def fn(c):
        side = np.zeros(len(c), dtype=np.int8)
        side[::37] = 1
        tp = np.where(side != 0, c.close * 1.01, np.nan)
        return {"side": side, "price_take_profit": tp, "price_stop_loss": c.close * 0.99, "minute_estimated_time": 60}

    setup(fn)
    assert any(r.action == "closed" for r in await backtest())


def test_registration_errors_are_named() -> None:
    async def get_signal(symbol, when, price):
        return None

    with pytest.raises(e.SchemaError, match="strategy a: give either get_signal or signals"):
        e.add_strategy("a", "1m", get_signal, signals=peeking_rule)
    with pytest.raises(e.SchemaError, match="strategy b: give get_signal \\(or signals"):
        e.add_strategy("b", "1m")
    with pytest.raises(e.SchemaError, match="strategy c: signals must be a function of the candles"):
        e.add_strategy("c", "1m", signals=42)
    with pytest.raises(e.SchemaError, match="strategy d: signals: history must be a positive integer"):
        e.add_strategy("d", "1m", signals=e.Signals(peeking_rule, history=0))
    with pytest.raises(e.SchemaError, match="strategy f: declares params \\(n\\), so signals must take a `params`"):
        e.add_strategy("f", "1m", signals=peeking_rule, params={"n": e.IntParam(1, 5, default=2)})


# --------------------------------------------------------------------------- parameters


PARAMS = {"fast": e.IntParam(5, 20, default=FAST), "width": e.FloatParam(0.002, 0.01, default=0.006)}


def param_rule(c, params) -> dict:
    """``vectorised_rule`` with its fast SMA length and bracket width as parameters."""
    fast, slow, close = talib.SMA(c.close, params["fast"]), talib.SMA(c.close, SLOW), c.close
    with np.errstate(invalid="ignore"):
        long_ = (fast > slow * 1.0005) & (close < fast)
        short = (fast < slow * 0.9995) & (close > fast)
    side = np.where(long_, 1, np.where(short, -1, 0))
    w = params["width"]
    return {
        "side": side,
        "price_take_profit": np.where(side > 0, close * (1 + w), close * (1 - w)),
        "price_stop_loss": np.where(side > 0, close * (1 - w), close * (1 + w)),
        "minute_estimated_time": LIFETIME,
    }


async def param_scalar(symbol, when, price, params):
    """The same rule one candle at a time (its fast SMA over ``get_candles``' closes)."""
    closes = (await e.get_candles(symbol, "1m", SLOW)).close
    if len(closes) < SLOW:
        return None
    close = closes[-1]
    fast, slow = float(talib.SMA(closes, params["fast"])[-1]), float(talib.SMA(closes, SLOW)[-1])
    if fast > slow * 1.0005 and close < fast:
        side = "long"
    elif fast < slow * 0.9995 and close > fast:
        side = "short"
    else:
        return None
    w = params["width"]
    up, down = close * (1 + w), close * (1 - w)
    return {
        "position": side,
        "price_take_profit": up if side == "long" else down,
        "price_stop_loss": down if side == "long" else up,
        "minute_estimated_time": LIFETIME,
    }


async def closed_with(values: dict) -> list:
    e.use_params("vec", values)
    run = e.Backtest.run(SYMBOL, strategy_name="vec", exchange_name="x", frame_name="f")
    return [(r.signal.position, r.signal.pending_at, r.close_timestamp, r.pnl.pnl_percentage) async for r in run]


async def test_a_vectorised_strategy_takes_parameters_like_get_signal() -> None:
    e.add_synthetic_exchange("x", seed=7)
    e.add_frame("f", "1m", START, START + timedelta(days=2))
    e.add_strategy("vec", "1m", signals=e.vectorised(param_rule, history=1000), params=PARAMS)
    defaults = await closed_with({})
    other = await closed_with({"fast": 7, "width": 0.009})
    assert len(defaults) > 10 and len(other) > 10 and defaults != other  # the parameters reach the rule
    assert await closed_with({}) == defaults  # back to the defaults: the first run's columns again
    # the same parameter set through get_signal gives the same trades at market
    e.add_strategy("scalar", "1m", param_scalar, params=PARAMS)
    e.use_params("scalar", {"fast": 7, "width": 0.009})
    scalar = [
        (r.signal.position, r.signal.pending_at, r.close_timestamp, r.pnl.pnl_percentage)
        async for r in e.Backtest.run(SYMBOL, strategy_name="scalar", exchange_name="x", frame_name="f")
    ]
    assert scalar == other


def test_bind_params_of_a_vectorised_strategy_checks_the_set() -> None:
    e.add_strategy("vec", "1m", signals=param_rule, params=PARAMS)
    with pytest.raises(e.SchemaError, match="fast"):
        e.bind_params("vec", {"fast": 99})
    bound = e.bind_params("vec", {"fast": 6})
    assert bound.param_values["fast"] == 6 and bound.signals is not e.list_strategies()[0].signals


# --------------------------------------------------------------------------- passing idle frames
#
# A quiet backtest passes the frames a vectorised strategy certainly answers None at without a call
# (``idle_frames``, read off its entry column). The boundaries that matter: an entry at the first
# frame, entries on adjacent candles (after a two-minute trade the very next frame may enter),
# lone entries far apart, entries on the last frames of the run, and frames several candles apart
# (a 5m frame over 1m signals). The oracle is the scalar rule asked at every frame.

ENTRY_MINUTES = (0, 1, 2, 3, 9, 10, 200, 201, 719, 1434, 1435, 1436, 1437, 1438, 1439)


def _enters(ts: np.ndarray | int) -> np.ndarray | bool:
    minute = (np.asarray(ts) // 60_000) % 1440
    return np.isin(minute, ENTRY_MINUTES) | ((np.asarray(ts) // 60_000) % 97 == 5)


def sparse_rule(c) -> dict:
    side = np.where(_enters(c.timestamp), np.where((c.timestamp // 60_000) % 2 == 0, 1, -1), 0)
    return {
        "side": side,
        "price_take_profit": np.where(side > 0, c.close * 1.012, c.close * 0.988),
        "price_stop_loss": np.where(side > 0, c.close * 0.988, c.close * 1.012),
        "minute_estimated_time": 2,
    }


async def sparse_scalar(symbol, when, price):
    ts = int(await e.indicator("ts"))
    if not _enters(ts):
        return None
    close = await e.indicator("close")
    up, down = close * 1.012, close * 0.988
    long_ = (ts // 60_000) % 2 == 0
    return {
        "position": "long" if long_ else "short",
        "price_take_profit": up if long_ else down,
        "price_stop_loss": down if long_ else up,
        "minute_estimated_time": 2,
    }


@pytest.mark.parametrize("frame_interval", ["1m", "5m"])
@pytest.mark.parametrize("seed", [3, 11])
async def test_passing_idle_frames_keeps_every_entry(frame_interval: str, seed: int) -> None:
    out = {}
    for way in ("get_signal", "vectorised"):
        reset_engine()
        e.add_synthetic_exchange("x", seed=seed)
        e.add_frame("f", frame_interval, START, START + timedelta(days=2) - timedelta(minutes=1))
        if way == "vectorised":
            e.add_strategy("rule", "1m", signals=e.vectorised(sparse_rule, history=1000))
        else:
            e.add_strategy("rule", "1m", sparse_scalar, indicators=INDICATORS)
        results = [r async for r in e.Backtest.run(SYMBOL, strategy_name="rule", exchange_name="x", frame_name="f")]
        out[way] = (results, e.Backtest.get_report(SYMBOL, "rule"))
    results, report = out["vectorised"]
    assert (results, report) == out["get_signal"]
    opened = {r.signal.pending_at for r in results if r.action == "closed"}
    step = 60_000 if frame_interval == "1m" else 300_000
    # the boundaries really happened: the first frame entered, and so did the run's last minutes
    first_day = int(START.timestamp() * 1000)
    assert first_day in opened
    assert any(t >= first_day + 2 * 86_400_000 - 10 * step for t in opened)
    if frame_interval == "1m":  # back-to-back entries (a trade closes, the next frame enters again)
        assert any(t + 2 * 60_000 in opened or t + 3 * 60_000 in opened for t in opened)
