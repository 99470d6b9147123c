"""The rolling VWAP of a store holding one run of candles between unfetched slots (a backtest's
store: history kept free before the start, read-ahead after the end) is computed on the
all-present path with only the edge windows masked. It must equal, bit for bit, the masked
computation over every slot, whatever the unfetched slots hold."""

from __future__ import annotations

import numpy as np

from engine import settlement


def _case(rng: np.random.Generator, n: int, window: int, lo: int, hi: int, zero_volume: bool):
    close = rng.random(n) * 10 + 1
    high = close + rng.random(n)
    low = close - rng.random(n)
    volume = rng.random(n)
    if zero_volume:
        volume[rng.random(n) < 0.3] = 0.0  # windows with no volume fall back to the mean close
    present = np.zeros(n, dtype=bool)
    present[lo:hi] = True
    for column in (close, high, low, volume):  # slots without a candle hold garbage
        column[~present] = rng.choice([np.nan, np.inf, 1e308, -5.0], size=int((~present).sum()))
    return high, low, close, volume, present


def test_one_run_between_unfetched_slots_equals_the_masked_computation() -> None:
    rng = np.random.default_rng(7)
    checked_split = 0
    for _ in range(2000):
        n = int(rng.integers(1, 90))
        window = int(rng.integers(1, 9))
        lo = int(rng.integers(0, n + 1))
        hi = int(rng.integers(lo, n + 1))
        args = _case(rng, n, window, lo, hi, bool(rng.integers(0, 2)))
        fast = settlement.rolling_vwap(*args, window)
        masked = settlement._rolling_vwap_masked(*args, window)
        assert np.array_equal(fast, masked, equal_nan=True), (n, window, lo, hi)
        checked_split += hi - lo >= 2 * window and hi - lo < n
    assert checked_split > 500  # the split path itself ran, not only the fallback


def test_a_year_with_a_day_of_history_unfetched() -> None:
    rng = np.random.default_rng(11)
    n = 525_600 + 1440 + 300
    args = _case(rng, n, 5, 1440, n - 300, zero_volume=False)
    fast = settlement.rolling_vwap(*args, 5)
    assert np.array_equal(fast, settlement._rolling_vwap_masked(*args, 5), equal_nan=True)
    assert np.isnan(fast[:1440]).all() and not np.isnan(fast[1440 : n - 300 + 4]).any()
