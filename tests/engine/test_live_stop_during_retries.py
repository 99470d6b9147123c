"""A stop reaches a live tick that is retrying an unreachable exchange: the tick gives up after the
attempt in progress instead of sitting out every backoff (headless `live` took 34 s to stop)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import engine as e

T0 = 1_704_067_200_000


class HeldClock(e.SimulatedClock):
    """Time stands still; the tick pause (TICK_TTL) passes at once, every other sleep (a retry's
    backoff) waits until released, as it would on the wall clock, and says that it started."""

    def __init__(self) -> None:
        super().__init__(T0, speed=0)
        self.backoffs: list[float] = []
        self.backoff_started = asyncio.Event()
        self.release = asyncio.Event()

    async def sleep(self, ms: float) -> None:
        if ms == e.TICK_TTL:
            await super().sleep(ms)
            return
        self.backoffs.append(ms)
        self.backoff_started.set()
        await self.release.wait()


async def test_a_stop_ends_the_retry_backoff_of_the_tick_in_progress() -> None:
    clock = HeldClock()
    e.set_clock(clock)
    attempts: list[int] = []

    async def unreachable(symbol: str, interval: str, since: datetime, limit: int) -> list:
        attempts.append((since, limit))
        raise ConnectionError("exchange unreachable")

    e.add_exchange("x", unreachable)
    e.add_strategy("s", "1m", lambda symbol, when, price: None)
    errors: list = []
    e.listen_error(errors.append)

    async def run() -> list:
        return [r async for r in e.Live.run("BTCUSDT", strategy_name="s", exchange_name="x")]

    task = asyncio.ensure_future(run())
    try:
        await asyncio.wait_for(clock.backoff_started.wait(), 60)  # the first retry pause began
        e.Live.stop("BTCUSDT", "s")
        assert await asyncio.wait_for(task, 60) == []  # ended without anyone releasing the pause
    finally:
        clock.release.set()  # whatever happened, let nothing hang
        task.cancel()
    # the one pause that began is the one the stop cut short; what the tick still asked for after
    # the stop got a single attempt each, with no pause
    assert clock.backoffs == [e.get_config()["CC_GET_CANDLES_RETRY_DELAY_MS"]]
    assert len(attempts) <= 2
    # the tick says what failed, with the attempts it really made (the stop came after the first)
    assert errors and all("could not be fetched (1 attempt): exchange unreachable" in str(x) for x in errors)


async def test_both_forms_of_a_clock_retry_end_with_the_last_failure_when_a_stop_cuts_a_pause() -> None:
    from tenacity import retry_if_exception_type

    from engine.retrying import clock_retrying, interrupted_by

    clock = HeldClock()
    e.set_clock(clock)
    stop = asyncio.Event()
    tries: list[int] = []

    def retrying():
        return clock_retrying(attempts=5, wait_ms=lambda _s: 1000, retry=retry_if_exception_type(OSError))

    async def failing() -> None:
        tries.append(1)
        raise OSError(f"down {len(tries)}")

    async def called() -> None:
        await retrying()(failing)

    async def iterated() -> None:
        async for attempt in retrying():
            with attempt:
                await failing()

    for form in (called, iterated):
        tries.clear()
        clock.backoff_started.clear()
        stop.clear()
        with interrupted_by(stop):
            task = asyncio.ensure_future(form())
        await asyncio.wait_for(clock.backoff_started.wait(), 60)
        stop.set()
        try:
            await asyncio.wait_for(task, 60)
        except OSError as exc:
            assert str(exc) == "down 1" and tries == [1], form.__name__
        else:
            raise AssertionError(f"{form.__name__}: the failure was not raised")
