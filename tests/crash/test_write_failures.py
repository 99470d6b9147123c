"""A state folder whose disk fails mid-run (issue 20, item 2), with real processes: the crash
test's child (tests/crash/child.py, JSON store, synthetic exchange) trades with its state on a tiny
tmpfs that the test fills up, or remounts read-only, while the run is parked between two ticks.
The run must go close-only and announce nothing it could not write; it is SIGKILLed while the disk
is still bad, the state is moved to a healthy disk, and the restart must restore no position
announced closed and miss none announced opened (with every other invariant of the crash test,
harness._check). The injected-ENOSPC/EROFS case is the crash test's write-failure phase.

Mounting needs root (the CI runs as root); where ``mount`` fails the tests are skipped, saying why.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.crash.harness import ForkServer, Plan, run_iteration

TMPFS_SIZE = "1m"


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def server() -> Iterator[ForkServer]:
    forks = ForkServer()
    yield forks
    forks.close()


@dataclass
class BadDisk:
    """``dump/data`` of a run directory on its own small tmpfs; ``start`` fills it (``full``) or
    remounts it read-only; ``heal`` moves what is on it to the run directory's own disk."""

    run_dir: Path
    how: str  # "full" or "read-only"
    after: str = "opened"
    steps: int = 2
    mounted: bool = False

    @property
    def data(self) -> Path:
        return self.run_dir / "dump" / "data"

    def mount(self) -> None:
        self.data.mkdir(parents=True)
        try:
            _mount("-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(self.data))
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or exc
            pytest.skip(f"cannot mount a tmpfs here ({str(detail).strip()}): needs root and mount(8)")
        self.mounted = True

    def start(self) -> None:
        if self.how == "read-only":
            _mount("-o", "remount,ro", str(self.data))
            return
        with open(self.data / "filler", "wb") as f:  # until the disk is full
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc

    def heal(self) -> None:
        if not self.mounted:
            return
        saved = self.run_dir / "saved-state"
        shutil.copytree(self.data, saved, ignore=shutil.ignore_patterns("filler"))
        _mount_off(self.data)
        self.mounted = False
        shutil.copytree(saved, self.data, dirs_exist_ok=True)
        shutil.rmtree(saved)


def _mount_off(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=True, capture_output=True, timeout=60)


@pytest.mark.parametrize("how", ["full", "read-only"])
@pytest.mark.parametrize(
    ("after", "steps", "kill_steps"),
    [
        ("opened", 2, 45),  # the position is open on disk; its milestones and close cannot be written
        ("started", 1, 5),  # nothing on disk yet; the open cannot be written
    ],
)
def test_a_run_whose_disk_fails_is_close_only_announces_nothing_unwritten_and_restarts_true(
    tmp_path: Path, server: ForkServer, how: str, after: str, steps: int, kill_steps: int
) -> None:
    disk = BadDisk(tmp_path / "run", how, after, steps)
    disk.mount()
    try:
        plan = Plan(after="state", steps=kill_steps)  # killed while close-only: the disk is still bad
        outcome = run_iteration(server, disk.run_dir, "json", plan, ["--exchange", "synthetic"], disk)
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            if disk.mounted:
                _mount_off(disk.data)
    assert outcome.close_only and not outcome.resumed
    errors = (disk.run_dir / "events.jsonl").read_text()
    code = "No space left on device" if how == "full" else "Read-only file system"
    assert errors.count("CLOSE-ONLY: state not writable") == 1 and code in errors
    stderr = (disk.run_dir / "stderr-1.log").read_text()
    assert "Traceback" not in stderr, stderr
