"""Support for testing strategies and the engine itself: put the process back to a clean state."""

from __future__ import annotations

from . import candles, clock, config, events, log, partial, registry, risk
from .persist import adapters
from .reports import columns, stores
from .runners import tasks

__all__ = ["reset_engine"]


def reset_engine() -> None:
    """Forget registrations, runs, stored events, cached candles, listeners, config, clock and logger.

    Background tasks are not cancelled: await or cancel them before calling this.
    """
    registry.reset_registries()
    stores.clear_all()
    candles.clear_candle_cache()
    partial.partials.reset()
    risk._instances.clear()
    tasks.instances.clear()
    from .runners.backtest import Backtest

    Backtest.board.tasks.clear()
    from .runners.walker import Walker

    Walker.board.tasks.clear()
    Walker._stops.clear()
    from .runners.live import Live

    Live.board.tasks.clear()
    Live.runs.clear()
    from .brokers import book, desk, store

    desk.brokers.clear()
    book.books.clear()
    store.forget_broker_stores()
    adapters.reset_adapters()
    config.reset_config()
    columns.reset_columns()
    clock.set_clock(clock.SystemClock())
    log.set_logger(None)
    for name in dir(events):
        stream = getattr(events, name)
        if isinstance(stream, events.Stream):
            stream.observers.clear()
