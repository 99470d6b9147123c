"""Bookkeeping shared by the runners: strategy instances, background tasks and their status.

``background()`` runs a generator to its end in a task, guards against starting the same run twice
(SPEC 6.6), routes a crash to the exit stream and emits the done event exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .. import events, registry
from ..model import DoneEvent
from ..reports import stores
from ..scope import active, forward
from ..strategy import StrategyInstance

__all__ = ["RunTask", "RunnerFacade", "TaskBoard", "TaskStatus", "retire"]

Status = Literal["ready", "pending", "fulfilled", "rejected"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStatus:
    """One row of ``Backtest.list()`` / ``Live.list()`` / ``Walker.list()``.

    ``progress`` (0..1), ``processed_frames``/``total_frames``, ``error`` and ``current`` are btk
    additions, so a display can poll a run without subscribing to per-frame progress events. For a
    walker the "frames" are strategies, and ``progress`` includes the running strategy's share.
    """

    id: str
    symbol: str
    strategy_name: str
    status: Status
    progress: float = 0.0
    processed_frames: int = 0
    total_frames: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    current: str | None = None  # a walker's strategy under test right now


@dataclass(slots=True)
class RunTask:
    """Mutable state of one run, updated by its runner as it goes."""

    symbol: str
    name: str
    status: Status = "ready"
    processed: int = 0
    total: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    error: BaseException | None = None
    task: asyncio.Task | None = None
    done_sent: bool = False
    cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> TaskStatus:
        total = self.total
        progress = self.processed / total if total else (1.0 if self.status == "fulfilled" else 0.0)
        return TaskStatus(
            id=f"{self.symbol}:{self.name}",
            symbol=self.symbol,
            strategy_name=self.name,
            status=self.status,
            progress=min(progress, 1.0),
            processed_frames=self.processed,
            total_frames=total,
            started_at=self.started_at,
            finished_at=self.finished_at,
            error=None if self.error is None else f"{type(self.error).__name__}: {self.error}",
        )


class TaskBoard:
    """The runs of one runner kind (backtest, live or walker), keyed by (symbol, name)."""

    def __init__(self, kind: str, done_stream: events.Stream) -> None:
        self.kind = kind
        self.done_stream = done_stream
        self.tasks: dict[tuple[str, str], RunTask] = {}

    def get(self, symbol: str, name: str) -> RunTask:
        key = (symbol, name)
        t = self.tasks.get(key)
        if t is None:
            t = self.tasks[key] = RunTask(symbol, name)
        return t

    def list(self) -> list[TaskStatus]:
        return [t.snapshot() for t in self.tasks.values()]

    def guard(self, symbol: str, name: str) -> RunTask:
        t = self.get(symbol, name)
        if t.status == "pending":
            raise RuntimeError(f"{self.kind} {symbol}:{name} is already running")
        if t.status == "rejected":
            raise RuntimeError(f"{self.kind} {symbol}:{name} has failed ({t.error!r}); call reset() to allow a new run")
        return t

    def reset(self, symbol: str, name: str) -> None:
        """Forget a finished or failed run so it can be started again."""
        t = self.tasks.get((symbol, name))
        if t is not None and t.status != "pending":
            del self.tasks[(symbol, name)]

    def done_now(self, t: RunTask, done: DoneEvent) -> None:
        """Emit ``done`` right away (a cancel function did it), at most once per run."""
        if not t.done_sent:
            t.done_sent = True
            self.done_stream.emit_soon(done)

    def start(
        self,
        t: RunTask,
        source: AsyncIterator[Any],
        done: DoneEvent,
        on_item: Callable[[Any], None] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> asyncio.Task:
        """Consume ``source`` in a task; emit ``done`` once at the end; crashes go to ``exit``.
        ``on_end`` runs when the source is closed, before ``done`` goes out (a run lets go of its
        candles there, so a done listener may clear the candle cache and get the memory back)."""
        t.status = "pending"
        t.error = None
        t.cancelled = False
        t.done_sent = False
        t.started_at = time.time()
        t.finished_at = None

        async def consume() -> None:
            try:
                async for item in source:
                    if on_item is not None:
                        on_item(item)
                    if t.cancelled:
                        break
            except Exception as exc:
                t.status = "rejected"
                t.error = exc
                t.finished_at = time.time()
                exc.add_note(f"{self.kind} {t.symbol}:{t.name} stopped by this error")
                await events.report_error(exc, events.exit)
                return
            except asyncio.CancelledError as exc:
                # the run's own task was cancelled (a strategy's CancelledError is an ordinary error
                # by now): it has ended, so it must not stay "pending" and block a new start
                t.status = "rejected"
                t.error = exc
                t.finished_at = time.time()
                self.done_now(t, done)
                raise
            finally:
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    await aclose()
                if on_end is not None:
                    on_end()
            t.status = "fulfilled"
            t.finished_at = time.time()
            if not t.done_sent:
                t.done_sent = True
                try:
                    await self.done_stream.emit(done)
                except Exception as exc:
                    await events.report_error(exc)

        t.task = asyncio.get_running_loop().create_task(consume(), name=f"btk-{self.kind}-{t.symbol}-{t.name}")
        return t.task


# ``tasks.instances``: the active engine's (symbol, strategy_name, backtest) -> instance table, the
# one live copy of each strategy's state while it runs (docs/architecture.md 8)
__getattr__ = forward(__name__, "", ("instances",))


def retire(key: tuple[str, str, bool], instance: StrategyInstance) -> None:
    """A run of ``instance`` ended: it leaves the table (unless a newer run of the pair took its
    place) and lets go of its exchange client. Its results live on in the report stores; its
    candles stay only in the candle cache, so ``clear_candle_cache()`` can give them back even
    while a caller still holds the run's handle or cancel function."""
    instances = active().instances
    if instances.get(key) is instance:
        del instances[key]
    instance.exchange = None


class RunnerFacade:
    """What ``Backtest`` and ``Live`` share: the task list and the per-(symbol, strategy) report.

    Subclasses set ``kind`` (the facade's name in messages), ``folder`` (where ``dump`` writes by
    default) and the two store functions."""

    kind = ""
    folder = ""
    board: TaskBoard

    def _statistics(self, symbol: str, strategy_name: str) -> Any:
        raise NotImplementedError

    def _report(self, symbol: str, strategy_name: str, columns: Any) -> str:
        raise NotImplementedError

    def _launch(
        self,
        t: RunTask,
        instance: StrategyInstance,
        source: AsyncIterator[Any],
        done: DoneEvent,
        on_end: Callable[[], None] | None = None,
    ) -> Callable[[], None]:
        """Consume ``source`` in the background; the returned cancel function stops the strategy
        and emits ``done`` at once when no position is open (else the run emits it at its end)."""
        self.board.start(t, source, done, on_end=on_end)

        def cancel() -> None:
            instance.stop()
            t.cancelled = True
            if instance.pending is None:
                self.board.done_now(t, done)

        return cancel

    @staticmethod
    def _stop(symbol: str, strategy_name: str, backtest: bool) -> None:
        inst = active().instances.get((symbol, strategy_name, backtest))
        if inst is not None:
            inst.stop()

    def list(self) -> list[TaskStatus]:
        return self.board.list()

    def reset(self, symbol: str, strategy_name: str) -> None:
        """Allow a new ``background`` run of a pair whose previous run failed."""
        self.board.reset(symbol, strategy_name)

    def get_data(self, symbol: str, strategy_name: str) -> Any:
        registry.strategies.get(strategy_name, f"{self.kind}.get_data")
        return self._statistics(symbol, strategy_name)

    def get_report(self, symbol: str, strategy_name: str, columns: Any = None) -> str:
        registry.strategies.get(strategy_name, f"{self.kind}.get_report")
        return self._report(symbol, strategy_name, columns)

    def dump(self, symbol: str, strategy_name: str, path: str | None = None, columns: Any = None) -> str | None:
        """Write the report to ``<path or ./dump/<folder>>/<strategy>.md``; returns the file path
        (None if it could not be written: the reason is logged, nothing raises)."""
        text = self.get_report(symbol, strategy_name, columns)
        return stores.write_report(path or f"./dump/{self.folder}", f"{strategy_name}.md", text)
