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

import pickle
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from typing import Any

from tblib import Traceback, pickling_support

from engine import ErrorContext

__all__ = ["Packed", "install", "pack", "unpack"]


def install() -> None:
    """Let every exception class known now pickle with its traceback (called in the worker after
    the project loaded, so a strategy file's own exception classes are covered too)."""
    pickling_support.install()


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
