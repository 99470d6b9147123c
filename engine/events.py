"""The event bus: one reactivex ``Observable`` per stream of SPEC 1.8, and the ``listen_*`` helpers.

Each stream is a ``Stream``: a reactivex ``Observable`` built through reactivex's public
constructor (``Observable(subscribe)``), so reactivex users ``pipe`` operators onto it and
``subscribe`` to it as to any Observable. Delivery is btk's own, not reactivex's: a Subject pushes
synchronously and cannot await a listener, and the engine must know which subscribers declared
interest in which actions. So the stream keeps its own subscriber list (reactivex observers and
``listen_*`` listeners, in subscription order) and touches no private reactivex API. The engine
publishes with ``await stream.emit(value)``, which delivers to every subscriber in
subscription order and awaits async listeners one after another, as the original does. A listener
that raises does not keep the others from the event; the first exception is re-raised to the
emitter afterwards, which is how a crashing listener surfaces on the error stream (SPEC case 41).

Two things make this cheap enough for a backtest that settles thousands of trades a second:
- the report stores are *internal hooks*: plain synchronous functions that run before any
  subscriber (the original subscribes them at library start), with a declared interest;
- ``stream.wants(action)`` says whether anybody at all would receive a value, so the engine builds
  an event (or walks a frame at all) only when someone listens.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import Disposable

from .log import get_logger
from .scope import active, forward

T = TypeVar("T")

__all__ = [
    "STREAM_NAMES",
    "Bus",
    "Stream",
    "listen_account",
    "listen_backtest_progress",
    "listen_breaker",
    "listen_done_backtest",
    "listen_done_backtest_once",
    "listen_done_live",
    "listen_done_live_once",
    "listen_done_walker",
    "listen_done_walker_once",
    "listen_error",
    "listen_exit",
    "listen_fill",
    "listen_order",
    "listen_partial_loss",
    "listen_partial_loss_once",
    "listen_partial_profit",
    "listen_partial_profit_once",
    "listen_performance",
    "listen_risk",
    "listen_risk_once",
    "listen_signal",
    "listen_signal_backtest",
    "listen_signal_backtest_once",
    "listen_signal_live",
    "listen_signal_live_once",
    "listen_signal_once",
    "listen_state_write",
    "listen_validation",
    "listen_walker",
    "listen_walker_complete",
    "listen_walker_once",
    "listen_walker_progress",
]

Unsubscribe = Callable[[], None]


def _action_of(value: Any) -> Any:
    return getattr(value, "action", None)


_version = [0]  # bumped by every subscribe/unsubscribe on any stream


def subscription_version() -> int:
    """Changes whenever anybody subscribes or unsubscribes anywhere: cache interest by it."""
    return _version[0]


class _Observers(list):
    """A stream's subscriber list, counting changes so that cached interest knows when to look again."""

    __slots__ = ()

    def append(self, item: Any) -> None:
        _version[0] += 1
        super().append(item)

    def remove(self, item: Any) -> None:
        _version[0] += 1
        super().remove(item)

    def clear(self) -> None:
        _version[0] += 1
        super().clear()


class _Listener:
    """A ``listen_*`` subscription: optional action filter, optional one-shot predicate, and a
    per-listener lock so an async listener never runs two calls at once (FIFO). Not a reactivex
    observer: the stream calls ``deliver`` and awaits what it returns."""

    __slots__ = ("_lock", "actions", "fn", "once", "plain", "stream", "subscription")

    def __init__(
        self,
        stream: Stream[T],
        fn: Callable[[T], Any],
        actions: frozenset[str] | None = None,
        once: Callable[[T], bool] | None = None,
    ) -> None:
        self.stream = stream
        self.fn = fn
        self.actions = actions
        self.once = once
        self.plain = actions is None and once is None  # every value goes straight to ``fn``
        self.subscription: abc.DisposableBase | None = None
        self._lock = asyncio.Lock()

    def dispose_subscription(self) -> None:
        if self.subscription is not None:
            self.subscription.dispose()
            self.subscription = None

    def deliver(self, value: T) -> Awaitable[Any] | None:
        if self.actions is not None and _action_of(value) not in self.actions:
            return None
        if self.once is not None:
            if self.subscription is None or not self.once(value):
                return None
            self.dispose_subscription()
        result = self.fn(value)
        if result is not None and inspect.isawaitable(result):
            return self._serialised(result)
        return None

    async def _serialised(self, awaitable: Awaitable[Any]) -> Any:
        async with self._lock:
            return await awaitable

    def on_next(self, value: T) -> None:
        """Delivery with nobody to await it (``emit_soon`` without an event loop running): run a
        sync listener now and an async one as a task."""
        pending = self.deliver(value)
        if pending is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                get_logger().warning(f"{self.stream.name}: async listener dropped (no running event loop)")
                pending.close() if hasattr(pending, "close") else None
                return
            task = loop.create_task(pending)
            task.add_done_callback(_log_task_failure)


def _log_task_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        get_logger().warning(f"listener failed: {task.exception()!r}")


class Stream(Observable[T]):
    """A named Observable with ordered, awaited emission and declared interest.

    ``observers`` is the stream's own list (not reactivex's): ``listen_*`` listeners and the
    observers that reactivex's ``subscribe`` hands to ``_attach``, in subscription order."""

    def __init__(self, name: str) -> None:
        super().__init__(self._attach)
        self.observers: _Observers = _Observers()
        self.name = name
        self._hooks: list[tuple[frozenset[str] | None, Callable[[T], None]]] = []
        self._hooks_filtered = False  # does any hook filter by action (so the action must be read)?
        self._hooks_by_action: dict[Any, tuple[Callable[[T], None], ...]] = {}  # action -> its hooks
        self._wants: dict[str | None, bool] = {}
        self._wants_version = -1

    def __repr__(self) -> str:
        return f"Stream({self.name!r}, subscribers={len(self.observers)})"

    def _attach(self, observer: Any, scheduler: abc.SchedulerBase | None = None) -> Disposable:
        """The subscribe function given to ``Observable``: a reactivex subscriber joins the list."""
        self.observers.append(observer)
        return Disposable(lambda: self._detach(observer))

    def _detach(self, observer: Any) -> None:
        if observer in self.observers:  # idempotent: a dispose after a reset, or twice
            self.observers.remove(observer)

    def clear_subscribers(self) -> None:
        """Drop every subscriber (a reset between tests); the internal hooks stay."""
        self.observers.clear()

    # -- internal hooks (report stores) --------------------------------------------------------
    def add_hook(self, fn: Callable[[T], None], actions: Iterable[str] | None = None) -> None:
        """Register a synchronous internal consumer that sees values before any subscriber."""
        self._hooks.append((frozenset(actions) if actions is not None else None, fn))
        self._hooks_filtered = any(a is not None for a, _ in self._hooks)
        self._hooks_by_action.clear()
        _version[0] += 1

    # -- interest ------------------------------------------------------------------------------
    def has_subscribers(self) -> bool:
        return bool(self.observers)

    def listeners(self) -> list[Any]:
        """Who would hear a value, in order: each ``listen_*`` listener's function, or the
        subscriber itself. A process that republishes another's events (the console, a worker's)
        can tell whether anyone but itself hears them."""
        return [obs.fn if isinstance(obs, _Listener) else obs for obs in self.observers]

    def wants(self, action: str | None = None) -> bool:
        """Would anybody receive a value (with this ``action``) if it were emitted now?"""
        if self._wants_version != _version[0]:
            self._wants.clear()
            self._wants_version = _version[0]
        got = self._wants.get(action)
        if got is None:
            got = any(a is None or action in a for a, _ in self._hooks) or self.subscribers_want(action)
            self._wants[action] = got
        return got

    def subscribers_want(self, action: str | None = None) -> bool:
        for obs in self.observers:
            if not isinstance(obs, _Listener) or obs.actions is None or action in obs.actions:
                return True
        return False

    # -- emission --------------------------------------------------------------------------------
    async def emit(self, value: T) -> None:
        """Deliver ``value`` to hooks, then to subscribers in order, awaiting async listeners."""
        pending = self.emit_nowait(value)
        if pending is not None:
            await pending

    def hooks_for(self, action: str | None) -> tuple[Callable[[T], None], ...]:
        """The internal hooks a value with this ``action`` goes to, in order (cached)."""
        hooks = self._hooks_by_action.get(action)
        if hooks is None:
            hooks = self._hooks_by_action[action] = tuple(
                hook for actions, hook in self._hooks if actions is None or action in actions
            )
        return hooks

    def emit_nowait(self, value: T) -> Awaitable[None] | None:
        """Run the hooks and the synchronous listeners now; return what is left to await (an async
        listener and those after it) or None, so the hot path pays for no coroutine unless a
        listener is async. A listener's failure is raised after every listener had the value."""
        if self._hooks:
            for hook in self.hooks_for(getattr(value, "action", None) if self._hooks_filtered else None):
                hook(value)
        if not self.observers:
            return None
        # Synchronous listeners are called right here; only when one returns an awaitable does the
        # rest of the delivery become a coroutine (milestone and signal listeners are mostly sync,
        # and a coroutine per event was a third of the cost of listening to partial milestones).
        observers = self.observers
        if len(observers) == 1 and type(observers[0]) is _Listener:  # the usual case: one listener
            only = observers[0]
            if not only.plain:
                return only.deliver(value)
            result = only.fn(value)
            if result is not None and inspect.isawaitable(result):
                return only._serialised(result)
            return None
        observers = observers.copy()
        failure: Exception | None = None
        for i, obs in enumerate(observers):
            try:
                if isinstance(obs, _Listener):
                    pending = obs.deliver(value)
                    if pending is not None:
                        return self._deliver_rest(value, pending, observers, i + 1, failure)
                else:
                    obs.on_next(value)
            except Exception as exc:
                if failure is None:
                    failure = exc
        if failure is not None:
            raise failure
        return None

    async def _deliver_rest(
        self,
        value: T,
        pending: Awaitable[Any],
        observers: list[Any],
        start: int,
        failure: Exception | None,
    ) -> None:
        """Await an async listener, then deliver to the ones after it, in order."""
        try:
            await pending
        except Exception as exc:
            if failure is None:
                failure = exc
        for obs in observers[start:]:
            try:
                if isinstance(obs, _Listener):
                    nxt = obs.deliver(value)
                    if nxt is not None:
                        await nxt
                else:
                    obs.on_next(value)
            except Exception as exc:
                if failure is None:
                    failure = exc
        if failure is not None:
            raise failure

    def emit_soon(self, value: T) -> None:
        """Fire-and-forget emission for synchronous callers (e.g. a cancel function)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            for actions, hook in self._hooks:
                if actions is None or _action_of(value) in actions:
                    hook(value)
            for obs in self.observers.copy():
                obs.on_next(value)
            return
        task = loop.create_task(self.emit(value))
        task.add_done_callback(_log_task_failure)

    # -- subscription --------------------------------------------------------------------------------
    def listen(
        self,
        fn: Callable[[T], Any],
        *,
        actions: Iterable[str] | None = None,
        once: Callable[[T], bool] | None = None,
    ) -> Unsubscribe:
        if not callable(fn):
            raise TypeError(f"listen on {self.name}: expected a callable, got {fn!r}")
        listener = _Listener(self, fn, frozenset(actions) if actions is not None else None, once)
        listener.subscription = self._attach(listener)
        return listener.dispose_subscription

    async def next(self, predicate: Callable[[T], bool] | None = None) -> T:
        """Wait for the next value (that passes ``predicate``): the original's ``toPromise``."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def take(value: T) -> None:
            if not future.done():
                future.set_result(value)

        unsubscribe = self.listen(take, once=predicate or (lambda _v: True))
        try:
            return await future
        finally:
            unsubscribe()


# --------------------------------------------------------------------------- the streams

STREAM_NAMES: tuple[str, ...] = (
    "signal",
    "signal_backtest",
    "signal_live",
    "progress_backtest",
    "progress_walker",
    "progress_optimizer",
    "done_backtest",
    "done_live",
    "done_walker",
    "walker",
    "walker_complete",
    "walker_stop",
    "risk",
    "partial_profit",
    "partial_loss",
    "performance",
    "error",
    "exit",
    "validation",
    "state_write",
    "order",
    "fill",
    "account",
    "breaker",
)


class Bus:
    """One engine's streams, one attribute per stream (``bus.signal``, ``bus.done_live``...), and
    ``opened_rows``.

    ``opened_rows``, when set, is called with the row of each signal a backtest opens, where its
    ``opened`` result is published (SPEC 5.2; none for a limit that activates later, SPEC 6.4),
    whether or not anybody listens for the result. It is for a listener that passes the opens on
    elsewhere and can rebuild the result from its row (``model.opened_result``): the console's
    worker process (console/host/child.py). Listening for ``opened`` results makes the run build
    one per trade and publish it; a row costs one call (on the engine benchmark, listening cost
    the worker 70M instructions over the 1,455M of the headless run)."""

    __slots__ = (*STREAM_NAMES, "opened_rows")
    signal: Stream
    signal_backtest: Stream
    signal_live: Stream
    progress_backtest: Stream
    progress_walker: Stream
    progress_optimizer: Stream
    done_backtest: Stream
    done_live: Stream
    done_walker: Stream
    walker: Stream
    walker_complete: Stream
    walker_stop: Stream
    risk: Stream
    partial_profit: Stream
    partial_loss: Stream
    performance: Stream
    error: Stream
    exit: Stream
    validation: Stream
    state_write: Stream
    order: Stream
    fill: Stream
    account: Stream
    breaker: Stream

    def __init__(self) -> None:
        for name in STREAM_NAMES:
            setattr(self, name, Stream(name))
        self.opened_rows: Callable[[Any], None] | None = None

    def streams(self) -> list[Stream]:
        return [getattr(self, name) for name in STREAM_NAMES]

    def dispose(self) -> None:
        """Drop every subscriber and hook: nothing is delivered from this bus any more."""
        for stream in self.streams():
            stream.observers.clear()
            stream._hooks.clear()
        self.opened_rows = None


# ``events.signal`` and the other stream names mean the active engine's stream (docs/architecture.md 8)
__getattr__ = forward(__name__, "bus", STREAM_NAMES)


async def report_error(exc: BaseException, stream: Stream | None = None) -> None:
    """Publish a recoverable (``error``, the default) or fatal (``exit``) exception without ever
    raising: a listener that fails while handling an error is logged, not propagated into the run."""
    if stream is None:
        stream = active().bus.error
    get_logger().warning(f"{stream.name}: {exc!r}")
    try:
        await stream.emit(exc)
    except Exception as listener_exc:  # a broken error listener must not break the run
        get_logger().warning(f"{stream.name} listener failed: {listener_exc!r}")


async def report_state_write(status: Any) -> None:
    """Publish a change of the live state folder's writability without ever raising."""
    try:
        await active().bus.state_write.emit(status)
    except Exception as listener_exc:
        get_logger().warning(f"state_write listener failed: {listener_exc!r}")


# --------------------------------------------------------------------------- listen_* helpers


def _pair(name: str, doc: str):
    def listen(fn: Callable[[Any], Any], *, actions: Iterable[str] | None = None) -> Unsubscribe:
        return getattr(active().bus, name).listen(fn, actions=actions)

    def listen_once(predicate: Callable[[Any], bool], fn: Callable[[Any], Any]) -> Unsubscribe:
        return getattr(active().bus, name).listen(fn, once=predicate)

    listen.__doc__ = f"Call ``fn`` for every {doc}. Returns an unsubscribe function."
    listen_once.__doc__ = f"Call ``fn`` for the first {doc} that passes ``predicate``, then stop."
    return listen, listen_once


listen_signal, listen_signal_once = _pair("signal", "tick result of any mode")
listen_signal_backtest, listen_signal_backtest_once = _pair("signal_backtest", "backtest tick result")
listen_signal_live, listen_signal_live_once = _pair("signal_live", "live tick result")
listen_done_backtest, listen_done_backtest_once = _pair("done_backtest", "finished background backtest")
listen_done_live, listen_done_live_once = _pair("done_live", "finished background live run")
listen_done_walker, listen_done_walker_once = _pair("done_walker", "finished background walker")
listen_walker, listen_walker_once = _pair("walker", "walker step (one strategy tested)")
listen_risk, listen_risk_once = _pair("risk", "risk rejection")
listen_partial_profit, listen_partial_profit_once = _pair("partial_profit", "partial-profit milestone")
listen_partial_loss, listen_partial_loss_once = _pair("partial_loss", "partial-loss milestone")


def listen_backtest_progress(fn: Callable[[Any], Any]) -> Unsubscribe:
    """Progress of every backtest frame. Note: listening makes the engine visit every frame;
    for a cheap progress display poll ``Backtest.list()`` instead."""
    return active().bus.progress_backtest.listen(fn)


def listen_walker_progress(fn: Callable[[Any], Any]) -> Unsubscribe:
    return active().bus.progress_walker.listen(fn)


def listen_optimizer_progress(fn: Callable[[Any], Any]) -> Unsubscribe:
    """Optimizer progress (``OptimizerProgressEvent``): before each source and once at 1.0 (SPEC 13.2)."""
    return active().bus.progress_optimizer.listen(fn)


def listen_walker_complete(fn: Callable[[Any], Any]) -> Unsubscribe:
    return active().bus.walker_complete.listen(fn)


def listen_performance(fn: Callable[[Any], Any]) -> Unsubscribe:
    return active().bus.performance.listen(fn)


def listen_error(fn: Callable[[BaseException], Any]) -> Unsubscribe:
    """Recoverable errors: the run that raised them goes on."""
    return active().bus.error.listen(fn)


def listen_exit(fn: Callable[[BaseException], Any]) -> Unsubscribe:
    """Fatal errors of background runs: the run that raised them has ended."""
    return active().bus.exit.listen(fn)


def listen_state_write(fn: Callable[[Any], Any]) -> Unsubscribe:
    """Changes of the live state folder's writability (``StateWriteStatus``): not writable (the
    runs go close-only and announce nothing unwritten), then writable again. Once per change."""
    return active().bus.state_write.listen(fn)


def listen_validation(fn: Callable[[BaseException], Any]) -> Unsubscribe:
    """Exceptions raised by risk validations (each is also a rejection)."""
    return active().bus.validation.listen(fn)


def listen_order(fn: Callable[[Any], Any]) -> Unsubscribe:
    """Every change of a live order (``OrderReport``: written as an intent, placed, filled,
    cancelled, rejected), after its record is on disk."""
    return active().bus.order.listen(fn)


def listen_fill(fn: Callable[[Any], Any]) -> Unsubscribe:
    """Every execution of a live order (``Fill``), after its record is on disk."""
    return active().bus.fill.listen(fn)


def listen_account(fn: Callable[[Any], Any]) -> Unsubscribe:
    """The account of a broker after each change (``AccountSnapshot``)."""
    return active().bus.account.listen(fn)


def listen_breaker(fn: Callable[[Any], Any]) -> Unsubscribe:
    """A circuit breaker tripped or was cleared (``BreakerEvent``)."""
    return active().bus.breaker.listen(fn)
