"""A run in a worker process, seen from the console: an ``engine.RunHandle`` like any other.

The worker sends batches of what its engine emitted (console/host/child.py); iterating this handle
publishes each batch into the console's own engine's bus, in the order it was emitted, so the
bridge, the report stores, the trade inspector, the history and ``d``'s reports hear exactly what
they hear from a run in process; it yields what the worker's handle yielded. ``status()`` is the
worker's last word on progress. ``stop()`` asks for the same graceful stop as ``s`` (stop) in process;
a worker that ends without its ``end`` message (killed, crashed) ends the run with
``EngineProcessDied`` naming its exit code, never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

import engine

from .columns import expand
from .errors import Packed, pack, unpack
from .wire import Frames, decode

__all__ = ["EngineProcessDied", "RemoteRun"]


class EngineProcessDied(RuntimeError):
    """The worker process of a run ended before the run did (killed, out of memory, a crash)."""


def exit_reason(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


PUBLISH_SLICE = 500
"""Events of a worker's batch published into the console's bus before the event loop is handed
back once: a fast run sends thousands a batch, and publishing them in one go held the loop (and
a key pressed meanwhile) for up to ~0.3 s."""


class RemoteRun:
    """The console's handle on one worker's run (``engine.RunHandle``)."""

    def __init__(
        self,
        process: Any,
        conn: Connection,
        label: str,
        first: engine.TaskStatus,
        on_end: Callable[[RemoteRun], None] | None = None,
        on_milestones: Callable[[Any], None] | None = None,
        on_batch: Callable[[], None] | None = None,
        on_trades: Callable[[engine.TradeColumns], None] | None = None,
        columns_heard: Callable[[], bool] | None = None,
    ) -> None:
        self.process = process
        self.conn = conn
        self.label = label  # "backtest BTCUSDT rsi": the error names the run
        self.engine = engine.active_engine()  # the console's engine: its bus gets the worker's events
        self._status = first
        self._results: deque[Any] = deque()
        self._queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._ended: BaseException | bool | None = False  # False while running; then the error or None
        self.stopping = False
        self._reaping = False
        self.on_end = on_end  # told once, when the console is done with the run
        self.on_milestones = on_milestones  # a signal's lazy milestones, for the dashboard (console/state.py)
        self.on_batch = on_batch  # a batch was published: the dashboard may fold it now (console/app.py)
        self.on_trades = on_trades  # a run of trades as columns, for the dashboard (``_take_columns``)
        self.columns_heard = columns_heard  # does nobody but the dashboard listen to the signal streams?
        # the worker's side of the pipe, read by the event loop as it has bytes (its own handle on
        # the socket: ``conn`` still sends the stop)
        self._sock: socket.socket | None = socket.socket(fileno=os.dup(conn.fileno()))
        self._sock.setblocking(False)
        self._frames = Frames()
        self._loop.add_reader(self._sock.fileno(), self._readable)
        self._done = threading.Event()  # the worker may go (``release``)
        threading.Thread(target=self._close, daemon=True, name=f"btk-reap {label}").start()

    # -- the worker's side of the pipe ---------------------------------------------------------------
    def _readable(self) -> None:
        """The pipe has bytes: take what is there; a whole message goes to the queue. On the loop,
        not a thread: a reader thread's message waited for the interpreter while the console
        drew, and each of its reads handed the interpreter over again (up to the 5 ms switch
        interval each: 1-5 ms between the worker's last message and the console's taking it, on
        the engine benchmark). One message a call: the loop runs what else waits between two."""
        sock = self._sock
        if sock is None:
            return
        for _ in range(2):  # a frame's length, then at once its body if it is there (a turn less)
            try:
                n = sock.recv_into(self._frames.room())
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                n = 0
            if n == 0:  # the worker closed its end (it ends after its ``end``): gone before that
                self._stop_reading()
                self._queue.put_nowait(("died",))
                return
            body = self._frames.took(n)
            if body is not None:
                break
        else:
            return
        try:
            message = decode(body)
        except Exception as exc:  # a batch that does not unpickle: the run cannot be trusted
            message = ("end", pack(exc), None)
        if message[0] == "end":
            self._stop_reading()
        self._queue.put_nowait(message)

    def _stop_reading(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(ValueError, RuntimeError):  # the loop closed: nothing to remove
                self._loop.remove_reader(sock.fileno())
            sock.close()

    # -- RunHandle -----------------------------------------------------------------------------------
    def __aiter__(self) -> RemoteRun:
        return self

    async def __anext__(self) -> Any:
        while not self._results:
            if self._ended is not False:
                self._reap()
                if self._ended is None:
                    raise StopAsyncIteration
                raise self._ended
            await self._take(await self._queue.get())
        return self._results.popleft()

    async def _take(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "batch":
            await self._publish(message[1])
            if message[2] is not None:
                self._status = message[2]
            if self.on_batch is not None:
                self.on_batch()
        elif kind == "end":
            if message[2] is not None:
                self._status = message[2]
            self._ended = unpack(message[1]) if message[1] is not None else None
        elif kind == "died":
            code = await asyncio.to_thread(self._exit_code)
            self._ended = EngineProcessDied(
                f"the engine process of {self.label} ended before the run did ({exit_reason(code)})"
            )
            self._status = replace(self._status, status="rejected", error=str(self._ended))

    def _exit_code(self) -> int | None:
        try:
            return self.process.wait(timeout=30)  # it closed its pipe: it is exiting or gone
        except subprocess.TimeoutExpired:
            return None

    async def _publish(self, items: list[tuple[str, Any]]) -> None:
        """Each event into the console's bus, in order (the bridge and the report stores hear it).
        The common kinds first, and no coroutine an event unless a listener is async: a fast run
        sends four items a trade."""
        bus = self.engine.bus
        logger = self.engine.logger
        for n, (kind, value) in enumerate(items, 1):
            if n % PUBLISH_SLICE == 0:  # a fast run's batch holds thousands: let a key press through
                await asyncio.sleep(0)
            if kind == "result":
                self._results.append(value)
                continue
            if kind == "trades":  # a run of a backtest's trades as columns (console/host/columns.py)
                if not self._take_columns(value):
                    await self._publish(expand(value))
                continue
            if kind == "partial_lazy":  # one signal's milestones, computed when read (child.py)
                self.engine.partials.lazy_sink(value)  # the partial report store takes them as in process
                if self.on_milestones is not None:
                    self.on_milestones(value)
                continue
            if kind == "closed_backtest":  # a backtest's closed signal: the engine published it twice
                streams: tuple[Any, ...] = (bus.signal_backtest, bus.signal)
            elif kind == "clear":  # the worker's run cleared its pair's stores here (SPEC 6.2)
                self.engine.stores.clear_run(*value)
                continue
            elif kind == "timings":  # the performance report's samples (console/host/child.py)
                key, (packed, rows, trimmed) = value
                self.engine.stores.performance_log(*key).take(packed, rows, trimmed)
                continue
            elif kind == "log":
                level, text = value
                getattr(logger, level, logger.warning)(text)
                continue
            else:
                streams = (getattr(bus, kind),)
                if isinstance(value, Packed):
                    value = unpack(value)
            for stream in streams:
                try:
                    pending = stream.emit_nowait(value)
                    if pending is not None:
                        await pending
                except Exception as exc:  # a listener of the console's failed: as in process, say so
                    logger.warning(f"{stream.name} listener failed on a worker's event: {exc!r}")

    def _take_columns(self, trades: engine.TradeColumns) -> bool:
        """Keep a run of trades as columns: in the report stores (``take_trades``) and in the
        dashboard (``on_trades``), without an object per event. Only while nobody else listens to
        the console's signal streams (a project's own listener hears every event, as in
        process) and the stores keep what the hooks would (no report cap); False: not taken."""
        heard = self.columns_heard
        if self.on_trades is None or heard is None or not heard():
            return False
        if not self.engine.stores.take_trades(trades):
            return False
        self.on_trades(trades)
        return True

    def status(self) -> engine.TaskStatus:
        return self._status

    async def restore(self) -> list[Any]:
        return []  # backtests and walkers have nothing saved to put back

    async def aclose(self) -> None:
        """End the run now: the worker is stopped hard (what it sent so far stays)."""
        self.kill()
        self._reap()
        self.release()

    def stop(self) -> None:
        """The graceful stop of ``s`` (stop): the run finishes the position it holds, then ends."""
        self.stopping = True
        with contextlib.suppress(OSError, ValueError):  # already gone: its end (or death) is on the way
            self.conn.send(("stop",))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    @property
    def over(self) -> bool:
        return self._reaping

    def _reap(self) -> None:
        """The run is over for the console now. Its worker is let go by whoever was told
        (``on_end``: the console, once it painted the run's end) or at once, then waited for
        aside (``_close``)."""
        if not self._reaping:
            self._reaping = True
            if self.on_end is not None:
                self.on_end(self)
            else:
                self.release()

    def release(self) -> None:
        """Let the worker go: its pipe closes, it exits (child.py ``main``), and it is reaped."""
        self._done.set()

    def _close(self) -> None:
        """Let the worker go and reap it (it exits once its pipe closes; one that does not is
        killed), once ``release`` says so. The thread starts with the run and waits: started at
        the run's end, it held up the paint that shows the run done by 0.4-1.6 ms (a new thread
        has to take the interpreter before ``start`` returns)."""
        self._done.wait()
        self.conn.close()  # the loop's own handle reads on to the worker's end or its pipe's close
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
