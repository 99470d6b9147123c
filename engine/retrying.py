"""Retries that wait on the engine's clock: tenacity, configured once for btk.

A retry's pause must be the engine's ``get_clock().sleep``, never ``asyncio.sleep``: a backtest or
a test on a simulated clock then waits no real time, and a live run under a stepped clock sleeps
exactly when the test says. tenacity takes the sleep as a parameter, so ``AsyncRetrying`` does the
bookkeeping (attempt numbers, when to stop, the callbacks around each failure) and the clock does
the waiting.

The unit: every wait here is in **milliseconds of the engine's clock**, the unit of the engine's
settings (``CC_GET_CANDLES_RETRY_DELAY_MS``, ``backoff_ms``). tenacity does not interpret the
number it hands to ``sleep`` (btk uses none of its time-based stop conditions), and keeping it in
milliseconds avoids a ms -> s -> ms round trip that could shift a simulated clock by a rounding
error. The clock is looked up at each sleep, so a clock set after the retrying object was made is
the one used.

A live run that is asked to stop must not sit out a backoff first (a tick fetching from an
unreachable exchange retries for half a minute). The run marks the ticks it drives with its stop
event (``interrupted_by``); while that event is set, a retry stops after the attempt in progress and
a pause between attempts ends at once. Nothing else changes: the attempt that failed is reported as
it would have been at the end of its retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt
from tenacity.retry import retry_base
from tenacity.stop import stop_base

from .clock import get_clock

__all__ = ["RetryCallState", "clock_retrying", "interrupted_by", "sleep_ms", "stopping"]

_stop_event: ContextVar[asyncio.Event | None] = ContextVar("btk_retry_stop", default=None)


@contextlib.contextmanager
def interrupted_by(event: asyncio.Event) -> Iterator[None]:
    """Within this block (this task's context), retries give up and their pauses end once
    ``event`` is set."""
    token = _stop_event.set(event)
    try:
        yield
    finally:
        _stop_event.reset(token)


def stopping() -> bool:
    """Whether the work in progress was asked to stop (see ``interrupted_by``)."""
    event = _stop_event.get()
    return event is not None and event.is_set()


async def sleep_ms(ms: float) -> None:
    """Sleep ``ms`` on the engine's clock, or until the stop of ``interrupted_by`` arrives."""
    event = _stop_event.get()
    if event is None:
        await get_clock().sleep(float(ms))
        return
    if event.is_set():
        return
    sleep = asyncio.ensure_future(get_clock().sleep(float(ms)))
    woken = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait((sleep, woken), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleep, woken):
            task.cancel()


class _Interrupted(Exception):
    """A pause between attempts was cut short by a stop: no further attempt is made."""


async def _retry_pause_ms(ms: float) -> None:
    await sleep_ms(ms)
    if stopping():
        raise _Interrupted


class _StopWhenStopping(stop_base):
    def __call__(self, retry_state: RetryCallState) -> bool:
        return stopping()


class _ClockRetrying:
    """tenacity's ``AsyncRetrying`` plus the stop: a pause a stop cut short ends the retries as if
    the attempts were spent (``gave_up`` decides, else the last failure is raised)."""

    def __init__(self, options: dict[str, Any], gave_up: Callable[[RetryCallState], Any] | None) -> None:
        self._gave_up = gave_up
        self._state: RetryCallState | None = None
        self._outcome: Any = None
        self._attempt = 0
        before_sleep = options.pop("before_sleep", None)

        def remember(state: RetryCallState) -> Any:
            # tenacity clears the outcome for the next attempt before it sleeps: keep it now
            self._state, self._outcome, self._attempt = state, state.outcome, state.attempt_number
            return before_sleep(state) if before_sleep is not None else None

        self._retrying = AsyncRetrying(before_sleep=remember, **options)

    def __aiter__(self) -> AsyncIterator[Any]:
        """tenacity's ``async for attempt in ...: with attempt:`` form, with the same stop: a pause
        cut short ends the loop with the last failure (``gave_up`` may raise its own)."""
        return self._attempts()

    async def _attempts(self) -> AsyncIterator[Any]:
        attempts = self._retrying.__aiter__()
        while True:
            try:
                attempt = await attempts.__anext__()
            except StopAsyncIteration:
                return
            except _Interrupted:
                state, outcome = self._state, self._outcome
                if state is None or outcome is None:
                    raise
                state.outcome, state.attempt_number = outcome, self._attempt
                if self._gave_up is not None:
                    got = self._gave_up(state)
                    if inspect.isawaitable(got):
                        await got
                raise outcome.exception() from None
            yield attempt

    async def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await self._retrying(fn, *args, **kwargs)
        except _Interrupted:
            state, outcome = self._state, self._outcome
            if state is None or outcome is None:
                raise
            # what gave_up reads: the failure before the cut-short pause, and the attempts made
            state.outcome, state.attempt_number = outcome, self._attempt
            if self._gave_up is None:
                raise outcome.exception() from None
            got = self._gave_up(state)
            return await got if inspect.isawaitable(got) else got


def clock_retrying(
    *,
    attempts: int,
    wait_ms: Callable[[RetryCallState], float],
    retry: retry_base,
    after: Callable[[RetryCallState], Any] | None = None,
    before_sleep: Callable[[RetryCallState], Any] | None = None,
    gave_up: Callable[[RetryCallState], Any] | None = None,
) -> _ClockRetrying:
    """At most ``attempts`` calls; after a failure that ``retry`` accepts, ``after`` runs (every
    failure, the last included), then, unless it was the last attempt, ``before_sleep`` and a sleep
    of ``wait_ms`` on the engine's clock. When the attempts are spent ``gave_up`` decides (its
    return value is the call's result; it may raise); without it the last exception is re-raised.
    An exception ``retry`` does not accept propagates at once."""
    if attempts < 1:
        raise ValueError(f"clock_retrying: attempts must be at least 1, got {attempts}")
    options: dict[str, Any] = {
        "sleep": _retry_pause_ms,
        "stop": stop_after_attempt(attempts) | _StopWhenStopping(),
        "wait": wait_ms,
        "retry": retry,
        "before_sleep": before_sleep,
        "retry_error_callback": gave_up,
        "reraise": gave_up is None,
    }
    if after is not None:
        options["after"] = after
    return _ClockRetrying(options, gave_up)
