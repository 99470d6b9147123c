"""Support for testing strategies and the engine itself: put the process back to a clean state."""

from __future__ import annotations

from . import scope
from .kernel import Engine
from .persist import adapters

__all__ = ["reset_engine"]


def reset_engine() -> Engine:
    """Start afresh: a new default engine (returned) and an empty live-state layer.

    The engine that was the default forgets its registrations, stored events, listeners and
    cached candles. Its background tasks are not cancelled: await or cancel them before calling
    this (``await engine.dispose()`` does both for an engine of your own). The live-state layer,
    which belongs to the process rather than to an engine (docs/architecture.md 8), goes back to
    its defaults: no brokers, no account books, no open state documents, the default state folder.
    """
    from .brokers import book, desk, store

    fresh = Engine()
    scope.replace_default(fresh).forget()
    desk.brokers.clear()
    book.books.clear()
    store.forget_broker_stores()
    adapters.reset_adapters()
    return fresh
