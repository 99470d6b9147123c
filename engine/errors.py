"""Context for errors published on the error and exit streams.

An error a run reports carries, besides a human note, a ``btk_context`` attribute saying which
run raised it, so a console or log can attribute it without parsing messages.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

__all__ = ["ErrorContext", "annotate", "context_of"]


@dataclass(frozen=True, slots=True)
class ErrorContext:
    symbol: str
    strategy_name: str
    backtest: bool
    when: int | None = None  # the moment being evaluated (UTC ms), if any
    stage: str = ""  # what the engine was doing: "get_signal", "tick", "fast-forward", ...


def annotate(exc: BaseException, ctx: ErrorContext, note: str) -> BaseException:
    exc.add_note(note)
    if getattr(exc, "btk_context", None) is None:
        with contextlib.suppress(AttributeError, TypeError):  # an exception type without a __dict__
            exc.btk_context = ctx  # type: ignore[attr-defined]
    return exc


def context_of(exc: BaseException) -> ErrorContext | None:
    return getattr(exc, "btk_context", None)
