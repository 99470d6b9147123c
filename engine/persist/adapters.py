"""The four kinds of live state (SPEC 14.2) and the queue that writes them.

| adapter                 | directory under the base dir      | document      |
|-------------------------|-----------------------------------|---------------|
| PersistSignalAdapter    | signal/<symbol>_<strategy>/       | <symbol>.json |
| PersistScheduleAdapter  | schedule/<symbol>_<strategy>/     | <symbol>.json |
| PersistRiskAdapter      | risk/<risk name>/                 | positions.json|
| PersistPartialAdapter   | partial/<symbol>_<strategy>/      | levels.json   |

The base dir is ``./dump/data`` unless ``set_base_dir`` says otherwise. Each adapter keeps one
store per directory and lets it check its documents once, on first use. ``use_adapter(cls)``
swaps the storage class (``cls(entity_name, base_dir)`` with async ``wait_for_init``,
``read_value``, ``has_value``, ``write_value``) for stores created afterwards.

Writes go through ``writer``: engine code marks a document dirty (cheap, synchronous) and the
live loop awaits ``writer.flush()`` after each tick, before the tick's result is published, so
nothing is announced that is not on disk yet. A document is written with its state at flush time.
The pending slots (``signal``) are written first: they say whether a position exists, and a live
restart aligns the other documents with them if a crash cut a flush short. A write that fails ends
the flush (the rest wait, so nothing on disk gets ahead of a pending slot) and is retried at the
next one; meanwhile the live runs announce nothing unwritten and open nothing (close-only).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import events
from ..config import Config
from ..log import get_logger
from ..model import SignalRow
from ..settlement import PARTIAL_LEVELS
from ..signals import validate_restored
from .base import PersistBase, PersistError
from .lock import held_folder, release_state_folder
from .quarantine import StateQuarantinedError, forget_stuck, held_documents, quarantine_text

__all__ = [
    "PersistPartialAdapter",
    "PersistRiskAdapter",
    "PersistScheduleAdapter",
    "PersistSignalAdapter",
    "StateWriteStatus",
    "StateWriter",
    "base_dir",
    "held_state",
    "set_base_dir",
    "writer",
]

DEFAULT_BASE_DIR = Path("dump") / "data"
_base_dir: Path = DEFAULT_BASE_DIR

_ROW_NUMBERS = ("price_open", "price_take_profit", "price_stop_loss")


def set_base_dir(path: str | os.PathLike[str] | None) -> None:
    """Where live state lives (default ``./dump/data``); stores opened afterwards use it."""
    global _base_dir
    _base_dir = Path(path) if path is not None else DEFAULT_BASE_DIR
    if held_folder() is not None and held_folder() != Path(os.path.abspath(_base_dir)):
        release_state_folder()  # one writer per folder: the old one is no longer ours to hold
    for adapter in _ADAPTERS:
        adapter.forget()


def base_dir() -> Path:
    return _base_dir


# --------------------------------------------------------------------------- document shapes


def _check_row(value: Any) -> None:
    """The shape every saved row has, whoever reads it (the init scan, a custom store's answer);
    what it means is checked at restore, with the run's config (``row_problems``)."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValueError(f"expected a signal object or null, found {type(value).__name__}")
    missing = [k for k in ("id", "position", *_ROW_NUMBERS) if k not in value]
    if missing:
        raise ValueError(f"signal without {', '.join(missing)}")
    if value["position"] not in ("long", "short"):
        raise ValueError(f"position must be long or short, found {value['position']!r}")
    for k in _ROW_NUMBERS:
        if isinstance(value[k], bool) or not isinstance(value[k], int | float):
            raise ValueError(f"{k} must be a number, found {value[k]!r}")


def row_problems(
    value: dict[str, Any], *, scheduled: bool, symbol: str, strategy_name: str, exchange_name: str, cfg: Config
) -> list[str]:
    """Why a saved row must not be traded by this run (empty: it may): the rules of a new signal
    (SPEC 3.2, with the run's config), the types of the fields the engine reads, and whose it is."""
    out = validate_restored(value, cfg)
    met = value.get("minute_estimated_time")
    if type(met) is float and met.is_integer():  # the only non-int that SPEC 3.2 lets through
        out.append(f"minute_estimated_time must be an integer, got {met!r}")
    if value.get("is_scheduled") is not scheduled:
        slot = "a scheduled (schedule/)" if scheduled else "an open (signal/)"
        out.append(f"is_scheduled must be {str(scheduled).lower()} in {slot} slot, got {value.get('is_scheduled')!r}")
    if not isinstance(value.get("note") or "", str):
        out.append(f"note must be a string, got {value.get('note')!r}")
    for key, ours in (("symbol", symbol), ("strategy_name", strategy_name), ("exchange_name", exchange_name)):
        got = value.get(key)
        if isinstance(got, str) and got and got != ours:
            out.append(f"{key} {got!r} is not this run's {ours!r}: the row belongs to another run")
    return out


def _check_positions(value: Any) -> None:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of [key, position] pairs, found {type(value).__name__}")
    seen: set[str] = set()
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], dict)):
            raise ValueError(f"expected [key, position] pairs, found {item!r}")
        key, record = item
        name = record.get("strategyName")
        if not (isinstance(name, str) and name and key.startswith(f"{name}:") and len(key) > len(name) + 1):
            raise ValueError(f"position {key!r}: the key must be '<strategyName>:<symbol>', record says {name!r}")
        if key in seen:
            raise ValueError(f"position {key!r} is listed twice")
        seen.add(key)
        if record.get("signal") is not None or not isinstance(record.get("exchangeName", ""), str):
            raise ValueError(f"position {key!r}: signal must be null and exchangeName a string")
        opened = record.get("openTimestamp")
        if isinstance(opened, bool) or not isinstance(opened, int | float) or not 0 <= opened < math.inf:
            raise ValueError(f"position {key!r}: openTimestamp must be a timestamp in ms, found {opened!r}")


_LEVEL_KEYS = ("profitLevels", "lossLevels")


def _check_levels(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"expected a map of signal id to levels, found {type(value).__name__}")
    for signal_id, levels in value.items():
        if not signal_id:
            raise ValueError("levels under an empty signal id")
        if not isinstance(levels, dict):
            raise ValueError(f"levels of {signal_id} must be an object")
        unknown = sorted(set(levels) - set(_LEVEL_KEYS))
        if unknown:
            raise ValueError(f"levels of {signal_id} have unknown key(s) {', '.join(unknown)}")
        for key in _LEVEL_KEYS:
            got = levels.get(key, [])
            if not (isinstance(got, list) and all(type(x) is int and x in PARTIAL_LEVELS for x in got)):
                raise ValueError(f"{key} of {signal_id} must be a list of levels out of {list(PARTIAL_LEVELS)}")


# --------------------------------------------------------------------------- adapters


class _Domain:
    """One kind of state: its directory under the base dir, its document shape, its stores."""

    def __init__(self, domain: str, validate: Callable[[Any], None]) -> None:
        self.domain = domain
        self._validate = validate
        self._cls: type = PersistBase
        self._stores: dict[str, Any] = {}

    def use_adapter(self, cls: type) -> None:
        """Store documents with ``cls`` from now on (stores already opened keep their class)."""
        for name in ("wait_for_init", "read_value", "has_value", "write_value"):
            if not callable(getattr(cls, name, None)):
                raise TypeError(f"{self.domain} adapter {cls.__name__} has no {name}()")
        self._cls = cls

    def forget(self) -> None:
        self._stores.clear()

    async def store(self, entity: str) -> Any:
        existing = self._stores.get(entity)
        store = existing
        if store is None:
            entity_name = f"{self.domain}/{entity}"
            if self._cls is PersistBase:
                store = PersistBase(entity_name, _base_dir, self._validate)
            else:
                store = self._cls(entity_name, _base_dir)
            self._stores[entity] = store
        await store.wait_for_init(existing is None)
        return store

    async def _read_checked(self, entity: str, entity_id: str) -> tuple[Any, Any]:
        """(store, value) of a stored document, ``value`` None when there is none. A document that
        cannot be read or has the wrong shape is set aside and its error raised."""
        store = await self.store(entity)
        if not await store.has_value(entity_id):
            return store, None
        try:
            value = await store.read_value(entity_id)
            self._validate(value)  # a custom store may hand back anything
        except (PersistError, ValueError) as exc:
            raise await self._set_aside(store, entity, entity_id, None, str(exc)) from exc
        return store, value

    async def _read(self, entity: str, entity_id: str, default: Any) -> Any:
        _store, value = await self._read_checked(entity, entity_id)
        return default if value is None else value

    async def _set_aside(self, store: Any, entity: str, entity_id: str, value: Any, reason: str) -> PersistError:
        """Quarantine a document that must not be used: the file store moves it; a custom store
        keeps it (it has no delete) and a copy goes to quarantine, which holds the pair the same."""
        if isinstance(store, PersistBase):
            return await store.quarantine_path(store.path_of(entity_id), reason)
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
        original = Path(f"{self.domain}/{entity}") / f"{entity_id}.json"
        item = await asyncio.to_thread(quarantine_text, _base_dir, f"{self.domain}/{entity}", original, text, reason)
        return StateQuarantinedError(item)

    async def _write(self, entity: str, entity_id: str, value: Any) -> None:
        store = await self.store(entity)
        await store.write_value(entity_id, value)


class _RowDomain(_Domain):
    """Pending (``signal``) or scheduled (``schedule``) row of one (symbol, strategy)."""

    scheduled = False  # which slot's rows this domain keeps

    async def read(self, symbol: str, strategy_name: str) -> SignalRow | None:
        value = await self._read(f"{symbol}_{strategy_name}", symbol, None)
        return None if value is None else SignalRow.from_dict(value)

    async def restore(self, symbol: str, strategy_name: str, exchange_name: str, cfg: Config) -> SignalRow | None:
        """The saved row of a live run about to start, if it may be traded by that run; one that
        may not (``row_problems``) is moved to quarantine and its error raised: it is nobody's to
        drop or overwrite."""
        entity = f"{symbol}_{strategy_name}"
        store, value = await self._read_checked(entity, symbol)
        if value is None:
            return None
        problems = row_problems(
            value,
            scheduled=self.scheduled,
            symbol=symbol,
            strategy_name=strategy_name,
            exchange_name=exchange_name,
            cfg=cfg,
        )
        if problems:
            raise await self._set_aside(store, entity, symbol, value, "; ".join(problems))
        return SignalRow.from_dict(value)

    async def write(self, row: SignalRow | None, symbol: str, strategy_name: str) -> None:
        await self._write(f"{symbol}_{strategy_name}", symbol, None if row is None else row.to_dict())


class _SignalDomain(_RowDomain):
    async def read_signal_data(self, symbol: str, strategy_name: str) -> SignalRow | None:
        return await self.read(symbol, strategy_name)

    async def write_signal_data(self, row: SignalRow | None, symbol: str, strategy_name: str) -> None:
        await self.write(row, symbol, strategy_name)


class _ScheduleDomain(_RowDomain):
    scheduled = True

    async def read_schedule_data(self, symbol: str, strategy_name: str) -> SignalRow | None:
        return await self.read(symbol, strategy_name)

    async def write_schedule_data(self, row: SignalRow | None, symbol: str, strategy_name: str) -> None:
        await self.write(row, symbol, strategy_name)


class _RiskDomain(_Domain):
    async def read_position_data(self, risk_name: str) -> list[list[Any]]:
        return await self._read(risk_name, "positions", [])

    async def write_position_data(self, positions: list[list[Any]], risk_name: str) -> None:
        await self._write(risk_name, "positions", positions)


class _PartialDomain(_Domain):
    async def read_partial_data(self, symbol: str, strategy_name: str) -> dict[str, dict[str, list[int]]]:
        return await self._read(f"{symbol}_{strategy_name}", "levels", {})

    async def write_partial_data(
        self, levels: dict[str, dict[str, list[int]]], symbol: str, strategy_name: str
    ) -> None:
        await self._write(f"{symbol}_{strategy_name}", "levels", levels)


PersistSignalAdapter = _SignalDomain("signal", _check_row)
PersistScheduleAdapter = _ScheduleDomain("schedule", _check_row)
PersistRiskAdapter = _RiskDomain("risk", _check_positions)
PersistPartialAdapter = _PartialDomain("partial", _check_levels)
_ADAPTERS = (PersistSignalAdapter, PersistScheduleAdapter, PersistRiskAdapter, PersistPartialAdapter)


def held_state(symbol: str, strategy_name: str, risk_names: tuple[str, ...] | list[str]) -> list[Path]:
    """Quarantined documents that hold live trading of (symbol, strategy): its rows and levels,
    and the positions of every risk profile it uses."""
    pair = f"{symbol}_{strategy_name}"
    entities = [f"{d.domain}/{pair}" for d in (PersistSignalAdapter, PersistScheduleAdapter, PersistPartialAdapter)]
    entities += [f"{PersistRiskAdapter.domain}/{name}" for name in risk_names]
    return held_documents(_base_dir, entities)


def reset_adapters() -> None:
    """Default storage class, default base dir, no open stores (tests, ``reset_engine``)."""
    global _base_dir
    _base_dir = DEFAULT_BASE_DIR
    for adapter in _ADAPTERS:
        adapter._cls = PersistBase
        adapter.forget()
    forget_stuck()
    writer.clear()
    release_state_folder()


# --------------------------------------------------------------------------- the write queue


@dataclass(frozen=True, slots=True)
class StateWriteStatus:
    """The state folder became unwritable (``writable`` False: the first failed document's path
    and the OS error) or writable again. Emitted on ``state_write`` once per change, not per retry."""

    writable: bool
    path: str = ""
    error: str = ""

    def __str__(self) -> str:
        if self.writable:
            return "state writable again, resuming new entries"
        return f"CLOSE-ONLY: state not writable ({self.path}: {self.error}); no new entries until a write succeeds"


def _describe_failure(key: tuple[str, ...], exc: Exception) -> StateWriteStatus:
    """Path and OS error of a failed write (a custom store's error is shown as it is)."""
    path, error = getattr(exc, "path", None), getattr(exc, "os_error", None)
    if path is None or error is None:
        os_error = next((c for c in _causes(exc) if isinstance(c, OSError)), None)
        path = path or (os_error.filename if os_error is not None and os_error.filename else "/".join(key))
        error = error or (
            f"[Errno {os_error.errno}] {os_error.strerror}" if os_error is not None and os_error.errno else str(exc)
        )
    return StateWriteStatus(False, str(path), str(error))


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


class StateWriter:
    """Documents waiting to be written, at most one write per document (the latest state wins).

    ``failure`` is set while the last flush could not write everything: the live runs then
    announce nothing whose state is not on disk and open nothing new (close-only), and every flush
    retries. The change each way is reported once (error stream, engine log, ``state_write``)."""

    def __init__(self) -> None:
        self._dirty: dict[tuple[str, ...], Callable[[], Awaitable[None]]] = {}
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self.failure: StateWriteStatus | None = None

    def mark(self, key: tuple[str, ...], write: Callable[[], Awaitable[None]]) -> None:
        self._dirty[key] = write

    @property
    def pending(self) -> int:
        return len(self._dirty)

    def clear(self) -> None:
        self._dirty.clear()
        self.failure = None

    async def flush(self) -> bool:
        """Write every dirty document; one that fails stays dirty for the next flush. True when
        everything is written (``failure`` is None).

        Flushes run one at a time: a flush that finds its documents already taken by another
        one still writing them returns only when those writes are done (two live runs share
        this queue, and each publishes its tick's result when its flush returns)."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:
            await self._flush()
        return self.failure is None

    async def _flush(self) -> None:
        """Pending slots first, then the rest; the first failure ends the flush. The documents
        after it stay dirty, so the disk never holds a risk position or levels that are ahead of
        the pending slot they follow (a failed close must not clear the levels of a position
        that is still open on disk); the restore aligns the ones left behind."""
        failure: tuple[tuple[str, ...], Exception] | None = None
        while self._dirty:
            key = next((k for k in self._dirty if k[0] == "signal"), None) or next(iter(self._dirty))
            write = self._dirty.pop(key)
            try:
                await write()
            except Exception as exc:
                self._dirty = {key: write, **self._dirty}  # first again at the next flush
                failure = (key, exc)
                break
        if failure is not None:
            key, exc = failure
            if self.failure is None:
                self.failure = _describe_failure(key, exc)
                await events.report_error(PersistError(str(self.failure)))
                await events.report_state_write(self.failure)
            else:  # still failing: the change was reported; a retry is not news
                get_logger().debug(f"state still not writable ({len(self._dirty)} document(s) waiting): {exc}")
        elif self.failure is not None:
            self.failure = None
            status = StateWriteStatus(True)
            get_logger().info(str(status))
            await events.report_state_write(status)


writer = StateWriter()
