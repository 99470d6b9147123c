"""The catalog's check stamp (engine/data/stamp.py): a file the catalog checked is not checked again
by every backtest, and a file that changed, or was never found clean, always is."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

import engine as e
from engine.data.catalog import Catalog, read_file
from engine.data.feed import CatalogFeed
from engine.data.stamp import check_columns, stamp_path
from engine.events import listen_error
from engine.exchanges.synthetic import SyntheticFeed
from engine.model import CandleColumns
from tests.data.test_catalog import DAY, T0, run_on, same

BAD_AT = 2 * 1440 + 37  # a minute inside the test frame (T0 + 1 day .. T0 + 4 days)


def candles(days: int = 5) -> CandleColumns:
    return SyntheticFeed(42).columns("BTCUSDT", "1m", T0, T0 + days * DAY)


def with_bad_candle(cols: CandleColumns) -> CandleColumns:
    arrays = [np.array(getattr(cols, f)) for f in CandleColumns.__slots__]
    arrays[2][BAD_AT] = arrays[3][BAD_AT] - 1.0  # its high below its low
    return CandleColumns(*arrays)


def write(cat: Catalog, cols: CandleColumns) -> Path:
    cat.write("x", "BTCUSDT", cols, source="test", spans=[(T0, T0 + 5 * DAY)])
    return cat.path("x", "BTCUSDT")


async def errors_of_a_backtest(cat: Catalog) -> list[str]:
    errors: list[str] = []

    def register() -> None:
        e.add_catalog_exchange("x", cat.root)
        listen_error(lambda err: errors.append(str(err)))

    await run_on(register)
    return errors


def test_a_file_the_catalog_wrote_is_stamped_and_vouched_for(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "data")
    path = write(cat, candles())
    doc = json.loads(stamp_path(path).read_text())
    assert doc["clean"] is True and doc["rows"] == 5 * 1440 and doc["file"]["size"] == path.stat().st_size
    assert read_file(path).checked == check_columns(candles())
    feed = CatalogFeed(cat.root, "x")
    cols, sane = feed.columns_checked("BTCUSDT", "1m", T0 + DAY, T0 + 2 * DAY, 1000)
    assert sane and same(cols, SyntheticFeed(42).columns("BTCUSDT", "1m", T0 + DAY, T0 + 2 * DAY))
    assert not feed.columns_checked("BTCUSDT", "15m", T0, T0 + DAY, 1000)[1]  # aggregates are checked as before
    # prices 34k..72k: a factor below high / low would let SPEC 3.5 flag some slice, so no vouching
    c = read_file(path).checked
    assert c is not None and not c.passes(c.high / c.low * 0.99) and c.passes(c.high / c.low)
    assert cat.symbols("x") == ["BTCUSDT"]  # the stamp is not a symbol


def test_a_file_without_a_stamp_is_checked_once_and_stamped(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "data")
    path = write(cat, candles())
    stamp_path(path).unlink()
    assert read_file(path).checked is None  # nothing is trusted without a stamp
    feed = CatalogFeed(cat.root, "x")
    assert feed.columns_checked("BTCUSDT", "1m", T0, T0 + DAY, 1000)[1]
    assert read_file(path).checked is not None  # the feed checked it and stamped it


async def test_a_bad_candle_is_never_vouched_for_and_the_engine_still_poisons_it(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "data")
    path = write(cat, with_bad_candle(candles()))
    assert read_file(path).checked.clean is False
    assert not CatalogFeed(cat.root, "x").columns_checked("BTCUSDT", "1m", T0, T0 + 5 * DAY, 1000)[1]
    errors = await errors_of_a_backtest(cat)
    assert errors and all("malformed candle BTCUSDT 1m at 2024-03-03T00:37:00Z" in m for m in errors)


async def test_a_file_replaced_by_another_tool_is_checked_again(tmp_path: Path) -> None:
    """A clean file and its stamp, then the file rewritten outside the catalog with a bad candle and
    the same coverage metadata (even its old modification time put back): the stamp no longer
    matches, and the backtest reports the bad candle."""
    cat = Catalog(tmp_path / "data")
    path = write(cat, candles())
    old = path.stat()
    meta = read_file(path)
    bad = with_bad_candle(candles())
    schema = pa.schema([pa.field("timestamp", pa.int64(), nullable=False)] + [
        pa.field(f, pa.float64(), nullable=False) for f in CandleColumns.__slots__[1:]
    ]).with_metadata({b"btk.catalog": meta.coverage.to_json()})  # fmt: skip
    arrays = [pa.array(getattr(bad, f)) for f in CandleColumns.__slots__]
    with ipc.new_file(str(path) + ".new", schema) as writer:
        writer.write_batch(pa.record_batch(arrays, schema=schema))
    os.replace(str(path) + ".new", path)
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert read_file(path).checked is None
    assert not CatalogFeed(cat.root, "x").columns_checked("BTCUSDT", "1m", T0, T0 + 5 * DAY, 1000)[1]
    assert await errors_of_a_backtest(cat)


def test_a_file_edited_in_place_with_its_size_and_time_kept_is_checked_again(tmp_path: Path) -> None:
    """The stamp also hashes the file's first and last 64 KiB: the last candles (and the footer)
    edited in place, same inode, size and modification time, no longer match."""
    cat = Catalog(tmp_path / "data")
    path = write(cat, candles())
    st = path.stat()
    volume = read_file(path).columns.volume
    with open(path, "rb") as handle:
        blob = handle.read()
    last = volume[-1:].tobytes()
    at = blob.rindex(last)  # the last volume, near the end of the file
    with open(path, "r+b") as handle:
        handle.seek(at)
        handle.write(np.array([-1.0]).tobytes())  # a negative volume
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_ino, path.stat().st_size, path.stat().st_mtime_ns) == (
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
    )
    found = read_file(path)
    assert found.checked is None and found.columns.volume[-1] == -1.0
    assert not CatalogFeed(cat.root, "x").columns_checked("BTCUSDT", "1m", T0, T0 + 5 * DAY, 1000)[1]


async def test_a_vouched_for_catalog_gives_the_same_results_as_an_unstamped_one(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "data")
    path = write(cat, candles())
    stamped = await run_on(lambda: e.add_catalog_exchange("x", cat.root))
    stamp_path(path).unlink()
    stamp_path(path).mkdir()  # a stamp that can never be written: every open checks the candles
    unstamped = await run_on(lambda: e.add_catalog_exchange("x", cat.root))
    assert read_file(path).checked is None
    assert len(stamped) > 20 and stamped == unstamped


def test_a_stamped_file_is_mapped_without_pyarrow_and_reads_the_same(tmp_path: Path) -> None:
    import subprocess
    import sys

    cat = Catalog(tmp_path / "data")
    path = write(cat, candles())
    stamped = read_file(path)
    assert stamped.offsets is not None and stamped.checked is not None
    assert not stamped.columns.close.flags.writeable and not stamped.columns.close.flags.owndata
    code = (
        "import sys; from pathlib import Path; from engine.data.catalog import read_file; "
        f"f = read_file(Path({str(path)!r})); print(len(f.columns), f.checked.clean, 'pyarrow' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(5 * 1440), "True", "False"]
    stamp_path(path).unlink()
    plain = read_file(path)  # through pyarrow: the schema, the types and the coverage are checked
    assert plain.checked is None and plain.offsets == stamped.offsets
    assert same(plain.columns, stamped.columns) and plain.coverage == stamped.coverage
    assert CatalogFeed(cat.root, "x").file("BTCUSDT").checked is not None  # stamped again, layout included
    assert read_file(path).offsets == stamped.offsets and same(read_file(path).columns, plain.columns)
