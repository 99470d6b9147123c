"""Replacing a file atomically: the one helper every whole-file write of btk goes through.

State documents, reports and the console's settings all promise the same thing: a reader, or the
next start after a crash or a power cut, finds either the old file or the new one, never half of
either. The recipe, in order:

1. the data goes to a new temp file *in the target's directory* (a rename is atomic only within one
   filesystem), named ``.tmp-<random>-<name>`` so a store's init scan and a person can tell it apart;
2. it is flushed and ``fsync``'ed, so the rename can never expose a file whose data is not on disk;
3. ``os.replace`` renames it over the target: readers see the old inode or the new one;
4. the directory is ``fsync``'ed, so the rename itself survives a power cut.

A failure before the rename leaves the old file untouched and removes the temp file; a crash
(nothing runs any more) can leave the temp file behind, which is why it has a recognisable name.
The new file keeps the old file's permission bits; a new file gets the ordinary ``0o666`` less the
umask (not the private ``0o600`` of ``tempfile.mkstemp``).

Two faces with one recipe: ``write_atomic`` for synchronous callers (reports, settings) and
``write_atomic_async`` for the live state writer, which must not block the event loop that also
runs the live loop and the console. Its rename goes through ``aiofiles.os.replace``: the tests that
simulate a full disk fail exactly that call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import stat
from pathlib import Path

import aiofiles.os

__all__ = ["TEMP_PREFIX", "temp_path_for", "write_atomic", "write_atomic_async"]

TEMP_PREFIX = ".tmp-"


def temp_path_for(path: Path) -> Path:
    """A fresh temp name beside ``path`` (same directory, so the rename stays on one filesystem)."""
    return path.parent / f"{TEMP_PREFIX}{secrets.token_hex(6)}-{path.name}"


def _as_bytes(data: str | bytes | memoryview) -> bytes | memoryview:
    """Text as UTF-8; bytes as they are; any other buffer (a memoryview, an Arrow buffer of a
    catalog file) as a view, not a copy."""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, bytes):
        return data
    try:
        return memoryview(data)
    except TypeError:
        raise TypeError(f"atomic write: expected str, bytes or a buffer, got {type(data).__name__}") from None


def _write_temp(tmp: Path, data: bytes, target: Path) -> None:
    """Create ``tmp`` (never an existing file), write all of ``data``, fsync it."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)  # the umask applies
    try:
        with contextlib.suppress(FileNotFoundError):
            os.fchmod(fd, stat.S_IMODE(os.stat(target).st_mode))  # replacing keeps the file's permissions
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Replace ``path`` with ``data`` (text is written as UTF-8) atomically and durably.

    Raises ``OSError`` as the system reported it; the old file is then unchanged and no temp file
    is left. The directory must exist (callers decide whether to create it)."""
    target = Path(path)
    payload = _as_bytes(data)
    tmp = temp_path_for(target)
    try:
        _write_temp(tmp, payload, target)
        os.replace(tmp, target)
    except BaseException:
        _unlink(tmp)
        raise
    _fsync_dir(target.parent)
    return target


async def write_atomic_async(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """``write_atomic`` with the disk work on a worker thread.

    Cancelled while the temp file is being written, it removes the temp file once the thread is
    done with it (removing it earlier could race the thread that is still creating it)."""
    target = Path(path)
    payload = _as_bytes(data)
    tmp = temp_path_for(target)
    writing = asyncio.get_running_loop().run_in_executor(None, _write_temp, tmp, payload, target)
    try:
        await asyncio.shield(writing)
        await aiofiles.os.replace(tmp, target)
    except BaseException:
        if writing.done():
            _unlink(tmp)
        else:
            writing.add_done_callback(lambda _f: _unlink(tmp))
        raise
    await asyncio.to_thread(_fsync_dir, target.parent)
    return target
