"""The local candle catalog: one Arrow IPC file per (exchange, symbol, interval), memory-mapped.

Why Arrow IPC (feather v2, uncompressed) and not Parquet: an uncompressed IPC file holds each
column as one contiguous little-endian buffer, 64-byte aligned, exactly as numpy wants it, so
``pyarrow.memory_map`` + ``pyarrow.ipc.open_file`` hands out numpy views of the file's pages: no
parse, no decode, no copy, and two processes reading the same file share the page cache. Parquet
always decodes (pages, encodings, optional compression) into fresh memory. pandas
(``read_feather``), polars (``read_ipc``) and DuckDB read the file directly.

Layout under the catalog root (``data/`` beside btk.toml by default)::

    <root>/<exchange>/<SYMBOL>-1m.arrow          the candles and their coverage (one file)
    <root>/<exchange>/<SYMBOL>-1m.parts/*.arrow  a download in progress: one file per finished chunk

A file has the columns ``timestamp`` (int64, UTC ms of the candle's open), ``open``, ``high``,
``low``, ``close``, ``volume`` (float64), ascending, in one record batch, and its coverage in the
schema metadata (key ``btk.catalog``, JSON), so candles and coverage are replaced together by one
atomic rename and can never disagree. Coverage says which minutes were asked for (``spans``), and
which missing minutes the exchange confirmed as missing (``confirmed``: asked again, still none).
Nothing in a file depends on when or in what pieces it was written, so a download interrupted and
resumed writes the same bytes as one that was not.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import mmap
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.model import MINUTE_MS, CandleColumns
from engine.persist.atomic import TEMP_PREFIX, write_atomic
from engine.persist.lock import LockHolder

from .stamp import Checked, Stamp, check_columns, load_stamp, save_stamp

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "FIELDS",
    "Catalog",
    "CatalogError",
    "CatalogFile",
    "CatalogLocked",
    "Coverage",
    "Gap",
    "Verdict",
    "merge_spans",
    "symbol_key",
    "verify_columns",
    "write_bytes_atomic",
]

FIELDS = ("timestamp", "open", "high", "low", "close", "volume")
META_KEY = b"btk.catalog"
FORMAT_VERSION = 1
SUFFIX = ".arrow"
_TEMP_PREFIX = TEMP_PREFIX  # the shared atomic write's temp files
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class CatalogError(ValueError):
    """A catalog file or request that cannot be served; the message names the file or the request."""


class CatalogLocked(CatalogError):
    """Another process is writing this symbol's file (a download, an update or an import)."""

    def __init__(self, path: Path, holder: LockHolder) -> None:
        self.path = path
        self.holder = holder
        super().__init__(
            f"{path}: another btk process is writing it (pid {holder.pid}, command {holder.command!r}, "
            f"since {holder.since}); wait for it to finish or stop it, then run this again"
        )


Span = tuple[int, int]


def symbol_key(symbol: str) -> str:
    """The file name of a symbol: upper-case letters and digits, so ``btc/usdt`` is ``BTCUSDT``."""
    key = re.sub(r"[^A-Z0-9]", "", str(symbol).upper())
    if not key:
        raise CatalogError(f"symbol {symbol!r} has no letters or digits")
    return key


def _check_name(what: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise CatalogError(f"{what} {name!r} cannot be a folder name (letters, digits, '.', '_' or '-')")
    return name


def iso(ms: int) -> str:
    return str(np.datetime64(int(ms), "ms")).replace(":00.000", "") + "Z"


def merge_spans(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Sorted, non-overlapping, non-touching ``[start, end)`` spans covering the same minutes."""
    out: list[list[int]] = []
    for a, b in sorted((int(a), int(b)) for a, b in spans if b > a):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def subtract_spans(want: Span, have: Sequence[Span]) -> list[Span]:
    """The parts of ``want`` that no span of ``have`` covers."""
    a, b = want
    out = []
    for s, e in merge_spans(have):
        if e <= a or s >= b:
            continue
        if s > a:
            out.append((a, s))
        a = max(a, e)
    if a < b:
        out.append((a, b))
    return out


# --------------------------------------------------------------------------- atomic bytes


def write_bytes_atomic(path: Path, data: bytes | memoryview | pa.Buffer) -> None:
    """Write ``data`` to ``path`` so a reader (or a crash) sees the old file or the new one, never
    half of one: the engine's one atomic write (engine/persist/atomic.py), in a directory made first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, memoryview(data))


# --------------------------------------------------------------------------- coverage


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing 1m candles ``[start_ms, end_ms)`` inside what was asked for. ``confirmed``: the
    exchange was asked again and still had none (a real gap in its data, not a lost answer)."""

    start_ms: int
    end_ms: int
    confirmed: bool

    @property
    def minutes(self) -> int:
        return (self.end_ms - self.start_ms) // MINUTE_MS


@dataclass(frozen=True, slots=True)
class Coverage:
    """What one catalog file holds: where it came from, which minutes were asked for, which of them
    have candles. Stored in the file's schema metadata (see the module docstring)."""

    exchange: str
    symbol: str
    interval: str = "1m"
    source: str = ""
    spans: tuple[Span, ...] = ()  # minutes asked for (or imported), merged
    confirmed: tuple[Span, ...] = ()  # missing minutes the exchange confirmed missing
    rows: int = 0
    first_ms: int | None = None  # open of the first candle
    last_ms: int | None = None  # open of the last candle
    gaps: tuple[Gap, ...] = field(default=())

    @property
    def end_ms(self) -> int | None:
        """Everything before this was asked for, if the spans are contiguous (the update point)."""
        return self.spans[-1][1] if self.spans else None

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT_VERSION,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "interval": self.interval,
            "source": self.source,
            "spans": [list(s) for s in self.spans],
            "confirmed": [list(s) for s in self.confirmed],
            "rows": self.rows,
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "gaps": [[g.start_ms, g.end_ms, g.confirmed] for g in self.gaps],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @staticmethod
    def from_json(raw: bytes, where: str) -> Coverage:
        try:
            doc = json.loads(raw)
            if doc.get("format") != FORMAT_VERSION:
                raise CatalogError(f"{where}: catalog format {doc.get('format')!r}, this btk reads {FORMAT_VERSION}")
            return Coverage(
                exchange=str(doc["exchange"]),
                symbol=str(doc["symbol"]),
                interval=str(doc["interval"]),
                source=str(doc.get("source", "")),
                spans=tuple((int(a), int(b)) for a, b in doc["spans"]),
                confirmed=tuple((int(a), int(b)) for a, b in doc["confirmed"]),
                rows=int(doc["rows"]),
                first_ms=None if doc["first_ms"] is None else int(doc["first_ms"]),
                last_ms=None if doc["last_ms"] is None else int(doc["last_ms"]),
                gaps=tuple(Gap(int(a), int(b), bool(c)) for a, b, c in doc["gaps"]),
            )
        except CatalogError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise CatalogError(f"{where}: unreadable coverage metadata ({exc!r})") from None


def _missing_runs(ts: np.ndarray, span: Span) -> list[Span]:
    """Runs of minutes in ``span`` with no timestamp in ``ts`` (ascending, unique)."""
    a, b = span
    lo, hi = np.searchsorted(ts, (a, b))
    inside = ts[lo:hi]
    edges = np.concatenate(([a - MINUTE_MS], inside, [b]))
    steps = np.diff(edges)
    at = np.flatnonzero(steps > MINUTE_MS)
    return [(int(edges[i]) + MINUTE_MS, int(edges[i + 1])) for i in at]


def describe(
    cols: CandleColumns,
    *,
    exchange: str,
    symbol: str,
    source: str,
    spans: Iterable[Span],
    confirmed: Iterable[Span] = (),
) -> Coverage:
    """The coverage of ``cols``: gaps are the missing minutes inside the spans, except those before
    the first candle (a market that did not trade yet); a gap is confirmed when every one of its
    minutes was confirmed missing by the exchange."""
    spans = merge_spans(spans)
    confirmed_spans = merge_spans(confirmed)
    ts = cols.timestamp
    first = int(ts[0]) if len(ts) else None
    missing = [run for span in spans for run in _missing_runs(ts, span)]
    gaps = [
        Gap(a, b, not subtract_spans((a, b), confirmed_spans))
        for a, b in missing
        if first is not None and b > first  # minutes before the first candle: the market did not trade yet
    ]
    # keep only confirmations of minutes still missing (a later download may have filled some)
    kept = merge_spans((max(a, ma), min(b, mb)) for ma, mb in missing for a, b in confirmed_spans if a < mb and b > ma)
    return Coverage(
        exchange=exchange,
        symbol=symbol,
        source=source,
        spans=spans,
        confirmed=kept,
        rows=len(ts),
        first_ms=first,
        last_ms=int(ts[-1]) if len(ts) else None,
        gaps=tuple(gaps),
    )


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of ``verify_columns``: no problems means the candles are fit for a backtest."""

    rows: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_columns(cols: CandleColumns, where: str) -> Verdict:
    """Check candles as a backtest would trust them: timestamps on whole minutes, strictly
    ascending (so no duplicates), and SPEC 3.5's sanity rules on every candle (finite, positive
    prices, volume not negative, no price below the reference / factor, high and low consistent)."""
    from engine.candles import iso as engine_iso
    from engine.candles import sanity_mask
    from engine.config import current

    problems: list[str] = []
    ts = cols.timestamp
    off = np.flatnonzero(ts % MINUTE_MS)
    if off.size:
        i = int(off[0])
        problems.append(f"{where}: row {i}: timestamp {int(ts[i])} is not on a whole minute ({off.size} rows)")
    steps = np.diff(ts)
    dup = np.flatnonzero(steps == 0)
    if dup.size:
        i = int(dup[0]) + 1
        problems.append(f"{where}: row {i}: duplicate timestamp {engine_iso(int(ts[i]))} ({dup.size} duplicates)")
    back = np.flatnonzero(steps < 0)
    if back.size:
        i = int(back[0]) + 1
        problems.append(f"{where}: row {i}: timestamp {engine_iso(int(ts[i]))} goes back in time ({back.size} rows)")
    bad, why = sanity_mask(cols, current())
    if why is not None:
        problems.append(f"{where}: {int(bad.sum())} candle(s) fail SPEC 3.5's sanity rules; first: {why}")
    return Verdict(len(ts), tuple(problems))


# --------------------------------------------------------------------------- files


_DTYPES = {"timestamp": np.dtype("<i8")} | {f: np.dtype("<f8") for f in FIELDS[1:]}


def _schema() -> pa.Schema:
    """The catalog's columns (pyarrow is imported here, when a file is written or read without a
    stamp: a backtest reading stamped files never loads it)."""
    import pyarrow as pa

    fields = [pa.field("timestamp", pa.int64(), nullable=False)]
    return pa.schema(fields + [pa.field(name, pa.float64(), nullable=False) for name in FIELDS[1:]])


def _arrow(values: np.ndarray, name: str) -> pa.Array:
    """A column as an Arrow array over the numpy buffer (``pa.array`` would import pandas: 40 MB)."""
    import pyarrow as pa

    data = np.ascontiguousarray(values, dtype=_DTYPES[name])
    return pa.Array.from_buffers(_schema().field(name).type, len(data), [None, pa.py_buffer(data)])


def _numpy(column: pa.Array, name: str) -> np.ndarray:
    """A view of an Arrow column's values buffer (``to_numpy`` would import pandas, see ``_arrow``)."""
    if column.null_count:
        raise CatalogError(f"column {name} has {column.null_count} null(s)")
    dtype = _DTYPES[name]
    return np.frombuffer(column.buffers()[1], dtype=dtype, count=len(column), offset=column.offset * dtype.itemsize)


def _serialize(cols: CandleColumns, coverage: Coverage) -> pa.Buffer:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    arrays = [_arrow(getattr(cols, f), f) for f in FIELDS]
    schema = _schema().with_metadata({META_KEY: coverage.to_json()})
    batch = pa.record_batch(arrays, schema=schema)
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, schema, options=ipc.IpcWriteOptions(compression=None)) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


def _layout(data: pa.Buffer) -> tuple[int, ...]:
    """Where each column's values start in a file's bytes (``_serialize``'s output)."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    batch = ipc.open_file(pa.BufferReader(data)).get_batch(0)
    return _offsets_in(data.address, [_numpy(batch.column(i), f) for i, f in enumerate(FIELDS)])


@dataclass(frozen=True, slots=True)
class CatalogFile:
    """An open catalog file: its coverage and its columns as read-only views of the mapped file."""

    path: Path
    coverage: Coverage
    columns: CandleColumns
    stamp: tuple[int, int, int]  # (inode, size, mtime_ns) when opened: a changed file is reopened
    checked: Checked | None = None  # what a full check of this version found (engine/data/stamp.py)
    offsets: tuple[int, ...] | None = None  # where each column's values start in the file

    def with_check(self) -> CatalogFile:
        """This file with its ``checked`` facts: from its stamp, or found now (once per version of
        the file) and stamped for the next open."""
        if self.checked is not None:
            return self
        checked = check_columns(self.columns)
        with contextlib.suppress(OSError):
            st = self.path.stat()
            if (st.st_ino, st.st_size, st.st_mtime_ns) == self.stamp:  # still the version read
                save_stamp(self.path, st, checked, offsets=self.offsets, coverage=self.coverage.to_json())
        return CatalogFile(self.path, self.coverage, self.columns, self.stamp, checked, self.offsets)


def _offsets_in(base: int, arrays: Sequence[np.ndarray]) -> tuple[int, ...]:
    return tuple(int(a.ctypes.data) - base for a in arrays)


def _read_stamped(path: Path, st: os.stat_result, stamp: Stamp) -> CatalogFile | None:
    """``path`` mapped with numpy views at the offsets its stamp recorded (no pyarrow), or None
    when the stamp holds no layout or the file is no longer the stamped version."""
    rows = stamp.checked.rows
    if stamp.offsets is None or stamp.coverage is None or len(stamp.offsets) != len(FIELDS) or rows <= 0:
        return None
    if any(off < 0 or off % 8 or off + rows * 8 > st.st_size for off in stamp.offsets):
        return None
    with open(path, "rb") as handle:
        now = os.fstat(handle.fileno())
        if (now.st_ino, now.st_size, now.st_mtime_ns) != (st.st_ino, st.st_size, st.st_mtime_ns):
            return None  # replaced since the stamp was matched: the slow path reads what is there
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    arrays = [np.frombuffer(mapped, dtype=_DTYPES[f], count=rows, offset=off) for f, off in zip(FIELDS, stamp.offsets)]
    coverage = Coverage.from_json(stamp.coverage, str(path))
    if coverage.rows != rows:
        return None
    stat = (st.st_ino, st.st_size, st.st_mtime_ns)
    return CatalogFile(path, coverage, CandleColumns(*arrays), stat, stamp.checked, stamp.offsets)


def read_file(path: Path) -> CatalogFile:
    """Map ``path`` and view its columns (zero copy for files this module wrote: one record batch).

    A file with a matching stamp (engine/data/stamp.py) is mapped at the offsets it records; any
    other is opened with pyarrow and checked for the catalog's schema and coverage."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CatalogError(f"catalog file not found: {path}") from None
    except OSError as exc:
        raise CatalogError(f"{path}: not a readable Arrow IPC file ({exc})") from None
    stamp = load_stamp(path, st)
    if stamp is not None:
        with contextlib.suppress(OSError, ValueError):
            found = _read_stamped(path, st, stamp)
            if found is not None:
                return found
    import pyarrow as pa
    import pyarrow.ipc as ipc

    try:
        st = path.stat()
        source = pa.memory_map(str(path), "r")
        reader = ipc.open_file(source)
        again = path.stat()
        if (again.st_ino, again.st_mtime_ns) != (st.st_ino, st.st_mtime_ns):  # replaced meanwhile
            return read_file(path)
    except FileNotFoundError:
        raise CatalogError(f"catalog file not found: {path}") from None
    except (pa.ArrowException, OSError) as exc:
        raise CatalogError(f"{path}: not a readable Arrow IPC file ({exc})") from None
    meta = reader.schema.metadata or {}
    if META_KEY not in meta:
        raise CatalogError(f"{path}: no btk coverage metadata (not written by btk's catalog?)")
    coverage = Coverage.from_json(meta[META_KEY], str(path))
    names = tuple(reader.schema.names)
    if names != FIELDS:
        raise CatalogError(f"{path}: columns {', '.join(names)}; expected {', '.join(FIELDS)}")
    types = [str(f.type) for f in reader.schema]
    if types != [str(f.type) for f in _schema()]:
        raise CatalogError(f"{path}: column types {', '.join(types)}; expected int64 then five doubles")
    offsets = None
    if reader.num_record_batches == 1:
        batch = reader.get_batch(0)
        arrays = [_numpy(batch.column(i), f) for i, f in enumerate(FIELDS)]
        source.seek(0)
        offsets = _offsets_in(source.read_buffer(8).address, arrays) if len(arrays[0]) else None
        if offsets is not None and any(not 0 <= off < st.st_size for off in offsets):
            offsets = None  # not views of this map after all: nothing to record
    elif reader.num_record_batches == 0:
        arrays = [np.empty(0, dtype=np.int64)] + [np.empty(0) for _ in FIELDS[1:]]
    else:  # written by another tool: correct, but combined into one copy
        table = reader.read_all().combine_chunks()
        arrays = [_numpy(table.column(i).chunk(0), f).copy() for i, f in enumerate(FIELDS)]
    for a in arrays:
        if a.flags.writeable:  # views of the map are read-only already; a combined copy is made so
            a.setflags(write=False)
    cols = CandleColumns(*arrays)
    if len(cols) != coverage.rows:
        raise CatalogError(f"{path}: {len(cols)} rows but the coverage says {coverage.rows}")
    stamp = load_stamp(path, st)
    return CatalogFile(path, coverage, cols, (st.st_ino, st.st_size, st.st_mtime_ns), stamp and stamp.checked, offsets)


class Catalog:
    """A catalog folder: where each (exchange, symbol, interval) file lives, and writing them."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Catalog({str(self.root)!r})"

    def path(self, exchange: str, symbol: str, interval: str = "1m") -> Path:
        _check_name("exchange", exchange)
        return self.root / exchange / f"{symbol_key(symbol)}-{interval}{SUFFIX}"

    def parts_dir(self, exchange: str, symbol: str, interval: str = "1m") -> Path:
        path = self.path(exchange, symbol, interval)
        return path.with_name(path.stem + ".parts")

    @contextlib.contextmanager
    def writing(self, exchange: str, symbol: str, interval: str = "1m") -> Iterator[None]:
        """Hold the symbol's writer lock (``<SYMBOL>-1m.lock`` beside its file) while writing it.

        Two downloads of one symbol would merge and delete each other's part files, and an import
        racing a download would lose one of them in the final rename; so writers take an exclusive
        ``flock`` first and a second one is refused at once, naming the holder. Readers (backtests)
        never lock: they read whole files that a rename replaces. The kernel drops the lock when a
        process dies however it dies, so a killed download never blocks its resume."""
        path = self.path(exchange, symbol, interval)
        lock = path.with_name(path.stem + ".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CatalogLocked(
                    path, LockHolder.parse(lock.read_text(encoding="utf-8", errors="replace"))
                ) from None
            with contextlib.suppress(OSError):  # the label is for a refused process to read; the lock holds anyway
                os.ftruncate(fd, 0)
                os.pwrite(fd, LockHolder.this_process().to_text().encode(), 0)
            yield
        finally:
            os.close(fd)  # drops the flock

    def exchanges(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name))

    def symbols(self, exchange: str, interval: str = "1m") -> list[str]:
        """The symbols with a file for ``exchange`` (sorted)."""
        folder = self.root / _check_name("exchange", exchange)
        tail = f"-{interval}{SUFFIX}"
        if not folder.is_dir():
            return []
        return sorted(p.name[: -len(tail)] for p in folder.iterdir() if p.name.endswith(tail) and p.is_file())

    def has(self, exchange: str, symbol: str, interval: str = "1m") -> bool:
        return self.path(exchange, symbol, interval).is_file()

    def open(self, exchange: str, symbol: str, interval: str = "1m") -> CatalogFile:
        path = self.path(exchange, symbol, interval)
        if not path.is_file():
            have = ", ".join(self.symbols(exchange, interval)) or "none"
            raise CatalogError(
                f"catalog {self.root}: no {interval} candles for {exchange} {symbol_key(symbol)} "
                f"(symbols there: {have}); download them with: btk-console data download "
                f"--exchange {exchange} --symbol {symbol_key(symbol)} --from YYYY-MM-DD"
            )
        return read_file(path)

    def write(
        self,
        exchange: str,
        symbol: str,
        cols: CandleColumns,
        *,
        source: str,
        spans: Iterable[Span],
        confirmed: Iterable[Span] = (),
    ) -> Coverage:
        """Replace the file of (exchange, symbol) with ``cols`` (ascending, unique) atomically."""
        coverage = describe(
            cols, exchange=exchange, symbol=symbol_key(symbol), source=source, spans=spans, confirmed=confirmed
        )
        path = self.path(exchange, symbol)
        data = _serialize(cols, coverage)
        write_bytes_atomic(path, data)
        with contextlib.suppress(OSError):  # the candles are in memory: check them now, not on every open
            offsets = _layout(data) if len(cols) else None
            checked = check_columns(cols)
            save_stamp(path, path.stat(), checked, memoryview(data), offsets=offsets, coverage=coverage.to_json())
        return coverage

    def write_part(self, path: Path, cols: CandleColumns, coverage: Coverage) -> None:
        """One finished download chunk (same format; the merge reads it back)."""
        write_bytes_atomic(path, _serialize(cols, coverage))


def concat_unique(parts: Sequence[CandleColumns]) -> CandleColumns:
    """Ascending columns with one row per timestamp (a later part wins a tie) from any parts."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return CandleColumns.empty()
    if len(parts) == 1:
        return parts[0]
    arrays = [np.concatenate([getattr(p, f) for p in parts]) for f in FIELDS]
    ts = arrays[0]
    # stable sort on reversed input, then keep the first of each timestamp: the last part wins
    rev = ts[::-1]
    order = np.argsort(rev, kind="stable")
    keep = np.concatenate(([True], np.diff(rev[order]) != 0))
    idx = (len(ts) - 1 - order)[keep]
    return CandleColumns(*(a[idx] for a in arrays))
