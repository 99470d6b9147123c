"""Downloading 1m candles from a ccxt exchange into the catalog: resumable, incremental, honest.

Through the engine's ccxt adapter (``CcxtFeed``: pagination, ccxt's rate limiter, retries with
backoff honouring ``Retry-After``). The range is cut into chunks on a fixed grid (whole UTC days by
default); each finished chunk is written at once, atomically, as its own part file next to the
symbol's file. When every chunk is in, the parts and the old file are merged into the new file (one
atomic rename) and the parts removed. A download killed at any moment therefore leaves finished
chunks and, at worst, a temp file: run it again and it skips what is there, then merges. Because a
file's bytes depend only on its candles and coverage, the result is the same, byte for byte, as a
download that was never interrupted.

Never stored: the candle still forming. The end of any download is the exchange's own clock
(``fetch_time``; the local clock when the exchange has none) floored to the minute, so only candles
that closed are kept.

Gaps: the minutes a page leaves out are asked for once more; those still missing are recorded as
gaps the exchange confirmed, and never asked for again (``data update`` starts after them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.model import MINUTE_MS, CandleColumns

from .catalog import (
    _TEMP_PREFIX,
    SUFFIX,
    Catalog,
    Coverage,
    concat_unique,
    describe,
    merge_spans,
    read_file,
    subtract_spans,
    symbol_key,
)

__all__ = ["CHUNK_MINUTES", "ChunkDone", "download_symbol", "exchange_now_ms"]

CHUNK_MINUTES = 1440
"""A part file per UTC day: a kill loses at most a day's pages."""


@dataclass(frozen=True, slots=True)
class ChunkDone:
    """Progress after one chunk was written (what a progress bar shows)."""

    symbol: str
    start_ms: int
    end_ms: int
    candles: int  # candles in this chunk
    done_minutes: int  # minutes fetched so far in this download (present or confirmed missing)
    total_minutes: int  # minutes this download has to fetch
    bytes_written: int  # bytes of part files written so far


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


async def exchange_now_ms(feed: Any) -> int:
    """The exchange's clock (ccxt ``fetch_time``), else the local clock."""
    ex = await feed.exchange()
    if (ex.has or {}).get("fetchTime"):
        return int(await feed._call("fetch_time", ex.fetch_time))
    return time.time_ns() // 1_000_000


def _columns(rows: dict[int, list[Any]]) -> CandleColumns:
    if not rows:
        return CandleColumns.empty()
    ordered = [rows[t] for t in sorted(rows)]
    data = np.array([r[1:6] for r in ordered], dtype=np.float64).reshape(len(ordered), 5)
    ts = np.fromiter(sorted(rows), dtype=np.int64, count=len(rows))
    return CandleColumns(ts, *(np.ascontiguousarray(data[:, i]) for i in range(5)))


async def _pages(feed: Any, symbol: str, a: int, b: int, per_call: int, rows: dict[int, list[Any]]) -> None:
    """Ask for ``[a, b)`` page by page (an empty page moves on: a hole longer than a page does not
    end the walk), keeping candles inside the range."""
    step = per_call * MINUTE_MS
    for page in range(a, b, step):
        end = min(page + step, b)
        got = await feed.get_candles(symbol, "1m", _dt(page), (end - page) // MINUTE_MS)
        for row in got:
            t = int(row[0])
            if page <= t < end:
                rows[t] = row


async def _fetch(feed: Any, symbol: str, a: int, b: int, per_call: int) -> tuple[CandleColumns, list[tuple[int, int]]]:
    """Candles of ``[a, b)`` and the runs the exchange confirmed missing (asked twice, still none)."""
    rows: dict[int, list[Any]] = {}
    await _pages(feed, symbol, a, b, per_call, rows)
    cols = _columns(rows)
    confirmed = []
    for ma, mb in _missing(cols.timestamp, a, b):
        await _pages(feed, symbol, ma, mb, per_call, rows)  # once more, then it is a gap
        confirmed.extend(_missing(_columns(rows).timestamp, ma, mb))
    return _columns(rows), confirmed


def _missing(ts: np.ndarray, a: int, b: int) -> list[tuple[int, int]]:
    edges = np.concatenate(([a - MINUTE_MS], ts, [b]))
    at = np.flatnonzero(np.diff(edges) > MINUTE_MS)
    return [(int(edges[i]) + MINUTE_MS, int(edges[i + 1])) for i in at]


def _read_parts(folder: Path) -> list[tuple[Path, Coverage, CandleColumns]]:
    """Finished parts (temp files of a killed writer are removed: they were never renamed in)."""
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(_TEMP_PREFIX):
            path.unlink(missing_ok=True)
        elif path.suffix == SUFFIX:
            part = read_file(path)
            out.append((path, part.coverage, part.columns))
    return out


def merge_parts(catalog: Catalog, exchange: str, symbol: str, source: str) -> Coverage | None:
    """Fold the finished parts into the symbol's file (one atomic write), then remove them."""
    folder = catalog.parts_dir(exchange, symbol)
    parts = _read_parts(folder)
    path = catalog.path(exchange, symbol)
    if not parts:
        return read_file(path).coverage if path.is_file() else None
    pieces, spans, confirmed = [], [], []
    if path.is_file():
        old = read_file(path)
        pieces.append(old.columns)
        spans.extend(old.coverage.spans)
        confirmed.extend(old.coverage.confirmed)
    for _, cov, cols in parts:
        pieces.append(cols)
        spans.extend(cov.spans)
        confirmed.extend(cov.confirmed)
    coverage = catalog.write(
        exchange, symbol, concat_unique(pieces), source=source, spans=merge_spans(spans), confirmed=confirmed
    )
    for part_path, _, _ in parts:
        part_path.unlink(missing_ok=True)
    folder.rmdir()
    return coverage


async def download_symbol(
    catalog: Catalog,
    exchange: str,
    feed: Any,
    symbol: str,
    start_ms: int,
    end_ms: int | None = None,
    *,
    on_chunk: Callable[[ChunkDone], None] | None = None,
    chunk_minutes: int = CHUNK_MINUTES,
    now_ms: int | None = None,
) -> Coverage | None:
    """Download the closed 1m candles of ``symbol`` in ``[start_ms, end_ms)`` (default: up to the
    exchange's now) that the catalog does not have yet, then merge them into its file. A second
    writer of the same file is refused (``CatalogLocked``) before anything is fetched."""
    with catalog.writing(exchange, symbol):
        return await _download_locked(
            catalog, exchange, feed, symbol, start_ms, end_ms, on_chunk, chunk_minutes, now_ms
        )


async def _download_locked(
    catalog: Catalog,
    exchange: str,
    feed: Any,
    symbol: str,
    start_ms: int,
    end_ms: int | None,
    on_chunk: Callable[[ChunkDone], None] | None,
    chunk_minutes: int,
    now_ms: int | None,
) -> Coverage | None:
    key = symbol_key(symbol)
    market = await feed.market(symbol)
    per_call = feed._per_call(await feed.exchange(), market)
    now = await exchange_now_ms(feed) if now_ms is None else now_ms
    closed_end = now // MINUTE_MS * MINUTE_MS  # the candle opening here is still forming
    start = -(-int(start_ms) // MINUTE_MS) * MINUTE_MS
    end = closed_end if end_ms is None else min(int(end_ms) // MINUTE_MS * MINUTE_MS, closed_end)
    source = f"ccxt {feed.exchange_id} {market['symbol']}"
    folder = catalog.parts_dir(exchange, key)
    have: list[tuple[int, int]] = []
    path = catalog.path(exchange, key)
    if path.is_file():
        have.extend(read_file(path).coverage.spans)
    for _, cov, _ in _read_parts(folder):
        have.extend(cov.spans)
    grid = chunk_minutes * MINUTE_MS
    todo = []
    for k in range(start // grid, -(-end // grid)):
        chunk = (max(k * grid, start), min((k + 1) * grid, end))
        if chunk[1] > chunk[0]:
            todo.extend(subtract_spans(chunk, have))
    total = sum(b - a for a, b in todo) // MINUTE_MS
    done = written = 0
    for a, b in todo:
        cols, confirmed = await _fetch(feed, symbol, a, b, per_call)
        cov = describe(cols, exchange=exchange, symbol=key, source=source, spans=[(a, b)], confirmed=confirmed)
        part = folder / f"{a:013d}-{b:013d}{SUFFIX}"
        catalog.write_part(part, cols, cov)
        done += (b - a) // MINUTE_MS
        written += part.stat().st_size
        if on_chunk is not None:
            on_chunk(ChunkDone(key, a, b, len(cols), done, total, written))
    return merge_parts(catalog, exchange, key, source)
