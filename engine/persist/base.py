"""One JSON document per entity id, written so that a crash at any moment leaves either the old
document or the new one on disk, never half of either (SPEC 14.1).

A write goes through ``atomic.write_atomic_async``: a unique temp file in the same directory,
flushed and fsync'ed, renamed over the target (rename is atomic within a filesystem), then the
directory is fsync'ed so the rename itself survives a power cut. File I/O runs on worker threads,
so the event loop that also drives the live loop and the console never blocks on the disk.

A store opened on a directory with damaged documents (truncated by a crash of something else,
edited by hand, written by an older schema) moves them to quarantine (``quarantine.py``) and says
which and why: such a document may be the only record of an open position, so it is never deleted
and never overwritten; the pairs it belongs to wait for a person, the others trade. Temp files of
interrupted writes are deleted: they are never the live document.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os

from .. import events
from ..clock import get_clock
from ..log import get_logger
from .atomic import TEMP_PREFIX, write_atomic_async

__all__ = ["PersistBase", "PersistError", "PersistWriteError", "atomic_write_text"]

DELETE_ATTEMPTS = 5
DELETE_RETRY_MS = 1000


class PersistError(Exception):
    """A document that could not be read, parsed or written; says which entity and file."""


class PersistWriteError(PersistError):
    """A document the disk refused (full, read-only, gone): ``path`` and ``os_error`` say which
    file and why, for the one-line close-only report."""

    def __init__(self, message: str, path: Path, os_error: OSError) -> None:
        super().__init__(message)
        self.path = str(path)
        self.os_error = f"[Errno {os_error.errno}] {os_error.strerror}" if os_error.errno else str(os_error)


def _natural_key(name: str) -> list[Any]:
    """``a2`` before ``a10``, case-insensitively (the order ids are checked in at init)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


async def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically and durably (``atomic.py`` says how). A name of this
    module on purpose: the crash tests wrap it here to stop a write half-way."""
    await write_atomic_async(path, text)


class PersistBase:
    """``PersistBase(entity_name, base_dir)``: documents in ``base_dir/entity_name/<id>.json``.

    ``validate(value)`` (optional) raises when a parsed document has the wrong shape; such a
    document is treated like a corrupted one at init.
    """

    def __init__(
        self, entity_name: str, base_dir: str | os.PathLike[str], validate: Callable[[Any], None] | None = None
    ) -> None:
        self.entity_name = entity_name
        self.base_dir = Path(base_dir)
        self.directory = self.base_dir / entity_name
        self.validate = validate
        self._ready = False
        self._init_lock = asyncio.Lock()
        self.removed: list[tuple[str, str]] = []  # (file name, reason) of temp files removed at init
        self.quarantined: list[Any] = []  # quarantine.Quarantined of documents moved aside

    def __repr__(self) -> str:
        return f"PersistBase({self.entity_name!r}, {str(self.base_dir)!r})"

    def path_of(self, entity_id: str) -> Path:
        return self.directory / f"{entity_id}.json"

    # -- init ----------------------------------------------------------------------------------
    async def wait_for_init(self, initial: bool = True) -> None:
        """Once per store: create the directory, drop leftover temp files, and check every
        document, moving to quarantine (and reporting) those that do not parse or have the wrong
        shape."""
        if self._ready:
            return
        async with self._init_lock:
            if self._ready:
                return
            await aiofiles.os.makedirs(self.directory, exist_ok=True)
            names = sorted(await aiofiles.os.listdir(self.directory), key=_natural_key)
            for name in names:
                path = self.directory / name
                if name.startswith(TEMP_PREFIX):  # a write that was interrupted before its rename
                    await self._remove_temp(path, "an unfinished write (temp file)")
                elif name.endswith(".json"):
                    try:
                        self._check(await self._read_text(path))
                    except Exception as exc:
                        await events.report_error(await self.quarantine_path(path, str(exc)))
            self._ready = True

    def _check(self, text: str) -> Any:
        if not text.strip():
            raise ValueError("the file is empty")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        if self.validate is not None:
            self.validate(value)
        return value

    async def _remove_temp(self, path: Path, reason: str) -> None:
        log = get_logger()
        log.warning(f"persist {self.entity_name}: removing {path}: {reason}")
        self.removed.append((path.name, reason))
        for attempt in range(DELETE_ATTEMPTS):
            try:
                await aiofiles.os.remove(path)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if attempt == DELETE_ATTEMPTS - 1:
                    log.warning(f"persist {self.entity_name}: could not remove {path}: {exc}")
                else:
                    await get_clock().sleep(DELETE_RETRY_MS)
        await events.report_error(PersistError(f"removed leftover state file {path}: {reason}"))

    async def quarantine_path(self, path: Path, reason: str) -> PersistError:
        """Move a document that failed its checks out of the way (never delete it); returns the
        error to report: where it went and why, or that it could not be moved (it is then left in
        place and its pair is held by this process all the same)."""
        from . import quarantine  # it builds on PersistError, defined here

        try:
            item = await asyncio.to_thread(quarantine.quarantine_file, self.base_dir, self.entity_name, path, reason)
        except OSError as exc:
            quarantine.note_stuck(self.base_dir, self.entity_name, path)
            get_logger().warning(f"persist {self.entity_name}: could not quarantine {path}: {exc}")
            return PersistError(
                f"state file {path} failed its checks ({reason}) and could not be moved to quarantine "
                f"({exc}); it is left in place and live trading of what it belongs to is held"
            )
        self.quarantined.append(item)
        return quarantine.StateQuarantinedError(item)

    # -- documents -----------------------------------------------------------------------------
    @staticmethod
    async def _read_text(path: Path) -> str:
        async with aiofiles.open(path, encoding="utf-8") as f:
            return await f.read()

    async def read_value(self, entity_id: str) -> Any:
        path = self.path_of(entity_id)
        try:
            text = await self._read_text(path)
        except FileNotFoundError:
            raise PersistError(f"Entity {self.entity_name}:{entity_id} not found") from None
        try:
            return self._check(text)
        except Exception as exc:
            raise PersistError(f"Failed to read entity {self.entity_name}:{entity_id} ({path}): {exc}") from exc

    async def has_value(self, entity_id: str) -> bool:
        return await aiofiles.os.path.exists(self.path_of(entity_id))

    async def write_value(self, entity_id: str, value: Any) -> None:
        path = self.path_of(entity_id)
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PersistError(f"Failed to serialise entity {self.entity_name}:{entity_id}: {exc}") from exc
        try:
            await atomic_write_text(path, text)
        except OSError as exc:
            message = f"Failed to write entity {self.entity_name}:{entity_id} ({path}): {exc}"
            raise PersistWriteError(message, path, exc) from exc

    async def remove_value(self, entity_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await aiofiles.os.remove(self.path_of(entity_id))

    async def remove_all(self) -> None:
        for entity_id in await self.keys():
            await self.remove_value(entity_id)

    async def keys(self) -> list[str]:
        """Ids of the stored documents, in natural order."""
        try:
            names = await aiofiles.os.listdir(self.directory)
        except FileNotFoundError:
            return []
        ids = [n[: -len(".json")] for n in names if n.endswith(".json") and not n.startswith(TEMP_PREFIX)]
        return sorted(ids, key=_natural_key)

    async def values(self) -> AsyncIterator[Any]:
        for entity_id in await self.keys():
            yield await self.read_value(entity_id)

    async def filter(self, predicate: Callable[[Any], bool]) -> AsyncIterator[Any]:
        async for value in self.values():
            if predicate(value):
                yield value

    async def take(self, n: int, predicate: Callable[[Any], bool] | None = None) -> list[Any]:
        out: list[Any] = []
        if n <= 0:
            return out
        async for value in self.values():
            if predicate is None or predicate(value):
                out.append(value)
                if len(out) >= n:
                    break
        return out
