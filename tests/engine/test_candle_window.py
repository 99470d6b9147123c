"""``get_candles`` returns a read-only window of numpy columns that still reads as the old list (issue 13).

The oracle is SPEC 4.1 written out: the candles the exchange has, opening in
``[when - (limit-1) steps, when]``, in time order, one ``Candle`` each. Stores get random gaps,
random chunk sizes (so a window spans several fetches, read-ahead and growth in both directions)
and random question orders.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import pickle
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine as e
from engine.candles import exchange_client
from engine.config import current
from engine.model import CANDLE_INTERVALS, MINUTE_MS

T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
SYMBOL = "BTCUSDT"


def values(slot: int) -> tuple[float, float, float, float, float]:
    """A sound candle that depends only on its slot (so every fetch of it agrees)."""
    base = 100.0 + (slot * 7919 % 1000) / 10
    return base, base + 1.5, base - 1.25, base + 0.25 * (slot % 5 - 2), float(slot % 17)


def is_present(slot: int, seed: int, gap_pct: int) -> bool:
    return (slot * 2654435761 + seed * 40503) % 100 >= gap_pct


def gappy_exchange(seed: int, gap_pct: int):
    async def get_candles(symbol, interval, since, limit):
        step = CANDLE_INTERVALS[interval] * MINUTE_MS
        first = int(since.timestamp() * 1000) // step
        out = []
        for slot in range(first, first + limit):
            if is_present(slot, seed, gap_pct):
                o, h, lo, c, v = values(slot)
                out.append({"timestamp": slot * step, "open": o, "high": h, "low": lo, "close": c, "volume": v})
        return out

    return get_candles


def expected(interval: str, when: int, limit: int, seed: int, gap_pct: int) -> list[e.Candle]:
    """SPEC 4.1 as a list: present candles opening in [when - (limit-1) steps, when]."""
    step = CANDLE_INTERVALS[interval] * MINUTE_MS
    since = when - (limit - 1) * step
    first, last = -(-since // step), when // step
    return [e.Candle(s * step, *values(s)) for s in range(first, last + 1) if is_present(s, seed, gap_pct)]


def client_for(seed: int, gap_pct: int, chunk: int):
    e.set_config(CC_MAX_CANDLES_PER_REQUEST=chunk, CC_GET_CANDLES_RETRY_DELAY_MS=0, unsafe=True)
    e.add_exchange("gappy", gappy_exchange(seed, gap_pct))
    (schema,) = [x for x in e.list_exchanges() if x.exchange_name == "gappy"]
    return exchange_client(schema, backtest=True)


def assert_reads_as(window: e.CandleWindow, want: list[e.Candle], probe: int) -> None:
    """Every way old code read the list gives the same answer on the window."""
    assert isinstance(window, e.CandleWindow)
    assert window == want and want == window
    assert not window != want  # noqa: SIM202 (the != operator is what is tested)
    assert list(window) == want and list(reversed(window)) == want[::-1]
    assert len(window) == len(want) and bool(window) == bool(want)
    for name in ("open", "high", "low", "close", "volume"):
        got = getattr(window, name)
        assert got.dtype == np.float64 and got.tolist() == [getattr(c, name) for c in want]
    assert window.timestamp.dtype == np.int64 and window.timestamp.tolist() == [c.timestamp for c in want]
    n = len(want)
    for i in {0, n - 1, -1, -n, probe % n if n else 0, -(probe % n) - 1 if n else 0}:
        if -n <= i < n:
            assert window[i] == want[i]
            assert type(window[i].close) is float and type(window[i].timestamp) is int
    for cut in (
        slice(-25, -1),
        slice(probe % (n + 1), None),
        slice(None, probe % (n + 3) - 1),
        slice(None, None, 2),
        slice(None, None, -1),
        slice(probe % 7, None, 3),
    ):
        part = window[cut]
        assert isinstance(part, e.CandleWindow) and part == want[cut] and list(part) == want[cut]
        assert part.timestamp.tolist() == [c.timestamp for c in want[cut]]
        inner = part[1:-1]  # a window of a window: rows of the same columns, offsets added up
        assert inner == want[cut][1:-1] and inner.close.tolist() == [c.close for c in want[cut][1:-1]]
        if len(inner):
            assert inner[-1] == want[cut][1:-1][-1] and inner.timestamp[0] == want[cut][1:-1][0].timestamp
    with pytest.raises(IndexError):
        window[n]


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10_000),
    gap_pct=st.sampled_from([0, 0, 3, 30, 90, 100]),
    chunk=st.integers(2, 300),
    questions=st.lists(
        st.tuples(
            st.sampled_from(["1m", "1m", "3m", "15m", "1h"]),
            st.integers(0, 3000),  # minutes after T0: "when" on and off the interval's grid
            st.integers(2, 400),  # limit
            st.integers(0, 90),  # how far the clock is past "when", in minutes
            st.integers(0, 10_000),  # which rows and slices to probe
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_the_window_reads_exactly_as_the_old_list(seed, gap_pct, chunk, questions) -> None:
    e.testing.reset_engine()
    client = client_for(seed, gap_pct, chunk)

    async def ask() -> None:
        for interval, minute, limit, ahead, probe in questions:
            when = T0 + minute * MINUTE_MS
            e.set_clock(e.SimulatedClock(when + ahead * MINUTE_MS, speed=0))
            # the answer without waiting, when the store knows the range already (else None)
            ready = client.window_ready(SYMBOL, interval, limit, when, current())
            window = await client.get_candles(SYMBOL, interval, limit, when, current())
            want = expected(interval, when, limit, seed, gap_pct)
            assert_reads_as(window, want, probe)
            if ready is not None:
                assert_reads_as(ready, want, probe)

    asyncio.run(ask())


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    gap_pct=st.sampled_from([0, 1, 3, 30]),
    chunk=st.integers(2, 400),
    interval=st.sampled_from(["1m", "5m", "15m"]),
    limit=st.integers(2, 60),
    steps=st.lists(st.integers(0, 40), min_size=5, max_size=60),
)
def test_windows_walking_forward_read_as_the_old_list(seed, gap_pct, chunk, interval, limit, steps) -> None:
    """A run's questions move forward in time: the store remembers the range it found whole and
    checks only the slots after it (``CandleStore.window``), and answers a range it knows without
    a coroutine (``window_ready``). Each answer, by either way, is SPEC 4.1's list, across gaps."""
    e.testing.reset_engine()
    client = client_for(seed, gap_pct, chunk)
    e.set_clock(e.SimulatedClock(T0 + 10 * 86_400_000, speed=0))

    async def walk() -> int:
        ready_answers, minute = 0, 0
        for k, step in enumerate(steps):
            minute += step
            when = T0 + minute * MINUTE_MS
            want = expected(interval, when, limit, seed, gap_pct)
            window = client.window_ready(SYMBOL, interval, limit, when, current())
            if window is None:
                window = await client.get_candles(SYMBOL, interval, limit, when, current())
            else:
                ready_answers += 1
            assert_reads_as(window, want, k)
        return ready_answers

    asyncio.run(walk())


async def test_a_window_without_gaps_is_a_view_on_the_store_and_one_with_gaps_holds_the_present_candles() -> None:
    client = client_for(seed=1, gap_pct=0, chunk=500)
    when = T0 + 1000 * MINUTE_MS
    e.set_clock(e.SimulatedClock(when + 10_000 * MINUTE_MS, speed=0))  # the past: every candle is final
    window = await client.get_candles(SYMBOL, "1m", 100, when, current())
    store = client.store(SYMBOL, "1m")
    assert all(np.shares_memory(getattr(window, f), getattr(store, f)) for f in ("open", "high", "low", "close"))
    assert window.times is None and window[-1].timestamp == when  # SPEC 4.1: the candle at "now" is included
    e.testing.reset_engine()
    client = client_for(seed=1, gap_pct=0, chunk=500)
    e.set_clock(e.SimulatedClock(when, speed=0))  # a backtest reaching the present: candle 1000 may be forming
    at_present = await client.get_candles(SYMBOL, "1m", 100, when, current())
    assert at_present == window and not np.shares_memory(at_present.close, client.store(SYMBOL, "1m").close)

    e.testing.reset_engine()
    client = client_for(seed=1, gap_pct=50, chunk=500)
    e.set_clock(e.SimulatedClock(when + 10_000 * MINUTE_MS, speed=0))
    window = await client.get_candles(SYMBOL, "1m", 100, when, current())
    assert 0 < len(window) < 100 and window == expected("1m", when, 100, 1, 50)


async def test_the_window_and_its_columns_are_read_only() -> None:
    client = client_for(seed=2, gap_pct=0, chunk=500)
    when = T0 + 500 * MINUTE_MS
    e.set_clock(e.SimulatedClock(when, speed=0))
    window = await client.get_candles(SYMBOL, "5m", 20, when, current())
    before = client.store(SYMBOL, "5m").close.copy()
    for column in (window.open, window.high, window.low, window.close, window.volume, window.timestamp):
        with pytest.raises(ValueError, match="read-only"):
            column[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        window[-5:].close[:] = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        window.close = np.zeros(20)  # type: ignore[misc]
    with pytest.raises(TypeError):
        window[0] = window[1]  # type: ignore[index]
    assert np.array_equal(client.store(SYMBOL, "5m").close, before)


async def test_a_live_window_keeps_what_it_saw_when_the_forming_candle_is_fetched_again() -> None:
    """Live, the candle at "now" is refetched at the next tick: a window kept by a strategy must not change."""
    e.add_synthetic_exchange("sim", seed=7)
    (schema,) = [x for x in e.list_exchanges() if x.exchange_name == "sim"]
    clock = e.SimulatedClock(T0 + 10 * MINUTE_MS + 30_000, speed=0)  # 00:10:30, candle 00:10 half-formed
    e.set_clock(clock)
    client = exchange_client(schema, backtest=False)
    window = await client.get_candles(SYMBOL, "1m", 5, clock.now(), current())
    seen = list(window)
    assert seen[-1].timestamp == T0 + 10 * MINUTE_MS
    clock.advance(60_000)
    client.refresh(clock.now())
    later = await client.get_candles(SYMBOL, "1m", 5, clock.now(), current())
    assert later[-2].timestamp == seen[-1].timestamp and later[-2] != seen[-1]  # 00:10 finished since
    assert list(window) == seen


async def test_strategies_written_the_old_way_and_with_columns_decide_alike() -> None:
    """Inside a backtest: the helper's window serves both styles and they agree on every call."""
    e.add_synthetic_exchange("sim", seed=3)
    e.add_frame("f", "1m", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 6, tzinfo=UTC))
    calls = []

    async def get_signal(symbol, when, price):
        candles = await e.get_candles(symbol, "15m", 26)
        if not candles or len(candles) < 25:
            calls.append(None)
            return None
        old = sum(c.close for c in candles[-25:-1]) / 24
        new = float(candles.close[-25:-1].mean())
        calls.append((old, new, candles[-1].close == candles.close[-1]))
        return None

    e.add_strategy("s", "15m", get_signal)
    async for _ in e.Backtest.run(SYMBOL, strategy_name="s", exchange_name="sim", frame_name="f"):
        pass
    assert len(calls) == 25
    assert all(c is None or (c[0] == pytest.approx(c[1], rel=1e-12) and c[2]) for c in calls)


def test_a_window_built_by_hand_checks_its_columns() -> None:
    close = np.arange(4.0)
    window = e.CandleWindow(close, close + 1, close - 1, close, np.ones(4), T0, MINUTE_MS)
    assert len(window) == 4 and window[-1].close == 3.0 and not window.close.flags.writeable
    assert close.flags.writeable  # the caller's array stays as it was: the window holds a read-only view
    with pytest.raises(ValueError, match="one length"):
        e.CandleWindow(close, close, close, close[:3], close)


def test_a_window_pickles_and_copies_as_its_own_rows() -> None:
    """Sent to another process (or copied), a window carries its rows, not the store behind it."""
    store = np.arange(100_000.0)
    store.flags.writeable = False
    window = e.CandleWindow(store, store, store, store, store, T0, MINUTE_MS)[500:514]
    for twin in (pickle.loads(pickle.dumps(window)), copy.copy(window), copy.deepcopy(window)):
        assert twin == window and list(twin) == list(window) and twin.timestamp.tolist() == window.timestamp.tolist()
        assert not twin.close.flags.writeable
    assert len(pickle.dumps(window)) < 4_000
    gappy = e.CandleWindow(
        store[:3],
        store[:3],
        store[:3],
        store[:3],
        store[:3],
        times=np.array([T0, T0 + 2 * MINUTE_MS, T0 + 5 * MINUTE_MS]),
    )
    assert pickle.loads(pickle.dumps(gappy)).timestamp.tolist() == gappy.timestamp.tolist()
