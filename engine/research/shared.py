"""Candles prepared once and shared read-only by every worker of a sweep.

The parent reads each symbol's 1m candles for the whole sweep (every fold, plus history before and
settlement room after) from the registered exchange, once, and writes them to an Arrow IPC file.
Each worker memory-maps the file: the pages are the operating system's page cache, shared by all
processes, and nothing is pickled per task. Inside a worker the registered exchange keeps its name
and formatting but reads its candles from the mapped file (``SharedFeed``), so runs there see
exactly the candles the parent saw.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from .. import config, registry
from ..candles import PRESENT, CandleError, exchange_client
from ..exchanges.aggregate import MinuteFeed
from ..model import MINUTE_MS, CandleColumns

__all__ = ["SharedCandles", "SharedColumns", "SharedFeed", "prepare_shared", "read_shared", "use_shared"]

_NAMES = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class SharedCandles:
    """Where a symbol's prepared candles are (picklable: paths and bounds only)."""

    paths: Mapping[str, str]
    lo_ms: int
    hi_ms: int


@dataclass(frozen=True, slots=True)
class SharedColumns:
    """The prepared candles themselves, symbol -> column name -> array (what a Ray worker gets from
    the object store: read-only numpy views of its shared memory, not copies)."""

    columns: Mapping[str, Mapping[str, np.ndarray]]
    lo_ms: int
    hi_ms: int


def read_shared(shared: SharedCandles) -> SharedColumns:
    """The prepared files' columns, memory-mapped (zero-copy), e.g. to put them in Ray's object store."""
    return SharedColumns({s: _columns(p) for s, p in shared.paths.items()}, shared.lo_ms, shared.hi_ms)


def _columns(path: str) -> dict[str, np.ndarray]:
    table = ipc.open_file(pa.memory_map(path, "r")).read_all()
    return {name: _view(table.column(name).combine_chunks()) for name in _NAMES}


_DTYPES = MappingProxyType({pa.int64(): np.dtype(np.int64), pa.float64(): np.dtype(np.float64)})
_ARROW_TYPES = MappingProxyType({n: a for a, n in _DTYPES.items()})


def _view(array: pa.Array) -> np.ndarray:
    """A read-only numpy view of a column's mapped bytes (zero-copy). Not ``Array.to_numpy``: that
    imports pandas, ~1.5 CPU s in every fresh worker of a sweep for nothing."""
    dtype = _DTYPES.get(array.type)
    if dtype is None or array.null_count:
        raise CandleError(f"sweep: a shared candle column is {array.type} with {array.null_count} nulls")
    out = np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)
    out.flags.writeable = False
    return out


def _arrow(column: np.ndarray) -> pa.Array:
    """An Arrow array over a numpy column's bytes. Not ``pa.array``/``pa.table``: they import
    pandas, ~0.4 CPU s of a sweep's start for nothing."""
    data = np.ascontiguousarray(column)
    arrow_type = _ARROW_TYPES.get(data.dtype)
    if arrow_type is None:
        raise CandleError(f"sweep: a candle column is {data.dtype}, expected int64 or float64")
    return pa.Array.from_buffers(arrow_type, len(data), [None, pa.py_buffer(data)])


def _read_source(exchange: str, symbol: str, lo_ms: int, hi_ms: int) -> CandleColumns:
    """The exchange's 1m candles in [lo_ms, hi_ms): straight from a column source, otherwise
    through the engine's own candle store (so a ``get_candles`` exchange is asked as a run asks)."""
    schema = registry.exchanges.get(exchange, "sweep")
    if schema.columns is not None:
        return schema.columns.columns(symbol, "1m", lo_ms, hi_ms)
    store = exchange_client(schema, True).store(symbol, "1m")
    lo, hi = lo_ms // MINUTE_MS, hi_ms // MINUTE_MS
    asyncio.run(store.ensure(lo, hi, config.current()))
    a, b = lo - store.base, hi - store.base
    ok = store.status[a:b] == PRESENT
    ts = (np.arange(lo, hi, dtype=np.int64) * MINUTE_MS)[ok]
    cols = [np.asarray(getattr(store, name)[a:b])[ok] for name in _NAMES[1:]]
    return CandleColumns(ts, *cols)


def prepare_shared(exchange: str, symbols: tuple[str, ...], lo_ms: int, hi_ms: int, folder: Path) -> SharedCandles:
    """Write each symbol's candles in [lo_ms, hi_ms) to ``folder/<symbol>.arrow`` (once)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    for symbol in symbols:
        cols = _read_source(exchange, symbol, lo_ms, hi_ms)
        table = pa.Table.from_arrays([_arrow(getattr(cols, name)) for name in _NAMES], names=list(_NAMES))
        path = folder / f"{symbol.replace('/', '_')}.arrow"
        tmp = path.with_suffix(".tmp")
        with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
        paths[symbol] = str(path)
    return SharedCandles(paths, lo_ms, hi_ms)


class SharedFeed(MinuteFeed):
    """1m candles of a few symbols from memory-mapped Arrow files, or from columns already in
    memory (Ray's object store): zero-copy numpy views either way."""

    def __init__(self, shared: SharedCandles | SharedColumns) -> None:
        self.shared = shared
        self._cols: dict[str, CandleColumns] = {}

    def _mapped(self, symbol: str) -> CandleColumns:
        cols = self._cols.get(symbol)
        if cols is None:
            s = self.shared
            known = s.paths if isinstance(s, SharedCandles) else s.columns
            if symbol not in known:
                raise CandleError(f"sweep: no shared candles for {symbol} (prepared: {', '.join(known)})")
            arrays = _columns(s.paths[symbol]) if isinstance(s, SharedCandles) else s.columns[symbol]
            cols = self._cols[symbol] = CandleColumns(*(arrays[name] for name in _NAMES))
        return cols

    def _minutes(self, symbol: str, start_ms: int, end_ms: int) -> CandleColumns:
        s = self.shared
        if start_ms < s.lo_ms or end_ms > s.hi_ms:
            raise CandleError(
                f"sweep: the shared candles of {symbol} cover {s.lo_ms}..{s.hi_ms} ms; a run asked for "
                f"{start_ms}..{end_ms}: widen the sweep's history_minutes / lookahead_minutes"
            )
        cols = self._mapped(symbol)
        lo, hi = np.searchsorted(cols.timestamp, (start_ms, end_ms), side="left")
        return CandleColumns(*(getattr(cols, name)[lo:hi] for name in _NAMES))

    def format_price(self, symbol: str, price: float) -> str:  # replaced by the exchange's own below
        return f"{price}"

    def format_quantity(self, symbol: str, quantity: float) -> str:
        return f"{quantity}"


def use_shared(exchange: str, shared: SharedCandles | SharedColumns) -> None:
    """In a worker: the registered ``exchange`` reads its candles from the shared files from now on
    (its name, formatting and symbols stay the user's)."""
    schema = registry.exchanges.get(exchange, "sweep worker")
    feed = SharedFeed(shared)
    registry.exchanges.replace(exchange, dataclasses.replace(schema, get_candles=feed.get_candles, columns=feed))
