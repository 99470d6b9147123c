"""``btk-console data import / list / verify`` on the command line, and the download's progress bar
on a terminal (the download itself is tested against the loopback server in test_download.py)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from console import cli
from console.data_cli import _Progress
from engine.data.catalog import Catalog, read_file
from engine.data.download import ChunkDone
from engine.exchanges.synthetic import SyntheticFeed
from engine.model import MINUTE_MS, CandleColumns
from tests.data.test_catalog import same, write_csv

T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
DAY = 1440 * MINUTE_MS


class Terminal(io.StringIO):
    """A buffer that says it is a terminal, as a real one would."""

    def isatty(self) -> bool:
        return True


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["data", *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_import_a_csv_and_the_synthetic_market_then_list_and_verify(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    cols = SyntheticFeed(42).columns("ETHUSDT", "1m", T0, T0 + DAY)
    keep = np.ones(len(cols), dtype=bool)
    keep[60:90] = False  # half an hour missing from the CSV
    write_csv(tmp_path / "eth.csv", CandleColumns(*(getattr(cols, f)[keep] for f in CandleColumns.__slots__)))
    code, out, err = run("--data-dir", data, "import", str(tmp_path / "eth.csv"), "--symbol", "ETH/USDT")
    assert code == 0, err
    summary = "1410 candles 2024-01-01T00:00Z..2024-01-02T00:00Z, 1 gap(s) (0 confirmed by the exchange)"
    assert out == f"csv ETHUSDT: {summary}\n"

    code, out, err = run("--data-dir", data, "import", "--synthetic", "--symbol", "BTCUSDT", "--symbol", "SOLUSDT",
                         "--from", "2024-01-01", "--to", "2024-01-03")  # fmt: skip
    assert code == 0, err
    assert out.count("synthetic ") == 2 and "2880 candles 2024-01-01T00:00Z..2024-01-03T00:00Z, 0 gap(s)" in out
    btc = read_file(Catalog(data).path("synthetic", "BTCUSDT"))
    assert same(btc.columns, SyntheticFeed(42).columns("BTCUSDT", "1m", T0, T0 + 2 * DAY))

    code, out, _ = run("--data-dir", data, "list")
    assert code == 0
    assert "csv ETHUSDT 1m: 1410 candles" in out and "synthetic BTCUSDT 1m: 2880 candles" in out
    assert "gap 2024-01-01T01:00Z..2024-01-01T01:30Z (30 min, not confirmed)" in out
    assert "source csv eth.csv" in out and "source synthetic seed 42" in out

    code, out, _ = run("--data-dir", data, "verify")
    assert code == 0 and out.count(": ok (") == 3

    # a file with an impossible candle: verify names it and fails
    bad = [np.array(getattr(cols, f)) for f in CandleColumns.__slots__]
    bad[2][5] = bad[3][5] - 1  # high below low
    Catalog(data).write("x", "BADUSDT", CandleColumns(*bad), source="test", spans=[(T0, T0 + DAY)])
    code, out, _ = run("--data-dir", data, "verify", "--exchange", "x")
    assert code == 1
    assert "x BADUSDT: " in out and "1 candle(s) fail SPEC 3.5's sanity rules" in out and "high is below low" in out


def test_import_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    code, _, err = run("--data-dir", str(tmp_path), "import", "--synthetic", "--symbol", "BTCUSDT")
    assert code == 2 and err.count("\n") == 1 and "--from DATE --to DATE" in err
    code, _, err = run("--data-dir", str(tmp_path), "import", "--synthetic", "--symbol", "X", "--from", "2024-13-01",
                       "--to", "2024-01-02")  # fmt: skip
    assert code == 2 and "--from '2024-13-01'" in err
    code, _, err = run("--data-dir", str(tmp_path), "import", str(tmp_path / "missing.csv"), "--symbol", "BTCUSDT")
    assert code == 1 and "missing.csv" in err and err.count("\n") == 1


def test_the_progress_bar_on_a_terminal_shows_candles_mb_and_eta_per_symbol() -> None:
    err = Terminal()
    progress = _Progress(err)
    assert progress.rich is not None  # a terminal gets the bar, a pipe one line per chunk
    try:
        for symbol in ("BTCUSDT", "ETHUSDT"):
            progress.chunk(ChunkDone(symbol, T0, T0 + DAY, 1440, 1440, 4320, 2_500_000))
    finally:
        progress.stop()
    text = err.getvalue()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        line = [x for x in text.splitlines() if symbol in x][-1]  # the last render, at stop
        assert "1,440/4,320 candles" in line and "2.5 MB" in line
        assert any(c.isdigit() or c == "-" for c in line.rsplit("MB", 1)[1])  # the time left column
    piped = io.StringIO()
    plain = _Progress(piped)
    plain.chunk(ChunkDone("BTCUSDT", T0, T0 + DAY, 1440, 1440, 4320, 2_500_000))
    assert plain.rich is None
    assert piped.getvalue() == (
        "BTCUSDT 2024-01-01T00:00Z..2024-01-02T00:00Z: 1440/4320 minutes, 1440 candles, 2.5 MB\n"
    )
