"""The one atomic write (engine/persist/atomic.py): whole new file or the old one, never half, and
no temp file left by a failure. Failures are real ones: a rename onto a directory, a file-size
limit that makes the write itself fail (EFBIG) or kills the writer mid-write (SIGXFSZ)."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.persist.atomic import TEMP_PREFIX, temp_path_for, write_atomic, write_atomic_async

ROOT = Path(__file__).resolve().parents[2]


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_temp_file_is_beside_the_target_and_says_what_it_is(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "doc.json"
    tmp = temp_path_for(target)
    assert tmp.parent == target.parent  # same directory, so the rename stays on one filesystem
    assert tmp.name.startswith(TEMP_PREFIX) and tmp.name.endswith("-doc.json")
    assert temp_path_for(target) != tmp  # unique per write


def test_a_new_file_is_written_whole_with_ordinary_permissions(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    assert write_atomic(target, "héllo\nworld") == target
    assert target.read_bytes() == "héllo\nworld".encode()
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    assert _temps(tmp_path) == []


def test_replacing_keeps_the_old_files_permissions(tmp_path: Path) -> None:
    target = tmp_path / "btk.toml"
    target.write_text("old")
    target.chmod(0o640)
    write_atomic(target, b"new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_failed_rename_leaves_the_target_as_it_was_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.mkdir()
    (target / "inside").write_text("keep me")
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert (target / "inside").read_text() == "keep me"
    assert _temps(tmp_path) == []


def test_anything_but_text_or_bytes_is_refused_before_touching_the_disk(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="expected str, bytes or a buffer, got dict"):
        write_atomic(tmp_path / "doc.json", {"a": 1})  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_a_buffer_is_written_as_it_is(tmp_path: Path) -> None:
    """A catalog file arrives as an Arrow buffer: written through a view (no copy), byte for byte."""
    import numpy as np

    data = np.arange(1000, dtype=np.int64)
    write_atomic(tmp_path / "cols.bin", memoryview(data))
    assert (tmp_path / "cols.bin").read_bytes() == data.tobytes()


async def test_the_async_face_writes_and_cleans_up_the_same_way(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_text("old")
    assert await write_atomic_async(target, '{"a": 1}') == target
    assert target.read_text() == '{"a": 1}'
    folder = tmp_path / "folder.json"
    folder.mkdir()
    with pytest.raises(OSError):
        await write_atomic_async(folder, "new")
    assert folder.is_dir() and _temps(tmp_path) == []


async def test_a_cancelled_async_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_text("old")
    task = asyncio.ensure_future(write_atomic_async(target, "x" * 20_000_000))
    await asyncio.sleep(0)  # the write has started on its thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the temp file goes once the thread is done with it: wait for the thread itself (a count of
    # loop turns was a deadline a loaded machine could pass before 20 MB were on disk)
    await asyncio.get_running_loop().shutdown_default_executor()
    for _ in range(100):  # then the write's completion callback runs on the loop
        if not _temps(tmp_path):
            break
        await asyncio.sleep(0)
    assert _temps(tmp_path) == []
    assert target.read_text() == "old"


def _limited_writer(folder: Path, *, ignore_sigxfsz: bool) -> subprocess.CompletedProcess[str]:
    """A child process whose files may not grow past 64 KiB writes 1 MiB over ``folder/doc.json``:
    with SIGXFSZ ignored the write fails with EFBIG, otherwise the kernel kills it mid-write."""
    code = textwrap.dedent(
        f"""
        import resource, signal, sys
        from engine.persist.atomic import write_atomic
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        # CPython ignores SIGXFSZ at start; the default action kills the process mid-write
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN if {ignore_sigxfsz!r} else signal.SIG_DFL)
        try:
            write_atomic({str(folder / "doc.json")!r}, "y" * (1 << 20))
        except OSError as exc:
            print("OSError", exc.errno)
            sys.exit(3)
        """
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_write_the_disk_refuses_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "doc.json").write_text("old")
    done = _limited_writer(tmp_path, ignore_sigxfsz=True)
    assert done.returncode == 3, done.stderr
    assert done.stdout.split() == ["OSError", "27"]  # EFBIG
    assert (tmp_path / "doc.json").read_text() == "old"
    assert _temps(tmp_path) == []


def test_a_writer_killed_mid_write_leaves_the_old_file_and_its_temp_beside_it(tmp_path: Path) -> None:
    (tmp_path / "doc.json").write_text("old")
    done = _limited_writer(tmp_path, ignore_sigxfsz=False)
    assert done.returncode == -signal.SIGXFSZ, done.stderr
    assert (tmp_path / "doc.json").read_text() == "old"
    [left] = _temps(tmp_path)  # nothing ran after the kill: the half-written temp, recognisable by name
    assert left.endswith("-doc.json") and (tmp_path / left).stat().st_size == 65536
