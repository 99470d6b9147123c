"""Context for errors published on the error and exit streams.

An error a run reports carries, besides a human note, a ``btk_context`` attribute saying which
run raised it, so a console or log can attribute it without parsing messages.
"""

from __future__ import annotations

import contextlib
import os
import sysconfig
import traceback
from dataclasses import dataclass

__all__ = ["ErrorContext", "annotate", "context_of", "describe_error", "origin"]

_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARY_DIRS = tuple(
    os.path.abspath(p) + os.sep for p in {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)


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


def origin(exc: BaseException) -> traceback.FrameSummary | None:
    """The frame of the user's own code the exception came from: the innermost frame of its
    traceback outside the engine, the standard library and installed packages (a strategy file's
    ``get_signal``, a callback), or ``None`` when it arose wholly inside them."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = os.path.abspath(frame.filename)
        if path.startswith(_ENGINE_DIR) or path.startswith(_LIBRARY_DIRS) or frame.filename.startswith("<"):
            continue
        found = frame
    return found


def describe_error(exc: BaseException) -> str:
    """One line a trader can act on. An error raised in their own code gets its type and where it
    was raised (``ValueError: bad day (strategies/rsi.py:14 in get_signal)``): a bare "bad day" or
    "list index out of range" says nothing about where to look. An error the engine raised is its
    first line as written (those messages name the symbol, file or setting already)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    frames = traceback.extract_tb(exc.__traceback__)
    raised_by_engine = bool(frames) and os.path.abspath(frames[-1].filename).startswith(_ENGINE_DIR)
    where = None if raised_by_engine else origin(exc)
    if where is None:
        return text or type(exc).__name__
    head = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    try:
        shown = os.path.relpath(where.filename)
    except ValueError:  # another drive (Windows)
        shown = where.filename
    if shown.startswith(".." + os.sep):
        shown = where.filename
    return f"{head} ({shown}:{where.lineno} in {where.name})"
