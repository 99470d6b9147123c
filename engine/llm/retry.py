"""The retry rule both LLM clients share: transient failures again after a doubling pause.

Transient: no connection, a timeout, HTTP 429 or a 5xx. The pause is on the engine clock
(engine/retrying.py), so tests on a simulated clock wait no real time. When the attempts are spent
the error says where, what and how many attempts it took.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from ..retrying import clock_retrying
from .client import LlmError
from .settings import LlmSettings

__all__ = ["describe", "llm_retrying"]


def describe(exc: BaseException | None) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within the timeout ({type(exc).__name__})"
    if exc is None:
        return "unknown failure"
    return str(exc) or type(exc).__name__


def llm_retrying(settings: LlmSettings, where: str, transient: Callable[[BaseException], bool]) -> AsyncRetrying:
    backoff = settings.backoff_ms

    def wait_ms(state: RetryCallState) -> float:
        return backoff * 2 ** (state.attempt_number - 1)

    def gave_up(state: RetryCallState) -> Any:
        exc = state.outcome.exception() if state.outcome is not None else None
        raise LlmError(f"{where}: {describe(exc)} (gave up after {state.attempt_number} attempts)") from exc

    return clock_retrying(
        attempts=settings.attempts, wait_ms=wait_ms, retry=retry_if_exception(transient), gave_up=gave_up
    )
