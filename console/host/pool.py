"""The console's worker processes: one per run, the next one always started in advance.

Why one process per run rather than one engine host for the console's life: a run that crashes
its process, or that ``s`` (stop) must stop while its strategy is stuck, takes nothing else with it; a
reload (``ctrl+r``) needs no "runs in progress keep the old code" bookkeeping, since a worker
loads the project when it starts and keeps what it loaded; and two runs side by side use both of
the machine's cores instead of sharing a host's one loop. The price of a fresh interpreter
(imports and the project's load, about a second) is paid in advance: a spare worker starts with
the console and again as each run takes the spare, so a run starts on a loaded worker whenever the
user took longer than that to pick it. A worker is a fresh ``python -m console.host.child``, not a
fork: the console has threads (Textual's driver, the pipe readers) whose locks a fork would copy
in whatever state they were, and ``multiprocessing``'s spawn would run the console's own main
module again in the worker. The pipe is a socket pair with ``multiprocessing``'s framing.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import engine

from .remote import RemoteRun
from .spec import FrameSpec, Loader, RunSpec

__all__ = ["EngineHost", "frames_of"]


def frames_of(names: list[str]) -> tuple[FrameSpec, ...]:
    """The console's frames ``names`` by value (the demo registers some on demand)."""
    return tuple(
        FrameSpec(f.frame_name, f.interval, f.start_date, f.end_date, f.note)
        for f in engine.list_frames()
        if f.frame_name in names
    )


@dataclass(slots=True)
class _Worker:
    process: Any
    conn: Any


@dataclass(slots=True)
class EngineHost:
    """Starts workers for ``loader``'s project, hands them runs, and ends them all on ``close``."""

    loader: Loader
    spare: _Worker | None = None
    runs: list[RemoteRun] = field(default_factory=list)
    started: int = 0  # workers started (a test reads it; the benchmark reports it)
    closed: bool = False
    on_milestones: Callable[[Any], None] | None = None  # each run's lazy milestone batches (RemoteRun)
    on_batch: Callable[[], None] | None = None  # a run's batch was published (RemoteRun)
    # a run's trades as columns (RemoteRun), taken only while ``columns_heard`` says nobody but
    # the dashboard listens to the console's signal streams
    on_trades: Callable[[Any], None] | None = None
    columns_heard: Callable[[], bool] | None = None
    # when to start the next spare after the last run ended (the console: once it painted the
    # run's end, whose last paint the spare's imports on the other core slowed down); None: at once
    later: Callable[[Callable[[], None]], Any] | None = None

    def warm(self) -> None:
        """Have a loaded worker waiting for the next run."""
        if self.spare is None or self.spare.process.poll() is not None:
            self.spare = self._spawn()

    def wait_ready(self, timeout: float) -> bool:
        """Block until the spare worker has loaded the project (True), or ``timeout`` passed; for
        benchmarks and tests that time a run without its worker's start-up."""
        self.warm()
        assert self.spare is not None
        return self.spare.conn.poll(timeout)

    def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        command = [sys.executable, "-m", "console.host.child", str(theirs.fileno())]
        process = subprocess.Popen(
            command, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, start_new_session=True
        )
        theirs.close()
        conn = Connection(ours.detach())
        conn.send(self.loader)
        self.started += 1
        return _Worker(process, conn)

    def start(self, spec: RunSpec, first: engine.TaskStatus) -> RemoteRun:
        """Hand ``spec`` to the spare worker (a new one if it died). The next spare starts when
        the last run going ends: started now, its imports would take a core from the run and the
        console at the moment they are busiest. ``first`` is the status until the worker's first
        batch (the console's own handle, made to check the names, knows the frame count)."""
        self.warm()
        worker, self.spare = self.spare, None
        assert worker is not None
        worker.conn.send(("run", spec))
        label = f"{spec.mode} {spec.symbol} {spec.name}"
        run = RemoteRun(
            worker.process,
            worker.conn,
            label,
            first,
            on_end=self._run_ended,
            on_milestones=self.on_milestones,
            on_batch=self.on_batch,
            on_trades=self.on_trades,
            columns_heard=self.columns_heard,
        )
        self.runs = [r for r in self.runs if r.process.poll() is None]
        self.runs.append(run)
        return run

    def _run_ended(self, ended: RemoteRun) -> None:
        """The console is done with ``ended``: its worker goes once the console painted the run's
        end (``later``; its exit held that paint back), and so does the next spare start."""
        if self.later is not None and not self.closed:
            self.later(ended.release)
        else:
            ended.release()
        if self.closed:
            return
        self.runs = [r for r in self.runs if r is not ended and not r.over]
        if not self.runs:
            if self.later is not None:
                self.later(self._warm_if_idle)
            else:
                self.warm()

    def _warm_if_idle(self) -> None:
        """The next spare, unless the console closed or another run started meanwhile."""
        if not self.closed and not self.runs:
            self.warm()

    def backtest(self, symbol: str, strategy: str, exchange: str, frame: str, checked: Any) -> RemoteRun:
        """``strategy`` on ``symbol`` in a worker. ``checked`` is the console's own
        ``Backtest.run`` handle, never iterated: making it checked the names and cleared the pair's
        report stores, as a run in process does, and it knows the frame count."""
        spec = RunSpec("backtest", symbol, strategy, exchange, frame, frames_of([frame]), results=False)
        return self.start(spec, checked.status())

    def walker(self, symbol: str, walker: str, frame: str, checked: Any) -> RemoteRun:
        """``walker`` on ``symbol`` in a worker (``checked``: as for ``backtest``)."""
        spec = RunSpec("walker", symbol, walker, frame=frame, frames=frames_of([frame]), results=False)
        return self.start(spec, checked.status())

    def reload(self, loader: Loader | None = None) -> None:
        """The project changed on disk (``ctrl+r``): the spare loaded the old one, start another.
        Runs going on keep the project they loaded."""
        if loader is not None:
            self.loader = loader
        self._end(self.spare)
        self.spare = None
        self.warm()

    def close(self) -> None:
        """The console quits: no worker outlives it (a run's own stop is not waited for)."""
        self.closed = True
        self._end(self.spare)
        self.spare = None
        for run in self.runs:
            run.kill()
        for run in self.runs:
            run.process.wait(timeout=10)
        self.runs.clear()

    @staticmethod
    def _end(worker: _Worker | None) -> None:
        if worker is None:
            return
        with contextlib.suppress(OSError):
            worker.conn.send(("quit",))
        worker.conn.close()
        try:
            worker.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(timeout=10)
