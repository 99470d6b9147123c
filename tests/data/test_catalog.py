"""The catalog: files, coverage, verification, and backtests on it equal to CSV and synthetic runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import engine as e
from engine.data.catalog import Catalog, CatalogError, read_file, verify_columns
from engine.data.feed import CatalogFeed, CatalogRangeError
from engine.data.imports import import_csv, import_synthetic
from engine.exchanges.synthetic import SyntheticFeed
from engine.model import MINUTE_MS, CandleColumns

T0 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000)
DAY = 1440 * MINUTE_MS


def write_csv(path: Path, cols: CandleColumns) -> Path:
    lines = ["timestamp_ms,open,high,low,close,volume"]
    lines += [
        f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r}"
        for t, o, h, lo, c, v in zip(
            cols.timestamp.tolist(), cols.open.tolist(), cols.high.tolist(),
            cols.low.tolist(), cols.close.tolist(), cols.volume.tolist(),
        )
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def same(a: CandleColumns, b: CandleColumns) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in CandleColumns.__slots__)


def test_synthetic_import_round_trips_zero_copy(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "data")
    cov = import_synthetic(cat, "sim", "BTCUSDT", T0, T0 + 2 * DAY)
    assert (cov.rows, cov.first_ms, cov.last_ms, cov.gaps) == (2880, T0, T0 + 2 * DAY - MINUTE_MS, ())
    f = read_file(cat.path("sim", "BTCUSDT"))
    assert same(f.columns, SyntheticFeed(42).columns("BTCUSDT", "1m", T0, T0 + 2 * DAY))
    assert f.coverage == cov
    # the columns are views of the mapped file, not copies
    assert not f.columns.close.flags.writeable and not f.columns.close.flags.owndata
    assert f.columns.close.ctypes.data % 8 == 0
    assert cat.symbols("sim") == ["BTCUSDT"] and cat.exchanges() == ["sim"]


def test_csv_import_records_unconfirmed_gaps_and_merges(tmp_path: Path) -> None:
    cols = SyntheticFeed(42).columns("ETHUSDT", "1m", T0, T0 + DAY)
    keep = np.ones(len(cols), dtype=bool)
    keep[100:130] = False
    cut = CandleColumns(*(getattr(cols, f)[keep] for f in CandleColumns.__slots__))
    cat = Catalog(tmp_path / "data")
    cov = import_csv(cat, "x", write_csv(tmp_path / "eth.csv", cut), symbol="eth/usdt")
    assert cov.symbol == "ETHUSDT" and cov.rows == 1440 - 30
    assert [(g.start_ms, g.end_ms, g.confirmed) for g in cov.gaps] == [
        (T0 + 100 * MINUTE_MS, T0 + 130 * MINUTE_MS, False)
    ]
    # a second import of the next day extends the same file
    nxt = SyntheticFeed(42).columns("ETHUSDT", "1m", T0 + DAY, T0 + 2 * DAY)
    cov = import_csv(cat, "x", write_csv(tmp_path / "eth2.csv", nxt), symbol="ETHUSDT")
    assert cov.spans == ((T0, T0 + 2 * DAY),) and cov.rows == 2880 - 30 and len(cov.gaps) == 1


def test_pandas_reads_the_same_candles(tmp_path: Path) -> None:
    import pandas as pd

    cat = Catalog(tmp_path / "data")
    import_synthetic(cat, "sim", "SOLUSDT", T0, T0 + DAY)
    df = pd.read_feather(cat.path("sim", "SOLUSDT"))
    cols = SyntheticFeed(42).columns("SOLUSDT", "1m", T0, T0 + DAY)
    assert list(df.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    for f in CandleColumns.__slots__:
        assert np.array_equal(df[f].to_numpy(), getattr(cols, f)), f


def test_verify_finds_duplicates_disorder_and_insane_candles(tmp_path: Path) -> None:
    cols = SyntheticFeed(42).columns("BTCUSDT", "1m", T0, T0 + 100 * MINUTE_MS)
    assert verify_columns(cols, "f").ok
    ts = cols.timestamp.copy()
    ts[5] = ts[4]
    high = cols.high.copy()
    high[50] = cols.low[50] / 2
    bad = CandleColumns(ts, cols.open, high, cols.low, cols.close, cols.volume)
    verdict = verify_columns(bad, "f")
    text = "\n".join(verdict.problems)
    assert not verdict.ok and "row 5: duplicate timestamp" in text and "high is below" in text


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "data")
    with pytest.raises(CatalogError, match=r"no 1m candles for sim BTCUSDT.*data download"):
        cat.open("sim", "BTCUSDT")
    path = cat.path("sim", "BTCUSDT")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not arrow")
    with pytest.raises(CatalogError, match="not a readable Arrow IPC file"):
        read_file(path)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, pa.schema([("a", pa.int64())])) as w:
        w.write_batch(pa.record_batch([pa.array([1])], names=["a"]))
    with pytest.raises(CatalogError, match="no btk coverage metadata"):
        read_file(path)
    with pytest.raises(CatalogError, match="cannot be a folder name"):
        cat.path("../x", "BTCUSDT")


def test_requests_outside_the_coverage_fail(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "data")
    import_synthetic(cat, "sim", "BTCUSDT", T0, T0 + 10 * DAY)
    feed = CatalogFeed(cat.root, "sim")
    assert len(feed.columns("BTCUSDT", "1m", T0 - DAY, T0 + DAY)) == 1440  # warm-up history: served
    assert len(feed.columns("BTCUSDT", "1m", T0 + 9 * DAY, T0 + 11 * DAY)) == 1440  # read-ahead past the end
    with pytest.raises(CatalogRangeError, match=r"no candles for BTCUSDT in 2024-04-01.*it covers 2024-03-01"):
        feed.columns("BTCUSDT", "1m", T0 + 31 * DAY, T0 + 32 * DAY)
    with pytest.raises(CatalogRangeError, match="not covered from 2024-03-11"):
        feed.columns("BTCUSDT", "15m", T0, T0 + 30 * DAY)


# --------------------------------------------------------------------------- backtests


def signal(symbol, when, price):
    return {
        "position": "long" if (when.minute // 15) % 2 else "short",
        "price_take_profit": price * (1.008 if (when.minute // 15) % 2 else 0.992),
        "price_stop_loss": price * (0.994 if (when.minute // 15) % 2 else 1.006),
        "minute_estimated_time": 90,
    }


async def run_on(register) -> list[tuple]:
    e.testing.reset_engine()
    register()
    e.add_strategy("s", "15m", signal)
    e.add_frame("f", "1m", T0 + DAY, T0 + 4 * DAY)
    out = [r async for r in e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f")]
    return [(r.action, r.signal.pending_at, r.close_timestamp, r.close_reason, r.pnl.pnl_percentage) for r in out]


async def test_backtest_on_the_catalog_equals_csv_and_synthetic(tmp_path: Path) -> None:
    cols = SyntheticFeed(42).columns("BTCUSDT", "1m", T0, T0 + 5 * DAY)
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    write_csv(csv_dir / "BTCUSDT.csv", cols)
    cat = Catalog(tmp_path / "data")
    import_csv(cat, "x", csv_dir / "BTCUSDT.csv")
    synthetic = await run_on(lambda: e.add_synthetic_exchange("x", seed=42))
    from_csv = await run_on(lambda: e.add_csv_exchange("x", csv_dir))
    catalog = await run_on(lambda: e.add_catalog_exchange("x", cat.root))
    assert len(synthetic) > 20
    assert catalog == from_csv == synthetic


async def test_backtest_beyond_the_catalog_fails_at_once(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "data")
    import_synthetic(cat, "x", "BTCUSDT", T0, T0 + 2 * DAY)
    e.add_catalog_exchange("x", cat.root)
    e.add_strategy("s", "15m", signal)
    e.add_frame("f", "1m", T0 + DAY, T0 + 4 * DAY)
    with pytest.raises(CatalogRangeError, match="not covered from 2024-03-03"):
        [r async for r in e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f")]


async def test_btk_toml_kind_catalog_defaults_to_data_beside_it(tmp_path: Path) -> None:
    from console.project import load_project

    project_dir = tmp_path / "proj"
    import_synthetic(Catalog(project_dir / "data"), "binance", "BTCUSDT", T0, T0 + 5 * DAY)
    (project_dir / "s.py").write_text(
        "import engine\nfrom tests.data.test_catalog import signal\nengine.add_strategy('s', '15m', signal)\n"
    )
    (project_dir / "btk.toml").write_text(
        '[project]\nmodules = ["s.py"]\n[exchanges.binance]\nkind = "catalog"\n'
        '[frames.f]\ninterval = "1m"\nstart = 2024-03-02\nend = 2024-03-05\n'
    )
    e.testing.reset_engine()
    project = load_project(project_dir / "btk.toml")
    assert project.exchanges == ["binance"]
    out = [r async for r in e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="binance", frame_name="f")]
    synthetic = await run_on(lambda: e.add_synthetic_exchange("x", seed=42))
    assert [(r.action, r.signal.pending_at, r.close_timestamp, r.pnl.pnl_percentage) for r in out] == [
        (a, p, c, pnl) for a, p, c, _, pnl in synthetic
    ]


def test_reading_a_catalog_file_imports_no_pandas(tmp_path: Path) -> None:
    """pyarrow's ``to_numpy`` imports pandas when it is installed (40 MB, 0.2 s on a cold run)."""
    import subprocess
    import sys

    cat = Catalog(tmp_path / "data")
    import_synthetic(cat, "sim", "BTCUSDT", T0, T0 + DAY)
    code = (
        "import sys; from engine.data.feed import CatalogFeed; "
        f"c = CatalogFeed({str(cat.root)!r}, 'sim').columns('BTCUSDT', '1m', {T0}, {T0 + DAY}); "
        "print(len(c), 'pandas' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1440", "False"]


def test_one_writer_per_symbol_file_and_the_lock_is_free_again_after(tmp_path: Path) -> None:
    import os

    from engine.data.catalog import CatalogLocked

    cat = Catalog(tmp_path)
    import_synthetic(cat, "sim", "BTCUSDT", T0, T0 + DAY)
    before = cat.path("sim", "BTCUSDT").read_bytes()
    with cat.writing("sim", "BTCUSDT"):  # a download of BTCUSDT is under way (another descriptor, same rule)
        with pytest.raises(CatalogLocked, match=rf"pid {os.getpid()}, command .*wait for it to finish"):
            import_synthetic(cat, "sim", "BTCUSDT", T0 + DAY, T0 + 2 * DAY)
        import_synthetic(cat, "sim", "ETHUSDT", T0, T0 + DAY)  # another symbol's file is free
    assert cat.path("sim", "BTCUSDT").read_bytes() == before  # the refused import wrote nothing
    import_synthetic(cat, "sim", "BTCUSDT", T0 + DAY, T0 + 2 * DAY)  # released: the import goes through
    assert read_file(cat.path("sim", "BTCUSDT")).coverage.rows == 2 * 1440
    assert cat.symbols("sim") == ["BTCUSDT", "ETHUSDT"]  # the lock files are not symbols
