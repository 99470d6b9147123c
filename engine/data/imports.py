"""Filling a catalog without a network: a CSV file converted once, or the synthetic market.

A CSV import reads the file with the CSV feed's reader (same format, same ``file:line`` errors;
missing minutes allowed and recorded as gaps the exchange did not confirm) and writes the catalog
file; the imported span is the first candle to the minute after the last. A synthetic import writes
the deterministic demo market, so the whole data workflow can be tried offline.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.exchanges.csv_feed import CsvFeedError, load_csv
from engine.model import MINUTE_MS

from .catalog import Catalog, CatalogError, Coverage, concat_unique, merge_spans, read_file, symbol_key

__all__ = ["import_csv", "import_synthetic"]


def _merge_write(
    catalog: Catalog, exchange: str, symbol: str, cols, span: tuple[int, int], source: str, confirmed=()
) -> Coverage:
    """Write ``cols`` over ``span`` into the file, keeping what it held outside ``span`` (under the
    symbol's writer lock: a download of the same file at the same time is refused, not lost)."""
    with catalog.writing(exchange, symbol):
        return _merge_write_locked(catalog, exchange, symbol, cols, span, source, confirmed)


def _merge_write_locked(
    catalog: Catalog, exchange: str, symbol: str, cols, span: tuple[int, int], source: str, confirmed
) -> Coverage:
    path = catalog.path(exchange, symbol)
    spans = [span]
    parts = []
    if path.is_file():
        old = read_file(path)
        keep = (old.columns.timestamp < span[0]) | (old.columns.timestamp >= span[1])
        parts.append(type(old.columns)(*(a[keep] for a in (getattr(old.columns, f) for f in old.columns.__slots__))))
        spans.extend(old.coverage.spans)
        confirmed = (*old.coverage.confirmed, *confirmed)
        if old.coverage.source and old.coverage.source != source:
            source = f"{old.coverage.source}; {source}"
    parts.append(cols)
    return catalog.write(
        exchange, symbol, concat_unique(parts), source=source, spans=merge_spans(spans), confirmed=confirmed
    )


def import_csv(catalog: Catalog, exchange: str, path: str | os.PathLike[str], symbol: str | None = None) -> Coverage:
    """Convert a CSV file of 1m rows (see the README's Data section) into the catalog."""
    path = Path(path)
    name = symbol_key(symbol or path.stem)
    try:
        cols = load_csv(path, allow_gaps=True)
    except CsvFeedError as exc:
        raise CatalogError(str(exc)) from None
    span = (int(cols.timestamp[0]), int(cols.timestamp[-1]) + MINUTE_MS)
    return _merge_write(catalog, exchange, name, cols, span, f"csv {path.name}")


def import_synthetic(
    catalog: Catalog, exchange: str, symbol: str, start_ms: int, end_ms: int, seed: int = 42
) -> Coverage:
    """The synthetic market's 1m candles of ``symbol`` in ``[start_ms, end_ms)`` (whole minutes)."""
    from engine.exchanges.synthetic import SyntheticFeed

    if start_ms % MINUTE_MS or end_ms % MINUTE_MS or end_ms <= start_ms:
        raise CatalogError(f"synthetic import: need whole minutes with start < end, got {start_ms}..{end_ms}")
    cols = SyntheticFeed(seed).columns(symbol, "1m", start_ms, end_ms)
    return _merge_write(catalog, exchange, symbol_key(symbol), cols, (start_ms, end_ms), f"synthetic seed {seed}")
