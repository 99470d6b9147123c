"""The freqtrade comparison's inputs, without freqtrade: the candle files it writes are the sweep
benchmark's candles (the same market, every minute once, the 15m file their aggregation)."""

from __future__ import annotations

import json
from pathlib import Path

import engine
from tests.bench.compare_freqtrade import write_freqtrade_folder


def test_the_freqtrade_folder_holds_the_benchmark_candles(tmp_path: Path) -> None:
    timerange = write_freqtrade_folder(tmp_path, 2)
    assert timerange == "20240101-20240103"
    data = tmp_path / "user_data" / "data" / "binance"
    minutes = json.loads((data / "BTC_USDT-1m.json").read_text())
    quarters = json.loads((data / "BTC_USDT-15m.json").read_text())
    assert len(minutes) == 2 * 1440 and len(quarters) == 2 * 96
    assert [r[0] for r in minutes] == [1704067200000 + i * 60_000 for i in range(2 * 1440)]
    cols = engine.SyntheticFeed(42).columns("BTCUSDT", "1m", 1704067200000, 1704067200000 + 60 * 60_000)
    columns = (cols.timestamp, cols.open, cols.high, cols.low, cols.close, cols.volume)
    assert minutes[:60] == [[int(r[0]), *(float(x) for x in r[1:])] for r in zip(*columns)]
    first = minutes[:15]  # the first 15m candle aggregates its 15 minutes
    assert quarters[0][1:5] == [first[0][1], max(r[2] for r in first), min(r[3] for r in first), first[-1][4]]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["exchange"]["pair_whitelist"] == ["BTC/USDT"] and config["timeframe"] == "15m"
    assert "class BtkTpSl(IStrategy)" in (tmp_path / "user_data" / "strategies" / "btk_tpsl.py").read_text()
