"""Daemons for the tests: a real ``btk-console daemon`` subprocess (tests/console/daemon_child.py) per
``place()`` call, in a short folder under /tmp, always stopped at the end (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from console.client import Connection, DaemonClient, Feed

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "t0k3n-for-the-daemon-test-0123456789"
SAFETY = 60.0  # seconds: only a hung daemon ever reaches it


class Daemon:
    """A daemon subprocess. Its stdout is read line by line by a thread, so a test waits for the
    line it expects (an event), never by polling on a timer; stderr goes to a file."""

    def __init__(self, dump: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.dump = dump
        dump.parent.mkdir(parents=True, exist_ok=True)
        n = len(list(dump.parent.glob("err*")))
        self.err_path = dump.parent / f"err{n}"
        self._lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.console.daemon_child", "--dump", str(dump), *args],
            stdout=subprocess.PIPE,
            stderr=self.err_path.open("w"),
            cwd=ROOT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # drained as it comes: the pipe never fills
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_line(self, wanted: Callable[[str], bool]) -> str | None:
        """The first stdout line ``wanted`` accepts, waiting for each new line; None when the
        daemon's stdout ended without one. SAFETY fails a daemon that hangs."""
        with self._changed:
            seen = 0
            while True:
                for line in self._lines[seen:]:
                    if wanted(line):
                        return line.rstrip("\n")
                seen = len(self._lines)
                if self._ended:
                    return None
                if not self._changed.wait(SAFETY):
                    pytest.fail(f"the daemon printed nothing for {SAFETY:.0f} s (a safety limit; is it stuck?)")

    def out(self) -> str:
        if self.proc.poll() is not None:
            self._reader.join(SAFETY)  # everything it printed, once it has ended
        with self._changed:
            return "".join(self._lines)

    def err(self) -> str:
        return self.err_path.read_text()

    def wait_ready(self) -> str:
        """The first line (the daemon listens once it is written), or fail with its stderr."""
        first = self.wait_line(lambda _line: True)
        if first is None:
            self.proc.wait(SAFETY)
            pytest.fail(f"daemon exited {self.proc.returncode}: {self.err()}")
        assert first.startswith("daemon pid "), first
        return first

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(SAFETY)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def place():
    """A short folder under /tmp (a Unix socket path must stay under 108 bytes) and the daemons
    started in it, all stopped at the end whatever happened."""
    root = Path(tempfile.mkdtemp(prefix="btkd", dir="/tmp"))
    started: list[Daemon] = []

    def start(*args: str, dump: str = "dump", env: dict[str, str] | None = None) -> Daemon:
        d = Daemon(root / dump, *args, env=env)
        started.append(d)
        return d

    start.root = root  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for d in started:
            with contextlib.suppress(Exception):
                d.stop()
        shutil.rmtree(root, ignore_errors=True)


async def _until(client: DaemonClient, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Ask the daemon's status again after each message on its stream until ``ok`` accepts it:
    every change the tests wait for (events numbered, a run stopped, a client gone while the
    daemon trades on) comes with stream messages, so this waits on events, not on a timer. The
    waiter's own stream connection is not counted in the ``clients`` it passes to ``ok``."""

    async def wait() -> dict[str, Any]:
        feed = Feed(client)
        items = feed.__aiter__()
        try:
            while True:
                item = await items.__anext__()
                if isinstance(item, Connection):
                    continue
                status = await client.status()
                status["clients"] -= 1  # this feed
                if ok(status):
                    return status
        finally:
            await items.aclose()

    try:
        return await asyncio.wait_for(wait(), SAFETY)
    except TimeoutError:
        pytest.fail(f"the daemon never got there in {SAFETY:.0f} s (a safety limit; is it stuck?)")


def _run_cli(argv: list[str]) -> tuple[int, str, str]:

    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()
