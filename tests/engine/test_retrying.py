"""clock_retrying: tenacity's bookkeeping, the engine clock's sleep, waits in engine milliseconds."""

from __future__ import annotations

import pytest
from tenacity import retry_if_exception_type

import engine as e
from engine.retrying import RetryCallState, clock_retrying


class RecordingClock(e.SimulatedClock):
    def __init__(self) -> None:
        super().__init__(0, speed=0)
        self.sleeps: list[float] = []

    async def sleep(self, ms: float) -> None:
        self.sleeps.append(ms)
        await super().sleep(ms)


async def test_waits_are_engine_milliseconds_on_the_clock_in_force_at_sleep_time() -> None:
    retrying = clock_retrying(
        attempts=4, wait_ms=lambda s: 0.1 * 3**s.attempt_number, retry=retry_if_exception_type(OSError)
    )
    clock = RecordingClock()
    e.set_clock(clock)  # set after the retrying object was made: still the one slept on
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(len(calls))
        if len(calls) < 4:
            raise OSError("again")
        return "ok"

    assert await retrying(flaky) == "ok"
    assert clock.sleeps == [0.1 * 3, 0.1 * 9, 0.1 * 27]  # exactly what wait_ms said: no ms -> s -> ms rounding
    assert clock.now() == int(sum(clock.sleeps))


async def test_the_last_failure_runs_after_then_gave_up_and_an_unaccepted_error_goes_through_at_once() -> None:
    e.set_clock(RecordingClock())
    seen: list[str] = []

    def gave_up(state: RetryCallState) -> str:
        return f"gave up after {state.attempt_number}: {state.outcome.exception()}"

    retrying = clock_retrying(
        attempts=2,
        wait_ms=lambda s: 5,
        retry=retry_if_exception_type(OSError),
        after=lambda s: seen.append(f"after {s.attempt_number}"),
        gave_up=gave_up,
    )

    async def broken() -> None:
        raise OSError("down")

    assert await retrying(broken) == "gave up after 2: down"
    assert seen == ["after 1", "after 2"]

    async def wrong() -> None:
        raise KeyError("not retried")

    with pytest.raises(KeyError):
        await clock_retrying(attempts=3, wait_ms=lambda s: 5, retry=retry_if_exception_type(OSError))(wrong)


def test_attempts_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="attempts must be at least 1, got 0"):
        clock_retrying(attempts=0, wait_ms=lambda s: 0, retry=retry_if_exception_type(OSError))
