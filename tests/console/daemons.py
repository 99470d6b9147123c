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
import time
from pathlib import Path

import pytest

from console.cli import main

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "t0k3n-for-the-daemon-test-0123456789"
SAFETY = 60.0  # seconds: only a hung daemon ever reaches it


class Daemon:
    """A daemon subprocess with its stdout and stderr in files (no pipe to fill up)."""

    def __init__(self, dump: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.dump = dump
        dump.parent.mkdir(parents=True, exist_ok=True)
        n = len(list(dump.parent.glob("out*")))
        self.out_path, self.err_path = dump.parent / f"out{n}", dump.parent / f"err{n}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.console.daemon_child", "--dump", str(dump), *args],
            stdout=self.out_path.open("w"),
            stderr=self.err_path.open("w"),
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )

    def out(self) -> str:
        return self.out_path.read_text()

    def err(self) -> str:
        return self.err_path.read_text()

    def wait_ready(self) -> str:
        """The first line (the daemon listens once it is written), or fail with its stderr."""
        deadline = time.monotonic() + SAFETY
        while time.monotonic() < deadline:
            text = self.out()
            if "\n" in text:
                first = text.splitlines()[0]
                assert first.startswith("daemon pid "), first
                return first
            if self.proc.poll() is not None:
                pytest.fail(f"daemon exited {self.proc.returncode}: {self.err()}")
            time.sleep(0.05)
        pytest.fail("daemon did not start")

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


async def _until(ask, ok) -> None:
    """Ask the daemon until its answer is ``ok`` (the safety net fails a hung daemon)."""
    deadline = time.monotonic() + SAFETY
    while time.monotonic() < deadline:
        if ok(await ask()):
            return
        await asyncio.sleep(0.05)
    pytest.fail("the daemon never got there")


def _run_cli(argv: list[str]) -> tuple[int, str, str]:

    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()
