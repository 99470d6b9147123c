"""Two ``btk-console live`` processes on one dump folder (issue 20, item 1): the second refuses
with one line naming the holder and exits non-zero; once the holder is SIGKILLed, a new one starts
at once (the kernel dropped the lock with the process). Real processes on the offline demo; the
tests wait for the processes' own output, never for a fixed time (60 s safety timeouts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60


def _live(dump: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", "live", "--strategy", "demo-trend", "--dump-dir", str(dump)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=REPO,
    )


def _started(proc: subprocess.Popen) -> None:
    first = proc.stdout.readline()  # written once the runs hold the folder and the loop is running
    assert first.startswith("live on demo-synthetic from "), first + proc.stderr.read()


def test_a_second_live_process_on_the_folder_refuses_naming_the_holder_until_the_holder_dies(tmp_path) -> None:
    holder = _live(tmp_path)
    procs = [holder]
    try:
        _started(holder)
        second = _live(tmp_path)
        procs.append(second)
        out, err = second.communicate(timeout=TIMEOUT_S)
        assert second.returncode == 1, out + err
        assert out == ""
        [line] = err.splitlines()  # one line, no traceback
        assert line.startswith(f"btk-console: error: state folder {tmp_path / 'data'} is in use by another live")
        assert f"(pid {holder.pid}, command " in line and "console/cli.py live --strategy demo-trend" in line
        assert "since 20" in line

        holder.send_signal(signal.SIGKILL)
        holder.wait(TIMEOUT_S)
        third = _live(tmp_path)  # at once: no stale lock to wait out or remove
        procs.append(third)
        _started(third)
        third.send_signal(signal.SIGTERM)
        out, err = third.communicate(timeout=TIMEOUT_S)
        assert third.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                stream.close()
