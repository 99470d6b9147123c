"""The ``Engine``: one object owning everything a backtest or live run touches (docs/architecture.md 8).

An engine holds its registries, streams, report stores, milestone service, risk states, strategy
instances, candle clients, runners (with their task boards), configuration, report columns, clock,
logger and language-model settings. Two engines in one process share none of it: a strategy
registered in one is unknown to the other, a listener on one hears nothing of the other's runs.

The module-level API (``add_strategy``, ``Backtest.run``, ``listen_signal``, ``set_config``...) acts
on the *active* engine (engine/scope.py): the default one unless code runs inside
``with engine.activate():`` (or in a task started there). That keeps every user's strategy file
working unchanged while tests, sweeps and the console's reload make and drop engines of their own.

Not per engine, on purpose: the live state folder and what writes to it (the folder lock, the state
writer, the document stores, brokers and their account books). A process holds one state folder
(its ``flock`` is the process's), and two writers of one folder would be how a position gets
doubled, so live state has exactly one owner per process. Pure caches (indicator routes, compiled
validation checks) are shared too: they hold no run's state.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from . import scope
from .candles import CandleClients
from .clock import Clock, SystemClock
from .config import DEFAULTS, Config
from .events import Bus
from .llm.settings import LlmSettings
from .log import Silent
from .partial import PartialService
from .registry import Registries
from .reports.columns import DEFAULTS as DEFAULT_COLUMNS
from .reports.stores import ReportStores
from .runners.backtest import BacktestFacade
from .runners.live import LiveFacade
from .runners.walker import WalkerFacade

__all__ = ["Engine", "EngineDisposedError"]

T = TypeVar("T")


class EngineDisposedError(RuntimeError):
    """An engine was used after ``dispose()``."""


class Engine:
    """Everything one engine knows, made and dropped explicitly.

    ``Engine()`` starts empty, with the default configuration, a system clock and a silent logger.
    Use it with ``with engine.activate(): ...``; ``await engine.dispose()`` cancels its runs and
    forgets its state. The process's default engine is ``engine.default_engine()``.
    """

    __slots__ = (
        "backtest",
        "bus",
        "candle_clients",
        "clock",
        "columns",
        "config",
        "disposed",
        "instances",
        "live",
        "llm_settings",
        "logger",
        "partials",
        "registries",
        "risk_states",
        "stores",
        "walker",
    )

    def __init__(self) -> None:
        self.config: Config = DEFAULTS
        self.columns: dict[str, tuple[Any, ...]] = dict(DEFAULT_COLUMNS)
        self.clock: Clock = SystemClock()
        self.logger: Any = Silent()
        self.llm_settings = LlmSettings()
        self.registries = Registries()
        self.bus = Bus()
        self.partials = PartialService()
        self.risk_states: dict[tuple[str, bool], Any] = {}  # (risk name, backtest) -> ClientRisk
        self.instances: dict[tuple[str, str, bool], Any] = {}  # (symbol, strategy, backtest) -> StrategyInstance
        self.candle_clients = CandleClients()
        self.stores = ReportStores()
        self.stores.attach(self.bus, self.partials)  # before any user listener, as the original's report services
        self.backtest = BacktestFacade(self.bus)
        self.walker = WalkerFacade(self.bus)
        self.live = LiveFacade(self.bus)
        self.disposed = False

    @contextmanager
    def activate(self) -> Iterator[Engine]:
        """Make this the active engine in the current context (tasks started inside keep it)."""
        if self.disposed:
            raise EngineDisposedError("this engine was disposed; make a new Engine()")
        token = scope.bind(self)
        try:
            yield self
        finally:
            scope.unbind(token)

    def create_task(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Run ``coro`` in a task that belongs to this engine, whatever engine is active here
        (two engines' runs side by side: one task each)."""
        if self.disposed:
            coro.close()
            raise EngineDisposedError("this engine was disposed; make a new Engine()")
        ctx = contextvars.copy_context()
        ctx.run(scope.bind, self)
        return asyncio.get_running_loop().create_task(coro, name=name, context=ctx)

    def tasks(self) -> list[asyncio.Task]:
        """The background tasks of this engine's runs that have not finished."""
        boards = (self.backtest.board, self.walker.board, self.live.board)
        return [t.task for board in boards for t in board.tasks.values() if t.task is not None and not t.task.done()]

    async def dispose(self) -> None:
        """Stop this engine's runs, then forget everything it holds.

        Running strategies are asked to stop and their background tasks cancelled and awaited;
        then listeners, registries, stores and cached candles are dropped. An engine is not usable
        afterwards (``activate`` raises), and disposing twice does nothing."""
        if self.disposed:
            return
        for inst in list(self.instances.values()):
            inst.stop()
        pending = self.tasks()
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self.forget()
        self.disposed = True

    def forget(self) -> None:
        """Drop every registration, stored event, listener, cached candle and run record (runs
        still going are not stopped: ``dispose`` does that first)."""
        self.bus.dispose()
        self.registries.clear()
        self.stores.clear_all()
        self.partials.reset()
        self.risk_states.clear()
        self.instances.clear()
        for client in self.candle_clients.clients.values():
            client._stores.clear()
        self.candle_clients.clients.clear()
        self.candle_clients.recent.clear()
        for board in (self.backtest.board, self.walker.board, self.live.board):
            board.tasks.clear()
        self.walker._stops.clear()
        self.live.runs.clear()

    def __repr__(self) -> str:
        state = "disposed" if self.disposed else f"{len(self.registries.strategies.names())} strategies"
        return f"<btk Engine {id(self):#x}: {state}>"
