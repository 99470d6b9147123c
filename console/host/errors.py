"""Exceptions across the worker process's pipe, with what the log viewer needs of them.

A run's errors reach the console as exceptions: the log book reads their type, the user's file and
line (``engine.origin`` walks the traceback) and the traceback text, and ``engine.context_of``
pins them on a run (issue 14 item 7). Plain pickling drops ``__traceback__``; tblib carries
it as data and builds real traceback objects again on this side, so ``traceback.extract_tb`` and
``format_exception`` read the same frames as they would in process. An exception whose class does
not pickle (its ``__init__`` wants other arguments, or it lives in a module this side cannot
import) comes back as a stand-in of the same class name, message, context and traceback.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from types import TracebackType
from typing import Any

from tblib import Traceback, pickling_support

from engine import ErrorContext

__all__ = ["Packed", "install", "pack", "traceback_of", "unpack"]

Shape = tuple[tuple[str, str, int, str | None, str | None], ...]
"""A traceback as data: each frame's file, function, line, and its module's ``__name__`` and
``__file__`` (what tblib keeps of a frame's globals), outermost first."""


def install() -> None:
    """Let every exception class known now pickle with its traceback (called in the worker after
    the project loaded, so a strategy file's own exception classes are covered too), and a
    traceback go down the pipe as its ``Shape`` (``_reduce_traceback``)."""
    pickling_support.install()
    ForkingPickler.register(TracebackType, _reduce_traceback)


def _reduce_traceback(tb: TracebackType) -> tuple[Any, tuple[Shape]]:
    """A traceback as its shape, rebuilt by ``traceback_of`` on the console's side. tblib sent
    each one as frame objects, and built each one back by running a stub per frame: a strategy
    raising on every call sent ~35,000 tracebacks a year, all alike, and rebuilding them was half
    the console's CPU of the run."""
    frames = []
    at: TracebackType | None = tb
    while at is not None:
        frame = at.tb_frame
        names = frame.f_globals
        frames.append(
            (frame.f_code.co_filename, frame.f_code.co_name, at.tb_lineno, names.get("__name__"), names.get("__file__"))
        )
        at = at.tb_next
    return traceback_of, (tuple(frames),)


@functools.lru_cache(maxsize=1024)
def traceback_of(shape: Shape) -> TracebackType | None:
    """The traceback of ``shape``, built once (tblib) and shared by the exceptions that carry it:
    a traceback is only read here (formatted, walked for the user's frame)."""
    tb: dict[str, Any] | None = None
    for filename, name, lineno, module, file in reversed(shape):
        globals_ = {k: v for k, v in (("__name__", module), ("__file__", file)) if v is not None}
        code = {"co_filename": filename, "co_name": name}
        frame = {"f_globals": globals_, "f_locals": {}, "f_code": code, "f_lineno": lineno}
        tb = {"tb_frame": frame, "tb_lineno": lineno, "tb_next": tb}
    return Traceback.from_dict(tb).as_traceback() if tb is not None else None


@dataclass(frozen=True, slots=True)
class Packed:
    """An exception that did not survive pickling, as data: enough to build a look-alike."""

    type_name: str
    module: str
    message: str
    traceback: dict[str, Any] | None
    state: dict[str, Any]  # the picklable part of its __dict__ (btk_context, notes)


def pack(exc: BaseException) -> BaseException | Packed:
    """``exc`` itself when it pickles and unpickles whole, else a ``Packed`` description. Tried
    with the pipe's own pickler (``ForkingPickler``: the engine's classes through the reducers of
    fast_pickle.py once registered), once for each shape of exception (``_seen_shape``): a
    strategy that raised on every call spent a third of its worker's run trying each error."""
    if _seen_shape(exc):
        return exc
    try:
        pickle.loads(ForkingPickler.dumps(exc))
    except Exception:
        pass
    else:
        if _plain(exc):
            _ROUND_TRIPPED.add((type(exc), len(exc.args)))
        return exc
    state = {}
    for key, value in vars(exc).items() if hasattr(exc, "__dict__") else ():
        try:
            pickle.dumps(value)
        except Exception:
            continue
        state[key] = value
    tb = Traceback(exc.__traceback__).as_dict() if exc.__traceback__ is not None else None
    return Packed(type(exc).__name__, type(exc).__module__, str(exc), tb, state)


_ROUND_TRIPPED: set[tuple[type, int]] = set()
"""(class, number of arguments) of plain exceptions (``_plain``) that made the round trip."""

_PLAIN_ARGS = (str, int, float, bool, type(None))


def _plain(exc: BaseException) -> bool:
    """Built from plain arguments, holding nothing but what the engine adds (its context and
    notes), chained to no other exception: one such exception pickles as another of its class
    with as many arguments does. Anything else is tried each time."""
    if exc.__cause__ is not None or exc.__context__ is not None:
        return False
    if not all(type(a) in _PLAIN_ARGS for a in exc.args):
        return False
    state = getattr(exc, "__dict__", None) or {}
    if not state.keys() <= {"btk_context", "__notes__"}:
        return False
    notes = state.get("__notes__", ())
    return type(state.get("btk_context")) in (ErrorContext, type(None)) and all(type(n) is str for n in notes)


def _seen_shape(exc: BaseException) -> bool:
    return (type(exc), len(exc.args)) in _ROUND_TRIPPED and _plain(exc)


def unpack(item: BaseException | Packed) -> BaseException:
    """The exception again: the original, or a stand-in named after its class."""
    if isinstance(item, BaseException):
        return item
    cls = type(item.type_name, (Exception,), {"__module__": item.module})
    exc = cls(item.message)
    for key, value in item.state.items():
        setattr(exc, key, value)
    if item.traceback is not None:
        exc.__traceback__ = Traceback.from_dict(item.traceback).as_traceback()
    return exc
