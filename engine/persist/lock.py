"""One writer per state folder: an OS lock (``flock``) on ``<state folder>/.lock``.

Two live processes on one folder would trade the same positions and overwrite each other's
documents. The first live run of a process takes an exclusive, non-blocking lock on the folder's
lock file before it restores anything, and the process keeps it for its life (or until the engine
moves to another state folder). The kernel drops the lock when the process dies, however it dies,
so a SIGKILLed process never blocks its restart. The holder writes who it is into the file (pid,
command line, since when), which is what a refused second process shows.

Backtests never take the lock. Two runs in one process share it (they share one state writer).
The file is not a ``.json`` document, so the stores' init scan leaves it alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["LOCK_NAME", "LockHolder", "StateFolderLocked", "held_folder", "hold_state_folder", "release_state_folder"]

LOCK_NAME = ".lock"


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds a state folder, as written in its lock file."""

    pid: str
    command: str
    since: str

    def to_text(self) -> str:
        return f"pid {self.pid}\ncommand {self.command}\nsince {self.since}\n"

    @classmethod
    def parse(cls, text: str) -> LockHolder:
        """Read what a holder wrote; anything missing reads as ``unknown`` (a holder that was
        still writing, or a file of another version)."""
        fields = dict(line.partition(" ")[::2] for line in text.splitlines() if line.strip())
        return cls(*(fields.get(k, "").strip() or "unknown" for k in ("pid", "command", "since")))

    @classmethod
    def this_process(cls) -> LockHolder:
        since = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(str(os.getpid()), " ".join(sys.argv) or sys.executable, since)


class StateFolderLocked(Exception):
    """Another process holds the state folder: this one must not trade on it."""

    def __init__(self, folder: Path, holder: LockHolder) -> None:
        self.folder = folder
        self.holder = holder
        super().__init__(
            f"state folder {folder} is in use by another live process (pid {holder.pid}, "
            f"command {holder.command!r}, since {holder.since}); stop it first, or use another dump folder"
        )


@dataclass(slots=True)
class _Held:
    folder: Path
    fd: int


_held: _Held | None = None


def held_folder() -> Path | None:
    """The state folder this process holds, if any."""
    return _held.folder if _held is not None else None


def _open_lock_file(path: Path) -> int:
    """A read-only descriptor of the lock file, created if missing (``flock`` needs no write
    access, and a process that keeps no file open for writing lets the folder be remounted
    read-only under it)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        if not path.exists():
            raise
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def _label(path: Path) -> None:
    """Write who holds the lock into its file; on a full or read-only disk the lock still holds,
    only its label is missing. Written in place, not with ``atomic.write_atomic``: a rename would
    put a new, unlocked file under the name and leave the lock on the old inode."""
    with contextlib.suppress(OSError), open(path, "w", encoding="utf-8") as f:
        f.write(LockHolder.this_process().to_text())


def hold_state_folder(folder: Path) -> None:
    """Take the folder's lock for this process (nothing to do if it already holds it). A lock on
    another folder is released first. Raises ``StateFolderLocked`` naming the holder, or
    ``OSError`` when the folder cannot be created or its lock file opened."""
    global _held
    folder = Path(os.path.abspath(folder))
    if _held is not None and _held.folder == folder:
        return
    release_state_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = _open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = LockHolder.parse(path.read_text(encoding="utf-8", errors="replace"))
        os.close(fd)
        raise StateFolderLocked(folder, holder) from None
    except BaseException:
        os.close(fd)
        raise
    _label(path)
    _held = _Held(folder, fd)


def release_state_folder() -> None:
    """Let the folder go (the engine moved to another folder, or tests reset the engine)."""
    global _held
    if _held is None:
        return
    held, _held = _held, None
    with contextlib.suppress(OSError):
        os.close(held.fd)  # closing the only descriptor drops the flock
