"""``btk-console data download/update`` against the loopback Binance server (real ccxt, real HTTP)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import tomli_w

from console import cli
from engine.data.catalog import Catalog, read_file
from engine.exchanges.synthetic import SyntheticFeed
from engine.model import MINUTE_MS, CandleColumns
from tests.exchanges.binance_server import BinanceServer, ccxt_options

ROOT = Path(__file__).resolve().parents[2]
T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
DAY = 1440 * MINUTE_MS
NOW = T0 + 31 * DAY + 7 * MINUTE_MS + 25_000  # the server's clock: 2024-02-01T00:07:25Z


def project(tmp_path: Path, server: BinanceServer) -> Path:
    path = tmp_path / "btk.toml"
    table = {"kind": "ccxt", **ccxt_options(server.base_url)}
    path.write_text(tomli_w.dumps({"exchanges": {"binance": table}}))
    return path


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["data", *args], out, err)
    return code, out.getvalue(), err.getvalue()


def synthetic(symbol: str, start: int, end: int) -> CandleColumns:
    return SyntheticFeed(42).columns(symbol, "1m", start, end)


def same(a: CandleColumns, b: CandleColumns) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in CandleColumns.__slots__)


def test_download_update_list_verify_with_429_storm_5xx_and_a_real_gap(tmp_path: Path) -> None:
    with BinanceServer(now_ms=T0 + 2 * DAY) as server:
        toml = str(project(tmp_path, server))
        hole = (T0 + 700 * MINUTE_MS, T0 + 1900 * MINUTE_MS)  # longer than a page (1000), across two days
        server.hole("BTCUSDT", *hole)
        server.fail_next(6, 429, retry_after=0, path="klines")  # a storm: six in a row on one page
        code, out, err = run("--config", toml, "download", "--exchange", "binance", "--symbol", "BTCUSDT",
                             "--symbol", "ETH/USDT", "--from", "2024-01-01", "--backoff-ms", "0")  # fmt: skip
        assert code == 0, err
        asked = 0  # minutes of the hole asked for, over all requests
        for r in server.klines_requests():
            a = int(r["startTime"])
            b = a + int(r["limit"]) * MINUTE_MS
            if r["symbol"] == "BTCUSDT":
                asked += max(0, min(b, hole[1]) - max(a, hole[0]))
        assert 0 < asked <= 3 * (hole[1] - hole[0])  # asked, asked once more, then a gap: not retried forever
        cat = Catalog(tmp_path / "data")
        btc = read_file(cat.path("binance", "BTCUSDT"))
        assert btc.coverage.spans == ((T0, T0 + 2 * DAY),)
        assert [(g.start_ms, g.end_ms, g.confirmed) for g in btc.coverage.gaps] == [(*hole, True)]
        expected = synthetic("BTCUSDT", T0, T0 + 2 * DAY)
        keep = (expected.timestamp < hole[0]) | (expected.timestamp >= hole[1])
        assert same(btc.columns, CandleColumns(*(getattr(expected, f)[keep] for f in CandleColumns.__slots__)))
        eth = read_file(cat.path("binance", "ETHUSDT"))
        assert same(eth.columns, synthetic("ETHUSDT", T0, T0 + 2 * DAY)) and eth.coverage.gaps == ()

        # later: the server's clock moved on to mid-minute; a 5xx in the middle of the pages
        server.set_now(T0 + 3 * DAY + 10 * MINUTE_MS + 30_000)
        server.clear_requests()
        server.fail_next(1, 502, path="klines")
        code, out, err = run("--config", toml, "update", "--backoff-ms", "0")
        assert code == 0, err
        first = min(int(r["startTime"]) for r in server.klines_requests())
        assert first >= T0 + 2 * DAY  # only what is new is fetched
        btc = read_file(cat.path("binance", "BTCUSDT"))
        # the candle opening at 00:10 is still forming at 00:10:30: not stored
        assert btc.coverage.spans == ((T0, T0 + 3 * DAY + 10 * MINUTE_MS),)
        assert btc.coverage.last_ms == T0 + 3 * DAY + 9 * MINUTE_MS
        assert [g.confirmed for g in btc.coverage.gaps] == [True]

    code, out, _ = run("--config", toml, "list")
    assert code == 0
    assert "binance BTCUSDT 1m: " in out and "gap 2024-01-01T11:40Z..2024-01-02T07:40Z (1200 min, confirmed" in out
    code, out, _ = run("--config", toml, "verify")
    assert code == 0 and out.count(": ok (") == 2


def test_download_of_an_unknown_symbol_or_a_bad_date_is_one_clear_line(tmp_path: Path) -> None:
    with BinanceServer(now_ms=T0 + DAY) as server:
        toml = str(project(tmp_path, server))
        code, _, err = run("--config", toml, "download", "--exchange", "binance", "--symbol", "NOPE",
                           "--from", "2024-01-01")  # fmt: skip
        assert code == 1 and "binance NOPE: binance has no market 'NOPE'" in err
        code, _, err = run("--config", toml, "download", "--exchange", "binance", "--symbol", "BTCUSDT",
                           "--from", "01/02/2024")  # fmt: skip
        assert code == 2 and "--from '01/02/2024': expected YYYY-MM-DD" in err


class GatedServer(BinanceServer):
    """Stops answering ``klines`` after ``allow`` requests until ``release`` is set."""

    def __init__(self, allow: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.allow = allow
        self.blocked = threading.Event()
        self.release = threading.Event()
        self._count = 0

    def _klines(self, params):
        with self._lock:
            self._count += 1
            stop = self._count > self.allow
        if stop:
            self.blocked.set()
            self.release.wait(30)
        return super()._klines(params)


def test_killed_download_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    symbols = ("--symbol", "BTCUSDT", "--symbol", "ETHUSDT")
    with GatedServer(allow=40, now_ms=NOW) as server:  # 20 days of BTCUSDT, then the next request hangs
        toml = str(project(tmp_path, server))
        args = [sys.executable, "-m", "console.cli", "data", "--config", toml, "--data-dir", str(tmp_path / "a"),
                "download", "--exchange", "binance", *symbols, "--from", "2024-01-01"]  # fmt: skip
        child = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert server.blocked.wait(120), child.stderr.read() if child.poll() is not None else "no request"
            # a second writer of the same file while the first runs is refused at once, naming it;
            # nothing of the first one's finished chunks is touched
            before = sorted(p.name for p in Catalog(tmp_path / "a").parts_dir("binance", "BTCUSDT").iterdir())
            code, _, err = run("--config", toml, "--data-dir", str(tmp_path / "a"), "download", "--exchange",
                               "binance", "--symbol", "BTCUSDT", "--from", "2024-01-01")  # fmt: skip
            assert code == 1
            assert f"another btk process is writing it (pid {child.pid}," in err, err
            assert "wait for it to finish or stop it" in err
            assert sorted(p.name for p in Catalog(tmp_path / "a").parts_dir("binance", "BTCUSDT").iterdir()) == before
            os.kill(child.pid, signal.SIGKILL)
            child.wait(60)
        finally:
            server.release.set()
            if child.poll() is None:
                child.kill()
            child.stdout.close()
            child.stderr.close()
        parts = Catalog(tmp_path / "a").parts_dir("binance", "BTCUSDT")
        assert not Catalog(tmp_path / "a").path("binance", "BTCUSDT").exists()
        assert 10 <= len(list(parts.glob("*.arrow"))) < 31  # finished chunks, no half-written file
        server.allow = 10**9
        server.clear_requests()
        code, _, err = run("--config", toml, "--data-dir", str(tmp_path / "a"), "download", "--exchange", "binance",
                           *symbols, "--from", "2024-01-01")  # fmt: skip
        assert code == 0, err
        resumed_from = min(int(r["startTime"]) for r in server.klines_requests() if r["symbol"] == "BTCUSDT")
        assert resumed_from >= T0 + 10 * DAY  # the finished chunks were not fetched again
        code, _, err = run("--config", toml, "--data-dir", str(tmp_path / "b"), "download", "--exchange", "binance",
                           *symbols, "--from", "2024-01-01")  # fmt: skip
        assert code == 0, err
    for symbol in ("BTCUSDT", "ETHUSDT"):
        a = Catalog(tmp_path / "a").path("binance", symbol).read_bytes()
        b = Catalog(tmp_path / "b").path("binance", symbol).read_bytes()
        assert a == b
        f = read_file(Catalog(tmp_path / "a").path("binance", symbol))
        assert same(f.columns, synthetic(symbol, T0, T0 + 31 * DAY + 7 * MINUTE_MS))
    assert not Catalog(tmp_path / "a").parts_dir("binance", "BTCUSDT").exists()
