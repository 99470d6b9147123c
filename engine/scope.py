"""Which engine the code running now belongs to (docs/architecture.md 8).

Everything stateful (registries, streams, report stores, runs, config, clock...) lives on an
``Engine`` object (engine/kernel.py). The module-level API (``add_strategy``, ``Backtest.run``,
``listen_signal``...) acts on the *active* engine: the one set in this execution context by
``Engine.activate()``, else the process's default engine, created on first use. A context
variable rather than a global keeps two engines apart inside one process: an asyncio task copies
the context it was created in, so a run started under one engine stays with it to its end.

This module imports nothing of the engine's, so every other module can ask it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .kernel import Engine

__all__ = ["EnginePart", "activated", "active", "bind", "default_engine", "forward", "unbind"]

_active: ContextVar[Engine | None] = ContextVar("btk_engine", default=None)
_default: list[Engine] = []  # the process's default engine, once made

activated: Callable[[], Engine | None] = _active.get
"""The engine activated in this context, or None outside ``Engine.activate()`` (the hot paths'
one lookup: an indicator read asks for it on every call, and a bound ``ContextVar.get`` is the
cheapest way to ask)."""

bind: Callable[[Engine], Token[Engine | None]] = _active.set
"""Make an engine the active one in this context (``Engine.activate`` and ``Engine.create_task``)."""

unbind: Callable[[Token[Engine | None]], None] = _active.reset
"""Undo one ``bind`` with the token it gave."""


def active() -> Engine:
    """The engine of the current execution context (the default engine unless one was activated)."""
    eng = _active.get()
    if eng is None:
        return _default[0] if _default else default_engine()
    return eng


def default_engine() -> Engine:
    """The process's default engine, the one module-level calls use outside ``Engine.activate()``."""
    if not _default:
        from .kernel import Engine  # the kernel imports every stateful module; they import only this one

        _default.append(Engine())
    return _default[0]


def replace_default(eng: Engine) -> Engine:
    """Make ``eng`` the default engine; returns the one it replaces (tests start each on a fresh one)."""
    old = default_engine()
    _default[0] = eng
    return old


def forward(module: str, attr: str, names: Iterable[str]) -> Any:
    """A module's ``__getattr__`` that reads each of ``names`` off the active engine's ``attr``
    part, so a module-level name that used to hold process-wide state (``events.signal``,
    ``registry.strategies``) now means the active engine's (``attr`` empty: the engine's own
    attribute of that name). Other names are not found, as before."""
    known = frozenset(names)

    def __getattr__(name: str) -> Any:
        if name in known:
            part = active() if not attr else getattr(active(), attr)
            return getattr(part, name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


class EnginePart:
    """A stand-in for one part of the active engine (``Backtest`` is ``EnginePart("backtest")``):
    every attribute is read off that part of whichever engine is active where it is used, so the
    module-level API keeps its shape while the state behind it belongs to an engine."""

    __slots__ = ("_part",)

    def __init__(self, part: str) -> None:
        self._part = part

    def __getattr__(self, name: str) -> Any:
        return getattr(getattr(active(), self._part), name)

    def __repr__(self) -> str:
        return f"<{self._part} of the active btk engine>"
