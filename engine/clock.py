"""The engine's notion of "now" and of waiting, swappable so tests and demos never touch the wall clock.

Everything that asks for the current time (live ticks, the "is this candle in the future?" check of
SPEC 4.1, risk-event timestamps) or sleeps (fetch retries, the live loop) goes through the active clock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

from .scope import active

__all__ = ["Clock", "SimulatedClock", "SystemClock", "get_clock", "set_clock"]


@runtime_checkable
class Clock(Protocol):
    def now(self) -> int:
        """UTC milliseconds."""
        ...

    async def sleep(self, ms: float) -> None: ...


class SystemClock:
    """The real wall clock and real sleeping."""

    def now(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, ms: float) -> None:
        await asyncio.sleep(max(ms, 0) / 1000)

    def __repr__(self) -> str:
        return "SystemClock()"


class SimulatedClock:
    """A clock that starts at ``start_ms`` and runs ``speed`` times faster than real time.

    ``speed=0`` freezes time: ``now()`` only moves when something sleeps, and a sleep returns at
    once after advancing the clock by its duration. That makes a day of live ticks run in
    milliseconds and deterministically, which is what the tests use.
    """

    def __init__(self, start_ms: int, speed: float = 1.0) -> None:
        if speed < 0:
            raise ValueError(f"SimulatedClock speed must be >= 0, got {speed}")
        self._origin_sim = int(start_ms)
        self._origin_real = time.monotonic()
        self._offset = 0.0
        self.speed = float(speed)

    def now(self) -> int:
        real = (time.monotonic() - self._origin_real) * 1000 * self.speed if self.speed else 0.0
        return int(self._origin_sim + real + self._offset)

    def advance(self, ms: float) -> None:
        self._offset += ms

    async def sleep(self, ms: float) -> None:
        ms = max(ms, 0)
        if self.speed == 0:
            self._offset += ms
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(ms / 1000 / self.speed)

    def __repr__(self) -> str:
        return f"SimulatedClock(now={self.now()}, speed={self.speed})"


def set_clock(clock: Clock) -> None:
    """Use ``clock`` for the active engine's time (a simulated clock in tests and replays)."""
    if not (callable(getattr(clock, "now", None)) and callable(getattr(clock, "sleep", None))):
        raise TypeError(f"set_clock needs an object with now() -> int and async sleep(ms); got {clock!r}")
    active().clock = clock


def get_clock() -> Clock:
    """The active engine's clock."""
    return active().clock
