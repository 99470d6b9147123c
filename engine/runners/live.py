"""Live trading (SPEC 8): tick a strategy once a minute on the clock's "now", forever, with its
state on disk so a crash loses nothing.

Crash safety comes from one rule: after every tick the state writer is flushed (the pending and
scheduled slots, risk positions and partial levels that changed are written atomically) before
the tick's result is published or yielded (partial milestones included). Whatever a listener was
told is on disk; whatever was not yet written was not announced, and the restart restores the last
announced state.

One flush writes several documents, one at a time, the pending slot's first: it says whether a
position exists. A crash part-way through leaves the others one step behind it, and the restore
brings them in line (``_LiveRun.restore``): the run's risk position and partial levels follow the
restored position, and a scheduled entry that already opened is dropped.

Orders go through the run's order desk (engine/brokers/desk.py) between the tick and the flush
that announces it: the desk writes an order intent, flushes the tick's state, places the order and
records the answer, so the same rule holds for orders (an announced entry has its order on disk),
and a restart reconciles unfinished orders with the broker before the first tick.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .. import config, events, registry
from ..brokers.base import AccountSnapshot, Broker
from ..brokers.book import BreakerEvent, book_for
from ..brokers.desk import OrderDesk, check_sizing, resolve_broker
from ..candles import SourceError, exchange_client
from ..clock import get_clock
from ..context import MethodContext
from ..errors import ErrorContext, annotate
from ..log import get_logger
from ..model import DoneEvent, PerformanceEvent, SignalRow, TickResult
from ..persist.adapters import PersistScheduleAdapter, PersistSignalAdapter, base_dir, held_state, writer
from ..persist.lock import hold_state_folder
from ..persist.quarantine import PairQuarantinedError
from ..reports import stores
from ..retrying import interrupted_by
from ..risk import risk_instance
from ..scope import EnginePart, active
from ..signals import IdFactory
from ..strategy import StrategyInstance, _call
from .backtest import _clear_for_run, publish
from .tasks import RunnerFacade, RunTask, TaskBoard, TaskStatus

__all__ = ["TICK_TTL", "Live"]

TICK_TTL = 60_001  # ms between ticks (SPEC 8.2)


class _InstanceFiles:
    """``StrategyInstance.persist`` in live mode: a changed slot marks its file dirty; the file is
    written with the slot's state at the next flush."""

    __slots__ = ("inst",)

    def __init__(self, inst: StrategyInstance) -> None:
        self.inst = inst

    def signal(self, _row: SignalRow | None) -> None:
        inst = self.inst
        writer.mark(("signal", inst.symbol, inst.strategy_name), self._write_signal)

    def schedule(self, _row: SignalRow | None) -> None:
        inst = self.inst
        writer.mark(("schedule", inst.symbol, inst.strategy_name), self._write_schedule)

    async def _write_signal(self) -> None:
        inst = self.inst
        await PersistSignalAdapter.write_signal_data(inst.pending, inst.symbol, inst.strategy_name)

    async def _write_schedule(self) -> None:
        inst = self.inst
        await PersistScheduleAdapter.write_schedule_data(inst.scheduled, inst.symbol, inst.strategy_name)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class _LiveRun:
    """One live strategy on one symbol."""

    def __init__(
        self,
        symbol: str,
        strategy_name: str,
        exchange_name: str,
        source: str,
        broker: Broker | None = None,
        sizing_name: str | None = None,
    ) -> None:
        self.symbol = symbol
        self.strategy = registry.strategies.get(strategy_name, source)
        self.exchange_schema = registry.exchanges.get(exchange_name, source)
        self.cfg = config.current()
        self.client = exchange_client(self.exchange_schema, False)
        self.instance = StrategyInstance(
            schema=self.strategy,
            symbol=symbol,
            exchange=self.client,
            backtest=False,
            cfg=self.cfg,
            ids=IdFactory(None),
            method=MethodContext(strategy_name, exchange_name, ""),
        )
        self.instance.persist = _InstanceFiles(self.instance)
        self._woken = asyncio.Event()
        self.instance.on_stop = self._woken.set
        self.task: RunTask | None = None
        self.restored: list[SignalRow] = []
        self._restore_done = False
        # (milestones, result) of ticks whose state is not on disk yet, oldest first (_commit)
        self._withheld: list[tuple[list[Any], TickResult | None]] = []
        self._source_failure: str | None = None  # the unreadable-source error said last (said once)
        self._perf_prev: int | None = None
        self._perf_log = stores.performance_log(symbol, strategy_name, False)
        self.desk = OrderDesk(self.instance, broker if broker is not None else resolve_broker(None), sizing_name)
        self.close_requested = False  # Live.close_position: close the open position at the next step

    # -- SPEC 8.3 -----------------------------------------------------------------------------
    async def restore(self) -> None:
        """Put back what the last process left on disk, before the first tick (once per run).

        Every saved document is checked first (its shape when its store opens, a row's meaning
        here with this run's config and identity); one that fails is moved to quarantine, and
        then nothing is restored or written and the run refuses to go on (``PairQuarantinedError``):
        the pair waits for a person, the other pairs trade."""
        if self._restore_done:
            return
        self._restore_done = True
        inst, name, exchange = self.instance, self.strategy.strategy_name, self.exchange_schema.exchange_name
        await self.instance.risk.load()
        await active().partials.load_live(self.symbol, name)
        now = get_clock().now()
        rows: list[tuple[str, SignalRow]] = []
        unread: Exception | None = None
        for adapter, slot in ((PersistSignalAdapter, "pending"), (PersistScheduleAdapter, "scheduled")):
            try:
                row = await adapter.restore(self.symbol, name, exchange, self.cfg)
            except Exception as exc:
                annotate(exc, ErrorContext(self.symbol, name, False, now, "restore"), "the pair does not trade")
                await events.report_error(exc)
                unread = unread or exc
                continue
            if row is not None:
                rows.append((slot, row))
        held = held_state(self.symbol, name, self.instance.risk.names)
        if held:
            raise PairQuarantinedError(self.symbol, name, held)
        if unread is not None:  # not readable, not moved aside: trading would overwrite it
            raise unread
        for slot, row in rows:
            if slot == "scheduled" and inst.pending is not None and inst.pending.id == row.id:
                inst.persist.schedule(None)  # it opened; the crash came before the schedule file was cleared
                continue
            price = await inst.vwap(now)
            if slot == "pending":
                inst.pending = row
                if (cb := inst.cb.on_active) is not None:
                    _call(cb, self.symbol, row, price, False)
            else:
                inst.scheduled = row
                if (cb := inst.cb.on_schedule) is not None:
                    _call(cb, self.symbol, row, price, False)
            self.restored.append(row)
        dropped = {row.id for row in await self.desk.restore()}  # unfinished orders reconciled first
        self.restored = [row for row in self.restored if row.id not in dropped]
        self._align_with_position()

    def _align_with_position(self) -> None:
        """After a crash between the documents of one flush: this run's risk positions and partial
        levels follow the restored position (the pending slot is written first)."""
        name, pending = self.strategy.strategy_name, self.instance.pending
        key = f"{name}:{self.symbol}"
        for risk_name in self.instance.risk.names:
            risk = risk_instance(risk_name, False)
            if pending is not None and key not in risk.positions:
                risk.open_position(self.symbol, name)
            elif pending is None and key in risk.positions:
                risk.close_position(self.symbol, name)
        active().partials.keep_live(self.symbol, name, pending.id if pending is not None else None)

    # -- SPEC 8.2 -----------------------------------------------------------------------------
    async def results(self) -> AsyncIterator[TickResult]:
        clock = get_clock()
        inst = self.instance
        await self.restore()
        while True:
            when = clock.now()
            if writer.failure is not None:  # close-only: retry the failed writes before anything else
                for result in await self._commit(when, None):
                    yield result
                if writer.failure is not None and inst.pending is None and not inst.stopped:
                    await self._pause()  # nothing to close, and no new entries while state is not writable
                    continue
            t0 = time.perf_counter()
            try:
                self.client.refresh(when)  # the candle forming at the last tick has moved on since
                with interrupted_by(self._woken):  # a stop ends retry pauses of this tick at once
                    if self.close_requested and inst.pending is not None:
                        result = inst.close_now(inst.pending, "manual", await inst.vwap(when), when)
                    else:
                        result = await inst.tick(when)
                self.close_requested = False
                result = await self.desk.after_tick(result, when)  # orders placed, answers on disk
            except Exception as exc:
                annotate(exc, ErrorContext(self.symbol, inst.strategy_name, False, when, "tick"), "retrying next tick")
                for released in await self._commit(when, None):
                    yield released
                # an unreadable source (a bad CSV file) fails every tick the same way until someone
                # fixes it: said once, not once a minute (a different failure is said again)
                said = str(exc) if isinstance(exc, SourceError) else None
                if said is None or said != self._source_failure:
                    await events.report_error(exc)
                self._source_failure = said
                if inst.stopped:  # the stopped tick only prices; the saved state is all that matters
                    break
                await self._pause()
                continue
            self._source_failure = None  # the source reads again: a new failure is news
            announced = await self._commit(when, result, t0)  # on disk before anyone hears of it
            for released in announced:
                yield released
            action = result.action
            if inst.stopped and action in ("idle", "closed"):
                if self._withheld:
                    get_logger().warning(
                        f"live {self.symbol} {inst.strategy_name} stopped with {len(self._withheld)} result(s) never "
                        "announced: their state is not on disk, the next start restores what is"
                    )
                break
            await self._pause()

    async def _commit(self, when: int, result: TickResult | None, t0: float | None = None) -> list[TickResult]:
        """Write the changed state, then announce what the tick did (its milestones, then its
        result) and return the results to yield (opened, closed, cancelled), in order.

        When the write fails, nothing of this tick is announced: its milestones and an opened,
        closed, scheduled or cancelled result wait in ``_withheld`` (an idle or active result
        describes nothing to keep and is dropped) until a later flush writes their state, and
        are announced then, in order. So whatever a listener heard is on disk, and a restart
        after a crash at any point restores no position announced closed and misses none
        announced opened; a position opened in memory whose write never succeeds is never
        announced (a restart does not know it either)."""
        written = await writer.flush()
        if t0 is not None:
            await self._perf((time.perf_counter() - t0) * 1000)
        name = self.strategy.strategy_name
        milestones = active().partials.take_live(self.symbol, name)
        if milestones or (result is not None and result.action not in ("idle", "active")):
            self._withheld.append((milestones, result))
            result = None
        if not written:
            return []
        withheld, self._withheld = self._withheld, []
        if result is not None:
            withheld.append(([], result))
        out: list[TickResult] = []
        for reached, kept in withheld:
            for stream, event in reached:
                try:
                    await stream.emit(event)
                except Exception as exc:
                    annotate(exc, ErrorContext(self.symbol, name, False, when, "tick"), "in a milestone listener")
                    await events.report_error(exc)
            if kept is None:
                continue
            await publish(kept, backtest=False)
            if kept.action not in ("idle", "active", "scheduled"):
                if self.task is not None:
                    self.task.processed += 1
                out.append(kept)
        return out

    async def _pause(self) -> None:
        """Wait TICK_TTL for the next tick, or less when a stop arrives: SPEC 8.5's stop takes
        effect at the next tick, and a trader who pressed stop should not wait a minute for it.
        The tick after a stop only returns idle (an open position stays saved), so running it
        early changes nothing but when the loop ends."""
        if self.instance.stopped:
            return
        sleep = asyncio.ensure_future(get_clock().sleep(TICK_TTL))
        woken = asyncio.ensure_future(self._woken.wait())
        try:
            await asyncio.wait((sleep, woken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleep, woken):
                task.cancel()
        if not self.instance.stopped:  # woken for a close request: the next wait waits again
            self._woken.clear()

    async def _perf(self, duration_ms: float) -> None:
        now = _wall_ms()
        prev, self._perf_prev = self._perf_prev, now
        if not events.performance.has_subscribers():
            self._perf_log.add_raw("live_tick", now, prev, duration_ms, 1)
            return
        await events.performance.emit(
            PerformanceEvent(
                timestamp=now,
                previous_timestamp=prev,
                metric_type="live_tick",
                duration=duration_ms,
                strategy_name=self.strategy.strategy_name,
                exchange_name=self.exchange_schema.exchange_name,
                symbol=self.symbol,
                backtest=False,
                count=1,
            )
        )


class LiveHandle:
    """What ``Live.run`` returns: iterate it for opened/closed/cancelled results (it never ends
    on its own; ``Live.stop`` ends it at the next tick). ``restored`` lists what was put back."""

    __slots__ = ("_gen", "_run")

    def __init__(self, run: _LiveRun) -> None:
        self._run = run
        self._gen = run.results()

    def __aiter__(self) -> LiveHandle:
        return self

    async def __anext__(self) -> TickResult:
        task = self._run.task
        try:
            return await self._gen.__anext__()
        except StopAsyncIteration:
            task.status = "fulfilled"
            raise
        except BaseException as exc:
            task.status, task.error = "rejected", exc
            raise

    async def aclose(self) -> None:
        await self._gen.aclose()

    def status(self) -> TaskStatus:
        """Whether the run is going, ended or failed (a live run has no frames to count)."""
        return self._run.task.snapshot()

    async def restore(self) -> list[SignalRow]:
        """Restore the saved state now instead of at the first tick, so a caller can show what
        came back before trading starts (the console's restored-positions notice). Idempotent:
        the first tick does not restore twice."""
        await self._run.restore()
        return list(self._run.restored)

    @property
    def restored(self) -> list[SignalRow]:
        return list(self._run.restored)

    @property
    def instance(self) -> StrategyInstance:
        return self._run.instance


class LiveFacade(RunnerFacade):
    """``Live``: run, background, stop, list, get_data, get_report, dump."""

    kind, folder = "Live", "live"

    def __init__(self, bus: events.Bus) -> None:
        self.board = TaskBoard("live", bus.done_live)
        self.runs: dict[tuple[str, str], _LiveRun] = {}

    def _start(
        self,
        symbol: str,
        strategy_name: str,
        exchange_name: str,
        source: str,
        broker: Broker | str | None = None,
        sizing_name: str | None = None,
    ) -> _LiveRun:
        strategy = registry.strategies.get(strategy_name, source)
        registry.exchanges.get(exchange_name, source)
        check_sizing(sizing_name)
        resolved = resolve_broker(broker)
        hold_state_folder(base_dir())  # one writer per state folder: raises StateFolderLocked
        held = held_state(symbol, strategy_name, strategy.risk_names)
        if held:  # a person has to look first (the run that quarantined it said why)
            raise PairQuarantinedError(symbol, strategy_name, held)
        _clear_for_run(symbol, strategy, False)
        active().partials.reset_for(symbol, strategy_name, False)
        run = _LiveRun(symbol, strategy_name, exchange_name, source, resolved, sizing_name)
        active().instances[(symbol, strategy_name, False)] = run.instance
        self.runs[(symbol, strategy_name)] = run
        return run

    def run(
        self,
        symbol: str,
        *,
        strategy_name: str,
        exchange_name: str,
        broker: Broker | str | None = None,
        sizing_name: str | None = None,
    ) -> LiveHandle:
        """Trade ``strategy_name`` on ``symbol`` in real time: an endless async iterator of
        opened, closed and cancelled results. State saved by an earlier run is restored first.

        Orders go to ``broker`` (a ``Broker``, or the name of one given to ``add_broker``; the
        paper broker ``paper`` when None). ``sizing_name`` (a fixed-percentage sizing) sizes
        entries from the account's equity; without it an entry costs the broker's ``quote_amount``."""
        run = self._start(symbol, strategy_name, exchange_name, "Live.run", broker, sizing_name)
        run.task = RunTask(symbol, strategy_name, status="pending")
        return LiveHandle(run)

    def background(
        self,
        symbol: str,
        *,
        strategy_name: str,
        exchange_name: str,
        broker: Broker | str | None = None,
        sizing_name: str | None = None,
    ) -> Callable[[], None]:
        """Run in a task; returns a cancel function (SPEC 8.5): no new signals; an open position
        stays saved (not closed) and resumes at the next start. ``done_live`` is emitted at once
        when no position is open, else when the task ends."""
        registry.strategies.get(strategy_name, "Live.background")
        registry.exchanges.get(exchange_name, "Live.background")
        t = self.board.guard(symbol, strategy_name)
        run = self._start(symbol, strategy_name, exchange_name, "Live.background", broker, sizing_name)
        run.task = t
        t.processed, t.total = 0, 0
        done = DoneEvent(exchange_name=exchange_name, strategy_name=strategy_name, backtest=False, symbol=symbol)
        return self._launch(t, run.instance, run.results(), done)

    def stop(self, symbol: str, strategy_name: str) -> None:
        """SPEC 8.5: the next tick returns idle and the loop ends; an open position is left as it
        is, saved, and restored by the next start."""
        self._stop(symbol, strategy_name, False)

    # -- orders and accounts (README "Orders and accounts") -------------------------------------
    def close_position(self, symbol: str, strategy_name: str) -> bool:
        """Close the open position of a running live pair at market, now (reason ``manual``):
        the loop wakes, closes at the current VWAP and its desk sends the exit. False when the
        pair has no open position or is not running."""
        run = self.runs.get((symbol, strategy_name))
        if run is None or run.instance.pending is None or run.instance.stopped:
            return False
        if run.task is None or run.task.status != "pending":  # ended (fulfilled or rejected): nobody to close it
            return False
        run.close_requested = True
        run._woken.set()
        return True

    def flatten(self, strategy_name: str | None = None) -> list[tuple[str, str]]:
        """Close every open position of the running live pairs (of ``strategy_name`` only, when
        given) at market; returns the (symbol, strategy) pairs asked to close."""
        asked = []
        for symbol, name in list(self.runs):
            if (strategy_name is None or name == strategy_name) and self.close_position(symbol, name):
                asked.append((symbol, name))
        return asked

    async def clear_breaker(self, broker: str = "paper") -> BreakerEvent | None:
        """Allow new entries on ``broker``'s account again after a circuit breaker tripped."""
        resolved = resolve_broker(broker)
        await resolved.start()
        return await book_for(resolved.name).clear((await resolved.account()).equity)

    async def account(self, broker: str = "paper") -> AccountSnapshot:
        """The account of ``broker`` now (day's PnL and breaker from its book)."""
        from ..brokers.report import account_snapshot

        return await account_snapshot(resolve_broker(broker))

    async def get_account_report(self, broker: str = "paper") -> str:
        """Markdown: balance, equity, fees, the equity curve and every fill of ``broker``."""
        from ..brokers.report import account_report

        return await account_report(resolve_broker(broker))

    async def dump_account(self, broker: str = "paper", path: str | None = None) -> str | None:
        """Write the account report to ``<path or ./dump/live>/account_<broker>.md``."""
        text = await self.get_account_report(broker)
        return stores.write_report(path or f"./dump/{self.folder}", f"account_{resolve_broker(broker).name}.md", text)

    def _statistics(self, symbol: str, strategy_name: str) -> Any:
        return stores.live_statistics(symbol, strategy_name)

    def _report(self, symbol: str, strategy_name: str, columns: Any) -> str:
        return stores.live_report(symbol, strategy_name, columns)


# ``Live`` is the active engine's live runner (docs/architecture.md 8)
Live: LiveFacade = EnginePart("live")  # type: ignore[assignment]
