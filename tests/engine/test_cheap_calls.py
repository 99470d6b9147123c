"""Cheap calls (issue 13): a quiet backtest asks an idle strategy without building a result, a
context or a converted datetime per call, and without a timing sample per frame.

The oracle for the fast path is the engine's own general path: a listener on idle results makes
every frame a per-frame tick (``_per_frame_listeners``), so the same strategy run with and without
that listener must see the same calls (moment, datetime, price, context) and give the same results
and errors. The strategy mixes idle answers with entries, failures, calls that suspend and history
requests that move the candle store, chosen by a seeded generator per moment.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

import engine as e
import engine.strategy as strategy_mod
from engine.context import execution_context
from engine.strategy import StrategyInstance, _utc
from engine.testing import reset_engine

START = datetime(2024, 3, 1, tzinfo=UTC)
SYMBOL = "BTCUSDT"


def _register(step: str, days: float, get_signal, interval: str = "1m", risk: bool = False) -> None:
    e.add_synthetic_exchange("synthetic", seed=7)
    e.add_frame("f", step, START, START + timedelta(days=days) - timedelta(minutes=1))
    if risk:  # refuses entries in the first half of every hour, at both of its checks
        e.add_risk("r", validations=[_not_first_half])
    e.add_strategy("s", interval, get_signal, **({"risk_name": "r"} if risk else {}))


def _not_first_half(args) -> None:
    if (args.timestamp // 60_000) % 60 < 30:
        raise ValueError("no entries in the first half of an hour")


def _mixed(seed: int, calls: list, scale: float):
    """A strategy mostly idle; by a seeded draw per moment it enters, raises, suspends, or asks
    for a long history (which grows the 1m store backwards, shifting its slots)."""

    async def get_signal(symbol: str, when: datetime, price: float):
        ms = int(when.timestamp() * 1000)
        ctx = execution_context()
        calls.append((ms, when, price, e.get_date(), ctx.when, ctx.symbol, ctx.backtest))
        r = random.Random(seed * 1_000_003 + ms // 60_000).random() / scale
        if r < 0.004:
            raise ValueError(f"planned failure at {ms}")
        if r < 0.010:
            await asyncio.sleep(0)  # suspends: finished by a task, which must keep its moment
            assert execution_context().when == ms
        elif r < 0.012:
            await e.get_candles(symbol, "1m", 3_000)
        elif r < 0.016:
            return {"position": "long", "price_take_profit": price * 1.01, "price_stop_loss": price * 0.99,
                    "minute_estimated_time": 30}  # fmt: skip
        return None

    return get_signal


def _run(
    seed: int, step: str, listen_idle: bool, interval: str = "1m", risk: bool = False, days: int = 2
) -> tuple[list, list, list, list]:
    calls: list = []
    errors: list = []
    rejected: list = []
    scale = max(5.0 if step == "5m" else 1.0, INTERVAL_MINUTES[interval] / 2)
    _register(step, days, _mixed(seed, calls, scale), interval, risk)
    e.listen_error(lambda exc: errors.append((type(exc).__name__, str(exc))))
    e.listen_risk(lambda ev: rejected.append((ev.when, ev.pending_signal.get("position"), ev.comment)))
    if listen_idle:
        e.listen_signal_backtest(lambda r: None, actions=("idle",))

    async def main() -> list:
        return [r async for r in e.Backtest.run(SYMBOL, strategy_name="s", exchange_name="synthetic", frame_name="f")]

    results = asyncio.run(main())
    closed = [(r.action, r.signal.pending_at, r.close_timestamp, r.close_reason, r.pnl.pnl_percentage) for r in results]
    return calls, closed, errors, rejected


INTERVAL_MINUTES = {"1m": 1, "5m": 5, "15m": 15}


@pytest.fixture
def stretches(monkeypatch) -> list[int]:
    """The frames each ``quiet_stretch`` call of the test was given (which path a run took)."""
    given: list[int] = []
    plain = StrategyInstance.quiet_stretch

    def counted(self, start, step_ms, i, stop):
        given.append(stop - i)
        return plain(self, start, step_ms, i, stop)

    monkeypatch.setattr(StrategyInstance, "quiet_stretch", counted)
    return given


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("step", ["1m", "5m"])
def test_quiet_stretch_sees_what_the_general_path_sees(seed: int, step: str, stretches: list[int]) -> None:
    fast = _run(seed, step, listen_idle=False)
    assert stretches, "the quiet run should take the stretch path"
    stretches.clear()
    reset_engine()
    slow = _run(seed, step, listen_idle=True)
    assert stretches == [], "a listener on idle results makes every frame a tick"
    assert fast[0] == slow[0]
    assert fast[3] == slow[3]
    for ms, when, _price, date, ctx_when, symbol, backtest in fast[0]:
        assert when == date == _utc(ms) and when.tzinfo is not None
        assert ctx_when == ms and symbol == SYMBOL and backtest is True
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]
    assert fast[1] and fast[2], "the draw should give trades and failures"


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("step", "interval"), [("1m", "5m"), ("1m", "15m"), ("5m", "15m"), ("5m", "1m")])
@pytest.mark.parametrize("risk", [False, True])
def test_a_throttled_or_risk_checked_stretch_sees_what_the_general_path_sees(
    seed: int, step: str, interval: str, risk: bool, stretches: list[int]
) -> None:
    """A strategy asked every ``interval`` over frames ``step`` apart is asked at every
    ``interval / step``-th frame of a stretch (the frames between are throttled), and one with a
    risk profile is asked in stretches too: its signals go through the profile's two checks as on
    the general path (``_checked_enter``)."""
    fast = _run(seed, step, False, interval, risk, days=6)
    assert stretches, "the quiet run should take the stretch path"
    stretches.clear()
    reset_engine()
    slow = _run(seed, step, True, interval, risk, days=6)
    assert stretches == []
    assert fast == slow
    calls, closed, errors, rejected = fast
    gaps = {b[0] - a[0] for a, b in itertools.pairwise(calls)}
    assert min(gaps) >= INTERVAL_MINUTES[interval] * 60_000  # the throttle held
    assert closed and errors, "the draw should give trades and failures"
    assert bool(rejected) == risk  # the profile refused some entries, and only when there is one


def test_no_idle_result_object_when_nobody_listens(monkeypatch) -> None:
    built = []

    class CountedIdle(strategy_mod.IdleResult):
        def __init__(self, *args, **kwargs) -> None:
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(strategy_mod, "IdleResult", CountedIdle)

    async def idle(symbol: str, when: datetime) -> None:
        return None

    _register("1m", 1, idle)

    async def main(listen: bool) -> None:
        off = e.listen_signal_backtest(lambda r: None, actions=("idle",)) if listen else None
        async for _ in e.Backtest.run(SYMBOL, strategy_name="s", exchange_name="synthetic", frame_name="f"):
            pass
        if off is not None:
            off()

    asyncio.run(main(False))
    assert built == []
    asyncio.run(main(True))  # somebody listens: every idle frame is a result again
    assert len(built) == 1440


def test_one_context_object_for_calls_that_finish_at_once() -> None:
    seen: list = []

    async def idle(symbol: str, when: datetime) -> None:
        seen.append(execution_context())  # kept alive: a fresh object per call could not share an id

    _register("1m", 1, idle)

    async def main() -> None:
        async for _ in e.Backtest.run(SYMBOL, strategy_name="s", exchange_name="synthetic", frame_name="f"):
            pass

    asyncio.run(main())
    assert len(seen) == 1440
    assert len({id(c) for c in seen}) == 1


def test_performance_report_still_counts_every_frame() -> None:
    async def idle(symbol: str, when: datetime) -> None:
        return None

    _register("1m", 1, idle)

    async def main() -> None:
        async for _ in e.Backtest.run(SYMBOL, strategy_name="s", exchange_name="synthetic", frame_name="f"):
            pass

    asyncio.run(main())
    stats = e.Performance.get_data(SYMBOL, "s", backtest=True)
    frames = stats.metric_stats["backtest_timeframe"]
    assert frames.count == 1440
    assert frames.min_duration >= 0.0
    assert stats.metric_stats["backtest_total"].count == 1


def test_datetimes_by_addition_equal_conversion() -> None:
    rng = random.Random(13)
    inst = StrategyInstance.__new__(StrategyInstance)
    inst._dt_ms, inst._dt = 0, strategy_mod._EPOCH
    ms = int(START.timestamp() * 1000)
    for _ in range(20_000):
        ms += rng.choice([60_000, 60_000, 300_000, 1_000, 0, 7, -60_000, 86_400_000, 86_400_001, -(10**9)])
        assert inst._when_dt(ms) == _utc(ms), ms
