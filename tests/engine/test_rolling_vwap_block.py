"""The rolling VWAP of a store holding one run of candles between unfetched slots (a backtest's
store: history kept free before the start, read-ahead after the end) is computed on the
all-present path with only the edge windows masked. It must equal, bit for bit, the masked
computation over every slot, whatever the unfetched slots hold."""

from __future__ import annotations

import numpy as np

from engine import settlement
from engine.candles import ABSENT, FAILED, POISONED, PRESENT, UNKNOWN, CandleStore


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


def _derived_as_before(status: np.ndarray, ok: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """``CandleStore.derived``'s ``ok`` and ``prefix_missing`` as computed before the few-blocked
    path: a cumulative sum over every slot."""
    present = status == PRESENT
    blocked = ~present & (status != ABSENT)
    ok = ok.copy()
    if blocked.any():
        c = np.concatenate(([0], np.cumsum(blocked)))
        in_window = np.zeros(len(status), dtype=bool)
        if len(status) >= window:
            in_window[window - 1 :] = (c[window:] - c[: len(status) - window + 1]) > 0
        ok &= ~in_window
    return ok, np.concatenate(([0], np.cumsum(~present))).astype(np.int64)


def test_the_store_marks_the_same_windows_unreadable_however_few_slots_are_blocked() -> None:
    rng = np.random.default_rng(5)
    for trial in range(400):
        n = int(rng.integers(1, 400))
        window = int(rng.integers(1, 9))
        status = np.full(n, PRESENT, dtype=np.int8)
        blocked = int(rng.choice([0, 1, 3, n // 20 + 1, n // 3 + 1]))
        status[rng.integers(0, n, size=min(blocked, n))] = rng.choice([UNKNOWN, FAILED, POISONED, ABSENT])
        if trial % 4 == 0:
            status[: int(rng.integers(0, n))] = UNKNOWN  # a prefix never fetched
        store = CandleStore.__new__(CandleStore)  # only the columns and statuses matter to ``derived``
        store.size, store.status, store._derived = n, status, {}
        store.high, store.low, store.close, store.volume = (rng.random(n) + 1 for _ in range(4))
        vw, ok, missing = store.derived(window)
        if (status == PRESENT).all():
            assert missing is None and np.array_equal(ok, ~np.isnan(vw))
            continue
        want_ok, want_missing = _derived_as_before(status, ~np.isnan(vw), window)
        assert np.array_equal(ok, want_ok), (trial, n, window)
        assert np.array_equal(missing, want_missing), (trial, n, window)
