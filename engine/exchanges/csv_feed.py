"""Candles from CSV files of 1m rows: one file, or a folder of ``<SYMBOL>.csv`` files.

Rows are ``timestamp_ms,open,high,low,close,volume`` (UTC milliseconds of the candle's open),
with a header line (``timestamp`` is accepted for the first name) or without one, exactly as
ccxt's ``fetch_ohlcv`` returns them. Other intervals are aggregated from the 1m rows.

A file is read once, on the first use of its symbol, by pyarrow's CSV reader (a year of 1m rows in
well under 0.2 s of CPU) and kept as columns. pyarrow is stricter in some ways and looser in others
than the rules below, so its answer is used only when it is certainly the one numpy's parser (the
reader before it, kept as ``parser="numpy"``) would give: every cell a plain float64, exactly six
columns, no quoting, no null. Anything else goes to numpy's parser, and only when that fails too,
or a vectorised check finds a problem, is the file re-read line by line to say exactly where and
what the problem is. Every error message is therefore written in one place, whichever parser read
the rows: bad input should cost the user one look at one error message, not a debugging session.

Only things that cannot be candles at all are rejected here, with ``file:line``: a row whose
prices contradict each other (a high below its low, open or close, a low above its open or close)
or whose volume is negative, by the same rules as the engine's sanity check (``ohlc_problems``).
Zeros and spikes are left to that check (SPEC 3.5).

A file that cannot be read fails every run that needs it at once, with one error
(``CsvFileError``, a ``SourceError``), instead of being reported at every frame; the feed keeps
that error (not the parsed rows) until the file changes, so a bad file is parsed once.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engine.candles import SourceError, ohlc_problems, ohlc_reason
from engine.exchanges.aggregate import MinuteFeed, slice_columns
from engine.model import MINUTE_MS, CandleColumns

__all__ = ["COLUMN_NAMES", "CsvFeed", "CsvFeedError", "CsvFileError", "CsvSymbolError", "load_csv", "price_decimals"]

COLUMN_NAMES = ("timestamp_ms", "open", "high", "low", "close", "volume")
"""The expected header; ``timestamp`` is accepted in place of ``timestamp_ms``."""
_TIMESTAMP_NAMES = ("timestamp_ms", "timestamp")
_EXPECTED_HEADER = ",".join(COLUMN_NAMES)
_SECONDS_LIMIT = 1e11  # ms timestamps after 1973 exceed this; seconds stay below it until year 5138
_MICROS_LIMIT = 1e14  # a ms timestamp above this is after year 5138: microseconds or nanoseconds
_MAX_SHOWN = 80  # characters of a line quoted in an error message
_DECIMALS_SAMPLE = 10_000


class CsvFeedError(ValueError):
    """A CSV feed that cannot serve candles; the message names the file, line, column and value
    where they apply, and what was expected."""


class CsvFileError(CsvFeedError, SourceError):
    """A CSV file the feed cannot read: the run that needs it fails at once with this error."""


class CsvSymbolError(CsvFeedError, SourceError):
    """A symbol the feed has no file for: a run on it fails at once with this one error, instead of
    reporting the missing candles at every frame (issue 14 item 8)."""


# --------------------------------------------------------------------------- helpers


def _iso(ms: int) -> str:
    return str(np.datetime64(int(ms), "ms")).replace(".000", "") + "Z"


def _shown(text: str) -> str:
    text = text.rstrip("\r\n")
    return repr(text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "...")


def _is_number(cell: str) -> bool:
    """What numpy's parser accepts as a float (Python's ``float`` also takes ``1_000``)."""
    if "_" in cell:
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of every line, for the careful passes. Lines are decoded one
    by one so that bytes that are not UTF-8 are reported with their line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CsvFeedError(
                    f"{path}:{number}: not UTF-8 text ({exc.reason} at column {exc.start + 1})"
                ) from None
            if number == 1:
                line = line.removeprefix("\ufeff")  # a byte-order mark, as Excel writes
            yield number, line.rstrip("\r\n")


# --------------------------------------------------------------------------- header


class _Layout:
    """Where the data of a file starts and what its columns are called."""

    __slots__ = ("first_data_line", "has_header", "names")

    def __init__(self, first_data_line: int, has_header: bool, names: tuple[str, ...]):
        self.first_data_line = first_data_line  # 1-based number of the first line after the header
        self.has_header = has_header
        self.names = names


def _read_layout(path: Path) -> _Layout:
    """Find the first non-empty line and decide whether it is a header (and a valid one)."""
    for number, line in _numbered_lines(path):
        if line.strip():
            return _layout_from_first_line(path, number, line)
    raise CsvFeedError(f"{path}: the file is empty; expected a header {_EXPECTED_HEADER!r} and 1m rows")


def _layout_from_first_line(path: Path, number: int, line: str) -> _Layout:
    cells = [c.strip() for c in line.split(",")]
    if any(_is_number(c) for c in cells):
        return _Layout(number, False, COLUMN_NAMES)  # a data row: a header-less (ccxt-style) file
    names = tuple(c.strip("\"'").lower() for c in cells)
    if len(names) == len(COLUMN_NAMES) and names[0] in _TIMESTAMP_NAMES and names[1:] == COLUMN_NAMES[1:]:
        return _Layout(number + 1, True, names)
    raise CsvFeedError(
        f"{path}:{number}: bad header {line.strip()!r}; expected {_EXPECTED_HEADER!r} "
        f"('timestamp' is accepted for the first column), or no header at all"
    )


# --------------------------------------------------------------------------- parsing


def _data_offset(path: Path, layout: _Layout) -> int:
    """Byte offset of the line after the header (0 without one): the header and any blank lines
    before it are measured as bytes, so pyarrow never has to agree with us on what a row is."""
    if layout.first_data_line == 1:
        return 0
    offset = 0
    with path.open("rb") as handle:
        for _ in range(layout.first_data_line - 1):
            offset += len(handle.readline())
    return offset


@functools.cache
def _arrow() -> tuple[Any, Any, Any, Any]:
    """pyarrow and the reader's options, imported at the first CSV read (pyarrow costs ~27 MB and
    a tenth of a second at import: a backtest that reads no CSV does not pay them)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    parse = pa_csv.ParseOptions(delimiter=",", quote_char=False, double_quote=False, escape_char=False)
    convert = pa_csv.ConvertOptions(
        column_types=dict.fromkeys(COLUMN_NAMES, pa.float64()),
        null_values=[],  # "", "NaN", "null" must not turn into nulls: numpy reads NaN, rejects the rest
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    return pa, pa_csv, parse, convert


def _parse_arrow(path: Path, layout: _Layout) -> np.ndarray | None:
    """All rows as an (n, 6) float array by pyarrow's reader, or None whenever pyarrow's answer
    might differ from numpy's (then numpy's parser decides, and explains).

    One thread: the engine reads files while runs go on (and the benchmark counts CPU time, which
    threads only add to); a year of 1m rows takes well under 0.2 s on one core anyway."""
    offset = _data_offset(path, layout)
    pa, pa_csv, parse, convert = _arrow()
    try:
        with pa.memory_map(str(path)) as source:
            source.seek(offset)
            table = pa_csv.read_csv(
                source,
                read_options=pa_csv.ReadOptions(column_names=list(COLUMN_NAMES), use_threads=False),
                parse_options=parse,
                convert_options=convert,
            )
    except (pa.ArrowException, ValueError, OSError):
        return None
    if table.num_columns != len(COLUMN_NAMES) or table.num_rows == 0:
        return None  # an empty file's message is numpy's path's to write
    data = np.empty((table.num_rows, len(COLUMN_NAMES)), dtype=np.float64, order="F")  # columns contiguous
    for i, column in enumerate(table.columns):
        if column.type != pa.float64() or column.null_count:
            return None
        data[:, i] = column.to_numpy()
    return data


def _parse_fast(path: Path, layout: _Layout) -> np.ndarray | None:
    """All rows as an (n, 6) float array by numpy's C parser, or None if it rejects the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            data = np.loadtxt(
                path, delimiter=",", skiprows=layout.first_data_line - 1, dtype=np.float64,
                ndmin=2, comments=None, encoding="utf-8-sig",
            )  # fmt: skip
    except ValueError:  # includes UnicodeDecodeError
        return None
    if data.shape[0] and data.shape[1] != len(COLUMN_NAMES):
        return None
    return data


def _diagnose(path: Path, layout: _Layout) -> CsvFeedError:
    """Re-read the file line by line and describe the first row numpy could not take."""
    expected = len(COLUMN_NAMES)
    for number, line in _numbered_lines(path):
        if number < layout.first_data_line or not line:
            continue
        cells = line.split(",")
        if len(cells) != expected:
            return CsvFeedError(
                f"{path}:{number}: {len(cells)} columns, expected {expected} ({','.join(layout.names)}): {_shown(line)}"
            )
        for name, cell in zip(layout.names, cells):
            if not _is_number(cell.strip()):
                return CsvFeedError(f"{path}:{number}: column {name!r}: {cell.strip()!r} is not a number")
    return CsvFeedError(f"{path}: numpy could not parse the file, and no bad line was found")


class _Rows:
    """Turns row indexes into ``file:line`` locations, reading the file again only if needed.

    Blank lines are skipped by the parser, so row index + offset is not always the line: the file
    is streamed up to the row (never held as a list of lines: the file may be large)."""

    def __init__(self, path: Path, layout: _Layout):
        self.path = path
        self.layout = layout

    def line(self, row: int) -> int:
        seen = -1
        for number, line in _numbered_lines(self.path):
            if number >= self.layout.first_data_line and line:
                seen += 1
                if seen == row:
                    return number
        raise IndexError(row)

    def at(self, row: int) -> str:
        return f"{self.path}:{self.line(row)}"

    def cell(self, row: int, column: int) -> str:
        """The original text of a cell (as written, e.g. ``NaN`` or ``inf``)."""
        wanted = self.line(row)
        for number, text in _numbered_lines(self.path):
            if number == wanted:
                return text.split(",")[column].strip()
        return "?"


# --------------------------------------------------------------------------- checks


def _check_finite(data: np.ndarray, rows: _Rows) -> None:
    bad = ~np.isfinite(data)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        name = rows.layout.names[col]
        raise CsvFeedError(f"{rows.at(row)}: column {name!r}: {rows.cell(row, col)!r} is not a finite number")


def _check_ohlc(data: np.ndarray, rows: _Rows) -> None:
    """Rows that cannot be a candle: a high below its low/open/close, a low above its open/close,
    a negative volume (one candle like that turned a backtest from 111 trades into 35)."""
    bad = ohlc_problems(data[:, 1], data[:, 2], data[:, 3], data[:, 4], data[:, 5])
    if bad.any():
        row = int(bad.argmax())
        reason = ohlc_reason(*data[row, 1:])
        o, h, lo, c, v = (f"{x:g}" for x in data[row, 1:])
        raise CsvFeedError(
            f"{rows.at(row)}: not a possible candle: {reason} "
            f"(open={o}, high={h}, low={lo}, close={c}, volume={v}); a candle's high must be at least "
            f"its open, close and low, its low at most its open and close, its volume not negative"
        )


def _check_timestamp_units(ts: np.ndarray, rows: _Rows) -> None:
    """Catch the classic unit mistakes before they turn into baffling alignment errors."""
    low = np.flatnonzero(ts < _SECONDS_LIMIT)
    if low.size:
        row = int(low[0])
        value = float(ts[row])
        if value < 0:
            raise CsvFeedError(f"{rows.at(row)}: negative timestamp {value:.0f}; expected UTC milliseconds")
        raise CsvFeedError(
            f"{rows.at(row)}: timestamp {value:.0f} looks like seconds; expected milliseconds since "
            f"1970-01-01 UTC (e.g. {value * 1000:.0f}): multiply the first column by 1000"
        )
    high = np.flatnonzero(ts >= _MICROS_LIMIT)
    if high.size:
        row = int(high[0])
        raise CsvFeedError(
            f"{rows.at(row)}: timestamp {float(ts[row]):.0f} is too large for milliseconds "
            f"(microseconds or nanoseconds?); expected milliseconds since 1970-01-01 UTC"
        )
    fractional = np.flatnonzero(ts != np.floor(ts))
    if fractional.size:
        row = int(fractional[0])
        raise CsvFeedError(f"{rows.at(row)}: timestamp {float(ts[row])!r} is not a whole number of milliseconds")


def _check_alignment(ts: np.ndarray, rows: _Rows) -> None:
    off = np.flatnonzero(ts % MINUTE_MS)
    if off.size:
        row = int(off[0])
        value = int(ts[row])
        raise CsvFeedError(
            f"{rows.at(row)}: timestamp {value} ({_iso(value)}) is not on a whole minute; "
            f"1m rows must open at multiples of 60000 ms"
        )


def _check_order(ts: np.ndarray, rows: _Rows, allow_gaps: bool) -> None:
    steps = np.diff(ts)
    back = np.flatnonzero(steps <= 0)
    if back.size:
        row = int(back[0]) + 1
        prev, this = int(ts[row - 1]), int(ts[row])
        what = "duplicates the timestamp of" if prev == this else "goes back in time from"
        raise CsvFeedError(
            f"{rows.at(row)}: timestamp {this} ({_iso(this)}) {what} the previous row "
            f"({rows.at(row - 1)}, {_iso(prev)}); rows must be in strictly ascending time order"
        )
    if allow_gaps:
        return
    gaps = np.flatnonzero(steps > MINUTE_MS)
    if gaps.size:
        row = int(gaps[0]) + 1
        first_missing = int(ts[row - 1]) + MINUTE_MS
        last_missing = int(ts[row]) - MINUTE_MS
        count = (last_missing - first_missing) // MINUTE_MS + 1
        raise CsvFeedError(
            f"{rows.at(row)}: gap before this row: {count} missing 1m candle(s) from "
            f"{_iso(first_missing)} to {_iso(last_missing)}; fill the gap, or pass "
            f"allow_gaps=True to treat missing minutes as absent candles"
        )


def load_csv(
    path: str | os.PathLike[str], *, allow_gaps: bool = False, parser: Literal["arrow", "numpy"] = "arrow"
) -> CandleColumns:
    """Read and validate one CSV file of 1m rows into read-only columns (raises CsvFeedError).

    ``parser="numpy"`` skips pyarrow and reads with numpy's parser alone, as before pyarrow came
    in: the same columns and the same errors, several times slower (kept for the benchmark and the
    tests that hold the two to the same answers)."""
    if parser not in ("arrow", "numpy"):
        raise CsvFeedError(f"load_csv: parser must be 'arrow' or 'numpy', got {parser!r}")
    path = Path(path)
    if not path.is_file():
        raise CsvFeedError(f"CSV file not found: {path}")
    layout = _read_layout(path)
    data = _parse_arrow(path, layout) if parser == "arrow" else None
    if data is None:
        data = _parse_fast(path, layout)
    if data is None:
        raise _diagnose(path, layout)
    if data.shape[0] == 0:
        raise CsvFeedError(f"{path}: no candle rows after the header; expected 1m rows {_EXPECTED_HEADER}")
    rows = _Rows(path, layout)
    _check_finite(data, rows)
    _check_ohlc(data, rows)
    _check_timestamp_units(data[:, 0], rows)
    ts = data[:, 0].astype(np.int64)
    _check_alignment(ts, rows)
    _check_order(ts, rows, allow_gaps)
    columns = [ts] + [np.ascontiguousarray(data[:, i]) for i in range(1, len(COLUMN_NAMES))]
    for column in columns:
        column.setflags(write=False)  # shared by every caller through views: nobody may edit it
    return CandleColumns(*columns)


def price_decimals(cols: CandleColumns, limit: int = 8) -> int:
    """The fewest decimals (0..limit) that write every sampled open/high/low/close exactly."""
    step = max(1, len(cols) // _DECIMALS_SAMPLE)
    sample = np.concatenate([a[::step] for a in (cols.open, cols.high, cols.low, cols.close)])
    for decimals in range(limit + 1):
        scaled = sample * 10.0**decimals
        # Exact up to float noise (~1e-16 relative), far below the 0.1 a missing digit would leave.
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return decimals
    return limit


# --------------------------------------------------------------------------- the feed


class CsvFeed(MinuteFeed):
    """1m candles from a CSV file or a folder of ``<SYMBOL>.csv`` files, other intervals derived.

    ``path`` is a file (serving ``symbol``, or the file's stem upper-cased) or a folder (one
    symbol per ``.csv`` file, matched case-insensitively). Missing minutes are an error unless
    ``allow_gaps`` is true, in which case they are simply absent candles.
    """

    def __init__(self, path: str | os.PathLike[str], *, symbol: str | None = None, allow_gaps: bool = False) -> None:
        self.path = Path(path)
        self.allow_gaps = bool(allow_gaps)
        self._files = _discover(self.path, symbol)
        self._loaded: dict[str, CandleColumns] = {}
        self._failed: dict[str, tuple[tuple[int, int], str]] = {}  # symbol -> (file stamp, error)
        self._decimals: dict[str, int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CsvFeed({str(self.path)!r}, symbols={self.symbols()!r})"

    # ----------------------------------------------------------------- feed interface

    def symbols(self) -> list[str]:
        """The symbols this feed can serve (upper case, sorted)."""
        return sorted(self._files)

    def format_price(self, symbol: str, price: float) -> str:
        """As many decimals as the file's prices use (at least 2, at most 8), so formatted prices
        look like the data they came from; inferred once from a sample of up to 10k rows."""
        key = self._key(symbol)
        decimals = self._decimals.get(key)
        if decimals is None:
            decimals = max(2, price_decimals(self.load(symbol)))
            self._decimals[key] = decimals
        return f"{float(price):.{decimals}f}"

    def format_quantity(self, symbol: str, quantity: float) -> str:
        """Eight decimals: a CSV carries no lot size, and 1e-8 (a satoshi) is at least as fine as
        any exchange's quantity step, so no quantity a strategy computes is rounded away."""
        return f"{float(quantity):.8f}"

    def load(self, symbol: str) -> CandleColumns:
        """All 1m candles of ``symbol`` (read and validated on first use, then cached).

        A file that cannot be read raises ``CsvFileError``; the message (not the exception, whose
        traceback would keep the parsed rows alive) is kept until the file changes on disk, so
        asking again costs a ``stat``, not another parse."""
        key = self._key(symbol)
        cols = self._loaded.get(key)
        if cols is None:
            with self._lock:  # one reader per file even if two tasks ask at once
                cols = self._loaded.get(key)
                if cols is None:
                    cols = self._read(key)
                    self._loaded[key] = cols
        return cols

    def _read(self, key: str) -> CandleColumns:
        """The one place a file's failure is turned into the run's failure (whatever the parser)."""
        path = self._files[key]
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = (0, -1)
        failed = self._failed.get(key)
        if failed is not None and failed[0] == stamp:
            raise CsvFileError(failed[1])
        try:
            cols = load_csv(path, allow_gaps=self.allow_gaps)
        except CsvFeedError as exc:
            message = str(exc)
        else:
            self._failed.pop(key, None)
            return cols
        self._failed[key] = (stamp, message)
        raise CsvFileError(message)

    def span(self, symbol: str) -> tuple[int, int]:
        """(first candle's open, last candle's open + 1 minute) in UTC ms: the range with data."""
        cols = self.load(symbol)
        return int(cols.timestamp[0]), int(cols.timestamp[-1]) + MINUTE_MS

    def _minutes(self, symbol: str, start_ms: int, end_ms: int) -> CandleColumns:
        return slice_columns(self.load(symbol), start_ms, end_ms)

    def _key(self, symbol: str) -> str:
        key = str(symbol).upper()
        if key not in self._files:
            available = ", ".join(self.symbols())
            raise CsvSymbolError(f"{self.path}: no data for symbol {symbol!r}; available: {available}")
        return key


def _discover(path: Path, symbol: str | None) -> dict[str, Path]:
    """Map upper-case symbols to files, failing early on a missing path or an ambiguous folder."""
    if path.is_file():
        name = (symbol or path.stem).upper()
        if not name:
            raise CsvFeedError(f"{path}: cannot tell the symbol; pass symbol=")
        return {name: path}
    if not path.is_dir():
        raise CsvFeedError(f"CSV feed path not found: {path} (expected a .csv file or a folder of them)")
    if symbol is not None:
        raise CsvFeedError(f"{path}: symbol= applies to a single file; a folder serves <SYMBOL>.csv files")
    files: dict[str, Path] = {}
    for entry in sorted(path.iterdir()):
        if entry.suffix.lower() != ".csv" or not entry.is_file():
            continue
        name = entry.stem.upper()
        if name in files:
            raise CsvFeedError(f"{path}: {files[name].name} and {entry.name} are both symbol {name}")
        files[name] = entry
    if not files:
        raise CsvFeedError(f"{path}: no .csv files in this folder (expected <SYMBOL>.csv files)")
    return files
