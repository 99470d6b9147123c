"""The signal state machine of one strategy on one symbol in one mode (SPEC 5 and 6.4).

An instance holds two slots (an open position, or a limit entry waiting for its price), the
throttle timestamp and the stop flag. ``tick`` is one evaluation at a moment (live every minute;
backtest when it cannot fast-forward). ``backtest`` fast-forwards an open or waiting signal over a
candle lane in one vectorised pass (``settlement``) and then applies the side effects in the same
order a step-by-step run would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from types import CoroutineType
from typing import Any

from . import events
from .candles import ExchangeClient, SourceError
from .clock import get_clock
from .config import Config
from .context import FrameContext, MethodContext, reset_execution, set_execution
from .errors import ErrorContext, annotate
from .log import get_logger
from .model import (
    MINUTE_MS,
    ActiveResult,
    BacktestResult,
    CancelledResult,
    ClosedResult,
    IdleResult,
    OpenedResult,
    Pnl,
    ScheduledResult,
    SignalRow,
    TickResult,
    opened_result,
)
from .partial import LazyMilestones
from .pnl import compute_pnl
from .registry import StrategySchema
from .risk import RiskCheckArgs, RiskGate
from .scope import active
from .settlement import (
    Decision,
    Lane,
    decide_pending_tick,
    decide_scheduled_tick,
    milestones,
    progress_percent,
    scan_after_fill,
    scan_position,
    scan_scheduled,
    scan_store_position,
)
from .signals import IdFactory, build_row

__all__ = ["FrameOutcome", "GetSignalTimeout", "NoPendingSignalError", "StrategyCancelledError", "StrategyInstance"]


class GetSignalTimeout(TimeoutError):
    pass


class StrategyCancelledError(RuntimeError):
    """The strategy's own code raised ``asyncio.CancelledError`` (it awaited a task or future that
    somebody else cancelled). That is a failure of the strategy like any other, so it becomes an
    ordinary exception here, at the edge of user code: left as it was, it would read as a
    cancellation of the run itself and stop it (the cause keeps the original)."""


def _own_cancel(exc: BaseException, what: str) -> StrategyCancelledError:
    err = StrategyCancelledError(
        f"{what} raised CancelledError (it awaited a task or future that was cancelled); "
        "reported as a failure of the strategy, the run goes on"
    )
    err.__cause__ = exc
    return err


class NoPendingSignalError(RuntimeError):
    pass


class _Resume:
    """Continue a coroutine that has already run its first step (see ``_start_get_signal``) in the
    task that awaits this, never in a task of its own: libraries built on anyio (httpx, and so the
    LLM clients) must finish a request in the task that started it. With ``ctx`` (a get_signal
    that suspended) each step runs with the call's execution context set, as the first one did,
    so ``get_candles`` sees the call's moment."""

    __slots__ = ("coro", "ctx", "first")

    def __init__(self, coro, first, ctx=None) -> None:
        self.coro = coro
        self.first = first
        self.ctx = ctx

    def __await__(self):
        coro, value, ctx = self.coro, self.first, self.ctx
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation (the run's or the timeout's) and errors go into it
                step, arg = coro.throw, exc
            else:
                step, arg = coro.send, sent
            token = set_execution(ctx) if ctx is not None else None
            try:
                value = step(arg)
            except StopIteration as stop:
                return stop.value
            finally:
                if token is not None:
                    reset_execution(token)


async def _resume(coro, first):
    return await _Resume(coro, first)


_detached: set[asyncio.Future] = set()  # strong references: a running task must not be collected


def _call(cb: Callable[..., Any], *args: Any) -> None:
    """Run a user callback synchronously; an async one is started, not awaited (SPEC 1.7)."""
    try:
        result = cb(*args)
    except asyncio.CancelledError as exc:  # the callback's own: nothing here awaits, so not ours
        raise _own_cancel(exc, f"callback {getattr(cb, '__name__', cb)!r}") from exc
    if inspect.isawaitable(result):
        task = asyncio.ensure_future(result)
        _detached.add(task)
        task.add_done_callback(partial(_callback_done, getattr(cb, "__name__", repr(cb))))


def _callback_done(name: str, task: asyncio.Future) -> None:
    """An async callback ended: what it raised (CancelledError included: nothing cancels these
    tasks but the callback itself) goes to the error stream rather than vanishing with the task."""
    _detached.discard(task)
    if task.cancelled():
        try:
            task.result()
        except asyncio.CancelledError as exc:
            error: BaseException = _own_cancel(exc, f"callback {name!r}")
    elif (error := task.exception()) is None:
        return
    report = asyncio.ensure_future(events.report_error(error))
    _detached.add(report)
    report.add_done_callback(_detached.discard)


# what a quiet tick gives: the opened row itself (wrapped only for somebody who listens), or a result
QuietTick = SignalRow | TickResult

# What one backtest frame did, as the frame loop needs it (``StrategyInstance.backtest_frame``):
# the action ("idle", "opened", "scheduled", "active", "closed", "cancelled"), the signal row it
# concerns (None when idle) and the result to publish (None when nobody would receive it). A plain
# tuple, not a dataclass: one is made per trade, and the loop unpacks it at once.
FrameOutcome = tuple[str, SignalRow | None, TickResult | None]
_IDLE_UNHEARD: FrameOutcome = ("idle", None, None)  # a quiet idle frame nobody listens to


def _utc(ms: int) -> datetime:
    if ms % 1000 == 0:  # whole seconds (every backtest frame): the integer path is a fifth faster
        return datetime.fromtimestamp(ms // 1000, UTC)
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


_EPOCH = datetime.fromtimestamp(0, UTC)
_STEP_DT: dict[int, timedelta] = {}  # timedelta of a step in ms, for datetimes made by addition

# ``quiet_stretch`` found nothing in its frames: every one was idle
STRETCH_IDLE: Any = object()


def frame_after_close(start: int, step: int, close_ts: int) -> int:
    """The frame a backtest goes on from after a signal closed at ``close_ts`` (frame ``k`` at
    ``start + k * step``): past the first frame at or after the close, which the close took
    (SPEC 6.3's skip, as the frame loop does it)."""
    return -((start - close_ts) // step) + 1


@dataclass(frozen=True, slots=True)
class SettleFailure:
    """``quiet_trades`` opened ``row`` and ``settle_from_store`` raised ``error``: the frame loop
    reports it as a failed fast-forward, as it does when it settles a position itself."""

    row: SignalRow
    error: Exception


class StrategyInstance:
    """Per (symbol, strategy, mode): slots, throttle, stop flag, and the rules that move them."""

    def __init__(
        self,
        *,
        schema: StrategySchema,
        symbol: str,
        exchange: ExchangeClient,
        backtest: bool,
        cfg: Config,
        ids: IdFactory,
        method: MethodContext | None = None,
    ) -> None:
        self.schema = schema
        self.method = method or MethodContext(schema.strategy_name, exchange.schema.exchange_name)
        self.symbol = symbol
        self.exchange = exchange
        self.backtest = backtest
        self.cfg = cfg
        self.ids = ids
        self.strategy_name = schema.strategy_name
        self.exchange_name = exchange.schema.exchange_name
        self.cb = schema.callbacks
        self.partials = active().partials  # the engine this run belongs to (docs/architecture.md 8)
        self.risk = RiskGate(schema.risk_names, backtest)
        self.has_risk = bool(schema.risk_names)
        self.interval_ms = schema.interval_minutes * MINUTE_MS
        self.window = cfg.CC_AVG_PRICE_CANDLES_COUNT
        # the identity fields every result carries, unpacked into each result constructor
        self._ids = {
            "strategy_name": self.strategy_name,
            "exchange_name": self.exchange_name,
            "symbol": self.symbol,
            "backtest": backtest,
        }
        self._id_values = tuple(self._ids.values())  # the same, in the results' field order
        # A quiet instance (backtest, no callbacks) may take the coroutine-free paths ``tick_quiet``
        # and ``settle_quiet``: nothing it does can need to wait on anyone until get_signal answers
        # with a signal, which a risk profile then checks on the general path (``_checked_enter``).
        no_callbacks = all(getattr(self.cb, f.name) is None for f in dataclasses.fields(self.cb))
        self.quiet = backtest and no_callbacks
        # ``settle_from_store`` (a position settled straight from the candle store) only needs no callbacks
        self.settles_from_store = backtest and no_callbacks
        # False for a run that keeps no report (``Backtest.run(..., reports=False)``): the lazy
        # milestone batch of a settled signal, which only the partial report takes, is not built
        self.report_milestones = True
        self.stopped = False
        self.pending: SignalRow | None = None
        self.scheduled: SignalRow | None = None
        self.last_signal_ts: int | None = None
        self.persist: Any = None  # live persistence hooks (issue: live/persistence)
        self.on_stop: Callable[[], None] | None = None  # live: wakes the loop so the stop is not a minute late
        # live with an order desk: on_open (and the opened tick's on_tick) wait for the broker's answer
        self.hold_opens = False
        self._held_open: tuple[SignalRow, TickResult] | None = None
        self._vwap_when: int | None = None
        self._vwap_value = 0.0
        self._now_seen = 0  # a "now" read from the clock: candles before it are history (settle_from_store)
        # one context object reused by every call that finishes at once (replaced when one suspends)
        self._ctx = self._new_context(0)
        self._stretch_plan: tuple = (0,)  # ``quiet_stretch``'s constants for one frame step (``_plan_stretch``)
        self._dt_ms = 0  # the last moment handed to get_signal, and its datetime (``_when_dt``)
        self._dt = _EPOCH

    # ------------------------------------------------------------------ small helpers
    def _new_context(self, when: int) -> FrameContext:
        """The context object of this instance's calls into the strategy: its moment, and the run's
        exchange client and configuration for the history helpers."""
        return FrameContext(self.symbol, when, self.backtest, self.method, self.exchange, self.cfg)

    async def vwap(self, when: int) -> float:
        """VWAP at ``when``; asked twice at one moment (pipeline, then idle) it is computed once."""
        if when == self._vwap_when:
            return self._vwap_value
        value = self.exchange.vwap_ready(self.symbol, when, self.window)
        if value is None:
            value = await self.exchange.vwap(self.symbol, when, self.cfg)
        self._vwap_when, self._vwap_value = when, value
        return value

    def stop(self) -> None:
        """SPEC 5.6: stop asking for signals; drop a waiting entry; leave an open position alone."""
        self.stopped = True
        if self.scheduled is not None:
            self.scheduled = None
            self._persist_schedule(None)
        if self.on_stop is not None:
            self.on_stop()

    def _set_pending(self, row: SignalRow | None) -> None:
        self.pending = row
        if (cb := self.cb.on_write) is not None:
            _call(cb, self.symbol, row, self.backtest)
        if self.persist is not None:
            self.persist.signal(row)

    def _persist_schedule(self, row: SignalRow | None) -> None:
        if self.persist is not None:
            self.persist.schedule(row)

    def _risk_args(self, signal: Any, price: float, when: int) -> RiskCheckArgs:
        return RiskCheckArgs(
            symbol=self.symbol,
            pending_signal=signal,
            strategy_name=self.strategy_name,
            exchange_name=self.exchange_name,
            current_price=price,
            timestamp=when,
        )

    def _idle(self, price: float) -> IdleResult:
        result = IdleResult(current_price=price, **self._ids)
        if (cb := self.cb.on_idle) is not None:
            _call(cb, self.symbol, price, self.backtest)
        if (cb := self.cb.on_tick) is not None:
            _call(cb, self.symbol, result, self.backtest)
        return result

    # ------------------------------------------------------------------ SPEC 5.1: the getSignal pipeline
    def throttled(self, when: int) -> bool:
        last = self.last_signal_ts
        return last is not None and when - last < self.interval_ms

    def _start_get_signal(self, when: int, price: float) -> tuple[bool, Any]:
        """Call the user's get_signal: ``(True, dto)`` if it finished at once, else ``(False, rest)``.

        The coroutine's first step runs inline: a strategy that computes its signal without waiting
        on anything (the common case) finishes there and costs no timer. Only one that really
        suspends leaves ``rest`` (a ``_Resume``), which ``_finish_get_signal`` drives in the same
        task against the clock.
        A CancelledError out of that first step is the strategy's own: it ran synchronously, so no
        cancellation of the run can have been delivered into it.
        """
        schema = self.schema
        ctx = self._ctx
        ctx.when = when
        token = set_execution(ctx)
        try:
            if schema.passes_price:
                result = schema.get_signal(self.symbol, self._when_dt(when), price)
            else:
                result = schema.get_signal(self.symbol, self._when_dt(when))
            return self._drive(result, when)
        except asyncio.CancelledError as exc:
            raise _own_cancel(exc, f"get_signal of {self.strategy_name}") from exc
        finally:
            reset_execution(token)

    def _drive(self, result: Any, when: int) -> tuple[bool, Any]:
        """Run the first step of what get_signal returned (see ``_start_get_signal``); called
        while the context is set."""
        if type(result) is not CoroutineType:  # an ``async def`` (the usual case) skips both checks
            if result is None or type(result) is dict:  # a plain function's answer: nothing to await
                return True, result
            if not inspect.isawaitable(result):
                return True, result
            if not inspect.iscoroutine(result):
                result = _resume(result.__await__(), None)  # any awaitable: drive it like a coroutine
        try:
            first = result.send(None)
        except StopIteration as stop:
            return True, stop.value
        rest = _Resume(result, first, self._ctx)
        self._ctx = self._new_context(when)  # the old one is the call's now
        return False, rest

    def _when_dt(self, when: int) -> datetime:
        """``_utc(when)``, by adding to the last datetime made: moments a step apart (every frame
        of a backtest) cost an addition instead of a conversion. UTC arithmetic is exact."""
        prev = self._dt_ms
        if when == prev:
            return self._dt
        d = when - prev
        delta = _STEP_DT.get(d)
        if delta is None:
            if d <= 0 or d > 86_400_000 or when % 1000 or prev % 1000 or len(_STEP_DT) > 64:
                dt = _utc(when)
                self._dt_ms, self._dt = when, dt
                return dt
            delta = _STEP_DT[d] = timedelta(milliseconds=d)
        dt = self._dt + delta
        self._dt_ms, self._dt = when, dt
        return dt

    async def _finish_get_signal(self, rest: _Resume) -> Any:
        """Finish a get_signal that suspended, in this task, within CC_MAX_SIGNAL_GENERATION_SECONDS.

        The time limit is a timer on the engine's clock that cancels this task when it runs out
        (as ``asyncio.timeout`` does, on simulated time too). A CancelledError out of the call is then
        the timeout's, the run's own cancellation (the task was cancelled by someone else), or
        else the strategy's own (``StrategyCancelledError``). A call that swallows the timeout's
        cancellation is not waited for beyond it: its answer is dropped and the timeout raised."""
        timeout_ms = self.cfg.CC_MAX_SIGNAL_GENERATION_SECONDS * 1000
        me = asyncio.current_task()
        assert me is not None
        cancelling = me.cancelling()
        expired = False
        waiting = True

        def expire(timer: asyncio.Future) -> None:
            nonlocal expired
            if waiting and not timer.cancelled():  # a callback already scheduled when we stopped waiting: ignored
                expired = True
                me.cancel()

        timer = asyncio.ensure_future(get_clock().sleep(timeout_ms))
        timer.add_done_callback(expire)
        try:
            dto = await rest
        except asyncio.CancelledError as exc:
            if expired:
                expired = False
                if me.uncancel() > cancelling:
                    raise  # the run was cancelled as well: that wins
                # else our timeout: raised below
            elif me.cancelling() > cancelling:
                raise  # the run was cancelled: not the strategy's doing
            else:
                raise _own_cancel(exc, f"get_signal of {self.strategy_name}") from exc
        except Exception:
            if not expired:
                raise
            expired = False  # the call answered the timeout's cancellation with an error: still the timeout
            if me.uncancel() > cancelling:
                raise asyncio.CancelledError from None
        else:
            if not expired:
                return dto
            expired = False
            if me.uncancel() > cancelling:  # the run was cancelled too while the call ignored it
                raise asyncio.CancelledError
        finally:
            waiting = False
            timer.remove_done_callback(expire)
            timer.cancel()
        raise GetSignalTimeout(
            f"Timeout for {self.strategy_name} symbol={self.symbol}: get_signal took longer than "
            f"CC_MAX_SIGNAL_GENERATION_SECONDS={self.cfg.CC_MAX_SIGNAL_GENERATION_SECONDS}"
        )

    async def get_signal_row(self, when: int) -> SignalRow | None:
        if self.stopped or self.throttled(when):
            return None
        self.last_signal_ts = when
        try:
            price = self.exchange.vwap_ready(self.symbol, when, self.window) if when != self._vwap_when else None
            if price is None:
                price = await self.vwap(when)
            else:
                self._vwap_when, self._vwap_value = when, price
            done, dto = self._start_get_signal(when, price)
            if not done:
                dto = await self._finish_get_signal(dto)
        except SourceError:  # unreadable data (a bad CSV file): a failure of the run, not of the strategy
            raise
        except Exception as exc:
            await self._signal_failed(exc, when)
            return None
        return await self._row_of(dto, price, when)

    async def _row_of(self, dto: Any, price: float, when: int) -> SignalRow | None:
        """SPEC 5.1's last steps for what get_signal answered at ``when``: nothing (None, or the
        instance was stopped meanwhile), the risk profile's first check, then the validated row.
        A failure is reported as the strategy's and gives None, like a failing get_signal."""
        try:
            if dto is None or self.stopped:
                return None
            if self.has_risk:
                allowed = self.risk.check_nowait(self._risk_args(dto, price, when))
                if allowed is not True and (allowed is False or not await allowed):
                    return None
            return self._build_row(dto, price, when)
        except SourceError:
            raise
        except Exception as exc:
            await self._signal_failed(exc, when)
            return None

    def _build_row(self, dto: Any, price: float, when: int) -> SignalRow:
        return build_row(
            dto,
            current_price=price,
            when=when,
            symbol=self.symbol,
            strategy_name=self.strategy_name,
            exchange_name=self.exchange_name,
            new_id=self.ids,
            cfg=self.cfg,
        )

    async def _signal_failed(self, exc: Exception, when: int) -> None:
        annotate(
            exc,
            ErrorContext(self.symbol, self.strategy_name, self.backtest, when, "get_signal"),
            f"while asking {self.strategy_name} for a signal on {self.symbol} at {_utc(when).isoformat()}",
        )
        await events.report_error(exc)

    # ------------------------------------------------------------------ what the backtest loop asks
    # The frame loop (runners/backtest.py) sees the instance only through these: whether a frame can
    # do anything but ask get_signal, where the throttle lets it ask next, a frame's outcome, and
    # the settlement of what a frame opened. Which path answers (quiet or general, from the store or
    # on a lane) is the instance's business.

    @property
    def empty(self) -> bool:
        """Holds no position and no waiting entry, and is not stopped: a frame can only ask get_signal."""
        return self.pending is None and self.scheduled is None and not self.stopped

    def first_ask_frame(self, start: int, step: int, n: int) -> int:
        """Index of the first frame (frame ``k`` at ``start + k * step``, at most ``n``) at which the
        throttle lets get_signal run (SPEC 5.1); 0 before the first call."""
        last = self.last_signal_ts
        if last is None:
            return 0
        j = -((start - last - self.interval_ms) // step)
        return j if j < n else n

    def stretches_over(self, step: int) -> bool:
        """May frames ``step`` ms apart be asked in one ``quiet_stretch``? A quiet instance whose
        throttle skips no such frame, or lets it ask at every ``interval / step``-th frame."""
        return self.quiet and (self.interval_ms <= step or self.interval_ms % step == 0)

    def backtest_frame(
        self, when: int, idle_wanted: bool, opened_wanted: bool
    ) -> FrameOutcome | Coroutine[Any, Any, Any]:
        """One backtest frame at ``when`` (the quiet path when the instance is quiet): its outcome,
        or, when something has to wait, a coroutine whose value ``frame_outcome`` turns into it (the
        loop awaits it directly: no wrapper coroutine per frame for a strategy with callbacks, which
        ticks every frame). ``idle_wanted``/``opened_wanted``: would an idle / opened result reach
        anybody (else none is built)."""
        result = self.tick_quiet(when, idle_wanted) if self.quiet else self.tick(when)
        if type(result) is CoroutineType:
            return result
        if result is None:  # ``frame_outcome``, inlined: this runs once per trade
            return _IDLE_UNHEARD
        if type(result) is SignalRow:
            if not opened_wanted:
                return "opened", result, None
            return "opened", result, opened_result(result, True)
        return result.action, result.signal, result

    def frame_outcome(self, result: QuietTick | None, opened_wanted: bool) -> FrameOutcome:
        """The outcome of what ``tick``, ``tick_quiet`` or ``quiet_stretch`` gave for a frame
        (awaited first if it was a coroutine)."""
        if result is None:  # a quiet idle frame nobody listens to: no result object
            return _IDLE_UNHEARD
        if type(result) is SignalRow:  # a quiet open: wrapped only for somebody who listens
            if not opened_wanted:
                return "opened", result, None
            return "opened", result, opened_result(result, True)
        return result.action, result.signal, result

    def settle_on(self, lane: Lane) -> BacktestResult | Coroutine[Any, Any, BacktestResult]:
        """The fast-forward of the held signal over ``lane`` (SPEC 6.4): a result, or a coroutine
        giving it when callbacks or listeners may have to be waited on."""
        return self.settle_quiet(lane) if self.quiet else self.backtest_lane(lane)

    # ------------------------------------------------------------------ quiet backtests
    def tick_quiet(self, when: int, idle_wanted: bool = True) -> QuietTick | Coroutine[Any, Any, QuietTick] | None:
        """``tick`` for a quiet instance, without a coroutine where nothing has to wait.

        Returns the opened row itself (the caller wraps it in an ``OpenedResult`` only if somebody
        listens for one), any other ``TickResult``, or a coroutine giving one of those; with
        ``idle_wanted`` false, None stands for an idle result nobody would receive (no object is
        built). The rules are ``_tick_empty``'s; a quiet instance has no callbacks to run, and a
        signal its risk profile must check goes on as ``_tick_empty`` does (``_checked_enter``).
        """
        last = self.last_signal_ts
        if (
            self.pending is not None
            or self.scheduled is not None
            or self.stopped
            or (last is not None and when - last < self.interval_ms)  # throttled
        ):
            return self.tick(when)
        price = self.exchange.vwap_ready(self.symbol, when, self.window)
        if price is None:
            return self.tick(when)
        self.last_signal_ts = when
        self._vwap_when, self._vwap_value = when, price
        try:
            done, dto = self._start_get_signal(when, price)
            if not done:
                return self._quiet_finish(dto, when, price)
            return self._quiet_enter(dto, when, price, idle_wanted)
        except SourceError:
            raise
        except Exception as exc:
            return self._quiet_failed(exc, when, price)

    def quiet_stretch(self, start: int, step: int, i: int, stop: int) -> tuple[int, Any]:
        """Ask ``get_signal`` at the frames from ``i`` up to ``stop`` the throttle lets it run at
        (frame ``k`` at ``start + k * step``; every frame, or every ``interval / step``-th) while it
        answers None, with no result object, no context object and no datetime conversion per
        call: the cheap path of a backtest frame where nothing happens (issue 13). The frames
        between two asks are throttled: nothing happens there either.

        Returns ``(k, STRETCH_IDLE)`` when frames ``i .. k-1`` were all idle and the stretch ended
        (``k == stop``, or the store moved under it: the caller goes on from ``k`` the usual way),
        or ``(k, outcome)`` when frame ``k`` gave something else: what ``tick_quiet`` would have
        returned for it (the opened row, a result, or a coroutine giving one).

        The caller guarantees what makes every frame here one ``tick_quiet`` would answer the same
        way (``stretches_over``): a quiet instance holding nothing, not stopped, asked at frame ``i``
        (not throttled there), a throttle interval no longer than the step or a whole number of
        steps, minute-aligned frames, and a sound VWAP window in the candle store at each (no bad
        frame in ``[i, stop)``). The context is set once for the stretch; a call that suspends
        hands its context object to the task that finishes it.
        """
        return next(self.quiet_trades(start, step, i, stop, settle=False))

    def quiet_trades(self, start: int, step: int, i: int, stop: int, settle: bool = True) -> Iterator[tuple[int, Any]]:
        """``quiet_stretch`` that goes on past the positions it opens: each one that
        ``settle_from_store`` settles at once is given as ``(k, closed)`` (``k``: the first frame
        after its close, ``frame_after_close``), and asking resumes there when the throttle lets
        it ask there and it lies before ``stop``. The last pair is what ``quiet_stretch`` returns,
        for the frame where the stretch ended. ``settle=False``: that pair alone (``quiet_stretch``).

        Why: a sweep's sets are thousands of trades a year, each asked, opened and settled the
        same way; here each costs the rules alone (``_quiet_enter``, ``settle_from_store``), not a
        pass through the frame loop and a new stretch. The execution context is not set while
        the caller holds a trade (it publishes it and hands it to the run's consumer), and the
        caller may stop between trades (``close``): each one given is complete, the instance
        holding nothing.
        """
        st = self.exchange.store(self.symbol, "1m")
        vw = st.derived(self.window)[0]
        base = st.base
        plan = self._stretch_plan
        if plan[0] != step:  # once per run (its frames are ``step`` apart): called once per trade
            plan = self._stretch_plan = self._plan_stretch(step)
        _, every, ask, stride, delta, fn, passes, idle = plan
        minutes = step // MINUTE_MS
        first_slot = start // MINUTE_MS - base
        slot = first_slot + i * minutes
        when = start + i * step
        symbol = self.symbol
        dt = self._when_dt(when)
        ctx = self._ctx
        ctx.when = when
        token = set_execution(ctx)
        k = i
        price = 0.0
        final: tuple[int, Any] | None = None  # the pair that ends the stretch, given once the context is reset
        try:
            while k < stop:
                if idle is not None:
                    n = idle(ctx, when, ask, -((k - stop) // every))
                    if n:
                        k += n * every
                        when += n * ask
                        dt += n * delta
                        ctx.when = when
                        slot += n * stride
                        if k >= stop:
                            break
                price = vw.item(slot)
                result = fn(symbol, dt, price) if passes else fn(symbol, dt)
                if type(result) is CoroutineType:
                    try:
                        first = result.send(None)
                    except StopIteration as stop_:
                        done, value = True, stop_.value
                    else:  # it suspends: the rest runs when awaited, with this context object for good
                        value = _Resume(result, first, ctx)
                        self._ctx = self._new_context(when)
                        done = False
                elif result is None or type(result) is dict:  # a plain function's answer (vectorised signals)
                    done, value = True, result
                else:
                    done, value = self._drive(result, when)
                if done and value is None and not self.stopped:
                    k += every
                    when += ask
                    dt += delta
                    ctx.when = when
                    if st.base != base:  # the strategy's history request moved the store: slots shifted
                        break
                    slot += stride
                    continue
                self.last_signal_ts = when
                self._vwap_when, self._vwap_value = when, price
                self._dt_ms, self._dt = when, dt
                if not done:
                    final = k, self._quiet_finish(value, when, price)
                    break
                out = self._quiet_enter(value, when, price)
                reset_execution(token)  # settled, handed over and published outside the strategy's context
                token = None
                closed = self.settle_now(out, "opened", when) if settle and type(out) is SignalRow else None
                if closed is None:
                    final = k, out
                    break
                if type(closed) is SettleFailure:
                    final = k, closed
                    break
                # asking goes on at the first frame after the close (SPEC 6.3) if the throttle lets it
                k = frame_after_close(start, step, closed.close_timestamp)
                yield k, closed
                if k >= stop or st.base != base or self.first_ask_frame(start, step, stop) > k:
                    final = k, STRETCH_IDLE  # the caller goes on from there
                    break
                when = start + k * step
                slot = first_slot + k * minutes
                dt = self._when_dt(when)
                ctx = self._ctx
                ctx.when = when
                token = set_execution(ctx)
        except asyncio.CancelledError as exc:
            self.last_signal_ts = when
            self._vwap_when, self._vwap_value = when, price
            final = k, self._quiet_failed(_own_cancel(exc, f"get_signal of {self.strategy_name}"), when, price)
        except SourceError:
            raise
        except Exception as exc:
            self.last_signal_ts = when
            self._vwap_when, self._vwap_value = when, price
            final = k, self._quiet_failed(exc, when, price)
        finally:
            if token is not None:
                reset_execution(token)
        if final is None:
            if k > i:
                last = when - ask
                self.last_signal_ts = last
                self._dt_ms, self._dt = last, dt - delta
            # the frames after the last ask up to ``stop`` are throttled; the caller passes any beyond
            # (a bad frame at ``stop`` is ticked there)
            final = min(k, stop), STRETCH_IDLE
        yield final

    def settle_now(self, row: SignalRow, action: str, when: int) -> ClosedResult | SettleFailure | None:
        """``settle_from_store`` of what frame ``when`` opened or scheduled, its failure as a value:
        None when it cannot (the frame loop fetches a lane), a ``SettleFailure`` when it raised
        (unreadable data, ``SourceError``, still fails the run). The frame loop and ``quiet_trades``
        both settle through here."""
        try:
            return self.settle_from_store(row, action, when)
        except SourceError:
            raise
        except Exception as exc:
            return SettleFailure(row, exc)

    def _plan_stretch(self, step: int) -> tuple:
        """What ``quiet_stretch`` needs for frames ``step`` ms apart: the step, frames from one ask to
        the next, the ask's ms, slots and timedelta, get_signal, whether it takes the price, and a
        vectorised strategy's ``idle_frames`` (it knows its next entry: the frames before it are
        passed without a call)."""
        every = self.interval_ms // step if self.interval_ms > step else 1
        ask = every * step
        fn = self.schema.get_signal
        return (
            step,
            every,
            ask,
            ask // MINUTE_MS,
            timedelta(milliseconds=ask),
            fn,
            self.schema.passes_price,
            getattr(fn, "idle_frames", None),
        )

    async def _quiet_finish(self, rest: _Resume, when: int, price: float) -> QuietTick:
        try:
            out = self._quiet_enter(await self._finish_get_signal(rest), when, price)
        except SourceError:
            raise
        except Exception as exc:
            return await self._quiet_failed(exc, when, price)
        # a risk profile's checks (``_checked_enter``) fail as the general path's would: out of the tick
        return await out if type(out) is CoroutineType else out

    async def _quiet_failed(self, exc: Exception, when: int, price: float) -> IdleResult:
        await self._signal_failed(exc, when)
        return self._idle(price)

    def _quiet_enter(
        self, dto: Any, when: int, price: float, idle_wanted: bool = True
    ) -> SignalRow | IdleResult | ScheduledResult | None:
        if dto is None or self.stopped:
            return self._idle(price) if idle_wanted else None
        if self.has_risk:  # the risk profile's checks may wait: the general path's, from the answer on
            return self._checked_enter(dto, when, price)
        row = self._build_row(dto, price, when)
        if row.is_scheduled:
            self.scheduled = row
            return ScheduledResult(signal=row, current_price=price, **self._ids)
        self.pending = row
        return row

    async def _checked_enter(self, dto: Any, when: int, price: float) -> TickResult:
        """``_quiet_enter`` for an instance with a risk profile: exactly what ``_tick_empty`` does
        with the same answer (``get_signal_row``'s last steps, then ``_enter_row``)."""
        return await self._enter_row(await self._row_of(dto, price, when), when)

    def settle_quiet(self, lane: Lane) -> ClosedResult | Coroutine[Any, Any, BacktestResult]:
        """``backtest_lane`` for a quiet instance holding an open position: the ``ClosedResult``
        without a coroutine when the milestones go to the lazy report sink (nobody listens to
        them), else the coroutine of the general path."""
        row = self.pending
        if row is None or lane.n < self.window or not self.partials.lazy(row, True):
            return self.backtest_lane(lane)
        b = self.window - 1
        d = self._scan(row, lane, b, 0)
        if d.evaluated_end > b and self.report_milestones:
            self.partials.lazy_sink(LazyMilestones.of_lane(row, lane, b, d.evaluated_end, True))
        return self.close_now(row, d.kind, d.price, d.timestamp)

    def settle_from_store(self, row: SignalRow, action: str, when: int) -> ClosedResult | None:
        """The fast-forward of what a backtest frame opened, read straight off the 1m candle store
        when it can be: a position (not a waiting entry) opened at ``when`` by a strategy without
        callbacks (risk profiles allowed), whose whole life is in the store without a gap. None
        sends the loop to fetch a lane for ``settle_on``.

        The fast-forward lane of a position opened at ``when`` holds the W-1 candles before it and
        its ``minute_estimated_time`` candles from it, so the lifetime ends exactly one candle past
        the lane: a position that touches neither TP nor SL closes ``time_expired`` on the lane's
        last candle at its VWAP (SPEC 6.4). The decision is ``settlement.scan_store_position``
        (``scan_pending`` for that one shape, reading the store's columns in place: no lane, no
        views; the lazy milestone batch keeps the store's VWAP column); this method only checks the
        shape holds and applies the outcome. The reference test checks both paths give the same.
        """
        if action != "opened" or not self.settles_from_store:
            return None
        met = row.minute_estimated_time
        if row is not self.pending or row.pending_at != when or when % MINUTE_MS or met < 1:
            return None
        end_ms = when + met * MINUTE_MS
        if end_ms > self._now_seen:  # the original returns no candles that reach past "now"
            self._now_seen = get_clock().now()
            if end_ms > self._now_seen:
                return None
        if not self.partials.lazy(row, True):
            return None
        st = self.exchange.store(self.symbol, "1m")
        w = self.window
        k0 = when // MINUTE_MS - st.base  # the slot of the opening candle
        lo, hi = k0 - (w - 1), k0 + met  # the lane's slots
        if lo < 0 or hi > st.size:
            return None
        vw, _, missing = st.derived(w)
        if missing is not None and missing.item(hi) != missing.item(lo):
            return None
        d = scan_store_position(st, vw, k0, hi, row, w)
        if d.evaluated_end > k0 and self.report_milestones:
            self.partials.lazy_sink(LazyMilestones(row, vw, st.base * MINUTE_MS, None, k0, d.evaluated_end, True))
        return self.close_now(row, d.kind, d.price, d.timestamp)

    # ------------------------------------------------------------------ SPEC 5.2: tick
    async def tick(self, when: int) -> TickResult:
        if self.stopped:
            return self._idle(await self.vwap(when))
        if self.scheduled is not None and self.pending is None:
            return await self._tick_scheduled(when)
        if self.pending is None:
            return await self._tick_empty(when)
        return await self._tick_pending(when)

    async def _tick_scheduled(self, when: int) -> TickResult:
        row = self.scheduled
        assert row is not None
        p = await self.vwap(when)
        d = decide_scheduled_tick(row, p, when, self.cfg.CC_SCHEDULE_AWAIT_MINUTES)
        kind = None if d is None else d.kind
        if kind == "cancel_timeout":
            self.scheduled = None
            self._persist_schedule(None)
            if (cb := self.cb.on_cancel) is not None:
                _call(cb, self.symbol, row, p, self.backtest)
            result = CancelledResult(
                signal=row, current_price=p, close_timestamp=when, cancel_reason="timeout", **self._ids
            )
            if (cb := self.cb.on_tick) is not None:
                _call(cb, self.symbol, result, self.backtest)
            return result
        if kind == "cancel_price":  # SPEC 5.2 rule 2.3: idle, not cancelled
            self.scheduled = None
            self._persist_schedule(None)
            result = IdleResult(current_price=p, **self._ids)
            if (cb := self.cb.on_tick) is not None:
                _call(cb, self.symbol, result, self.backtest)
            return result
        if kind == "activate":
            if self.stopped:
                self.scheduled = None
                self._persist_schedule(None)
                return self._idle(await self.vwap(when))
            if self.has_risk and not await self.risk.check(self._risk_args(row, row.price_open, when)):
                self.scheduled = None
                self._persist_schedule(None)
                return self._idle(await self.vwap(when))
            self.scheduled = None
            self._persist_schedule(None)
            opened = dataclasses.replace(row, pending_at=when, is_scheduled=False)
            self._set_pending(opened)
            if self.has_risk:
                self.risk.add_signal(self.symbol, self.strategy_name)
            result = OpenedResult(signal=opened, current_price=opened.price_open, **self._ids)
            self._opened_callbacks(opened, result)
            return result
        result = ActiveResult(signal=row, current_price=p, percent_tp=0.0, percent_sl=0.0, **self._ids)
        if (cb := self.cb.on_tick) is not None:
            _call(cb, self.symbol, result, self.backtest)
        return result

    async def _tick_empty(self, when: int) -> TickResult:
        return await self._enter_row(await self.get_signal_row(when), when)

    async def _enter_row(self, row: SignalRow | None, when: int) -> TickResult:
        """SPEC 5.2 for an empty instance once the pipeline answered: idle, a waiting entry, or a
        position, which the risk profile checks again at its entry price before it opens."""
        if row is None:
            return self._idle(await self.vwap(when))
        if row.is_scheduled:
            self.scheduled = row
            self._persist_schedule(row)
            p = await self.vwap(when)
            if (cb := self.cb.on_schedule) is not None:
                _call(cb, self.symbol, row, p, self.backtest)
            result = ScheduledResult(signal=row, current_price=p, **self._ids)
            if (cb := self.cb.on_tick) is not None:
                _call(cb, self.symbol, result, self.backtest)
            return result
        self._set_pending(row)
        if self.has_risk:
            allowed = self.risk.check_nowait(self._risk_args(row, row.price_open, when))
            if allowed is not True and (allowed is False or not await allowed):
                self._set_pending(None)
                return self._idle(await self.vwap(when))
        if self.has_risk:
            self.risk.add_signal(self.symbol, self.strategy_name)
        result = OpenedResult(signal=row, current_price=row.price_open, **self._ids)
        self._opened_callbacks(row, result)
        return result

    def _opened_callbacks(self, row: SignalRow, result: TickResult) -> None:
        """``on_open`` then ``on_tick`` of a position that just opened. A live run whose entries go
        through an order desk holds them (``hold_opens``) until the broker has answered: an entry
        the broker refuses is taken back, and a callback must not hear of a position that never
        existed (``release_open``)."""
        if self.hold_opens:
            self._held_open = (row, result)
            return
        if (cb := self.cb.on_open) is not None:
            _call(cb, self.symbol, row, row.price_open, self.backtest)
        if (cb := self.cb.on_tick) is not None:
            _call(cb, self.symbol, result, self.backtest)

    def release_open(self, announced: TickResult) -> None:
        """After the order desk's answer: the held ``on_open`` fires when the position is still
        btk's (the entry was placed); when it was taken back, only ``on_tick`` hears the tick's
        result as it is announced (idle)."""
        held, self._held_open = self._held_open, None
        if held is None:
            return
        row, opened = held
        if self.pending is not None and self.pending.id == row.id:
            if (cb := self.cb.on_open) is not None:
                _call(cb, self.symbol, row, row.price_open, self.backtest)
            if (cb := self.cb.on_tick) is not None:
                _call(cb, self.symbol, opened, self.backtest)
        elif (cb := self.cb.on_tick) is not None:
            _call(cb, self.symbol, announced, self.backtest)

    async def _tick_pending(self, when: int) -> TickResult:
        row = self.pending
        assert row is not None
        p = await self.vwap(when)
        d = decide_pending_tick(row, p, when)
        if d is not None:
            return await self.close(row, d.kind, d.price, when)
        pct_tp, pct_sl = await self._progress(row, p, when)
        result = ActiveResult(signal=row, current_price=p, percent_tp=pct_tp, percent_sl=pct_sl, **self._ids)
        if (cb := self.cb.on_tick) is not None:
            _call(cb, self.symbol, result, self.backtest)
        return result

    async def _progress(self, row: SignalRow, p: float, when: int) -> tuple[float, float]:
        """SPEC 5.3 for one evaluation: percentages, milestones, then the callback."""
        d = p - row.price_open if row.position == "long" else row.price_open - p
        if d > 0:
            pct = progress_percent(d, abs(row.price_take_profit - row.price_open))
            await self.partials.progress(row, "profit", pct, p, when, self.backtest)
            if (cb := self.cb.on_partial_profit) is not None:
                _call(cb, self.symbol, row, p, pct, self.backtest)
            return pct, 0.0
        if d < 0:
            pct = progress_percent(abs(d), abs(row.price_open - row.price_stop_loss))
            await self.partials.progress(row, "loss", pct, p, when, self.backtest)
            if (cb := self.cb.on_partial_loss) is not None:
                _call(cb, self.symbol, row, p, pct, self.backtest)
            return 0.0, pct
        return 0.0, 0.0

    # ------------------------------------------------------------------ SPEC 5.4: closing
    async def close(self, row: SignalRow, reason: str, price: float, ts: int) -> ClosedResult:
        return self.close_now(row, reason, price, ts)

    def close_now(self, row: SignalRow, reason: str, price: float, ts: int) -> ClosedResult:
        """``close`` without a coroutine: nothing in it waits (SPEC 5.4 order)."""
        pnl = compute_pnl(row.position, row.price_open, price, self.cfg.CC_PERCENT_SLIPPAGE, self.cfg.CC_PERCENT_FEE)
        if (cb := self.cb.on_close) is not None:
            _call(cb, self.symbol, row, price, self.backtest)
        self.partials.clear(row, self.backtest)
        if self.has_risk:
            self.risk.remove_signal(self.symbol, self.strategy_name)
        return self._closed(row, reason, price, ts, pnl)

    def _closed(self, row: SignalRow, reason: str, price: float, ts: int, pnl: Pnl) -> ClosedResult:
        self._set_pending(None)
        # one per trade: ClosedResult's fields in order, the identity ones from ``_id_values``
        result = ClosedResult._positional(row, price, *self._id_values, reason, ts, pnl)
        if (cb := self.cb.on_tick) is not None:
            _call(cb, self.symbol, result, self.backtest)
        return result

    # ------------------------------------------------------------------ SPEC 6.4: fast-forward
    async def backtest_lane(self, lane: Lane) -> BacktestResult:
        """Settle the open or waiting signal over ``lane`` (fetched from ``when - (W-1)`` minutes)."""
        if not self.backtest:
            raise RuntimeError("backtest() is only available in backtest mode")
        b = self.window - 1
        if lane.n < self.window:
            get_logger().warning(
                f"{self.strategy_name} {self.symbol}: fast-forward got {lane.n} candles, fewer than {self.window}"
            )
        if self.pending is None and self.scheduled is not None:
            row = self.scheduled
            d = scan_scheduled(
                lane,
                b,
                position=row.position,
                price_open=row.price_open,
                stop_loss=row.price_stop_loss,
                scheduled_at=row.scheduled_at,
                await_minutes=self.cfg.CC_SCHEDULE_AWAIT_MINUTES,
                window=self.window,
            )
            if d.kind in ("cancel_timeout", "cancel_price"):
                return self._cancel(row, d)
            if d.kind == "undecided":
                return ActiveResult(signal=row, current_price=d.price, percent_tp=0.0, percent_sl=0.0, **self._ids)
            opened = await self._activate(row, d.timestamp)
            after = scan_after_fill(lane, d, opened, self.window)
            if after.on_fill_candle:  # closed on the filling candle, as the row that waited (SPEC 6.4 step 4)
                return await self.close(row, after.decision.kind, after.decision.price, after.decision.timestamp)
            return await self._settle_pending(opened, lane, after.k0, after.decision)
        if self.pending is not None:
            row = self.pending
            return await self._settle_pending(row, lane, b, self._scan(row, lane, b, 0))
        raise NoPendingSignalError(
            f"{self.strategy_name} {self.symbol}: nothing to fast-forward (no pending or scheduled signal)"
        )

    def _cancel(self, row: SignalRow, d: Decision) -> CancelledResult:
        self.scheduled = None
        if (cb := self.cb.on_cancel) is not None:
            _call(cb, self.symbol, row, d.price, self.backtest)
        result = CancelledResult(
            signal=row,
            current_price=d.price,
            close_timestamp=d.timestamp,
            cancel_reason="timeout" if d.kind == "cancel_timeout" else "price_reject",
            **self._ids,
        )
        if (cb := self.cb.on_tick) is not None:
            _call(cb, self.symbol, result, self.backtest)
        return result

    async def _activate(self, row: SignalRow, at: int) -> SignalRow:
        if self.stopped:
            self.scheduled = None
            raise NoPendingSignalError(
                f"no pending signal after scheduled activation ({self.strategy_name} {self.symbol} was stopped)"
            )
        if self.has_risk and not await self.risk.check(self._risk_args(row, row.price_open, at)):
            self.scheduled = None
            raise NoPendingSignalError(
                f"no pending signal after scheduled activation ({self.strategy_name} {self.symbol}: "
                f"the risk check rejected signal {row.id} at {_utc(at).isoformat()})"
            )
        self.scheduled = None
        opened = dataclasses.replace(row, pending_at=at, is_scheduled=False)
        self._set_pending(opened)
        if self.has_risk:
            self.risk.add_signal(self.symbol, self.strategy_name)
        if (cb := self.cb.on_open) is not None:
            _call(cb, self.symbol, opened, opened.price_open, self.backtest)
        return opened

    def _scan(self, row: SignalRow, lane: Lane, k0: int, start: int) -> Decision:
        return scan_position(lane, k0, row, self.window, start)

    async def _settle_pending(self, row: SignalRow, lane: Lane, k0: int, d: Decision) -> ClosedResult:
        """Apply the pending phase's decision ``d`` (candles examined from ``k0``): its progress
        milestones, then the close (SPEC 6.4, 5.3, 5.4)."""
        if d.evaluated_end > k0:
            if self.cb.on_partial_profit is not None or self.cb.on_partial_loss is not None:
                for k in range(k0, d.evaluated_end):
                    await self._progress(row, float(lane.vw[k]), lane.time(k))
            elif self.partials.lazy(row, self.backtest):
                # nobody but the report listens: hand it the stretch, milestones are computed on read
                if self.report_milestones:
                    self.partials.lazy_sink(LazyMilestones.of_lane(row, lane, k0, d.evaluated_end, self.backtest))
            else:
                done_p, done_l = self.partials.levels(row, self.backtest)
                found = milestones(
                    lane.vw,
                    k0,
                    d.evaluated_end,
                    position=row.position,
                    price_open=row.price_open,
                    take_profit=row.price_take_profit,
                    stop_loss=row.price_stop_loss,
                    done_profit=done_p,
                    done_loss=done_l,
                )
                if found:
                    pending = self.partials.record_found(row, found, lane, self.backtest)
                    if pending is not None:
                        await pending
        return self.close_now(row, d.kind, d.price, d.timestamp)
