"""Engines as objects (docs/architecture.md 8): two engines in one process do not see each other,
the module-level API acts on the active one, and ``dispose`` stops an engine's runs and drops it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import reactivex.operators as ops

import engine as e
from engine import events, registry

START, END = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 2, 3, tzinfo=UTC)


async def hourly(symbol, when, price):
    await asyncio.sleep(0)  # really suspends, so runs of two engines interleave
    up = when.hour % 2 == 1
    return {
        "position": "long" if up else "short",
        "price_take_profit": price * (1.006 if up else 0.994),
        "price_stop_loss": price * (0.996 if up else 1.004),
        "minute_estimated_time": 90,
    }


def project(seed: int = 3, strategy: str = "s") -> None:
    """What a strategy file registers, into whichever engine is active."""
    e.set_config(
        CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0,
        CC_MIN_STOPLOSS_DISTANCE_PERCENT=0,
        CC_MAX_STOPLOSS_DISTANCE_PERCENT=100,
        CC_MAX_SIGNAL_LIFETIME_MINUTES=999999,
        unsafe=True,
    )
    e.add_synthetic_exchange("x", seed=seed)
    e.add_strategy(strategy, "15m", hourly)
    e.add_frame("f", "1m", START, END)


async def closed_of(strategy: str = "s") -> list[tuple[str, int, float]]:
    run = e.Backtest.run("BTCUSDT", strategy_name=strategy, exchange_name="x", frame_name="f")
    return [(r.signal.id, r.close_timestamp, r.pnl.pnl_percentage) async for r in run]


def test_registrations_config_clock_and_listeners_belong_to_one_engine() -> None:
    a, b = e.Engine(), e.Engine()
    heard_a: list[object] = []
    with a.activate():
        project()
        e.set_clock(e.SimulatedClock(start_ms=5_000, speed=0))
        e.listen_signal(heard_a.append)
        assert e.active_engine() is a
    with b.activate():
        assert e.list_strategies() == [] and e.list_exchanges() == []
        assert e.get_config() == e.get_default_config()
        assert e.get_clock().now() != 5_000
        assert events.signal.has_subscribers() is False
        with pytest.raises(e.NotFoundError):
            e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f")
        e.add_strategy("s", "1m", hourly)  # the same name in another engine is no duplicate
    with a.activate():
        assert [s.strategy_name for s in e.list_strategies()] == ["s"]
        assert registry.strategies.get("s", "test").interval == "15m"
        assert e.get_clock().now() == 5_000
    # outside both, the default engine knows neither
    assert e.active_engine() is e.default_engine()
    assert e.list_strategies() == []
    assert not heard_a


async def test_runs_of_two_engines_interleave_without_mixing() -> None:
    a, b = e.Engine(), e.Engine()
    with a.activate():
        project(seed=3)
        alone_a = await closed_of()
    with b.activate():
        project(seed=11)
        alone_b = await closed_of()
    assert alone_a != alone_b and len(alone_a) > 5 and len(alone_b) > 5

    # now both at once, each in a task started under its own engine
    for eng in (a, b):
        with eng.activate():
            e.Backtest.reset("BTCUSDT", "s")
    seen: dict[str, list[str]] = {"a": [], "b": []}
    for name, eng in (("a", a), ("b", b)):
        with eng.activate():
            e.listen_signal_backtest(lambda r, name=name: seen[name].append(r.signal.id), actions=("closed",))
    together_a, together_b = await asyncio.gather(a.create_task(closed_of()), b.create_task(closed_of()))
    assert together_a == alone_a and together_b == alone_b
    assert seen["a"] == [sid for sid, _, _ in alone_a] and seen["b"] == [sid for sid, _, _ in alone_b]
    with a.activate():
        ids_a = [r.signal.id for r in e.Backtest.get_data("BTCUSDT", "s").signal_list]
    with b.activate():
        ids_b = [r.signal.id for r in e.Backtest.get_data("BTCUSDT", "s").signal_list]
    assert sorted(ids_a) == sorted(seen["a"]) and sorted(ids_b) == sorted(seen["b"])


async def test_streams_stay_observables_per_engine() -> None:
    """reactivex operators pipe onto an engine's stream; the other engine's events never arrive."""
    a, b = e.Engine(), e.Engine()
    got: list[float] = []
    with a.activate():
        project()
        events.signal_backtest.pipe(
            ops.filter(lambda r: r.action == "closed"), ops.map(lambda r: r.pnl.pnl_percentage)
        ).subscribe(got.append)
    with b.activate():
        project()
        await closed_of()
    assert got == []
    with a.activate():
        pnl = [p for _, _, p in await closed_of()]
    assert got == pnl and got


async def test_dispose_stops_background_runs_and_forbids_reuse() -> None:
    eng = e.Engine()
    gate = asyncio.Event()
    started = asyncio.Event()

    async def waits(symbol, when, price):
        started.set()
        await gate.wait()  # never opened: only dispose ends this run
        return None

    with eng.activate():
        e.add_synthetic_exchange("x")
        e.add_strategy("slow", "1m", waits)
        e.add_frame("f", "1m", START, END)
        e.Backtest.background("BTCUSDT", strategy_name="slow", exchange_name="x", frame_name="f")
    await started.wait()
    assert len(eng.tasks()) == 1
    await eng.dispose()
    assert eng.tasks() == [] and eng.disposed
    with pytest.raises(e.EngineDisposedError), eng.activate():
        pass
    await eng.dispose()  # twice is harmless


def test_reset_engine_makes_a_fresh_default() -> None:
    from engine.testing import reset_engine

    before = e.default_engine()
    e.add_synthetic_exchange("x")
    fresh = reset_engine()
    assert fresh is e.default_engine() is e.active_engine() and fresh is not before
    assert e.list_exchanges() == [] and before.registries.exchanges.names() == []
