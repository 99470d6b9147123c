"""Support for testing strategies and the engine itself: put the process back to a clean state."""

from __future__ import annotations

from . import scope
from .kernel import Engine
from .persist import adapters

__all__ = ["add_busy_backtest", "reset_engine"]


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


def add_busy_backtest(days: int, seed: int = 7, strategy: str = "many", frame: str = "f") -> None:
    """Register what a test of a busy backtest needs: the synthetic exchange ``synthetic``
    (``seed``), a 1m frame of ``days`` days from 2024-01-01, and ``strategy``, which enters on
    every minute it is flat (short on odd minutes) with brackets of about 0.7-0.8 % and a ten-minute
    lifetime: hundreds of short trades a day, most with milestones."""
    from datetime import UTC, datetime, timedelta

    from .exchanges.register import add_synthetic_exchange
    from .registry import add_frame, add_strategy

    start = datetime(2024, 1, 1, tzinfo=UTC)
    add_synthetic_exchange("synthetic", seed=seed)
    add_frame(frame, "1m", start, start + timedelta(days=days) - timedelta(minutes=1))

    async def get_signal(symbol: str, when: datetime, price: float) -> dict:
        short = when.minute % 2 == 1
        return {
            "position": "short" if short else "long",
            "price_take_profit": price * (0.992 if short else 1.008),
            "price_stop_loss": price * (1.007 if short else 0.993),
            "minute_estimated_time": 10,
        }

    add_strategy(strategy, "1m", get_signal)
