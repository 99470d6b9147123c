"""Shared machinery of the built-in feeds: interval arithmetic, 1m -> Nm aggregation, and the
generic ``get_candles`` contract on top of a feed's column access.

Both built-in feeds only know 1m candles; every other interval is derived here, so the rule
"open of the first minute, max high, min low, close of the last minute, sum of volume, over the
minutes present" lives in exactly one place and the two feeds cannot drift apart.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta

import numpy as np

from engine.model import CANDLE_INTERVALS, MINUTE_MS, Candle, CandleColumns

__all__ = [
    "MinuteFeed",
    "aggregate_minutes",
    "ceil_to",
    "first_boundary_ms",
    "interval_minutes",
    "slice_columns",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def interval_minutes(interval: str) -> int:
    """Minutes in ``interval``; raise a ValueError naming the accepted intervals otherwise."""
    try:
        return CANDLE_INTERVALS[interval]
    except KeyError:
        accepted = ", ".join(CANDLE_INTERVALS)
        raise ValueError(f"unknown candle interval {interval!r}: expected one of {accepted}") from None


def ceil_to(value_ms: int, step_ms: int) -> int:
    """The smallest multiple of ``step_ms`` that is >= ``value_ms`` (floor division rounds down
    for negatives too, so this is right on both sides of the epoch)."""
    return -(-value_ms // step_ms) * step_ms


def first_boundary_ms(since: datetime, step_ms: int) -> int:
    """The first candle open time (a multiple of ``step_ms`` since the epoch) at or after ``since``.

    Works in whole microseconds, so a ``since`` a fraction of a millisecond past a boundary
    still moves to the next boundary. A naive datetime is taken to be UTC: the engine always
    passes aware UTC datetimes, and UTC is the only reading that keeps candles aligned.
    """
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    micros = (since - _EPOCH) // _MICROSECOND
    step_us = step_ms * 1000
    return -(-micros // step_us) * step_ms


def slice_columns(cols: CandleColumns, start_ms: int, end_ms: int) -> CandleColumns:
    """Rows of ``cols`` (ascending) with ``start_ms <= timestamp < end_ms``, as views."""
    lo, hi = np.searchsorted(cols.timestamp, (start_ms, end_ms), side="left")
    if lo == 0 and hi == len(cols):
        return cols
    return CandleColumns(
        cols.timestamp[lo:hi], cols.open[lo:hi], cols.high[lo:hi],
        cols.low[lo:hi], cols.close[lo:hi], cols.volume[lo:hi],
    )  # fmt: skip


def _is_whole_buckets(ts: np.ndarray, minutes: int) -> bool:
    """True when ``ts`` is a gap-free run of minutes covering whole buckets of ``minutes``,
    which lets aggregation use a reshape instead of ``reduceat``."""
    n = ts.shape[0]
    bucket_ms = minutes * MINUTE_MS
    return n % minutes == 0 and int(ts[0]) % bucket_ms == 0 and int(ts[-1]) - int(ts[0]) == (n - 1) * MINUTE_MS


def aggregate_minutes(cols: CandleColumns, minutes: int) -> CandleColumns:
    """Aggregate ascending 1m columns into candles of ``minutes`` minutes.

    A bucket opens at a multiple of the interval length since the epoch and covers the minutes
    of ``cols`` that fall in it; a bucket holding no minute is absent. Everything is a numpy
    reduction over bucket boundaries: no Python loop per candle.
    """
    if minutes == 1 or len(cols) == 0:
        return cols
    if _is_whole_buckets(cols.timestamp, minutes):
        return _aggregate_reshaped(cols, minutes)
    return _aggregate_reduceat(cols, minutes)


def _aggregate_reshaped(cols: CandleColumns, minutes: int) -> CandleColumns:
    """Fast path for gap-free, bucket-aligned data: every bucket is one row of a 2-D view."""
    rows = len(cols) // minutes

    def grid(a: np.ndarray) -> np.ndarray:
        return a.reshape(rows, minutes)

    return CandleColumns(
        timestamp=cols.timestamp[::minutes].copy(),
        open=grid(cols.open)[:, 0].copy(),
        high=grid(cols.high).max(axis=1),
        low=grid(cols.low).min(axis=1),
        close=grid(cols.close)[:, -1].copy(),
        volume=grid(cols.volume).sum(axis=1),
    )


def _aggregate_reduceat(cols: CandleColumns, minutes: int) -> CandleColumns:
    """General path: buckets of any fill level, found where the bucket number changes."""
    bucket_ms = minutes * MINUTE_MS
    bucket = cols.timestamp // bucket_ms
    starts = np.flatnonzero(np.diff(bucket)) + 1
    starts = np.concatenate((np.zeros(1, dtype=starts.dtype), starts))
    lasts = np.concatenate((starts[1:], [len(cols)])) - 1
    return CandleColumns(
        timestamp=bucket[starts] * bucket_ms,
        open=cols.open[starts],
        high=np.maximum.reduceat(cols.high, starts),
        low=np.minimum.reduceat(cols.low, starts),
        close=cols.close[lasts],
        volume=np.add.reduceat(cols.volume, starts),
    )


def forming_minute(cols: CandleColumns, share: float) -> CandleColumns:
    """``cols`` with its last minute cut to the first ``share`` (0..1) of it: the price has moved
    from the open ``share`` of the way to the close, the range is what that path covered, and the
    volume is the same share. A feed that knows only finished minutes has no better answer to
    "the candle as it stands now", and none of it lies in the future."""
    o = float(cols.open[-1])
    c = o + (float(cols.close[-1]) - o) * share
    last = (float(cols.timestamp[-1]), o, max(o, c), min(o, c), c, float(cols.volume[-1]) * share)
    arrays = [np.array(getattr(cols, f), copy=True) for f in CandleColumns.__slots__]
    for array, value in zip(arrays, last):
        array[-1] = value
    return CandleColumns(*arrays)


class MinuteFeed(ABC):
    """A feed that stores or generates 1m candles and derives everything else from them.

    Subclasses implement ``_minutes``; this base provides the common feed interface the engine
    registers (``columns`` for the fast path, ``get_candles`` for the generic exchange contract).
    """

    @abstractmethod
    def _minutes(self, symbol: str, start_ms: int, end_ms: int) -> CandleColumns:
        """1m candles with ``start_ms <= open time < end_ms`` (both multiples of a minute)."""

    def columns(
        self, symbol: str, interval: str, start_ms: int, end_ms: int, *, until_ms: int | None = None
    ) -> CandleColumns:
        """Candles of ``interval`` whose open time t satisfies ``start_ms <= t < end_ms``,
        ascending, opening at multiples of the interval length since the epoch.

        A bucket that starts inside the range is returned whole, even if its last minutes lie
        at or after ``end_ms``: the contract is about open times, and a truncated candle would
        differ from the same candle asked for through another range.

        ``until_ms`` (live runs) is the present: nothing after it is served. The candle forming
        at that moment holds the minutes so far, and the current minute only its share up to
        ``until_ms`` (see ``forming_minute``), so a live strategy never sees a price from later.
        """
        minutes = interval_minutes(interval)
        step_ms = minutes * MINUTE_MS
        start = ceil_to(int(start_ms), step_ms)
        end = ceil_to(int(end_ms), step_ms)
        if until_ms is not None:
            end = min(end, (int(until_ms) // MINUTE_MS + 1) * MINUTE_MS)
        if end <= start:
            return CandleColumns.empty()
        cols = self._minutes(symbol, start, end)
        if (
            until_ms is not None
            and len(cols)
            and int(cols.timestamp[-1]) <= until_ms < int(cols.timestamp[-1]) + MINUTE_MS
        ):
            cols = forming_minute(cols, (int(until_ms) - int(cols.timestamp[-1])) / MINUTE_MS)
        return aggregate_minutes(cols, minutes)

    async def get_candles(self, symbol: str, interval: str, since: datetime, limit: int) -> list[Candle]:
        """``limit`` consecutive candles from the first interval boundary at or after ``since``
        (fewer when data ends or has gaps): the generic exchange contract, served by ``columns``."""
        minutes = interval_minutes(interval)
        if limit <= 0:
            return []
        step_ms = minutes * MINUTE_MS
        start = first_boundary_ms(since, step_ms)
        return self.columns(symbol, interval, start, start + int(limit) * step_ms).to_candles()
