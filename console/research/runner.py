"""A sweep started from the dashboard runs in its own process, never in the console's.

Why a process: a sweep in one process binds each parameter set to the strategy's registration
(``engine.use_params``) and registers a frame per window, which would change the strategy under a
backtest the dashboard runs at the same time; and a pool of workers wants a parent of its own. The
sweep process loads the same btk.toml (``sweep_cli.worker_setup``, as pool workers do), runs
``engine.run_sweep`` and writes the report beside the table, like ``btk-console sweep``. It tells the
console what happens in the small frozen messages below, one pickled line each on its stdout
(``MARK`` first: a line a strategy prints is ignored); its stderr goes to ``<table>.log``. The
results themselves are read from the results table, which is the one truth (and what a resumed
sweep starts from). A plain subprocess, not ``multiprocessing``: under Textual ``sys.stderr`` has no
file descriptor, which multiprocessing's resource tracker needs.

Killing the process loses nothing the table holds: starting the same sweep again resumes it.
"""

from __future__ import annotations

import base64
import dataclasses
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import engine

__all__ = ["SweepDone", "SweepFailed", "SweepJob", "SweepProcess"]


@dataclass(frozen=True, slots=True)
class SweepJob:
    """Everything the sweep process needs, picklable: the sweep, where its rows and report go, and
    the setup that makes the project's registrations in a fresh process."""

    sweep: engine.Sweep
    table: Path
    report: Path
    setup: Callable[[], Any]
    workers: int | None = None
    backend: str = "local"
    heat: tuple[str, str] | None = None
    frame: str = ""
    """The project frame the sweep's windows come from (Enter on a set backtests it there)."""


@dataclass(frozen=True, slots=True)
class SweepDone:
    trials: int
    rows: int
    computed: int
    table: Path
    report: Path


@dataclass(frozen=True, slots=True)
class SweepFailed:
    message: str


SweepMessage = engine.SweepProgress | SweepDone | SweepFailed
"""A progress message is the engine's own ``SweepProgress`` without its row (the table has the row)."""


MARK = "btk-sweep-message:"


def run_job(job: SweepJob, out: Callable[[SweepMessage], None]) -> None:
    """The sweep process's body. Every outcome ends with one SweepDone or SweepFailed sent to
    ``out``. SIGTERM (``SweepProcess.stop``) raises KeyboardInterrupt here, so ``run_sweep``'s
    cleanup shuts its pool of workers down first."""

    def interrupted(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:

        def tick(ev: engine.SweepProgress) -> None:
            # the row (and its daily pnl) is the table's to keep; a plain dict pickles whatever mapping it was
            params = None if ev.best_params is None else dict(ev.best_params)
            out(dataclasses.replace(ev, best_params=params, row=None))

        res = engine.run_sweep(
            job.sweep, job.table, setup=job.setup, workers=job.workers, backend=job.backend, progress=tick
        )
        report = engine.write_sweep_report(job.sweep, job.table, job.report, heat=job.heat)
        out(SweepDone(res.trials, res.rows, res.computed, job.table, Path(report)))
    except KeyboardInterrupt:
        out(SweepFailed(STOPPED))
    except Exception as exc:  # the console shows it; the table keeps every finished row
        out(SweepFailed(str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"))


STOPPED = "stopped; start the same sweep again to resume it (finished rows are kept)"


def _send(msg: SweepMessage) -> None:
    sys.stdout.write(MARK + base64.b64encode(pickle.dumps(msg)).decode("ascii") + "\n")
    sys.stdout.flush()


def main() -> None:
    """``python -m console.research.runner``: the job, pickled, on stdin."""
    job = pickle.loads(sys.stdin.buffer.read())
    run_job(job, _send)


class SweepProcess:
    """One sweep process and the thread that hands its messages to ``deliver`` (called on that
    thread: the caller moves them to the app's loop). A process that ends without its last message
    (killed, out of memory) is reported as a SweepFailed naming its exit code and its log."""

    def __init__(self, job: SweepJob, deliver: Callable[[SweepMessage], None]) -> None:
        self.job = job
        self.log = job.table.with_suffix(".log")
        self._deliver = deliver
        self.process: subprocess.Popen[bytes] | None = None
        self._reader = threading.Thread(target=self._read, name="btk-sweep-reader", daemon=True)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "console.research.runner"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.process.stdin is not None
        self.process.stdin.write(pickle.dumps(self.job))
        self.process.stdin.close()
        self._reader.start()

    def _read(self) -> None:
        proc = self.process
        assert proc is not None and proc.stdout is not None
        last = False
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith(MARK) or last:
                continue  # a strategy's own print
            try:
                msg = pickle.loads(base64.b64decode(line[len(MARK) :]))
            except Exception as exc:  # never leave the tab waiting on a line it cannot read
                msg = SweepFailed(f"unreadable message from the sweep process ({exc}); see {self.log}")
            last = isinstance(msg, SweepDone | SweepFailed)
            self._deliver(msg)
        code = proc.wait()
        if not last:
            self._deliver(
                SweepFailed(f"the sweep process ended (exit code {code}, log {self.log}); start it again to resume")
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, wait: bool = True) -> None:
        """End the sweep process; the table keeps every finished row and the same sweep started
        again resumes from it. ``wait=False`` only asks (the reader reports the end)."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # SIGTERM: run_job turns it into a clean stop of the pool
        if not wait:
            return
        try:
            proc.wait(timeout=120)  # a safety net: the workers finish the backtest each holds
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    # as ``-m`` this file is ``__main__``: run the module under its own name, so the messages it
    # pickles name ``console.research.runner.SweepDone``, which the console can load
    from console.research.runner import main as _main

    _main()
