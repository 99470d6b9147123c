"""Issue 20 item 10: a live store asks again for candles the exchange left out, a bounded number of
times on the engine clock, and reports a gap the exchange confirms once.

The loopback Binance server leaves five minutes out of every answer (``hole``); the engine runs on a
frozen simulated clock whose sleeps move it on, so a tick is a minute without any wall-clock wait.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import engine as e
from engine.candles import LIVE_HOLE_REASKS
from engine.model import MINUTE_MS
from tests.exchanges.binance_server import BinanceServer, ccxt_options

DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NOW = DAY0 + 10 * 1440 * MINUTE_MS
SYMBOL = "BTCUSDT"
HOLE = (NOW - 10 * MINUTE_MS, NOW - 5 * MINUTE_MS)  # in a 30-candle window, outside the 5-candle VWAP


class TickClock(e.SimulatedClock):
    """Frozen; the live pause and retry sleeps move it on at once. The signal timeout (minutes) waits
    until cancelled instead, so a strategy may await real HTTP on 127.0.0.1 without racing it."""

    def __init__(self, start_ms: int) -> None:
        super().__init__(start_ms, speed=0)

    async def sleep(self, ms: float) -> None:
        if ms >= e.get_config()["CC_MAX_SIGNAL_GENERATION_SECONDS"] * 1000:
            await asyncio.Event().wait()
        await super().sleep(ms)


@pytest.fixture(autouse=True)
async def close_exchanges() -> Any:
    yield
    await e.close_ccxt_exchanges()


async def trade(server: BinanceServer, ticks: int, on_tick=None) -> tuple[list[int], list[BaseException]]:
    """Tick a strategy that reads 30 1m candles ``ticks`` times; return what it got and the errors."""
    counts: list[int] = []
    errors: list[BaseException] = []
    e.listen_error(errors.append)

    async def get_signal(symbol: str, when: Any, price: float) -> None:
        counts.append(len(await e.get_candles(symbol, "1m", 30)))
        if on_tick is not None:
            on_tick(len(counts))
        if len(counts) == ticks:
            e.Live.stop(SYMBOL, "reader")

    e.add_strategy("reader", "1m", get_signal)

    async def run() -> None:
        async for _ in e.Live.run(SYMBOL, strategy_name="reader", exchange_name="bn"):
            pass

    await asyncio.wait_for(run(), timeout=60)  # a safety net; the run ends after ``ticks`` ticks
    return counts, errors


def setup(server: BinanceServer) -> None:
    e.set_clock(TickClock(NOW))
    server.set_now(lambda: e.get_clock().now())
    e.add_ccxt_exchange("bn", **ccxt_options(server.base_url))


def hole_asks(server: BinanceServer) -> int:
    """Requests for the hole alone (the store asking again; not a page of a larger request)."""
    return sum(1 for p in server.klines_requests() if (int(p["startTime"]), p["limit"]) == (HOLE[0], "5"))


async def test_a_hole_the_exchange_fills_later_is_filled_in_live() -> None:
    with BinanceServer() as server:
        setup(server)
        server.hole(SYMBOL, *HOLE)
        counts, errors = await trade(server, 4, lambda n: server.clear_holes() if n == 1 else None)
    # ticks are TICK_TTL = 60_001 ms apart, so after the first (on a minute) the 30-candle window
    # [when - 29 min, when] holds 29 whole minutes (SPEC 4.1): 29 is everything the exchange has
    assert counts == [25, 29, 29, 29]  # the next tick asked again and got them
    assert errors == []


async def test_a_permanent_hole_is_asked_again_a_bounded_number_of_times_and_reported_once() -> None:
    with BinanceServer() as server:
        setup(server)
        server.hole(SYMBOL, *HOLE)
        counts, errors = await trade(server, 14)
        asks = hole_asks(server)
    assert counts == [25] + [24] * 13  # ticks go on (29 a tick after the first, less the hole)
    assert asks == LIVE_HOLE_REASKS  # re-asks of the hole alone, then never again
    (gap,) = errors
    assert "candles BTCUSDT 1m 2024-01-10T23:50:00Z..2024-01-10T23:54:00Z" in str(gap)
    assert f"still missing after {LIVE_HOLE_REASKS} more requests" in str(gap)
    assert e.context_of(gap).symbol == SYMBOL


async def test_a_backtest_keeps_its_gaps_without_asking_again() -> None:
    with BinanceServer() as server:
        e.set_clock(TickClock(NOW))
        server.set_now(NOW)
        e.add_ccxt_exchange("bn", **ccxt_options(server.base_url))
        server.hole(SYMBOL, *HOLE)
        counts: list[int] = []

        async def get_signal(symbol: str, when: Any, price: float) -> None:
            counts.append(len(await e.get_candles(symbol, "1m", 30)))

        e.add_strategy("reader", "1m", get_signal)
        e.add_frame("f", "1m", NOW - 3 * MINUTE_MS, NOW - MINUTE_MS)
        async for _ in e.Backtest.run(SYMBOL, strategy_name="reader", exchange_name="bn", frame_name="f"):
            pass
        assert counts == [25, 25, 25]
        assert hole_asks(server) == 0
