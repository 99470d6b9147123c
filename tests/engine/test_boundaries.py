"""Boundary tests: every limit and every price level, hit exactly and missed by one float step.

The random-market reference test (test_against_reference.py) almost never puts a price exactly on
a level or a distance exactly on a configured limit, so a ``<`` written as ``<=`` in a fast path
survives it. Here every example is built *at* a boundary and one or two float steps either side
(``math.nextafter``), with float inputs (the ones that take the fast paths), and the engine's
answer is compared with the literal reference implementation (tests/reference):

1. SPEC 3.2 validation, through ``build_row`` (the fast float check, or the explaining check)
   against the reference's get_signal pipeline: the TP and SL distance limits (a limit equal to the
   distance the example's prices give, so equality is exact), the lifetime limit, "> 0", the
   current price against SL/TP, a limit entry's price against SL/TP, and whether a limit price is
   already reached. The fast check and the explaining check must also agree with each other.
2. Settlement (SPEC 5.2 and 6.4): a candle whose high or low is exactly TP, SL, a limit entry's
   price or a limit entry's cancelling SL (or one float step short of it, or past it), in every
   phase (waiting, open, just after a fill, the history candles after a fill), and lifetimes and
   waits ending exactly on a candle, on every path: the fast-forward with callbacks
   (``backtest_lane``), with listeners only (``settle_quiet``) and with nobody listening
   (``settle_from_store``); and a VWAP exactly on a level in the per-minute tick, live and backtest
   (``tick``) and quiet (``tick_quiet``).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reference.backtest_ref import (
    RefCandle,
    RefConfig,
    RefOutcome,
    _NoRisk,
    _Reference,
    run_reference_backtest,
    vwap,
)
from spec_helpers import TEST_PROFILE as TEST_PROFILE_KEYS
from test_against_reference import _as_ref_dict, _first_difference, _normalise_ref, _same, recording_callbacks

import engine as e
from engine import registry
from engine.candles import exchange_client
from engine.config import Config
from engine.config import current as get_config_snapshot
from engine.model import Candle, OpenedResult, SignalRow
from engine.signals import IdFactory, SignalValidationError, build_row, dto_fields, fast_checks, validate
from engine.strategy import StrategyInstance
from engine.testing import reset_engine

M = 60_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
WHEN = T0

FAST = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def step(x: float, k: int) -> float:
    """``x`` moved ``k`` float steps up (k > 0) or down."""
    for _ in range(abs(k)):
        x = math.nextafter(x, math.inf if k > 0 else -math.inf)
    return x


def ref_config(cfg: Config) -> RefConfig:
    return RefConfig(
        schedule_await_minutes=cfg.CC_SCHEDULE_AWAIT_MINUTES,
        avg_price_candles_count=cfg.CC_AVG_PRICE_CANDLES_COUNT,
        percent_slippage=cfg.CC_PERCENT_SLIPPAGE,
        percent_fee=cfg.CC_PERCENT_FEE,
        min_takeprofit_distance_percent=cfg.CC_MIN_TAKEPROFIT_DISTANCE_PERCENT,
        min_stoploss_distance_percent=cfg.CC_MIN_STOPLOSS_DISTANCE_PERCENT,
        max_stoploss_distance_percent=cfg.CC_MAX_STOPLOSS_DISTANCE_PERCENT,
        max_signal_lifetime_minutes=cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES,
    )


TEST_PROFILE = Config(
    CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0,
    CC_MIN_STOPLOSS_DISTANCE_PERCENT=0,
    CC_MAX_STOPLOSS_DISTANCE_PERCENT=100,
    CC_MAX_SIGNAL_LIFETIME_MINUTES=999999,
)


# =========================================================================== 1. validation


def reference_strategy(config: RefConfig, get_signal, candle_at) -> _Reference:
    """The reference's strategy instance (1m interval, no risk), driven one call at a time."""
    return _Reference(
        candle_at=candle_at,
        get_signal=get_signal,
        signal_interval_minutes=1,
        config=config,
        now_ms=2**62,
        risk=_NoRisk(),
        id_factory=lambda: "generated",
        symbol="BTCUSDT",
        strategy_name="s",
        exchange_name="x",
        outcome=RefOutcome(),
    )


def _reference_row(dto: dict, cp: float, cfg: Config) -> tuple[dict | None, list[str]]:
    """The reference's get_signal pipeline (SPEC 5.1 step 6 and 3.2) on ``dto`` at VWAP ``cp``."""
    ref = reference_strategy(ref_config(cfg), lambda when, price: dict(dto), lambda t: None)
    ref.average_price = lambda when: cp  # the VWAP the example is built around
    return ref._pipeline(WHEN), ref.out.errors


def _engine_row(dto: dict, cp: float, cfg: Config):
    try:
        row = build_row(
            dict(dto),
            current_price=cp,
            when=WHEN,
            symbol="BTCUSDT",
            strategy_name="s",
            exchange_name="x",
            new_id=IdFactory("boundaries"),
            cfg=cfg,
        )
    except SignalValidationError as exc:
        return None, exc.problems
    return row, []


def check_validation(dto: dict, cp: float, cfg: Config) -> bool:
    """Engine and reference agree on ``dto`` at ``cp``; the fast and the explaining check agree.
    Returns whether the signal was valid."""
    ref_row, ref_errors = _reference_row(dto, cp, cfg)
    row, problems = _engine_row(dto, cp, cfg)
    assert (row is None) == (ref_row is None), f"{dto} at {cp}: engine {problems} vs reference {ref_errors}"
    if row is not None:
        assert row.is_scheduled == ref_row["is_scheduled"], dto
        assert row.price_open == ref_row["price_open"], dto
    # the two checks derived from the same rules must say the same on float input
    position = dto["position"]
    po = dto.get("price_open")
    scheduled = (
        ref_row["is_scheduled"]
        if ref_row is not None
        else (po is not None and not (cp <= po if position == "long" else cp >= po))
    )
    op = cp if po is None else po
    f, _ = dto_fields(dto)
    explained = validate(
        f,
        price_open=op,
        current_price=cp,
        is_scheduled=scheduled,
        scheduled_at=WHEN,
        pending_at=WHEN,
        identity=("id", "x", "s", "BTCUSDT"),
        cfg=cfg,
    )
    fast = fast_checks(cfg)[position][scheduled](
        op, dto["price_take_profit"], dto["price_stop_loss"], cp, dto["minute_estimated_time"]
    )
    assert fast == (explained == []), f"fast check {fast} but the explaining check says {explained}: {dto} at {cp}"
    return row is not None


def _market(side: str, cp: float, tp: float, sl: float, met: Any = 60, **extra: Any) -> dict:
    return {"position": side, "price_take_profit": tp, "price_stop_loss": sl, "minute_estimated_time": met, **extra}


sides = st.sampled_from(["long", "short"])
prices = st.one_of(
    st.floats(0.01, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, 100.0, 42000.0, 42460.333333333336, 0.1, 3.0]),
)
fractions = st.floats(0.0005, 0.15, allow_nan=False)  # a level's distance from the entry, as a fraction
offsets = st.integers(-2, 2)


def _distance(side: str, op: float, level: float, kind: str) -> float:
    """SPEC 3.2's distance in percent, computed exactly as the rule writes it."""
    if (kind == "tp") == (side == "long"):
        return (level - op) / op * 100
    return (op - level) / op * 100


@FAST
@given(side=sides, cp=prices, u=fractions, k=offsets)
@example(side="long", cp=100.0, u=0.005, k=0)
@example(side="short", cp=42000.0, u=0.005, k=0)
def test_min_take_profit_distance_from_both_sides(side, cp, u, k):
    """A limit equal to the distance of ``tp``: ``tp`` itself passes (not below), one float step
    nearer the entry fails."""
    s = 1 if side == "long" else -1
    tp = cp * (1 + s * u)
    limit = _distance(side, cp, tp, "tp")
    cfg = Config(CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=limit, CC_MAX_STOPLOSS_DISTANCE_PERCENT=20)
    sl = cp * (1 - s * 0.05)
    valid = check_validation(_market(side, cp, step(tp, k), sl), cp, cfg)
    if k == 0:
        assert valid, "a distance equal to the minimum is allowed"
    if s * k < 0:
        assert not valid or _distance(side, cp, step(tp, k), "tp") >= limit


@FAST
@given(side=sides, cp=prices, u=st.floats(0.0005, 0.9), k=offsets, bound=st.sampled_from(["min", "max"]))
@example(side="long", cp=100.0, u=0.005, k=0, bound="min")
@example(side="long", cp=100.0, u=0.2, k=0, bound="max")
@example(side="short", cp=42000.0, u=0.2, k=1, bound="max")
def test_stop_loss_distance_limits_from_both_sides(side, cp, u, k, bound):
    """A limit equal to the distance of ``sl``: ``sl`` itself passes (neither below the minimum nor
    above the maximum); a float step across the limit fails."""
    s = 1 if side == "long" else -1
    sl = cp * (1 - s * u)
    d = _distance(side, cp, sl, "sl")
    min_sl, max_sl = (d, 99.9) if bound == "min" else (d / 2, d)
    cfg = Config(
        CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0.5,
        CC_MIN_STOPLOSS_DISTANCE_PERCENT=min_sl,
        CC_MAX_STOPLOSS_DISTANCE_PERCENT=max_sl,
    )
    valid = check_validation(_market(side, cp, cp * (1 + s * 0.05), step(sl, k)), cp, cfg)
    if k == 0:
        assert valid, "a distance equal to the limit is allowed"


@FAST
@given(
    side=sides,
    cp=prices,
    limit=st.one_of(st.integers(1, 600_000), st.sampled_from([1, 1440])),
    delta=st.sampled_from(["int-1", "int", "int+1", "float", "float+", "float-", "float+1"]),
)
def test_lifetime_limit_from_both_sides(side, cp, limit, delta):
    met = {
        "int-1": limit - 1,
        "int": limit,
        "int+1": limit + 1,
        "float": float(limit),
        "float+": math.nextafter(float(limit), math.inf),
        "float-": math.nextafter(float(limit), 0.0),
        "float+1": float(limit + 1),
    }[delta]
    s = 1 if side == "long" else -1
    cfg = Config(CC_MAX_SIGNAL_LIFETIME_MINUTES=limit)
    valid = check_validation(_market(side, cp, cp * (1 + s * 0.02), cp * (1 - s * 0.02), met), cp, cfg)
    assert valid == (delta in ("int", "float") or (delta == "int-1" and limit > 1))


@FAST
@given(side=sides, cp=prices, met=st.sampled_from([0, 0.0, -0.0, 1, 1.0, 5e-324, -1, 2.5, math.inf, math.nan]))
def test_lifetime_must_be_a_positive_whole_number(side, cp, met):
    s = 1 if side == "long" else -1
    valid = check_validation(_market(side, cp, cp * (1 + s * 0.02), cp * (1 - s * 0.02), met), cp, TEST_PROFILE)
    assert valid == (met in (1, 1.0))


@FAST
@given(side=sides, cp=prices, level=st.sampled_from(["tp", "sl"]), k=offsets)
@example(side="long", cp=100.0, level="sl", k=0)
@example(side="short", cp=100.0, level="tp", k=0)
def test_current_price_against_the_levels_of_a_market_entry(side, cp, level, k):
    """Rule 5: a market entry whose SL or TP lies exactly at the current price is refused; one step
    on the right side passes (distance limits off: the test profile)."""
    s = 1 if side == "long" else -1
    tp, sl = cp * (1 + s * 0.02), cp * (1 - s * 0.02)
    if level == "tp":
        tp = step(cp, k)
    else:
        sl = step(cp, k)
    valid = check_validation(_market(side, cp, tp, sl), cp, TEST_PROFILE)
    right_side = (s * k > 0) if level == "tp" else (s * k < 0)
    assert valid == right_side


@FAST
@given(side=sides, cp=prices, k=offsets, past=st.floats(0.0001, 0.05))
@example(side="long", cp=100.0, k=0, past=0.001)
@example(side="short", cp=42000.0, k=0, past=0.001)
def test_current_price_against_the_stop_of_a_reached_limit_entry(side, cp, k, past):
    """Rule 5 on its own: a limit price already passed opens at once at ``price_open``, so its
    stop must lie beyond the *current* price, not only beyond the entry (which rule 4 checks)."""
    s = 1 if side == "long" else -1
    po = cp * (1 + s * past)  # long: above the current price, so already reached
    dto = _market(side, cp, po * (1 + s * 0.02), step(cp, k), price_open=po)
    assert check_validation(dto, cp, TEST_PROFILE) == (s * k < 0)


@FAST
@given(side=sides, cp=prices, level=st.sampled_from(["tp", "sl"]), k=offsets, away=st.floats(0.001, 0.1))
@example(side="long", cp=100.0, level="sl", k=0, away=0.01)
@example(side="short", cp=100.0, level="tp", k=0, away=0.01)
def test_limit_entry_against_its_levels(side, cp, level, k, away):
    """Rule 6: a waiting limit entry whose SL or TP lies exactly at its price is refused."""
    s = 1 if side == "long" else -1
    po = cp * (1 - s * away)  # not reached yet: the row waits
    tp, sl = po * (1 + s * 0.02), po * (1 - s * 0.02)
    if level == "tp":
        tp = step(po, k)
    else:
        sl = step(po, k)
    valid = check_validation(_market(side, cp, tp, sl, price_open=po), cp, TEST_PROFILE)
    right_side = (s * k > 0) if level == "tp" else (s * k < 0)
    assert valid == right_side


@FAST
@given(side=sides, cp=prices, k=offsets)
@example(side="long", cp=42000.0, k=0)
@example(side="short", cp=42000.0, k=0)
def test_a_limit_price_exactly_at_the_current_price_opens_at_once(side, cp, k):
    """SPEC 5.1 step 6: a ``price_open`` the price has reached (long: current <= open) opens at
    once at that price; one step the other way waits."""
    s = 1 if side == "long" else -1
    po = step(cp, k)
    dto = _market(side, cp, po * (1 + s * 0.02), po * (1 - s * 0.02), price_open=po)
    row, _ = _engine_row(dto, cp, TEST_PROFILE)
    check_validation(dto, cp, TEST_PROFILE)
    assert row is not None
    assert row.is_scheduled == (s * k < 0)


@FAST
@given(
    side=sides, cp=prices, which=st.sampled_from(["op", "tp", "sl"]), v=st.sampled_from([0.0, -0.0, 5e-324, -5e-324])
)
def test_prices_must_be_above_zero(side, cp, which, v):
    s = 1 if side == "long" else -1
    dto = _market(side, cp, cp * (1 + s * 0.5), cp * (1 - s * 0.5))
    if which == "op":
        dto["price_open"] = v
    else:
        dto[{"tp": "price_take_profit", "sl": "price_stop_loss"}[which]] = v
    check_validation(dto, cp, TEST_PROFILE)


def test_an_unhashable_position_is_explained():
    row, problems = _engine_row(_market(["long"], 100.0, 110.0, 90.0), 100.0, Config())
    assert row is None and problems == ['position must be "long" or "short", got [\'long\']']


def test_an_entry_of_zero_is_a_validation_error_not_a_division_by_zero():
    row, problems = _engine_row(_market("long", 100.0, 110.0, 90.0, price_open=0.0), 100.0, Config())
    assert row is None
    assert "price_open must be > 0, got 0.0" in problems
    assert not any("distance" in p for p in problems)


# =========================================================================== 2. fast-forward touches


UP = {("long", "tp"), ("short", "sl"), ("short", "entry")}  # levels a candle's high reaches


@dataclass(frozen=True)
class Touch:
    """One candle at minute ``at`` whose high or low is ``level`` moved ``k`` float steps: 0 lands
    exactly on it, +1 one step past it, -1 one step short of it (a touch that does not happen)."""

    side: str
    phase: str  # "open": a market entry; "waiting": a limit entry; "filled": after a limit entry filled
    level: str  # "tp", "sl" (for a waiting entry: its cancellation), "entry", or "none" (time decides)
    k: int
    at: int  # minute of the touching candle (after the fill for "filled")
    met: int
    base: float
    window: int
    await_minutes: int = 10


def touch_market(t: Touch) -> tuple[dict[int, tuple], dict]:
    """The market (minute -> candle) and the DTO of ``t``."""
    s = 1 if t.side == "long" else -1
    p = t.base
    po = p * (1 - s * 0.004) if t.phase != "open" else None
    ref = po if po is not None else p
    levels = {"tp": ref * (1 + s * 0.01), "sl": ref * (1 - s * 0.01), "entry": po}
    market = {}
    for minute in range(-30, 300):
        market[T0 + minute * M] = (p, p * (1 + 1e-4), p * (1 - 1e-4), p, 1.0 + minute % 3)

    def put(minute: int, name: str, k: int) -> None:
        o, h, lo, c, v = market[T0 + minute * M]
        if (t.side, name) in UP:
            h = step(levels[name], k)
        else:
            lo = step(levels[name], -k)
        market[T0 + minute * M] = (o, h, lo, c, v)

    fill = 2  # a limit entry fills on the candle at minute 2, exactly at its price
    if t.phase == "filled":
        put(fill, "entry", 0)
        if t.level != "none":
            put(fill + t.at, t.level, t.k)
    elif t.level != "none" and levels[t.level] is not None:  # a market entry has no entry level
        put(t.at, t.level, t.k)
    dto = {
        "position": t.side,
        "price_take_profit": levels["tp"],
        "price_stop_loss": levels["sl"],
        "minute_estimated_time": t.met,
        "id": "sig",
    }
    if po is not None:
        dto["price_open"] = po
    return market, dto


def first_call_only(dto: dict):
    """A get_signal answer: ``dto`` on the first call, None on every later one."""
    calls = [0]

    def answer() -> dict | None:
        calls[0] += 1
        return dict(dto) if calls[0] == 1 else None

    return answer


def ref_test_profile(window: int, await_minutes: int) -> RefConfig:
    cfg = RefConfig.test_profile()
    cfg.avg_price_candles_count = window
    cfg.schedule_await_minutes = await_minutes
    return cfg


def register_once(market: dict, dto: dict, *, window: int, await_minutes: int = 10, callbacks=None) -> None:
    """A fresh engine in the test profile: exchange ``x`` serving ``market``, strategy ``s`` (1m)
    whose first get_signal call returns ``dto`` and every later one None."""
    reset_engine()
    e.set_config(
        {
            **TEST_PROFILE_KEYS,
            "CC_SCHEDULE_AWAIT_MINUTES": await_minutes,
            "CC_AVG_PRICE_CANDLES_COUNT": window,
            "CC_GET_CANDLES_RETRY_DELAY_MS": 0,
        },
        unsafe=True,
    )

    async def get_candles(symbol, interval, since, limit):
        t0 = int(since.timestamp() * 1000)
        return [Candle(t0 + j * M, *market[t0 + j * M]) for j in range(limit) if t0 + j * M in market]

    answer = first_call_only(dto)

    async def get_signal(symbol, when, price):
        return answer()

    e.add_exchange("x", get_candles)
    e.add_strategy("s", "1m", get_signal, callbacks=callbacks)


async def run_engine_backtest(
    market: dict, dto: dict, t: Touch, *, listen: bool, callbacks: bool, reports: bool = True
) -> dict:
    log: list[tuple] = []
    cbs = recording_callbacks(log) if listen and callbacks else None
    register_once(market, dto, window=t.window, await_minutes=t.await_minutes, callbacks=cbs)
    e.add_frame("f", "1m", T0, T0 + FRAME_MINUTES * M)
    emitted: list[dict] = []
    errors: list[BaseException] = []
    if listen:
        e.listen_signal_backtest(lambda r: emitted.append(_as_ref_dict(r)))
    e.listen_error(errors.append)
    yielded = [
        _as_ref_dict(r)
        async for r in e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f", reports=reports)
    ]
    return {"yielded": yielded, "emitted": emitted, "callbacks": log, "errors": errors}


FRAME_MINUTES = 40


def compare_touch(t: Touch) -> list[dict]:
    """Every fast-forward path against the reference on ``t``; returns the reference's yielded results."""
    market, dto = touch_market(t)
    answer = first_call_only(dto)
    ref = run_reference_backtest(
        candle_at=lambda ts: market.get(ts),
        get_signal=lambda when, price: answer(),
        frame_start_ms=T0,
        frame_end_ms=T0 + FRAME_MINUTES * M,
        config=ref_test_profile(t.window, t.await_minutes),
        strategy_name="s",
        exchange_name="x",
    )
    ref_yielded = [_normalise_ref(d) for d in ref.yielded]
    ref_emitted = [_normalise_ref(d) for d in ref.emitted]
    # the last: no report kept, so the stretch settles the position itself (``quiet_trades``)
    for listen, callbacks, reports in (
        (True, True, True),
        (True, False, True),
        (False, False, True),
        (False, False, False),
    ):
        got = asyncio.run(run_engine_backtest(market, dto, t, listen=listen, callbacks=callbacks, reports=reports))
        mode = ("backtest_lane" if callbacks else "settle_quiet") if listen else "settle_from_store"
        mode += "" if reports else ", quiet_trades"
        assert _same(got["yielded"], ref_yielded), f"[{mode}] {t}: " + _first_difference(got["yielded"], ref_yielded)
        assert len(got["errors"]) == len(ref.errors), f"[{mode}] {t}: {got['errors']} vs {ref.errors}"
        if listen:
            assert _same(got["emitted"], ref_emitted), f"[{mode}] {t}: " + _first_difference(
                got["emitted"], ref_emitted
            )
        if callbacks:
            assert _same(got["callbacks"], ref.callbacks), f"[{mode}] {t}: " + _first_difference(
                got["callbacks"], ref.callbacks
            )
    return ref.yielded


touches = st.builds(
    Touch,
    side=sides,
    phase=st.sampled_from(["open", "waiting", "filled"]),
    level=st.sampled_from(["tp", "sl", "entry", "none"]),
    k=st.integers(-1, 1),
    at=st.integers(0, 12),
    met=st.sampled_from([1, 2, 3, 4, 5, 6, 9, 15, 60]),
    base=st.one_of(prices.filter(lambda p: p >= 0.1), st.sampled_from([42000.0, 100.0])),
    window=st.sampled_from([5, 3, 2]),
    await_minutes=st.sampled_from([3, 10]),
)


@FAST
@given(t=touches)
def test_fast_forward_touches_match_the_reference(t):
    compare_touch(t)


@pytest.mark.slow
@settings(FAST, max_examples=1500)
@given(t=touches)
def test_fast_forward_touches_match_the_reference_many(t):
    compare_touch(t)


def _first(yielded: list[dict]) -> dict:
    assert yielded, "the scenario yielded nothing"
    return yielded[0]


@pytest.mark.parametrize("side", ["long", "short"])
@pytest.mark.parametrize("level", ["tp", "sl"])
@pytest.mark.parametrize("k", [-1, 0, 1])
@pytest.mark.parametrize("phase", ["open", "filled"])
def test_an_exact_touch_closes_and_one_step_short_does_not(side, level, k, phase):
    """Equality closes (SPEC 6.4: high >= TP, low <= SL): the reference and every path agree, and the
    scenario really closes on the touching candle exactly when it reaches the level."""
    at = 7 if phase == "open" else 6  # after a fill: the 5th candle after it is the first examined (W = 5)
    t = Touch(side, phase, level, k, at, met=60, base=42000.0, window=5)
    result = _first(compare_touch(t))
    closes_here = k >= 0
    reason = {"tp": "take_profit", "sl": "stop_loss"}[level]
    assert (result.get("close_reason") == reason) == closes_here, result
    if closes_here:
        touched = t.at + (2 if phase == "filled" else 0)
        assert result["close_timestamp"] == T0 + touched * M


@pytest.mark.parametrize("side", ["long", "short"])
@pytest.mark.parametrize("level", ["entry", "sl"])
@pytest.mark.parametrize("k", [-1, 0, 1])
def test_a_waiting_entry_fills_or_cancels_on_an_exact_touch(side, level, k):
    """A limit entry fills on a candle reaching exactly its price; its stop-loss cancels it when a
    candle reaches exactly that (cancellation wins: the same candle also reaches the entry)."""
    t = Touch(side, "waiting", level, k, at=4, met=60, base=100.0, window=5)
    result = _first(compare_touch(t))
    if level == "sl":
        cancelled = result["action"] == "cancelled" and result["close_timestamp"] == T0 + 4 * M
        assert cancelled == (k >= 0), result
    else:
        assert (result["action"] == "closed") == (k >= 0), result  # filled at minute 4, closed later


@pytest.mark.parametrize("window", [2, 5])
@pytest.mark.parametrize("k", [-1, 0])
def test_history_candles_after_a_fill_are_not_examined(window, k):
    """SPEC 6.4 step 4: the W-1 candles after the filling one are history: a TP touch there is
    ignored; on the W-th it closes."""
    for j in range(1, window + 1):
        t = Touch("long", "filled", "tp", k, at=j, met=60, base=100.0, window=window)
        result = _first(compare_touch(t))
        closed_at_touch = result.get("close_reason") == "take_profit"
        assert closed_at_touch == (k == 0 and j >= window), (j, result)


@pytest.mark.parametrize("phase", ["open", "filled"])
@pytest.mark.parametrize("met", [1, 2, 3, 4, 5, 6, 7])
def test_lifetime_ends_on_the_reference_candle(phase, met):
    """Off-by-one guard: with nothing touched, the close minute is the reference's for every
    lifetime around the window size (a market entry: ``when + met - 1``; after a fill at minute 2:
    ``2 + max(met, W)``)."""
    t = Touch("long", phase, "none", 0, at=0, met=met, base=100.0, window=5)
    result = _first(compare_touch(t))
    assert result["close_reason"] == "time_expired"
    expected = met - 1 if phase == "open" else 2 + max(met, 5)
    assert result["close_timestamp"] == T0 + expected * M


@pytest.mark.parametrize("await_minutes", [3, 10])
def test_a_wait_ends_exactly_on_its_minute(await_minutes):
    t = Touch("short", "waiting", "none", 0, at=0, met=60, base=100.0, window=5, await_minutes=await_minutes)
    result = _first(compare_touch(t))
    assert result["action"] == "cancelled" and result["cancel_reason"] == "timeout"
    assert result["close_timestamp"] == T0 + await_minutes * M


# =========================================================================== 3. the tick: a VWAP exactly on a level

TICK_MINUTES = 30
DOWN = {("long", "sl"), ("long", "entry"), ("long", "cancel"), ("short", "tp")}  # levels a falling VWAP reaches


@dataclass(frozen=True)
class VwapTouch:
    """The VWAP at minute ``at`` lands on a level (moved ``k`` float steps: +1 past it, -1 short)."""

    side: str
    kind: str  # "tp", "sl" (open position), "entry" (a limit entry fills), "cancel" (its SL), "filled_tp"
    k: int
    at: int
    base: float
    window: int = 5
    await_minutes: int = 120


def vwap_market(v: VwapTouch) -> tuple[dict[int, tuple], dict]:
    """Flat at ``base``, with one candle moved far enough that the VWAP window ending at ``at`` is
    the extreme of the run; the level is that VWAP (computed the reference's way)."""
    s = 1 if v.side == "long" else -1
    moves = {  # minute -> price move, as a fraction, for a long (a short mirrors it)
        "tp": {v.at: 0.05},
        "sl": {v.at: -0.05},
        "entry": {v.at: -0.05},
        "cancel": {v.at: -0.5},
        "filled_tp": {2: -0.05, v.at: 0.5},
    }[v.kind]
    market = {}
    for minute in range(-30, TICK_MINUTES + 10):
        p = v.base * (1 + s * moves.get(minute, 0.0))
        if minute > v.at:
            p = v.base * (1 - s * 0.001)  # after the touch the VWAP only moves away again
        market[T0 + minute * M] = (p, p * (1 + 1e-4), p * (1 - 1e-4), p, 1.0 + minute % 3)

    def vw(minute: int) -> float:
        candles = [RefCandle(T0 + j * M, *market[T0 + j * M]) for j in range(minute - v.window + 1, minute + 1)]
        return vwap(candles)

    def level(kind: str, at: int) -> float:
        direction = 1 if (v.side, kind) in DOWN else -1  # the level a step past the VWAP
        return step(vw(at), direction * v.k)

    far_tp, far_sl = v.base * (1 + s * 0.3), v.base * (1 - s * 0.3)
    dto: dict[str, Any] = {"position": v.side, "minute_estimated_time": 600, "id": "sig"}
    if v.kind == "tp":
        dto.update(price_take_profit=level("tp", v.at), price_stop_loss=far_sl)
    elif v.kind == "sl":
        dto.update(price_take_profit=far_tp, price_stop_loss=level("sl", v.at))
    elif v.kind == "entry":
        dto.update(price_open=level("entry", v.at), price_take_profit=far_tp, price_stop_loss=v.base * (1 - s * 0.9))
    elif v.kind == "cancel":
        sl = level("cancel", v.at)
        dto.update(price_open=(vw(v.at - 1) + vw(v.at)) / 2, price_take_profit=far_tp, price_stop_loss=sl)
    else:  # filled_tp: fills at minute 2 exactly, then the VWAP reaches TP at ``at``
        dto.update(price_open=vw(2), price_take_profit=level("tp", v.at), price_stop_loss=v.base * (1 - s * 0.9))
    return market, dto


def _tick_dict(r: Any, inst: StrategyInstance) -> dict:
    if isinstance(r, SignalRow):  # a quiet open hands back the row itself
        r = OpenedResult(signal=r, current_price=r.price_open, **inst._ids)
    d = _as_ref_dict(r)
    d.pop("backtest")
    return d


async def engine_ticks(market: dict, dto: dict, v: VwapTouch, mode: str) -> list[dict]:
    callbacks = {"on_close": lambda *a: None} if mode == "backtest tick" else None  # not quiet: ``tick``
    register_once(market, dto, window=v.window, await_minutes=v.await_minutes, callbacks=callbacks)
    e.set_clock(e.SimulatedClock(T0 + (TICK_MINUTES + 5) * M, speed=0))
    backtest = mode != "live tick"
    inst = StrategyInstance(
        schema=registry.strategies.get("s", "test"),
        symbol="BTCUSDT",
        exchange=exchange_client(registry.exchanges.get("x", "test"), backtest),
        backtest=backtest,
        cfg=get_config_snapshot(),
        ids=IdFactory("ticks"),
    )
    assert inst.quiet == (mode == "quiet tick")
    out = []
    for minute in range(TICK_MINUTES):
        when = T0 + minute * M
        r = inst.tick_quiet(when) if inst.quiet else inst.tick(when)
        if asyncio.iscoroutine(r):
            r = await r
        out.append(_tick_dict(r, inst))
    return out


def reference_ticks(market: dict, dto: dict, v: VwapTouch) -> list[dict]:
    answer = first_call_only(dto)
    ref = reference_strategy(ref_test_profile(v.window, v.await_minutes), lambda when, price: answer(), market.get)
    out = []
    for minute in range(TICK_MINUTES):
        d = _normalise_ref(ref.tick(T0 + minute * M))
        d.pop("backtest")
        out.append(d)
    return out


TICK_MODES = ("live tick", "backtest tick", "quiet tick")


def compare_ticks(v: VwapTouch) -> list[dict]:
    market, dto = vwap_market(v)
    ref = reference_ticks(market, dto, v)
    for mode in TICK_MODES:
        got = asyncio.run(engine_ticks(market, dto, v, mode))
        assert _same(got, ref), f"[{mode}] {v}: " + _first_difference(got, ref)
    return ref


vwap_touches = st.builds(
    VwapTouch,
    side=sides,
    kind=st.sampled_from(["tp", "sl", "entry", "cancel", "filled_tp"]),
    k=st.integers(-1, 1),
    at=st.integers(8, 20),
    base=st.one_of(prices.filter(lambda p: p >= 0.1), st.sampled_from([42000.0, 100.0])),
    window=st.sampled_from([5, 3, 2]),
)


@settings(FAST, max_examples=60)
@given(v=vwap_touches)
def test_ticks_on_a_level_match_the_reference(v):
    compare_ticks(v)


@pytest.mark.slow
@settings(FAST, max_examples=1000)
@given(v=vwap_touches)
def test_ticks_on_a_level_match_the_reference_many(v):
    compare_ticks(v)


@pytest.mark.parametrize("side", ["long", "short"])
@pytest.mark.parametrize("kind", ["tp", "sl", "entry", "cancel", "filled_tp"])
@pytest.mark.parametrize("k", [-1, 0, 1])
def test_a_vwap_exactly_on_a_level_decides_the_tick(side, kind, k):
    """SPEC 5.2: ``p >= TP`` / ``p <= SL`` close, ``p <= price_open`` fills (long), ``p <= SL``
    cancels a waiting entry (to idle): at equality too, and not one step short of it."""
    at = 12
    ticks = compare_ticks(VwapTouch(side, kind, k, at, 42000.0))
    decided = ticks[at]["action"]
    expected = {"tp": "closed", "sl": "closed", "entry": "opened", "cancel": "idle", "filled_tp": "closed"}[kind]
    assert (decided == expected) == (k >= 0), ticks[at]
    if kind == "filled_tp":
        assert ticks[2]["action"] == "opened"  # the VWAP at minute 2 is exactly the entry


@pytest.mark.parametrize("minutes", [1, 2, 5])
@pytest.mark.parametrize("kind", ["tp", "entry"])
def test_tick_lifetime_and_wait_end_on_their_minute(minutes, kind):
    """``when - pending_at >= met`` minutes expires a position, ``when - scheduled_at >= await``
    cancels a waiting entry: on that minute, not a minute later."""
    v = VwapTouch("long", kind, -5, 25, 100.0, await_minutes=minutes)  # a level the VWAP never reaches
    market, dto = vwap_market(v)
    dto["minute_estimated_time"] = minutes
    ref = reference_ticks(market, dto, v)
    for mode in TICK_MODES:
        got = asyncio.run(engine_ticks(market, dto, v, mode))
        assert _same(got, ref), f"[{mode}]: " + _first_difference(got, ref)
    expected = ("closed", "time_expired") if kind == "tp" else ("cancelled", None)
    assert (ref[minutes]["action"], ref[minutes].get("close_reason")) == expected, ref[minutes]
    assert ref[minutes - 1]["action"] in ("opened", "active", "scheduled")
