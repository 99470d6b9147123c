"""Walker mode (SPEC 11): backtest several strategies on one symbol and frame, rank them by a metric.

Each strategy runs as an ordinary backtest (its own report stores, instance and risk state start
fresh, SPEC 6.2), one after another. After each one the walker reads its ``BacktestStatistics``,
takes the metric, updates the best, and emits a ``WalkerContract``; at the end a
``WalkerCompleteEvent``. Stops are scoped to (symbol, walker): another walker on the same symbol
goes on.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

from .. import events, registry
from ..candles import SourceError
from ..errors import ErrorContext, annotate
from ..indicators import IndicatorError
from ..model import DoneEvent, SignalRow, WalkerCompleteEvent, WalkerContract, WalkerProgressEvent
from ..reports import stores
from ..reports import walker as walker_report
from ..scope import EnginePart, active
from .backtest import Backtest
from .tasks import RunTask, TaskBoard, TaskStatus

__all__ = ["Walker", "WalkerHandle"]


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value


def _metric_value(stats: Any, metric: str) -> float | None:
    value = getattr(stats, metric, None)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


class WalkerHandle:
    """What ``Walker.run`` returns: iterate it for contracts; ask ``status()`` how far it got
    (strategies done, the one under test and how far that one is)."""

    __slots__ = ("_gen", "_task")

    def __init__(self, gen: AsyncIterator[WalkerContract], task: RunTask) -> None:
        self._gen = gen
        self._task = task

    def __aiter__(self) -> WalkerHandle:
        return self

    async def __anext__(self) -> WalkerContract:
        try:
            return await self._gen.__anext__()
        except StopAsyncIteration:
            self._task.status = "fulfilled"
            raise
        except BaseException as exc:
            self._task.status, self._task.error = "rejected", exc
            raise

    async def aclose(self) -> None:
        await self._gen.aclose()

    def status(self) -> TaskStatus:
        return _walker_status(self._task)

    async def restore(self) -> list[SignalRow]:
        """Nothing to put back: each strategy's backtest starts from an empty state (SPEC 6.2)."""
        return []


def _walker_status(t: RunTask) -> TaskStatus:
    """A walker's row: strategies as frames, plus the running strategy's own progress."""
    snap = t.snapshot()
    current = t.extra.get("current")
    if current is None:
        return snap
    name, handle = current
    done = t.processed + handle.status().progress
    progress = min(done / t.total, 1.0) if t.total else 0.0
    return dataclasses.replace(snap, progress=progress, current=name)


class WalkerFacade:
    """``Walker``: run, background, stop, list, get_data, get_report, dump."""

    def __init__(self, bus: events.Bus) -> None:
        self.board = TaskBoard("walker", bus.done_walker)
        self._stops: set[tuple[str, str, str]] = set()  # (symbol, walker, strategy)
        bus.walker_stop.add_hook(self._on_stop)

    def _on_stop(self, event: Any) -> None:
        self._stops.add((event["symbol"], event["walker_name"], event["strategy_name"]))

    def _stopped(self, symbol: str, walker_name: str, strategy_name: str) -> bool:
        """Has ``Walker.stop`` been called for this strategy of this walker run?

        Checked again right after a strategy's backtest is created: a stop that arrives between the
        loop's stop check and that moment (typically from ``on_strategy_start``) found no instance to
        flag, because ``Backtest.run`` makes a fresh one. The original keeps one memoized instance, so
        its backtest starts stopped and ends at its first check (SPEC 11.4); the walker does the same
        by stopping the fresh instance.
        """
        return (symbol, walker_name, strategy_name) in self._stops

    def _validate(self, walker_name: str, source: str) -> registry.WalkerSchema:
        schema = registry.walkers.get(walker_name, source)
        registry.exchanges.get(schema.exchange_name, source)
        registry.frames.get(schema.frame_name, source)
        for name in schema.strategies:
            registry.validate_run(name, schema.exchange_name, schema.frame_name, source)
        return schema

    def run(self, symbol: str, *, walker_name: str) -> WalkerHandle:
        """Test every strategy of ``walker_name`` on ``symbol``: an async iterator of contracts, one
        per tested strategy. Names are checked now; the work starts on iteration."""
        schema = self._validate(walker_name, "Walker.run")
        stores.walker_store.pop((symbol, walker_name), None)
        self._stops = {s for s in self._stops if s[:2] != (symbol, walker_name)}
        task = RunTask(symbol, walker_name, status="pending", total=len(schema.strategies))
        return WalkerHandle(self._results(symbol, schema, task), task)

    async def _results(self, symbol: str, schema: registry.WalkerSchema, task: RunTask):
        cb = schema.callbacks
        metric = schema.metric
        names = schema.strategies
        total = len(names)
        best: str | None = None
        best_metric: float | None = None
        best_stats = None
        tested = 0
        task.total = total
        for name in names:
            if (symbol, schema.walker_name, name) in self._stops:
                break
            if cb.on_strategy_start is not None:
                await _maybe_await(cb.on_strategy_start(name, symbol))
            try:
                handle = Backtest.run(
                    symbol, strategy_name=name, exchange_name=schema.exchange_name, frame_name=schema.frame_name
                )
                task.extra["current"] = (name, handle)
                if self._stopped(symbol, schema.walker_name, name):
                    Backtest.stop(symbol, name)
                async for _ in handle:
                    pass
            except SourceError as exc:
                if not isinstance(exc, IndicatorError):  # the data itself (shared by every strategy):
                    raise  # the walker fails now with that one reason (issue 14 item 8)
                await self._skip(symbol, schema, name, task, exc)
                continue
            except Exception as exc:
                await self._skip(symbol, schema, name, task, exc)
                continue
            task.extra.pop("current", None)
            task.processed += 1
            stats = Backtest.get_data(symbol, name)
            value = _metric_value(stats, metric)
            if value is not None and (best_metric is None or value > best_metric):
                best, best_metric, best_stats = name, value, stats
            tested += 1
            if events.progress_walker.has_subscribers():
                await events.progress_walker.emit(
                    WalkerProgressEvent(
                        walker_name=schema.walker_name,
                        exchange_name=schema.exchange_name,
                        frame_name=schema.frame_name,
                        symbol=symbol,
                        total_strategies=total,
                        processed_strategies=tested,
                        progress=tested / total,
                    )
                )
            if cb.on_strategy_complete is not None:
                await _maybe_await(cb.on_strategy_complete(name, symbol, stats, value))
            contract = WalkerContract(
                walker_name=schema.walker_name,
                exchange_name=schema.exchange_name,
                frame_name=schema.frame_name,
                symbol=symbol,
                strategy_name=name,
                stats=stats,
                metric_value=value,
                metric=metric,
                best_metric=best_metric,
                best_strategy=best,
                strategies_tested=tested,
                total_strategies=total,
            )
            await events.walker.emit(contract)
            yield contract
        done = WalkerCompleteEvent(
            walker_name=schema.walker_name,
            symbol=symbol,
            exchange_name=schema.exchange_name,
            frame_name=schema.frame_name,
            metric=metric,
            total_strategies=total,
            best_strategy=best,
            best_metric=best_metric,
            best_stats=best_stats,
        )
        if cb.on_complete is not None:
            await _maybe_await(cb.on_complete(done))
        await events.walker_complete.emit(done)

    async def _skip(self, symbol: str, schema: registry.WalkerSchema, name: str, task: RunTask, exc: Exception) -> None:
        """A strategy whose backtest failed is reported and skipped; the walker goes on."""
        task.extra.pop("current", None)
        task.processed += 1  # done with, though not tested: the progress bar moves on
        annotate(
            exc,
            ErrorContext(symbol, name, True, None, "walker"),
            f"walker {schema.walker_name}: strategy {name} on {symbol} failed and was skipped",
        )
        await events.report_error(exc)
        if schema.callbacks.on_strategy_error is not None:
            await _maybe_await(schema.callbacks.on_strategy_error(name, symbol, exc))

    def background(self, symbol: str, *, walker_name: str) -> Callable[[], None]:
        """Run in a task; emits ``done_walker`` once (``strategy_name`` holds the walker's name)."""
        schema = self._validate(walker_name, "Walker.background")
        t = self.board.guard(symbol, walker_name)
        stores.walker_store.pop((symbol, walker_name), None)
        self._stops = {s for s in self._stops if s[:2] != (symbol, walker_name)}
        done = DoneEvent(exchange_name=schema.exchange_name, strategy_name=walker_name, backtest=True, symbol=symbol)
        t.total, t.processed = len(schema.strategies), 0
        self.board.start(t, self._results(symbol, schema, t), done)

        def cancel() -> None:
            self.stop(symbol, walker_name)
            t.cancelled = True
            self.board.done_now(t, done)

        return cancel

    def stop(self, symbol: str, walker_name: str) -> None:
        """Stop the walker: the running strategy ends at its next check, the rest are skipped."""
        schema = registry.walkers.get(walker_name, "Walker.stop")
        for name in schema.strategies:
            events.walker_stop.emit_soon({"symbol": symbol, "strategy_name": name, "walker_name": walker_name})
            self._stops.add((symbol, walker_name, name))
            inst = active().instances.get((symbol, name, True))
            if inst is not None:
                inst.stop()

    def list(self) -> list[TaskStatus]:
        return [_walker_status(t) for t in self.board.tasks.values()]

    def reset(self, symbol: str, walker_name: str) -> None:
        self.board.reset(symbol, walker_name)

    def get_data(self, symbol: str, walker_name: str) -> walker_report.WalkerStatistics:
        """The walker's results: best strategy and metric, and every strategy's statistics."""
        registry.walkers.get(walker_name, "Walker.get_data")
        return walker_report.walker_statistics(stores.walker_contracts(symbol, walker_name))

    def get_report(self, symbol: str, walker_name: str, strategy_columns: Any = None, pnl_columns: Any = None) -> str:
        return walker_report.render_walker_report(self.get_data(symbol, walker_name), strategy_columns, pnl_columns)

    def dump(
        self,
        symbol: str,
        walker_name: str,
        path: str | None = None,
        strategy_columns: Any = None,
        pnl_columns: Any = None,
    ) -> str | None:
        text = self.get_report(symbol, walker_name, strategy_columns, pnl_columns)
        return stores.write_report(path or "./dump/walker", f"{walker_name}.md", text)


# ``Walker`` is the active engine's walker runner (docs/architecture.md 8)
Walker: WalkerFacade = EnginePart("walker")  # type: ignore[assignment]
