"""The CSV feed: reading, symbols, aggregation, get_candles, and every error a user can hit."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import engine.exchanges.csv_feed as csv_feed
from engine.exchanges.csv_feed import CsvFeed, CsvFeedError, load_csv
from engine.model import MINUTE_MS

T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
HEADER = "timestamp_ms,open,high,low,close,volume"


def rows(n: int, start: int = T0, price: float = 42000.0) -> list[str]:
    """``n`` consecutive, deterministic 1m rows as CSV lines."""
    out = []
    for i in range(n):
        o = price + 10 * ((i * 7) % 11) - 50
        c = price + 10 * (((i + 1) * 7) % 11) - 50
        high, low = max(o, c) + 2.5, min(o, c) - 1.25
        out.append(f"{start + i * MINUTE_MS},{o:.2f},{high:.2f},{low:.2f},{c:.2f},{1 + i % 5}.5")
    return out


def write(path: Path, lines: list[str], header: str | None = HEADER, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = ([header] if header is not None else []) + lines
    path.write_text(newline.join(body) + newline, encoding="utf-8")
    return path


def error_of(path: Path, **kwargs: object) -> str:
    with pytest.raises(CsvFeedError) as info:
        load_csv(path, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


# --------------------------------------------------------------------------- happy paths


async def test_folder_of_two_symbols(tmp_path: Path) -> None:
    write(tmp_path / "data" / "BTCUSDT.csv", rows(180))
    write(
        tmp_path / "data" / "ethusdt.csv",
        rows(120, price=2300.0),
        header="timestamp,open,high,low,close,volume",
    )
    (tmp_path / "data" / "notes.txt").write_text("ignored")
    feed = CsvFeed(tmp_path / "data")
    assert feed.symbols() == ["BTCUSDT", "ETHUSDT"]

    btc = feed.columns("btcusdt", "1m", T0 + 10 * MINUTE_MS, T0 + 20 * MINUTE_MS)
    assert btc.timestamp.tolist() == [T0 + k * MINUTE_MS for k in range(10, 20)]
    assert btc.open[0] == float(rows(180)[10].split(",")[1])
    eth = feed.columns("ETHUSDT", "1h", T0, T0 + 10 * 60 * MINUTE_MS)
    assert eth.timestamp.tolist() == [T0, T0 + 60 * MINUTE_MS]
    ones = feed.columns("ETHUSDT", "1m", T0, T0 + 60 * MINUTE_MS)
    assert eth.open[0] == ones.open[0] and eth.close[0] == ones.close[-1]
    assert eth.high[0] == ones.high.max() and eth.low[0] == ones.low.min()
    assert eth.volume[0] == pytest.approx(ones.volume.sum())

    candles = await feed.get_candles("BTCUSDT", "5m", datetime(2024, 1, 1, 0, 3, tzinfo=UTC), 4)
    assert [c.timestamp for c in candles] == [T0 + k * 5 * MINUTE_MS for k in (1, 2, 3, 4)]
    tail = await feed.get_candles("BTCUSDT", "1h", datetime(2024, 1, 1, 1, tzinfo=UTC), 10)
    assert [c.timestamp for c in tail] == [T0 + 60 * MINUTE_MS, T0 + 120 * MINUTE_MS]  # data ends
    assert feed.span("ETHUSDT") == (T0, T0 + 120 * MINUTE_MS)


async def test_headerless_ccxt_file(tmp_path: Path) -> None:
    ccxt_rows = [[T0 + i * MINUTE_MS, 100.0 + i, 101.0 + i, 99.5 + i, 100.5 + i, 3.0] for i in range(30)]
    path = write(tmp_path / "dump.csv", [",".join(str(v) for v in r) for r in ccxt_rows], header=None)
    feed = CsvFeed(path, symbol="solusdt")
    assert feed.symbols() == ["SOLUSDT"]
    candles = await feed.get_candles("SOLUSDT", "1m", datetime(2024, 1, 1, tzinfo=UTC), 30)
    assert [[c.timestamp, c.open, c.high, c.low, c.close, c.volume] for c in candles] == ccxt_rows


def test_single_file_symbol_is_the_stem(tmp_path: Path) -> None:
    feed = CsvFeed(write(tmp_path / "btcusdt.csv", rows(5)))
    assert feed.symbols() == ["BTCUSDT"]
    assert len(feed.columns("BTCUSDT", "1m", T0, T0 + MINUTE_MS * 100)) == 5


def test_windows_newlines_bom_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "X.csv"
    text = "\ufeff" + HEADER + "\r\n" + "\r\n".join(rows(3)) + "\r\n\r\n" + "\r\n".join(rows(2, T0 + 3 * MINUTE_MS))
    path.write_text(text + "\r\n\r\n", encoding="utf-8", newline="")
    cols = load_csv(path)
    assert cols.timestamp.tolist() == [T0 + k * MINUTE_MS for k in range(5)]


def test_loaded_once_and_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "A.csv", rows(10))
    calls = []
    real = csv_feed.load_csv
    monkeypatch.setattr(csv_feed, "load_csv", lambda *a, **k: calls.append(a) or real(*a, **k))
    feed = CsvFeed(tmp_path / "A.csv")
    assert calls == []  # lazy
    first = feed.columns("A", "1m", T0, T0 + 10 * MINUTE_MS)
    feed.columns("A", "3m", T0, T0 + 10 * MINUTE_MS)
    assert len(calls) == 1
    with pytest.raises(ValueError, match="read-only"):
        first.close[0] = 0.0


def test_allow_gaps(tmp_path: Path) -> None:
    lines = rows(30)
    del lines[3:20]  # minutes 3..19 missing: the 5m buckets at 5, 10 and 15 have no minute at all
    path = write(tmp_path / "G.csv", lines)
    with pytest.raises(CsvFeedError):
        CsvFeed(path).columns("G", "1m", T0, T0 + 30 * MINUTE_MS)
    feed = CsvFeed(path, allow_gaps=True)
    ones = feed.columns("G", "1m", T0, T0 + 30 * MINUTE_MS)
    assert len(ones) == 13
    fives = feed.columns("G", "5m", T0, T0 + 30 * MINUTE_MS)
    assert fives.timestamp.tolist() == [T0, T0 + 20 * MINUTE_MS, T0 + 25 * MINUTE_MS]
    assert fives.close[0] == ones.close[2] and fives.volume[0] == pytest.approx(ones.volume[:3].sum())


def test_price_decimals_follow_the_file(tmp_path: Path) -> None:
    feed = CsvFeed(write(tmp_path / "BTC.csv", rows(50)))
    assert feed.format_price("BTC", 42000.5) == "42000.50"
    assert feed.format_quantity("BTC", 0.5) == "0.50000000"
    fine = [f"{T0 + i * MINUTE_MS},0.51234,0.51301,0.51,0.5123,100" for i in range(5)]
    assert CsvFeed(write(tmp_path / "XRP.csv", fine)).format_price("XRP", 0.5) == "0.50000"
    three = [f"{T0 + i * MINUTE_MS},4200.123,4200.5,4199.9,4200.1,2" for i in range(5)]
    assert CsvFeed(write(tmp_path / "ETH.csv", three)).format_price("ETH", 4200) == "4200.000"


# --------------------------------------------------------------------------- errors: paths and symbols


def test_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(CsvFeedError, match=re.escape(str(tmp_path / "nope.csv"))):
        CsvFeed(tmp_path / "nope.csv")
    with pytest.raises(CsvFeedError, match=r"path not found: .*missing_dir"):
        CsvFeed(tmp_path / "missing_dir")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(CsvFeedError, match=r"no \.csv files"):
        CsvFeed(tmp_path / "empty_dir")


def test_unknown_symbol_lists_the_available_ones(tmp_path: Path) -> None:
    write(tmp_path / "d" / "BTCUSDT.csv", rows(3))
    write(tmp_path / "d" / "ETHUSDT.csv", rows(3))
    feed = CsvFeed(tmp_path / "d")
    with pytest.raises(CsvFeedError, match="no data for symbol 'SOLUSDT'; available: BTCUSDT, ETHUSDT"):
        feed.columns("SOLUSDT", "1m", T0, T0 + MINUTE_MS)


# --------------------------------------------------------------------------- errors: content


def test_bad_header(tmp_path: Path) -> None:
    msg = error_of(write(tmp_path / "h.csv", rows(3), header="time,open,high,low,close,vol"))
    assert "h.csv:1" in msg and "'time,open,high,low,close,vol'" in msg
    assert "timestamp_ms,open,high,low,close,volume" in msg


def test_wrong_number_of_columns(tmp_path: Path) -> None:
    lines = rows(5)
    lines[2] = lines[2].rsplit(",", 1)[0]  # drop the volume
    msg = error_of(write(tmp_path / "c.csv", lines))
    assert "c.csv:4: 5 columns, expected 6" in msg and lines[2] in msg


def test_non_numeric_cell(tmp_path: Path) -> None:
    lines = rows(5)
    cells = lines[3].split(",")
    cells[2] = "12x"
    lines[3] = ",".join(cells)
    msg = error_of(write(tmp_path / "n.csv", lines))
    assert "n.csv:5: column 'high': '12x' is not a number" in msg


def test_non_finite_cell(tmp_path: Path) -> None:
    lines = rows(5)
    cells = lines[1].split(",")
    cells[4] = "NaN"
    lines[1] = ",".join(cells)
    msg = error_of(write(tmp_path / "f.csv", lines))
    assert "f.csv:3: column 'close': 'NaN' is not a finite number" in msg
    lines = rows(4)
    lines.insert(2, "")  # a blank line before the bad row: the line number must still be right
    lines[3] = lines[3].replace(lines[3].split(",")[5], "inf")
    assert "f2.csv:5: column 'volume': 'inf'" in error_of(write(tmp_path / "f2.csv", lines))


def test_timestamps_out_of_order_or_duplicated(tmp_path: Path) -> None:
    lines = rows(6)
    lines[4], lines[3] = lines[3], lines[4]
    msg = error_of(write(tmp_path / "o.csv", lines))
    assert "o.csv:6" in msg and "goes back in time" in msg and "o.csv:5" in msg
    lines = rows(6)
    lines[3] = lines[2]
    msg = error_of(write(tmp_path / "d.csv", lines))
    assert "d.csv:5" in msg and "duplicates the timestamp" in msg


def test_timestamps_not_on_a_minute(tmp_path: Path) -> None:
    lines = rows(3)
    lines[1] = str(T0 + MINUTE_MS + 1000) + lines[1][lines[1].index(",") :]
    msg = error_of(write(tmp_path / "m.csv", lines))
    assert "m.csv:3" in msg and str(T0 + MINUTE_MS + 1000) in msg and "whole minute" in msg


def test_timestamps_in_seconds(tmp_path: Path) -> None:
    lines = [f"{(T0 + i * MINUTE_MS) // 1000},1,2,0.5,1.5,10" for i in range(3)]
    msg = error_of(write(tmp_path / "s.csv", lines))
    assert "s.csv:2" in msg and "looks like seconds" in msg and "multiply the first column by 1000" in msg
    micro = [f"{(T0 + i * MINUTE_MS) * 1000},1,2,0.5,1.5,10" for i in range(3)]
    assert "microseconds" in error_of(write(tmp_path / "us.csv", micro))


def test_gap_names_the_missing_range(tmp_path: Path) -> None:
    lines = rows(10)
    del lines[4:7]  # minutes 4, 5 and 6 missing
    msg = error_of(write(tmp_path / "g.csv", lines))
    assert "g.csv:6" in msg and "3 missing 1m candle(s)" in msg
    assert "2024-01-01T00:04:00Z to 2024-01-01T00:06:00Z" in msg and "allow_gaps=True" in msg


def test_empty_files(tmp_path: Path) -> None:
    (tmp_path / "zero.csv").write_text("")
    assert "zero.csv: the file is empty" in error_of(tmp_path / "zero.csv")
    msg = error_of(write(tmp_path / "head.csv", []))
    assert "head.csv: no candle rows after the header" in msg


def test_errors_surface_through_the_feed(tmp_path: Path) -> None:
    lines = rows(4)
    lines[1] = lines[1].replace(",", ";", 1)
    feed = CsvFeed(write(tmp_path / "BAD.csv", lines))
    with pytest.raises(CsvFeedError, match=r"BAD\.csv:3: 5 columns"):
        feed.columns("BAD", "1m", T0, T0 + 10 * MINUTE_MS)


def test_a_week_of_rows_round_trips(tmp_path: Path) -> None:
    """Many rows through the fast parser: values come back exactly as written."""
    n = 7 * 1440
    ts = T0 + np.arange(n, dtype=np.int64) * MINUTE_MS
    price = np.round(42000 + np.cumsum(np.sin(np.arange(n))), 2)
    body = "\n".join(f"{t},{p},{p + 1},{p - 1},{p},1.5" for t, p in zip(ts.tolist(), price.tolist()))
    (tmp_path / "W.csv").write_text(HEADER + "\n" + body + "\n")
    cols = load_csv(tmp_path / "W.csv")
    assert len(cols) == n and np.array_equal(cols.timestamp, ts) and np.array_equal(cols.open, price)
