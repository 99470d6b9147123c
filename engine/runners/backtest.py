"""Backtest mode (SPEC 6): the frame loop, fast-forwards, and the ``Backtest`` facade.

The loop is SPEC 6.3 exactly, with one liberty that changes no observable result: while the
strategy holds no signal and nobody listens to per-frame events (idle ticks, progress, timings,
``on_idle``/``on_tick``), the frames it would merely tick through idle are skipped arithmetically,
up to the next frame where the throttle lets ``get_signal`` run or where a tick would report an
error. Timing samples for skipped frames go to the performance report as one bulk sample.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import CoroutineType
from typing import Any

import numpy as np

from .. import config, events, registry
from ..candles import ExchangeClient, OutsideDataError, SourceError, exchange_client, iso
from ..clock import get_clock
from ..context import MethodContext
from ..errors import ErrorContext, annotate
from ..model import (
    MINUTE_MS,
    BacktestResult,
    BacktestStatistics,
    ClosedResult,
    DoneEvent,
    PerformanceEvent,
    ProgressEvent,
    SignalRow,
    TickResult,
)
from ..reports import stores
from ..risk import clear_risk
from ..scope import EnginePart, active
from ..signals import IdFactory
from ..strategy import STRETCH_IDLE, SettleFailure, StrategyInstance
from .tasks import RunnerFacade, RunTask, TaskBoard, TaskStatus, retire

__all__ = ["Backtest", "frame_timestamps"]

YIELD_EVERY_S = 0.004  # hand the event loop back this often: a UI sharing the loop stays responsive


STRETCH_FRAMES = 2_048  # frames asked in one ``quiet_stretch`` at most: the yield check runs between them

_NO_RESULT: Any = object()  # no outcome carried over from a stretch: tick the frame

HISTORY_RESERVE = 1_440  # 1m slots reserved before a run's first frame: history a strategy asks for at the start


@dataclass(frozen=True, slots=True)
class Frames:
    start: int
    step: int
    count: int

    def at(self, i: int) -> int:
        return self.start + i * self.step

    def first_at_or_after(self, ms: int) -> int:
        """Smallest index whose timestamp is >= ``ms`` (SPEC 6.3's skip after a close)."""
        return max(0, -((self.start - ms) // self.step))

    def array(self) -> np.ndarray:
        return self.start + np.arange(self.count, dtype=np.int64) * self.step


def frame_timestamps(frame: registry.FrameSchema) -> Frames:
    """SPEC 6.1: ``start``, ``start + step``, ... while <= ``end`` (both ends inclusive)."""
    start, end = frame.start_ms, frame.end_ms
    step = frame.step_minutes * MINUTE_MS
    count = (end - start) // step + 1 if end >= start else 0
    return Frames(start, step, count)


async def publish(result: TickResult | BacktestResult, backtest: bool = True) -> None:
    """SPEC 5.5: signal_backtest (or signal_live), then signal; only if somebody wants it."""
    pending = publish_nowait(result, backtest, active().bus)
    if pending is not None:
        await pending


def publish_nowait(
    result: TickResult | BacktestResult, backtest: bool, bus: events.Bus, reports: bool = True
) -> Awaitable[None] | None:
    """``publish`` on ``bus`` (the run's engine's, taken once per run) that runs synchronously
    while only hooks listen; else returns what to await. ``reports=False``: a run that keeps no
    report (docs/behaviour.md 6.2) skips the report stores' hooks when nobody else listens (with
    listeners, the hooks themselves drop its results)."""
    action = result.action
    first = bus.signal_backtest if backtest else bus.signal_live
    signal = bus.signal
    if not first.observers and not signal.observers:  # only the report stores: their hooks, directly
        if not reports:
            return None
        for hook in first.hooks_for(action):
            hook(result)
        for hook in signal.hooks_for(action):
            hook(result)
        return None
    if first.wants(action):
        pending = first.emit_nowait(result)
        if pending is not None:
            return _publish_rest(pending, result, signal)
    if signal.wants(action):
        return signal.emit_nowait(result)
    return None


async def _publish_rest(pending: Awaitable[None], result: TickResult | BacktestResult, signal: events.Stream) -> None:
    await pending
    if signal.wants(result.action):
        await signal.emit(result)


def wanted(action: str, backtest: bool = True) -> bool:
    """Would publishing a result with this action reach anybody?"""
    return (events.signal_backtest if backtest else events.signal_live).wants(action) or events.signal.wants(action)


@dataclass(slots=True)
class _Later:
    """What ``_Run._settle_at_once`` leaves to ``_settle_later``: a settled result whose listeners
    are still to be waited for (``pending``), an error to report, or (neither) a lane to fetch."""

    settled: BacktestResult | None = None
    pending: Awaitable[None] | None = None
    error: Exception | None = None


class _Run:
    """One backtest of one strategy on one symbol."""

    def __init__(
        self, symbol: str, strategy_name: str, exchange_name: str, frame_name: str, reports: bool = True
    ) -> None:
        self.symbol = symbol
        self.reports = reports  # False: feed no report store (docs/behaviour.md 6.2)
        self.strategy = registry.strategies.get(strategy_name, "Backtest.run")
        self.exchange_schema = registry.exchanges.get(exchange_name, "Backtest.run")
        self.frame = registry.frames.get(frame_name, "Backtest.run")
        self.cfg = config.current()
        self.frames = frame_timestamps(self.frame)
        self.client: ExchangeClient = exchange_client(self.exchange_schema, True)
        self.method = MethodContext(strategy_name, exchange_name, frame_name)
        self.instance = StrategyInstance(
            schema=self.strategy,
            symbol=symbol,
            exchange=self.client,
            backtest=True,
            cfg=self.cfg,
            ids=IdFactory(f"{symbol}|{strategy_name}|{self.frames.start}"),
            method=self.method,
        )
        self.instance.report_milestones = reports
        self.task = None  # RunTask when run in the background
        self.bus = active().bus  # the run's engine's streams, looked up once (a per-trade cost otherwise)
        self._perf_prev: int | None = None
        # a run that keeps no report records no timing sample unless somebody listens to them
        self._perf_log = stores.performance_log(symbol, strategy_name, True) if reports else None
        self._listeners_version = -1
        self._listeners = True
        self._trades: Iterator[tuple[int, Any]] = iter(())  # the stretch settling what it opens (``_skip_idle``)
        self._opened_listened = True
        self._idle_listened = True

    # -- performance samples ----------------------------------------------------------------------
    def _perf(self, metric: str, duration_ms: float, count: int = 1) -> PerformanceEvent | None:
        """Record a timing sample. Only the report listens: a raw row, and None is returned.
        Someone subscribed: the event is returned for the caller to emit."""
        if not self.bus.performance.observers:
            log = self._perf_log
            if log is not None:
                now = time.time_ns() // 1_000_000  # wall-clock ms (twice per trade: no helper call)
                prev, self._perf_prev = self._perf_prev, now
                log.append((metric, now, prev, duration_ms, count))
            return None
        now = time.time_ns() // 1_000_000
        prev, self._perf_prev = self._perf_prev, now
        return PerformanceEvent(
            timestamp=now,
            previous_timestamp=prev,
            metric_type=metric,
            duration=duration_ms,
            strategy_name=self.strategy.strategy_name,
            exchange_name=self.exchange_schema.exchange_name,
            symbol=self.symbol,
            backtest=True,
            count=count,
        )

    async def _emit_progress(self, processed: int) -> None:
        total = self.frames.count
        await events.progress_backtest.emit(
            ProgressEvent(
                exchange_name=self.exchange_schema.exchange_name,
                strategy_name=self.strategy.strategy_name,
                symbol=self.symbol,
                total_frames=total,
                processed_frames=processed,
                progress=processed / total if total else 0.0,
            )
        )

    def _annotate(self, exc: BaseException, when: int, stage: str, note: str) -> None:
        annotate(exc, ErrorContext(self.symbol, self.strategy.strategy_name, True, when, stage), note)

    async def _fast_forward_failed(self, exc: Exception, when: int, row: SignalRow, stage: str) -> None:
        if stage == "candles":
            note = f"fetching candles to fast-forward signal {row.id}"
        else:
            note = f"fast-forwarding signal {row.id} of {self.strategy.strategy_name} on {self.symbol}"
        self._annotate(exc, when, stage, note)
        await events.report_error(exc)

    # -- the fast skip -------------------------------------------------------------------------------
    def _per_frame_listeners(self) -> bool:
        """Does anybody need to see every frame? Cached until someone (un)subscribes."""
        if events.subscription_version() != self._listeners_version:
            self._refresh_interest()
        return self._listeners

    def _opened_wanted(self) -> bool:
        """Would an ``opened`` result reach anybody? Cached like ``_per_frame_listeners``."""
        if events.subscription_version() != self._listeners_version:
            self._refresh_interest()
        return self._opened_listened

    def _idle_wanted(self) -> bool:
        """Would an ``idle`` result reach anybody? Cached like ``_per_frame_listeners``."""
        if events.subscription_version() != self._listeners_version:
            self._refresh_interest()
        return self._idle_listened

    def _refresh_interest(self) -> None:
        cb = self.strategy.callbacks
        self._listeners_version = events.subscription_version()
        self._listeners = (
            events.signal_backtest.wants("idle")
            or events.signal.wants("idle")
            or events.progress_backtest.has_subscribers()
            or events.performance.has_subscribers()
            or cb.on_idle is not None
            or cb.on_tick is not None
        )
        self._opened_listened = wanted("opened")
        self._idle_listened = wanted("idle")

    def _bad_frames(self) -> np.ndarray:
        """Frame indices whose tick would fail to price (missing/failed/malformed candles).

        Frames are minute-aligned here (the caller checks), so frame ``i`` reads slot
        ``first + i * stride``: a strided view of the store's ``ok`` column, no per-frame array."""
        st = self.client.store(self.symbol, "1m")
        _, ok, _ = st.derived(self.cfg.CC_AVG_PRICE_CANDLES_COUNT)
        f = self.frames
        if f.count == 0:
            return np.empty(0, dtype=np.int64)
        stride = f.step // MINUTE_MS
        first = f.start // MINUTE_MS - st.base
        # frames [lo, hi) fall inside the store; the others have no candle to price with
        lo = min(f.count, max(0, -(first // stride)))
        hi = max(lo, min(f.count, -((first - st.size) // stride)))
        good = np.zeros(f.count, dtype=bool)
        if hi > lo:
            a = first + lo * stride
            good[lo:hi] = ok[a : a + (hi - lo - 1) * stride + 1 : stride]
        return np.flatnonzero(~good)

    def _check_frame_inside_data(self) -> None:
        """A feed that knows the span of its data (CSV, catalog) is asked before anything runs: a
        frame wholly outside it, or a symbol it has no data for, or a file it cannot read, fails the
        run now with that one reason (issue 14 item 8) instead of one missing-candle error per frame.
        Only a frame no tick could price is refused: every frame before the first candle, or every
        frame's VWAP window (the candles opening at ``when - (W-1)m .. when``, docs/behaviour.md
        4.2) after the last one; a frame overlapping the data in part runs."""
        span = getattr(self.exchange_schema.columns, "span", None)
        f = self.frames
        if span is None or not f.count:
            return
        first, end = span(self.symbol)  # the feed's own SourceError if the symbol or its file is bad
        last_frame = f.at(f.count - 1)
        reach = (self.cfg.CC_AVG_PRICE_CANDLES_COUNT - 1) * MINUTE_MS  # how far back a tick's window reads
        if last_frame < first or f.start - reach >= end:
            raise OutsideDataError(
                f"no candles for {self.symbol} on exchange {self.exchange_schema.exchange_name} in frame "
                f"{self.frame.frame_name} ({iso(f.start)} .. {iso(last_frame)}): its data covers "
                f"{iso(first)} .. {iso(end - MINUTE_MS)}"
            )

    # -- the loop ----------------------------------------------------------------------------------------
    async def prepare(self) -> None:
        self._check_frame_inside_data()
        f = self.frames
        cb = self.frame.callbacks.on_timeframe
        if cb is not None:
            cb(f.array(), self.frame.start_date, self.frame.end_date, self.frame.interval)
        self.client.refresh(get_clock().now())  # retry failures; re-read a candle that was forming
        if f.count:
            cfg = self.cfg
            w = cfg.CC_AVG_PRICE_CANDLES_COUNT
            # Fetch past the last frame too: a signal opened near the end settles on later candles.
            # Fetching them now (once) saves growing the store, and re-deriving it, at the very end.
            lifetime = cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES or 0
            lookahead = cfg.CC_SCHEDULE_AWAIT_MINUTES + min(lifetime, 3 * 1440) + w + 1
            st = self.client.store(self.symbol, "1m")
            self.client.use(self.symbol)
            first = -(-(f.start - (w - 1) * MINUTE_MS) // MINUTE_MS)
            last = f.at(f.count - 1) // MINUTE_MS + 1 + lookahead
            st.reserve(first - HISTORY_RESERVE, last)  # one allocation for the run (and a day of history)
            await st.ensure(first, last, cfg)

    async def results(self) -> AsyncIterator[BacktestResult]:
        """SPEC 6.3, one frame index ``i`` moving through named phases:

        1. ``_skip_idle``: frames where nothing can happen (the strategy holds nothing and nobody
           watches frames) are passed without a tick: arithmetically up to where the throttle lets
           get_signal run, or asked in one ``quiet_stretch`` while it answers None;
        2. the frame's tick (``StrategyInstance.backtest_frame``), its result published;
        3. a signal the tick opened or scheduled is settled to its end at once (``_settle_at_once``
           from the candle store, else ``_settle_later`` on a lane), yielded, and the frames it
           covered are skipped;
        4. ``_finish``: the last progress event, the total timing sample, the report stores packed.

        The strategy is seen only through its backtest-loop methods (strategy.py). Locals stand in
        for attributes on purpose: this loop runs once per trade.
        """
        total_t0 = time.perf_counter()
        await self.prepare()
        inst, task, f = self.instance, self.task, self.frames
        start, step, n = f.start, f.step, f.count
        self._bad = self._bad_frames() if start % MINUTE_MS == 0 else None
        skippable = self._bad is not None  # frames are minute-aligned: bad ones are known up front
        self._stretchable = skippable and inst.stretches_over(step)
        progress_stream, perf_stream = events.progress_backtest, events.performance
        perf, clock = self._perf, time.perf_counter
        last_yield = clock()
        carried: Any = _NO_RESULT  # what a stretch's last frame gave: that frame's outcome
        i = 0
        while i < n:
            if clock() - last_yield > YIELD_EVERY_S:
                if self._perf_log is not None:
                    self._perf_log.tidy()
                await asyncio.sleep(0)
                last_yield = clock()
            # ---- 1. frames where nothing can happen
            if skippable and inst.empty and not self._per_frame_listeners():
                k, carried, ev = self._skip_idle(i)
                if ev is not None:
                    await perf_stream.emit(ev)
                if type(carried) is ClosedResult or type(carried) is SettleFailure:
                    # 1b. positions the stretch opened and settled at once (``quiet_trades``), in order
                    while type(carried) is ClosedResult:
                        pending = publish_nowait(carried, True, self.bus, self.reports)
                        if pending is not None:
                            await pending
                        i = k  # the frame after its close (``frame_after_close``): past the frames it covered
                        if task is not None:
                            task.processed = i if i < n else n
                        yield carried
                        k, carried = self._next_trade(i, clock() - last_yield > YIELD_EVERY_S)
                    if type(carried) is SettleFailure:  # reported as phase 3 reports one
                        failed, carried = carried, _NO_RESULT
                        await self._settle_later(_Later(error=failed.error), failed.row, "opened", start + k * step)
                        i = k + 1
                        continue
                    if carried is _NO_RESULT:
                        i = k
                        continue
                if k > i and carried is _NO_RESULT:
                    i = k
                    if task is not None:
                        task.processed = i
                    continue
                i = k
            if task is not None:
                task.processed = i
            if progress_stream.observers:
                await self._emit_progress(i)
            if inst.stopped and carried is _NO_RESULT:
                break
            # ---- 2. the frame's tick
            t0 = clock()
            when = start + i * step
            try:
                if carried is _NO_RESULT:
                    out = inst.backtest_frame(when, self._idle_wanted(), self._opened_wanted())
                else:  # frame i was asked in a stretch: its outcome
                    out, carried = carried, _NO_RESULT
                if type(out) is CoroutineType:
                    out = inst.frame_outcome(await out, self._opened_wanted())
                action, row, result = out
                if action == "opened" and (opened_rows := self.bus.opened_rows) is not None:
                    opened_rows(row)
                if result is not None:
                    pending = publish_nowait(result, True, self.bus, self.reports)
                    if pending is not None:
                        await pending
            except SourceError:  # unreadable data (a bad CSV file): the run fails now, once
                raise
            except Exception as exc:
                self._annotate(exc, when, "tick", f"backtest {self.symbol} {inst.strategy_name}: tick at frame {i}")
                await events.report_error(exc)
                i += 1
                continue
            if action == "idle":
                if inst.stopped:
                    break
            elif action == "opened" or action == "scheduled":
                # ---- 3. the signal it opened or scheduled, to its end (SPEC 6.3 handle_opened / handle_scheduled)
                ff_t0 = clock()
                settled = self._settle_at_once(row, action, when)
                if type(settled) is _Later:
                    settled = await self._settle_later(settled, row, action, when)
                    if settled is None:  # failed and reported, or no candles to settle on
                        i += 1
                        continue
                ev = perf("backtest_signal", (clock() - ff_t0) * 1000)
                if ev is not None:
                    await perf_stream.emit(ev)
                if settled.action != "active":  # closed or cancelled: skip the frames it covered
                    j = -((start - settled.close_timestamp) // step)
                    if j > i:
                        i = j
                if task is not None:
                    task.processed = i if i < n else n
                yield settled  # to the consumer only: it does not hand the event loop to anyone
                if inst.stopped:
                    break
            ev = perf("backtest_timeframe", (clock() - t0) * 1000)
            if ev is not None:
                await perf_stream.emit(ev)
            i += 1
        await self._finish(i, total_t0)

    def _skip_idle(self, i: int) -> tuple[int, Any, PerformanceEvent | None]:
        """Phase 1, for an empty instance nobody watches frame by frame: the frames from ``i`` that
        need no tick. Up to the first frame the throttle lets get_signal run, nothing can happen at
        all (skipped arithmetically); from there a quiet strategy is asked in one ``quiet_stretch``
        (no result, context or datetime per frame) while it answers None. Neither passes a bad frame
        (a tick there reports an error). Returns the next frame to handle; what that frame gave if
        the stretch asked it (else ``_NO_RESULT``); and the passed frames' one bulk timing sample,
        if somebody listens to it."""
        inst, f, bad = self.instance, self.frames, self._bad
        j = inst.first_ask_frame(f.start, f.step, f.count)
        if j > i:
            if len(bad):  # ``_before_bad``, inlined: this runs once per trade
                k = bisect.bisect_left(bad, i)
                if k < len(bad) and bad[k] < j:
                    j = int(bad[k])
            if j > i:
                return j, _NO_RESULT, self._perf("backtest_timeframe", 0.0, j - i)
        if not self._stretchable:
            return i, _NO_RESULT, None
        stop = self._before_bad(i, i + STRETCH_FRAMES if i + STRETCH_FRAMES < f.count else f.count)
        if stop <= i:
            return i, _NO_RESULT, None
        if (
            self._perf_log is None
            and inst.settles_from_store
            and not self._opened_wanted()
            and self.bus.opened_rows is None
        ):
            # nobody takes a timing sample or an open: the stretch settles what it opens
            self._trades = inst.quiet_trades(f.start, f.step, i, stop)
            k, outcome = next(self._trades)
            return (k, *self._stretch_outcome(outcome, None))
        t0 = time.perf_counter()
        k, outcome = inst.quiet_stretch(f.start, f.step, i, stop)
        ev = None
        if k > i:  # the idle frames' timing: one bulk sample, their mean duration
            ev = self._perf("backtest_timeframe", (time.perf_counter() - t0) * 1000 / (k - i), k - i)
        return (k, *self._stretch_outcome(outcome, ev))

    def _stretch_outcome(self, outcome: Any, ev: PerformanceEvent | None) -> tuple[Any, PerformanceEvent | None]:
        """What the frame loop carries from a stretch's pair: nothing (its frames were idle), a
        position it settled or failed to (``quiet_trades``), or the outcome of its last frame."""
        if outcome is STRETCH_IDLE:
            return _NO_RESULT, ev
        if type(outcome) is ClosedResult or type(outcome) is SettleFailure or type(outcome) is CoroutineType:
            return outcome, ev
        return self.instance.frame_outcome(outcome, self._opened_wanted()), ev

    def _next_trade(self, i: int, yield_due: bool) -> tuple[int, Any]:
        """The stretch's next pair after a settled position, ``_stretch_outcome``'s way; or
        ``(i, _NO_RESULT)`` when the loop must look again before asking further: the run was
        stopped, the event loop is due its turn, or somebody (un)subscribed."""
        trades = self._trades
        if yield_due or self.instance.stopped or events.subscription_version() != self._listeners_version:
            trades.close()
            return i, _NO_RESULT
        k, outcome = next(trades)
        if type(outcome) is ClosedResult:  # the common case: one more trade
            return k, outcome
        return k, self._stretch_outcome(outcome, None)[0]

    def _before_bad(self, i: int, j: int) -> int:
        """``j``, or the first bad frame in ``[i, j)`` if there is one."""
        bad = self._bad
        if len(bad):
            k = bisect.bisect_left(bad, i)
            if k < len(bad) and bad[k] < j:
                return int(bad[k])
        return j

    def _settle_at_once(self, row: SignalRow, action: str, when: int) -> BacktestResult | _Later:
        """Phase 3's common case, without a coroutine: the strategy settles what the frame opened
        straight from the candle store and only hooks receive the result. Anything else (a lane to
        fetch, a listener to wait for, an error to report) is handed to ``_settle_later``."""
        settled = self.instance.settle_now(row, action, when)
        if settled is None:
            return _Later()
        if type(settled) is SettleFailure:
            return _Later(error=settled.error)
        try:
            pending = publish_nowait(settled, True, self.bus, self.reports)
        except Exception as exc:
            return _Later(error=exc)
        return settled if pending is None else _Later(settled, pending)

    async def _settle_later(self, later: _Later, row: SignalRow, action: str, when: int) -> BacktestResult | None:
        """Phase 3 when ``_settle_at_once`` could not finish: report its error, or wait for the
        listeners of its result, or fetch the signal's lane (the W-1 candles before ``when`` and
        the signal's whole possible life, SPEC 6.3) and settle and publish on it. None when it
        failed (reported here) or no lane could be had."""
        try:
            if later.error is not None:
                raise later.error
            if later.pending is not None:
                await later.pending
                return later.settled
        except Exception as exc:
            await self._fast_forward_failed(exc, when, row, "fast-forward")
            return None
        cfg = self.cfg
        buffer = cfg.CC_AVG_PRICE_CANDLES_COUNT - 1
        if action == "opened":
            limit = row.minute_estimated_time + buffer
        else:
            limit = buffer + cfg.CC_SCHEDULE_AWAIT_MINUTES + row.minute_estimated_time + 1
        since = when - buffer * MINUTE_MS
        try:
            lane = self.client.lane_ready(self.symbol, since, limit, buffer + 1)
            if lane is None:
                lane = await self.client.next_lane(self.symbol, since, limit, cfg)
        except SourceError:
            raise
        except Exception as exc:
            await self._fast_forward_failed(exc, when, row, "candles")
            return None
        if lane is None:
            return None
        try:
            settled = self.instance.settle_on(lane)
            if type(settled) is CoroutineType:
                settled = await settled
            pending = publish_nowait(settled, True, self.bus, self.reports)
            if pending is not None:
                await pending
        except Exception as exc:
            await self._fast_forward_failed(exc, when, row, "fast-forward")
            return None
        return settled

    async def _finish(self, i: int, total_t0: float) -> None:
        """Phase 4: how far the run got, SPEC 6.3's last progress event (always 100 %), the total
        timing sample, and the report stores packed (the run's trades fold into columns now)."""
        n = self.frames.count
        if self.task is not None:  # how far it really got (a stopped run ends early) ...
            self.task.processed = min(i, n)
        if events.progress_backtest.observers:  # ... while the last progress event always says 100 %
            await self._emit_progress(n)
        ev = self._perf("backtest_total", (time.perf_counter() - total_t0) * 1000)
        if ev is not None:
            await events.performance.emit(ev)
        if self.reports:
            stores.pack_run(self.symbol, self.strategy.strategy_name, True)

    def release(self) -> None:
        """The run ended (done, stopped, failed or closed early): its results stay in the report
        stores, the candles it read stay only in the candle cache (``clear_candle_cache()`` frees them)."""
        retire((self.symbol, self.strategy.strategy_name, True), self.instance)
        self.client = None


# --------------------------------------------------------------------------- the facade


class BacktestHandle:
    """What ``Backtest.run`` returns: iterate it for results; ask it how far it got. It is a
    ``RunHandle`` (runners/handle.py), like the walker's and live handles."""

    __slots__ = ("_gen", "_run")

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._gen = run.results()

    def __aiter__(self) -> BacktestHandle:
        return self

    async def __anext__(self) -> BacktestResult:
        task = self._run.task
        try:
            return await self._gen.__anext__()
        except StopAsyncIteration:
            task.status = "fulfilled"
            self._run.release()
            raise
        except BaseException as exc:
            task.status, task.error = "rejected", exc
            self._run.release()
            raise

    async def aclose(self) -> None:
        try:
            await self._gen.aclose()
        finally:
            self._run.release()

    def status(self) -> TaskStatus:
        """Progress of this run (``processed_frames`` of ``total_frames``), like a ``list()`` row."""
        return self._run.task.snapshot()

    async def restore(self) -> list[SignalRow]:
        """Nothing to put back: a backtest starts from an empty state (SPEC 6.2)."""
        return []


def _clear_for_run(symbol: str, strategy: registry.StrategySchema, backtest: bool, reports: bool = True) -> None:
    """SPEC 6.2: fresh report stores, strategy instance and risk instances for this pair;
    ``reports=False``: the stores keep nothing of the run (docs/behaviour.md 6.2)."""
    stores.clear_run(symbol, strategy.strategy_name, backtest)
    stores.keep_reports(symbol, strategy.strategy_name, backtest, reports)
    active().instances.pop((symbol, strategy.strategy_name, backtest), None)
    for risk_name in strategy.risk_names:
        clear_risk(risk_name, backtest)


def _check_reports(reports: Any, source: str) -> None:
    if type(reports) is not bool:
        raise TypeError(f"{source}: reports must be True or False, got {reports!r}")


class BacktestFacade(RunnerFacade):
    """``Backtest``: run, background, stop, list, get_data, get_report, dump."""

    kind, folder = "Backtest", "backtest"

    def __init__(self, bus: events.Bus) -> None:
        self.board = TaskBoard("backtest", bus.done_backtest)

    def _start(
        self, symbol: str, strategy_name: str, exchange_name: str, frame_name: str, source: str, reports: bool
    ) -> _Run:
        _check_reports(reports, source)
        strategy = registry.validate_run(strategy_name, exchange_name, frame_name, source)
        _clear_for_run(symbol, strategy, True, reports)
        active().partials.reset_for(symbol, strategy_name, True)
        run = _Run(symbol, strategy_name, exchange_name, frame_name, reports)
        active().instances[(symbol, strategy_name, True)] = run.instance
        return run

    def run(
        self, symbol: str, *, strategy_name: str, exchange_name: str, frame_name: str, reports: bool = True
    ) -> BacktestHandle:
        """Backtest ``strategy_name`` on ``symbol``: an async iterator of closed/cancelled results.

        Names are checked now (an unknown one raises at once); the work starts on iteration. The
        returned handle also answers ``status()`` (progress, frames) while you iterate it.

        ``reports=False`` runs it without feeding the report stores (no closed trades, milestones,
        schedule or risk rows, timing samples are kept: a sweep reads the results it iterates and
        nothing else, docs/behaviour.md 6.2). The results and every listener's events are the same;
        ``get_data``/``get_report`` for the pair then raise ``NoReportError`` until a run keeps one.
        """
        run = self._start(symbol, strategy_name, exchange_name, frame_name, "Backtest.run", reports)
        run.task = RunTask(symbol, strategy_name, status="pending", total=run.frames.count)
        return BacktestHandle(run)

    def background(
        self, symbol: str, *, strategy_name: str, exchange_name: str, frame_name: str, reports: bool = True
    ) -> Callable[[], None]:
        """Run in a task; returns a cancel function. Emits ``done_backtest`` once when it ends;
        a crash goes to the exit stream (``listen_exit``). ``reports``: as for ``run``."""
        _check_reports(reports, "Backtest.background")  # before the board is touched: a refusal changes nothing
        registry.validate_run(strategy_name, exchange_name, frame_name, "Backtest.background")
        t = self.board.guard(symbol, strategy_name)
        run = self._start(symbol, strategy_name, exchange_name, frame_name, "Backtest.background", reports)
        run.task = t
        t.total = run.frames.count
        t.processed = 0
        done = DoneEvent(exchange_name=exchange_name, strategy_name=strategy_name, backtest=True, symbol=symbol)
        return self._launch(t, run.instance, run.results(), done, on_end=run.release)

    def stop(self, symbol: str, strategy_name: str) -> None:
        """Graceful stop: no new signals; an open position is fast-forwarded to its close first."""
        self._stop(symbol, strategy_name, True)

    def _statistics(self, symbol: str, strategy_name: str) -> BacktestStatistics:
        stores.require_report("Backtest.get_data", symbol, strategy_name, True)
        return stores.backtest_statistics(symbol, strategy_name)

    def _report(self, symbol: str, strategy_name: str, columns: Any) -> str:
        stores.require_report("Backtest.get_report", symbol, strategy_name, True)
        return stores.backtest_report(symbol, strategy_name, columns)

    def get_data(self, symbol: str, strategy_name: str) -> BacktestStatistics:
        return super().get_data(symbol, strategy_name)


# ``Backtest`` is the active engine's backtest runner (docs/architecture.md 8)
Backtest: BacktestFacade = EnginePart("backtest")  # type: ignore[assignment]
