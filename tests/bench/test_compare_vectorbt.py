"""The vectorbt comparison's inputs, without vectorbt: the candle file it writes holds the
benchmark's candles, and its entries are the rule btk's vectorised strategy enters on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import engine
from tests.bench.compare_vectorbt import START, btk_rule, full_hours, write_candles


def test_the_candle_file_holds_the_benchmark_candles_and_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    assert write_candles(path, 2) == 2 * 1440
    data = np.load(path)
    t0 = int(START.timestamp() * 1000)
    cols = engine.SyntheticFeed(42).columns("BTCUSDT", "1m", t0, t0 + 2 * 86_400_000)
    for name in ("timestamp", "open", "high", "low", "close", "volume"):
        assert np.array_equal(data[name], getattr(cols, name)), name
    assert data["entries"].sum() == 48 and not data["exits"].any()
    assert (data["timestamp"][data["entries"]] % 3_600_000 == 0).all()
    rule = btk_rule(cols)
    assert np.array_equal(rule["side"] == 1, full_hours(cols.timestamp))
    assert np.allclose(rule["price_take_profit"], cols.close * 1.01)
