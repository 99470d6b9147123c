"""A catalog as an exchange: backtests read the memory-mapped columns, with no parse and no copy.

``CatalogFeed`` is a ``MinuteFeed`` like the CSV and synthetic feeds, so the engine's column fast
path applies: ``columns()`` slices views of the mapped file (``searchsorted`` on the timestamps) and
the candle store keeps those views as its columns (``lends_columns``): no copy on the hot path. A file is opened on
first use and reopened when it changes on disk (``data update`` while a console is open).

What the catalog does not have is an error, not an empty answer: a backtest over minutes nobody
downloaded would otherwise "succeed" with no trades. A request that reaches no minute the catalog
covers fails at once (``CatalogRangeError``, a ``SourceError``: the run stops with that one error),
and so does one that runs past the covered minutes by more than the engine's own read-ahead (the
candles a run fetches after its last frame, for signals still open there). A request reaching back
before the first covered minute is served with what there is, as the CSV feed does: that is a
strategy's warm-up history, and the engine warns when it is short.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from engine.candles import SourceError
from engine.exchanges.aggregate import MinuteFeed, slice_columns
from engine.exchanges.csv_feed import price_decimals
from engine.model import MINUTE_MS, CandleColumns

from .catalog import Catalog, CatalogError, CatalogFile, iso, subtract_spans, symbol_key

__all__ = ["CatalogFeed", "CatalogFileError", "CatalogRangeError"]


class CatalogFileError(CatalogError, SourceError):
    """A catalog file that cannot be read (missing, corrupt): the run fails at once."""


class CatalogRangeError(CatalogError, SourceError):
    """A run asked for minutes the catalog does not cover: the run fails at once."""


def _read_ahead_minutes() -> int:
    """The most a backtest fetches past its last frame (``BacktestRun.prepare``), plus one."""
    from engine.config import current

    cfg = current()
    lifetime = cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES or 0
    return cfg.CC_SCHEDULE_AWAIT_MINUTES + min(lifetime, 3 * 1440) + cfg.CC_AVG_PRICE_CANDLES_COUNT + 2


class CatalogFeed(MinuteFeed):
    """1m candles of one exchange's folder in a catalog; other intervals are aggregated."""

    lends_columns = True
    """The 1m columns are read-only views of a mapped file, alive as long as the views: the candle
    store keeps them as its own columns instead of copying them (engine/candles.py ``_adopt``)."""

    def __init__(self, root: str | os.PathLike[str], exchange: str) -> None:
        self.catalog = Catalog(root)
        self.exchange = exchange
        self.catalog.path(exchange, "X")  # validates the exchange's folder name
        self._open: dict[str, CatalogFile] = {}
        self._decimals: dict[str, int] = {}
        self._breaks: dict[Path, tuple[CatalogFile, np.ndarray]] = {}  # per open file: rows before a gap
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CatalogFeed({str(self.catalog.root)!r}, {self.exchange!r})"

    def symbols(self) -> list[str]:
        return self.catalog.symbols(self.exchange)

    def file(self, symbol: str) -> CatalogFile:
        """The open file of ``symbol`` (reopened if it was replaced since)."""
        key = symbol_key(symbol)
        found = self._open.get(key)
        path = self.catalog.path(self.exchange, key)
        try:
            st = path.stat()
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        if found is not None and found.stamp == stamp:
            return found
        with self._lock:
            try:
                found = self.catalog.open(self.exchange, key).with_check()
            except CatalogError as exc:
                raise CatalogFileError(str(exc)) from None
            self._open[key] = found
        return found

    def columns_checked(
        self, symbol: str, interval: str, start_ms: int, end_ms: int, factor: float
    ) -> tuple[CandleColumns, bool]:
        """``columns`` for a backtest, and whether SPEC 3.5's check of them is known to find
        nothing under ``factor`` (the file's stamp says so, engine/data/stamp.py): the engine then
        places them without checking again. Only 1m candles of one unchanged file are vouched for."""
        found = self.file(symbol)
        cols = self.columns(symbol, interval, start_ms, end_ms)
        if interval != "1m" or found.checked is None or self.file(symbol) is not found:
            return cols, False
        return cols, found.checked.passes(factor)

    def lend(self, symbol: str, start_ms: int, end_ms: int, at_ms: int) -> CandleColumns | None:
        """The gap-free run of the file's 1m candles within ``[start_ms, end_ms)`` that holds the
        candle opening at ``at_ms``, as views of the mapped file (None if there is no such candle).

        A backtest store that keeps the file's columns (``lends_columns``) takes this run rather
        than only the minutes it asked for, so the history a strategy asks for next, within the
        range the store reserved, is there already instead of copying the columns to add it. Only
        a file whose stamp vouches for every slice is asked (engine/candles.py ``_place``): its
        candles read the same whichever request brings them."""
        found = self.file(symbol)
        ts = found.columns.timestamp
        row = int(np.searchsorted(ts, at_ms))
        if row >= len(ts) or int(ts[row]) != at_ms:
            return None
        breaks = self._breaks.get(found.path)
        if breaks is None or breaks[0] is not found:
            breaks = self._breaks[found.path] = (found, np.flatnonzero(np.diff(ts) != MINUTE_MS))
        after = breaks[1]  # row j is followed by a gap when j is in it
        k = int(np.searchsorted(after, row))
        run_lo = int(after[k - 1]) + 1 if k else 0
        run_hi = int(after[k]) + 1 if k < len(after) else len(ts)
        lo = max(run_lo, int(np.searchsorted(ts, start_ms)))
        hi = min(run_hi, int(np.searchsorted(ts, end_ms)))
        cols = found.columns
        return CandleColumns(*(getattr(cols, f)[lo:hi] for f in CandleColumns.__slots__))

    def format_price(self, symbol: str, price: float) -> str:
        """As many decimals as the stored prices use (2 to 8), as the CSV feed does."""
        key = symbol_key(symbol)
        decimals = self._decimals.get(key)
        if decimals is None:
            cols = self.file(key).columns
            decimals = self._decimals[key] = max(2, price_decimals(cols)) if len(cols) else 2
        return f"{float(price):.{decimals}f}"

    def format_quantity(self, symbol: str, quantity: float) -> str:
        """Eight decimals: the catalog keeps no lot size (see the CSV feed)."""
        return f"{float(quantity):.8f}"

    def _minutes(self, symbol: str, start_ms: int, end_ms: int) -> CandleColumns:
        found = self.file(symbol)
        self._check_range(found, start_ms, end_ms)
        return slice_columns(found.columns, start_ms, end_ms)

    def _check_range(self, found: CatalogFile, start_ms: int, end_ms: int) -> None:
        spans = found.coverage.spans
        missing = subtract_spans((start_ms, end_ms), spans)
        if not missing:
            return
        covered = ", ".join(f"{iso(a)}..{iso(b)}" for a, b in spans) or "nothing"
        hint = (
            f"; download them: btk-console data download --exchange {self.exchange} "
            f"--symbol {found.coverage.symbol} --from {iso(start_ms)[:10]} --to {iso(end_ms)[:10]}"
        )
        asked = f"{iso(start_ms)}..{iso(end_ms)}"
        if missing == [(start_ms, end_ms)]:
            raise CatalogRangeError(
                f"catalog {found.path}: no candles for {found.coverage.symbol} in {asked} (it covers {covered}){hint}"
            )
        slack = _read_ahead_minutes() * MINUTE_MS
        first_covered = next(max(a, start_ms) for a, b in spans if b > start_ms and a < end_ms)
        beyond = [(a, b) for a, b in missing if a >= first_covered]  # warm-up history before it is allowed
        if sum(b - a for a, b in beyond) > slack:
            a, b = beyond[0]
            raise CatalogRangeError(
                f"catalog {found.path}: {found.coverage.symbol} is not covered from {iso(a)} to {iso(b)}, "
                f"which the run needs ({asked}; the catalog covers {covered}){hint}"
            )


def catalog_root_default(project_dir: str | os.PathLike[str] | None = None) -> Path:
    """``data/`` beside btk.toml (or in the working directory)."""
    return Path(project_dir or ".") / "data"
