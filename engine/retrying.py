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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt
from tenacity.retry import retry_base

from .clock import get_clock

__all__ = ["RetryCallState", "clock_retrying"]


async def _sleep_ms(ms: float) -> None:
    await get_clock().sleep(float(ms))


def clock_retrying(
    *,
    attempts: int,
    wait_ms: Callable[[RetryCallState], float],
    retry: retry_base,
    after: Callable[[RetryCallState], Any] | None = None,
    before_sleep: Callable[[RetryCallState], Any] | None = None,
    gave_up: Callable[[RetryCallState], Any] | None = None,
) -> AsyncRetrying:
    """At most ``attempts`` calls; after a failure that ``retry`` accepts, ``after`` runs (every
    failure, the last included), then, unless it was the last attempt, ``before_sleep`` and a sleep
    of ``wait_ms`` on the engine's clock. When the attempts are spent ``gave_up`` decides (its
    return value is the call's result; it may raise); without it the last exception is re-raised.
    An exception ``retry`` does not accept propagates at once."""
    if attempts < 1:
        raise ValueError(f"clock_retrying: attempts must be at least 1, got {attempts}")
    options: dict[str, Any] = {}
    if after is not None:
        options["after"] = after
    return AsyncRetrying(
        sleep=_sleep_ms,
        stop=stop_after_attempt(attempts),
        wait=wait_ms,
        retry=retry,
        before_sleep=before_sleep,
        retry_error_callback=gave_up,
        reraise=gave_up is None,
        **options,
    )
