"""The worker process: loads the project, runs one backtest or walker, streams what it emits.

It listens to the streams the console's bridge and report stores listen to (``FORWARD``, the same
actions, so the engine takes the same paths as in the console: milestones computed as they come,
idle frames on their fast path) and sends them in order, in batches, with the run's status:

    worker -> console   ("ready",)                                 the project is loaded
                        ("batch", [(stream, event), ...], status)   every ``RunSpec.interval`` s
                        ("batch", [...], status)                   a backtest's full message, at once
                                                                   (the next tick sends none)
                        ("end", error | None, status)              the run ended (it exits once
                                                                   the console closes the pipe)
    console -> worker   ("run", RunSpec) | ("stop",) | ("quit",)

Each worker -> console message is framed by console/host/wire.py (pickle protocol 5, its numpy
columns out of band); the console reads them on its event loop (console/host/remote.py).
``stream`` is a bus stream name, ``"closed_backtest"`` (a backtest's closed result: signal_backtest
then signal), ``"trades"`` (a run of a backtest's trades as columns, console/host/columns.py),
``"result"`` (what iterating the run handle gave, unless ``RunSpec.results`` is false: the
console reads the events only) or ``"log"`` (the engine's logger: ``(level, text)``). An exception
travels with its traceback (console/host/errors.py). The worker starts before it is needed
(console/host/pool.py), so its imports and the project's load are paid while the user picks a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import queue
import socket
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from ..logbook import LogBookHandler
from . import fast_pickle, wire
from .columns import to_columns
from .errors import install, pack
from .spec import Loader, RunSpec

SIGNAL_ACTIONS = ("scheduled", "opened", "active", "closed", "cancelled")
"""The signal actions the console shows (console/bridge.py ``SHOWN_ACTIONS``; a test keeps the two
equal; that module imports Textual, which the worker does not need)."""

FORWARD: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    # a backtest's closed result also stands for its signal_backtest one; its opens come as rows
    ("signal", tuple(action for action in SIGNAL_ACTIONS if action != "opened")),
    ("risk", None),
    ("walker", None),
    ("walker_complete", None),
    ("error", None),
    ("exit", None),
    ("state_write", None),
    ("order", None),
    ("fill", None),
    ("account", None),
    ("breaker", None),
)
"""Each stream the console listens to or stores, with the actions it wants (None: all). The
worker takes them through hooks (``Stream.add_hook``), which the engine calls directly, without a
subscriber's delivery (its filter, its lock, its awaitable check): the same interest, so the
engine takes the same paths (listening cost the engine benchmark's worker 247M instructions over
the headless run's 1,466M, hooks 125M; callgrind). A run with ``reports=False`` would skip hooks when
nobody listens (runners/backtest.py ``publish_nowait``): the worker's runs keep their reports, as
the console's in process do. Not the signal_backtest stream: the backtest report
store takes its closed results, and each is the same object as the signal stream's closed result
that comes right after it, so the worker sends that one once, as ``"closed_backtest"``, and the
console publishes it to both. Not the performance stream: a listener there makes the engine
build an event per sample (400,000 on the busy benchmark, six times the run's time); its report
store fills without one, and goes to the console whole when the run ends (``_timings``). Nor the
milestone streams (``_forward_milestones``). Nor ``opened`` results: a worker runs backtests, whose
opens it hears as their rows (``Bus.opened_rows``, ``listen``): a result built and published per
trade cost its run 70M instructions on the engine benchmark; the console gets the same result,
built from the row by the engine's rule (``engine.opened_result``, console/host/columns.py)."""


HEAP_RESERVE = 64 << 20
"""Heap a worker touches while it waits for its run (``engine.reuse_freed_memory``): a year of
minute candles and what a run makes of them (the engine benchmark's run used ~50 MB of new heap);
a bigger run faults in the rest as it goes, as a headless one does."""

SEND_SLICE = 1_000
"""Items a batch message carries at most (``Outbox.flush``; a run of trades as columns is one).
A backtest sends one as soon as it holds that many events (at a closed result), not only at the
next tick: the engine benchmark trades its 5,000 signals in ~0.1 s, between two ticks, so
everything went down the pipe after the run and the console's whole fold came after it; sent as
they fill, the messages are folded while the run goes on, on the other core."""

_NO_WAIT = socket.MSG_DONTWAIT | getattr(socket, "MSG_NOSIGNAL", 0)
"""A write that takes what the pipe has room for and returns (and a gone reader is an error, not
a signal)."""

PIPE_ROOM = 4 << 20
"""Bytes the worker asks its end of the pipe to hold unread (``SO_SNDBUF``; the system caps it at
its ``net.core.wmem_max``): a 1,000-event message is ~370 KB, twice the usual default, so with the
default room every message was written in part and the rest left to the writer thread."""

LINGER_S = 60.0
"""Seconds a worker whose run ended waits for the console to let it go (``main``) before it
exits anyway."""

WRITE_AHEAD = 64
"""Pickled messages the writer thread may hold before ``Outbox.send`` waits for the console
(~13 MB of a fast run's batches): a console that fell that far behind slows the run down rather
than the worker's memory growing."""


class Outbox:
    """What the run emitted since the last batch, in emission order, and the pipe it goes down.

    A message is pickled where it is sent (the engine's thread: what fails to pickle is known at
    once) and goes down the pipe at once when the pipe has room for it: written without waiting,
    by the engine's thread (``_write_now``). What the pipe has no room for (a message of a few
    hundred KB while the console has not read the last ones yet) is left to ``writer`` when there is one
    (``start_writer``), and so is every message after it until the writer is done with them, so
    the order holds: waiting for the console there held the run itself for a third of its time on
    the engine benchmark. The writer is not woken for a message the pipe took at once: each wake-up
    handed the interpreter between two threads, mostly on two cores, and that cost the engine
    benchmark's worker a third of its time as well. ``close`` waits until everything is written."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.items: list[Any] = []  # (kind, value) tuples; an opened row and a lazy batch as themselves
        self.latest: dict[tuple[str, str, str], int] = {}  # a backtest signal's "active" slot in ``items``
        self.merged = 0  # events in ``items`` beyond its length: a trade heard whole is one item (``closed``)
        self.writes: queue.Queue[tuple[bool, bytes] | None] = queue.Queue(WRITE_AHEAD)
        self.writer: threading.Thread | None = None
        self.broken: BaseException | None = None  # the pipe failed (the console is gone): the rest is dropped
        self.handed = 0  # messages given to the writer (the engine's thread counts them)
        self.written = 0  # messages the writer is done with (its thread counts them): equal when it is idle
        self.now_count = 0  # messages the pipe took at once (a test reads it)
        self.sock: socket.socket | None = None  # the pipe as a socket, for writes that do not wait
        self.status: Any = None  # the run's ``status`` (``_serve``): a full message carries it too
        self.carried = False  # a full message went since the last tick (``_tick``: that one may wait)
        self.stores: Any = None  # the engine's report stores (``_watch_stores``): folded at each batch
        self.folded: Any = None  # engine.FoldedChunks: what they folded since the last batch

    def start_writer(self) -> None:
        fd = os.dup(self.conn.fileno())
        try:
            self.sock = socket.socket(fileno=fd)
        except OSError:  # not a socket (an os.pipe): every message goes through the writer
            os.close(fd)
            self.sock = None
        else:
            with contextlib.suppress(OSError):  # as much room as the system allows (net.core.wmem_max)
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PIPE_ROOM)
        self.writer = threading.Thread(target=self._write, daemon=True, name="btk-writer")
        self.writer.start()

    def close(self) -> None:
        """Every message sent so far is written (or the pipe failed) when this returns."""
        if self.writer is not None:
            self.writes.put(None)
            self.writer.join()
            self.writer = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _write(self) -> None:
        while (job := self.writes.get()) is not None:
            framed, raw = job
            if self.broken is None:
                try:
                    if framed:  # the rest of a message the pipe took part of: its frame is in it
                        assert self.sock is not None
                        self.sock.sendall(raw)
                    else:
                        self.conn.send_bytes(raw)
                except (OSError, ValueError) as exc:  # the stop reader sees the pipe close and stops the run
                    self.broken = exc
            self.written += 1
            self.writes.task_done()  # ``writes.join()`` returns once the writer is idle

    def _hand(self, framed: bool, raw: bytes) -> None:
        self.handed += 1
        self.writes.put((framed, raw))

    def _write_now(self, frame: bytes, body: list[memoryview | bytes]) -> bool:
        """Write a message's frame and body parts (``wire.encode``) as far as the pipe takes them
        without waiting; the rest goes to the writer, joined (a copy: the parts may be views of
        the engine's own arrays). False: not tried (the writer still has messages), the caller
        hands it over."""
        if self.sock is None or self.handed != self.written:
            return False
        try:
            sent = self.sock.sendmsg([frame, *body], (), _NO_WAIT)
        except BlockingIOError:
            sent = 0
        except OSError as exc:  # the console is gone: as in the writer, the rest is dropped
            self.broken = exc
            return True
        if sent < len(frame) + sum(map(len, body)):  # bytes, and views of bytes (``wire.encode``)
            self._hand(True, wire.joined([frame, *body])[sent:])
        else:
            self.now_count += 1
        return True

    def add(self, kind: str, value: Any) -> None:
        self.items.append((kind, value if not isinstance(value, BaseException) else pack(value)))

    def send(self, message: tuple[Any, ...]) -> None:
        try:
            frame, body = wire.encode(message)
        except (pickle.PicklingError, TypeError, AttributeError):
            frame, body = wire.encode(self._picklable(message))
        if self.writer is None:
            self.conn.send_bytes(wire.joined(body))
        elif self.broken is None and not self._write_now(frame, body):
            self._hand(False, wire.joined(body))  # a copy: nothing else holds it

    def active(self, event: Any) -> None:
        """A backtest's open signal at one more frame: only its latest frame of a batch is sent. It
        sets the position's last price and PnL (console/state.py folds nothing else from it), so the
        batch ends where it would have; a hundred thousand frames a year cost the pipe nothing."""
        if not event.backtest or event.signal is None:
            self.items.append(("signal", event))
            return
        key = (event.symbol, event.strategy_name, event.signal.id)
        slot = self.latest.get(key)
        if slot is None:
            self.latest[key] = len(self.items)
            self.items.append(("signal", event))
        else:
            self.items[slot] = ("signal", event)

    def closed(self, event: Any) -> None:
        """A closed result (the signal stream's hook for ``closed``). A backtest's: when its trade
        came whole just before it (its opened row, then its lazy milestones if it has any), the
        three become one ``(row, lazy, closed)`` item (``engine.HeardTrade``, without a kind: a
        tuple less a trade to make and free), found here as it completes rather than by scanning
        the batch for it (console/host/columns.py packs runs of them);
        else it goes as ``closed_backtest``. A message is sent once the batch holds
        ``SEND_SLICE`` events, a trade counting for its own. A live run's goes as it came."""
        if not event.backtest:  # a live run's close goes as it came
            self.items.append(("signal", event))
            return
        items, row, n = self.items, event.signal, len(self.items)
        # an opened row and a lazy batch are in ``items`` as they came (``listen``: appended by
        # the engine's call itself), every other item as a (kind, value) tuple
        if n and items[-1] is row:
            items[-1] = (row, None, event)
            self.merged += 1
        elif n > 1 and items[-2] is row and getattr(items[-1], "row", None) is row:  # its lazy batch
            lazy = items.pop()
            items[-1] = (row, lazy, event)
            self.merged += 2
        else:
            items.append(("closed_backtest", event))
        if len(items) + self.merged >= SEND_SLICE:  # a full message: to the console while the run goes on
            self.flush(self.status() if self.status is not None else None)
            self.carried = True

    def flush(self, status: Any) -> None:
        """Send what came since the last batch, ``SEND_SLICE`` items a message at most: the console
        unpickles a message in one call that holds its interpreter, so a fast run's thousands of
        events in one message held the console's keys for ~0.15 s."""
        items = self.items.copy()  # the same list stays: the engine's hooks hold its ``append``
        self.items.clear()
        self.latest.clear()
        self.merged = 0
        if self.stores is not None:  # the batch's closed results packed once: by their store, sent so
            self.stores.fold_backtests()
        items = to_columns(items, self.folded)  # before slicing: a slice's edge would split a trade's items
        if self.folded is not None:
            self.folded.clear()
        last = max(0, (len(items) - 1) // SEND_SLICE * SEND_SLICE)
        for k in range(0, last, SEND_SLICE):
            self.send(("batch", _share_milestones(items[k : k + SEND_SLICE]), None))
        self.send(("batch", _share_milestones(items[last:]), status))

    def _picklable(self, message: tuple[Any, ...]) -> tuple[Any, ...]:
        """The batch with each item that does not pickle replaced by a warning that names it (the
        console logs it): one odd event does not cost the batch."""
        kind, items, status = message
        kept: list[tuple[str, Any]] = []
        for item in items:
            try:
                pickle.dumps(item)
                kept.append(item)
            except Exception as exc:
                kept.append(("log", ("warning", f"worker: a {item[0]} event did not reach the console: {exc}")))
        return (kind, kept, status)


class ForwardingLogger:
    """The engine's logger in the worker: every note goes to the console's logger, in order, but
    the engine's echo of an error it published (``LogBookHandler.ECHOES``): the error itself goes
    down the pipe on its stream, and the console drops the echo (a strategy that raised on every
    call sent ~35,000 of them a year, each a record made and dropped by the console's logging);
    a backtest's errors stay out of a live session's log file, as ``ConsoleLog`` means them to."""

    def __init__(self, out: Outbox) -> None:
        self.out = out

    def debug(self, msg: str) -> None:
        self.out.add("log", ("debug", msg))

    def info(self, msg: str) -> None:
        self.out.add("log", ("info", msg))

    def warning(self, msg: str) -> None:
        if not msg.startswith(LogBookHandler.ECHOES):
            self.out.add("log", ("warning", msg))


def main(conn: Connection) -> None:
    """The worker's entry point: the console sends its ``Loader`` first."""
    _quiet()
    try:
        loader: Loader = conn.recv()
    except (EOFError, OSError):
        return
    install()
    load_error: BaseException | None = None
    try:
        loader.load()
    except BaseException as exc:  # a broken project is the run's failure, said when it is asked for
        load_error = exc
    install()  # again: the project's own exception classes pickle with their tracebacks too
    fast_pickle.register()  # the engine's events go down the pipe without dataclasses.fields() per object
    from engine import reuse_freed_memory, settle_heap

    settle_heap()  # the project stays loaded for the run: the collector's passes skip it
    # and its run starts on heap pages already faulted in (paid while the console waits for a
    # run to be picked): the engine benchmark's run took ~21,000 page faults, then ~1,700
    reuse_freed_memory(HEAP_RESERVE)
    # the run's event loop, its outbox's writer thread and the thread that reads the console's
    # messages are made while the worker waits for a run, not on the run's way in: starting a
    # thread waits until it has taken the interpreter, up to 3 ms between the console's "run"
    # and the run's first frame on the engine benchmark
    out = Outbox(conn)
    if load_error is None:
        out.start_writer()
    with asyncio.Runner() as runner:
        first: queue.Queue[tuple[Any, ...]] = queue.Queue(1)
        released = threading.Event()
        stops = (conn, runner.get_loop(), first, released)
        threading.Thread(target=_read_stops, args=stops, daemon=True, name="btk-stops").start()
        try:
            conn.send(("ready",))
        except OSError:
            return  # the console went away before it needed this worker
        message = first.get()
        if message[0] != "run":
            return
        runner.run(serve(out, message[1], load_error))
    # everything went down the pipe: leave once the console lets go of this worker (it closes its
    # end once it painted the run's end: a worker exiting then, its heap torn down by the system,
    # held the console's last reads and paint back by ~3 ms), without tearing down the run's heap
    # here (candles, stores: a second or two of the console's wait under load)
    released.wait(LINGER_S)
    os._exit(0)


def _quiet() -> None:
    """A strategy's prints must not draw over the console's screen (in process, Textual swallows
    them the same way)."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)


async def serve(out: Outbox, spec: RunSpec, load_error: BaseException | None) -> None:
    """Run ``spec`` and stream it into ``out`` (its writer started unless the project failed to
    load); always ends with one ``end`` message, written when this returns."""
    try:
        if load_error is not None:
            out.send(("end", pack(load_error), None))
            return
        await _serve(out, spec)
    finally:
        out.close()


async def _serve(out: Outbox, spec: RunSpec) -> None:
    import engine

    engine.set_logger(ForwardingLogger(out))
    known = {f.frame_name for f in engine.list_frames()}
    for f in spec.frames:
        if f.name not in known:
            engine.add_frame(f.name, f.interval, f.start, f.end, note=f.note)
    listen(engine.active_engine(), out)
    try:
        if spec.mode == "walker":
            handle = engine.Walker.run(spec.symbol, walker_name=spec.name)
        else:
            handle = engine.Backtest.run(
                spec.symbol, strategy_name=spec.name, exchange_name=spec.exchange, frame_name=spec.frame
            )
    except Exception as exc:
        out.flush(None)
        out.send(("end", pack(exc), None))
        return
    out.status = handle.status
    ticker = asyncio.create_task(_tick(out, handle, spec.interval))
    failure: BaseException | None = None
    try:
        async for result in handle:
            if spec.results:
                out.add("result", result)
    except Exception as exc:
        failure = exc
    finally:
        ticker.cancel()
    for key, timings in _timings(spec.symbol):
        out.add("timings", (key, timings))
    out.flush(handle.status())
    out.send(("end", pack(failure) if failure is not None else None, handle.status()))


def _timings(symbol: str, stores: Any = None) -> list[tuple[tuple[str, str, bool], tuple[list[Any], list[tuple], int]]]:
    """The run's timing samples as the performance report keeps them, by (symbol, strategy, mode):
    its packed columns (they pickle with their metric names), its newest rows, what it trimmed.
    A log the worker watched from its start sent its chunks as they were packed (``_watch_stores``;
    the console trims them by the same rule): its rows alone are left (a run's end sent ~300 KB
    of samples on the engine benchmark, read and unpickled after the run's last trade)."""
    import engine

    store = (stores if stores is not None else engine.active_engine().stores).performance_store
    return [(key, _unsent(log)) for key, log in store.items() if key[0] == symbol]


def _unsent(log: Any) -> tuple[list[Any], list[tuple], int]:
    """What of ``log`` has not gone to the console yet: (its chunks, its rows, what it trimmed)."""
    if log.on_pack is not None:  # its chunks went as they were packed
        return [], list(log.rows), 0
    return list(log.packed), list(log.rows), log.trimmed_seen


def listen(eng: Any, out: Outbox) -> None:
    """Everything the console hears of ``eng``'s runs goes into ``out``, for the worker's life (it
    runs one run, then exits): its streams (``FORWARD``), its opens as rows, its milestones, its
    stores' clears and folds."""
    _watch_stores(eng.stores, out)
    _forward_milestones(eng, out)
    # an open heard as its row, appended as it is by the engine's own call (no Python frame a
    # trade: ``Outbox.closed`` finds a trade's row and batch by identity, ``to_columns`` tells
    # the two apart by type)
    eng.bus.opened_rows = out.items.append
    for name, actions in FORWARD:
        stream = getattr(eng.bus, name)
        if name == "signal":
            assert actions is not None
            for wanted, hook in _signal_hooks(out, actions):
                stream.add_hook(hook, actions=wanted)
        else:
            stream.add_hook(_collector(out, name), actions=actions)


def _watch_stores(stores: Any, out: Outbox) -> None:
    """The worker's report stores tell ``out`` two things. Each time a run clears its pair's
    stores (SPEC 6.2: every backtest, and a walker before each strategy it tests), a
    ``("clear", (symbol, strategy, backtest))`` goes down the pipe in its place among the events,
    so the console clears its stores at the same point (the stores object becomes an instance of
    a subclass that says so: no new slots, so the hooks already attached to the bus stay its
    bound methods). Each time a backtest store folds its closed results into columns
    (``Outbox.flush`` has them fold at each batch), the chunk is kept for the batch: those columns
    are what its trades go as (``to_columns``), packed once, as a headless run packs them. And a
    performance log made for the run sends each chunk of timing samples it packs, in its place
    (``_timings`` sends the rest at the run's end)."""
    import engine

    base = type(stores)

    class Watched(base):  # type: ignore[misc, valid-type]
        __slots__ = ()

        def clear_run(self, symbol: str, strategy_name: str, backtest: bool) -> None:
            out.items.append(("clear", (symbol, strategy_name, backtest)))
            base.clear_run(self, symbol, strategy_name, backtest)

        def performance_log(self, symbol: str, strategy_name: str, backtest: bool) -> Any:
            log = base.performance_log(self, symbol, strategy_name, backtest)
            if log.on_pack is None and not log.packed and not log.trimmed_seen:  # new: its chunks as they come
                key = next(k for k, v in self.performance_store.items() if v is log)
                log.on_pack = lambda chunk: out.items.append(("timings", (key, ([chunk], [], 0))))
            return log

    stores.__class__ = Watched
    out.stores, out.folded = stores, engine.FoldedChunks()
    stores.on_chunk = out.folded.add


def _forward_milestones(eng: Any, out: Outbox) -> None:
    """Milestones go to the console the way the report store takes them, not as events: a
    listener on the milestone streams makes the engine find every level of every signal as it
    goes (the benchmark's 5,000 trades: 30,000 events, as much CPU as the run itself, and most of
    the console's fold). A fast-forwarded signal's milestones go as one lazy batch (its own
    candles, ``LazyMilestones.share``) that the console counts at once and expands only for
    the lines it shows; the others (a signal evaluated candle by candle) still come as events,
    through hooks, which keep the lazy path open. Both in emission order, in the batches."""
    eng.partials.lazy_sink = out.items.append  # as opened rows are (``listen``)
    eng.bus.partial_profit.add_hook(lambda event: out.items.append(("partial_profit", event)))
    eng.bus.partial_loss.add_hook(lambda event: out.items.append(("partial_loss", event)))


def _share_milestones(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """A message's lazy milestone batches made to hold only their own candles, all in one array
    (``LazyMilestones.share``): until then they read the engine's whole columns, uncopied. Those
    of trades sent as columns are compacted with them (``TradeColumns.pack``)."""
    at = [i for i, item in enumerate(items) if item[0] == "partial_lazy"]
    if at:
        batches = [items[i][1] for i in at]
        for i, batch in zip(at, type(batches[0]).share(batches)):  # the engine's class, from its object
            items[i] = ("partial_lazy", batch)
    return items


def _signal_hooks(out: Outbox, actions: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    """The signal stream's hooks for ``actions``, a hook an action or a few: a backtest's close
    reaches ``Outbox.closed`` and an open signal's frame ``Outbox.active`` with no call between
    (one a trade: ~0.5 ms of the worker's run on the engine benchmark)."""
    others = tuple(a for a in actions if a not in ("closed", "active"))
    return [(("closed",), out.closed), (("active",), out.active), (others, _collector(out, "signal"))]


def _collector(out: Outbox, name: str) -> Any:
    def collect(event: Any) -> None:
        out.add(name, event)

    return collect


async def _tick(out: Outbox, handle: Any, interval: float, sleep: Any = asyncio.sleep) -> None:
    """A batch every ``interval`` seconds, empty or not: its status is the console's progress.
    Not when a full message went since the last tick (``Outbox.closed``): it carried the status,
    and a fast backtest's ticks cost its run two batches more, each packing its store's
    chunk in two; what came after that message waits for the next tick or message."""
    out.flush(handle.status())  # at once: the frame count for the Runs pane
    out.carried = False
    while True:
        await sleep(interval)
        if not out.carried:
            out.flush(handle.status())
        out.carried = False


def _read_stops(
    conn: Connection,
    loop: asyncio.AbstractEventLoop,
    first: queue.Queue[tuple[Any, ...]],
    released: threading.Event,
) -> None:
    """The console's messages to the worker. The first goes to ``main`` through ``first`` (a
    ``run``, or anything else: no run, the worker ends). Then the console's ``stop`` (its ``s``
    (stop)): the same graceful stop as in process. The pipe closing means the console is gone or
    done with this worker (``released``): a run still going stops too (the console kills a worker
    it no longer wants)."""
    import engine

    spec: RunSpec | None = None

    def stop() -> None:
        assert spec is not None
        if spec.mode == "walker":
            engine.Walker.stop(spec.symbol, spec.name)
        else:
            engine.Backtest.stop(spec.symbol, spec.name)

    while True:
        try:
            message = conn.recv()
        except Exception:  # the pipe closed (EOF), failed, or brought what does not unpickle: as a quit
            message = ("quit",)
        if spec is None:
            first.put(message)
            if message[0] != "run":  # no run: ``main`` returns
                return
            spec = message[1]
            continue
        if message[0] in ("stop", "quit"):
            with contextlib.suppress(RuntimeError):  # the run is over (its loop closed): nothing to stop
                loop.call_soon_threadsafe(stop)
        if message[0] == "quit":
            released.set()
            return


if __name__ == "__main__":  # python -m console.host.child FD (console/host/pool.py)
    main(Connection(int(sys.argv[1])))
