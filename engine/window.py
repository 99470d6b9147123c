"""The read-only window over a candle store that ``get_candles`` returns (issue 13).

Why a window and not a list: a list of ``Candle`` objects costs one Python object per candle per
call, which made ``get_candles(symbol, "1m", 100)`` about half of a real strategy's run time. The
window holds numpy columns (``open high low close volume``, and ``timestamp`` on demand) that are
views on the store's own arrays, so asking for history copies nothing; a strategy doing its maths
with numpy reads ``candles.close`` directly.

It is still a sequence of candles for code written the old way: ``len()``, truth, indexing (an
int gives a ``Candle``, a slice gives a window), iteration (``Candle`` objects), ``list()``,
``reversed()``, ``in``, and equality with a list of candles all behave as they did on the list.
Only mutation is gone: the window and its columns are read-only (``list(window)`` gives a list).

A window with gaps (candles the exchange does not have) holds exactly the candles present, in
order, as the list did: there the columns are a compacted copy with explicit open times.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from .model import Candle, quick_init

__all__ = ["CandleWindow", "read_only"]

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


def read_only(a: np.ndarray) -> np.ndarray:
    """``a`` itself if nobody can write through it, else a read-only view of it (never a copy)."""
    if not a.flags.writeable:
        return a
    view = a.view()
    view.flags.writeable = False
    return view


@quick_init
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class CandleWindow(Sequence):
    """Candles ascending by open time, as read-only numpy columns.

    Evenly spaced rows (the usual case: no gap) keep ``times`` None and derive each open time from
    ``first_ms + row * step_ms``, so building a window allocates no array at all. A window with
    gaps carries its open times in ``times``.

    The constructor makes writable columns read-only (views, not copies). The store and the
    window's own slices pass columns that are read-only already, through ``_positional``: at a
    few microseconds per call that check was a sizeable part of ``get_candles``.
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    first_ms: int = 0
    step_ms: int = 0
    times: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in PRICE_COLUMNS:
            column = getattr(self, name)
            if column.flags.writeable:
                object.__setattr__(self, name, read_only(column))
        if self.times is not None and self.times.flags.writeable:
            object.__setattr__(self, "times", read_only(self.times))

    @property
    def timestamp(self) -> np.ndarray:
        """Open times in UTC milliseconds (int64, read-only)."""
        if self.times is not None:
            return self.times
        ts = self.first_ms + self.step_ms * np.arange(len(self.close), dtype=np.int64)
        ts.flags.writeable = False
        return ts

    def __len__(self) -> int:
        return len(self.close)

    @overload
    def __getitem__(self, key: int) -> Candle: ...
    @overload
    def __getitem__(self, key: slice) -> CandleWindow: ...
    def __getitem__(self, key: int | slice) -> Candle | CandleWindow:
        if isinstance(key, slice):  # slices of read-only arrays are read-only views
            o, h, lw, c, v = self.open[key], self.high[key], self.low[key], self.close[key], self.volume[key]
            if self.times is not None:
                return CandleWindow._positional(o, h, lw, c, v, 0, 0, self.times[key])
            rows = range(len(self.close))[key]
            start_ms, step_ms = self.first_ms + rows.start * self.step_ms, rows.step * self.step_ms
            return CandleWindow._positional(o, h, lw, c, v, start_ms, step_ms, None)
        n = len(self.close)
        i = operator.index(key)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"candle index {key} out of range for a window of {n} candle(s)")
        ts = int(self.times[i]) if self.times is not None else self.first_ms + i * self.step_ms
        return Candle._positional(
            ts,
            float(self.open[i]),
            float(self.high[i]),
            float(self.low[i]),
            float(self.close[i]),
            float(self.volume[i]),
        )

    def __iter__(self) -> Iterator[Candle]:
        """``Candle`` objects, built here because the caller asked for them one by one."""
        columns = (getattr(self, name).tolist() for name in PRICE_COLUMNS)
        return map(Candle._positional, self.timestamp.tolist(), *columns)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CandleWindow):
            return len(self) == len(other) and all(
                np.array_equal(getattr(self, name), getattr(other, name)) for name in (*PRICE_COLUMNS, "timestamp")
            )
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list, which has no hash either

    def __repr__(self) -> str:
        n = len(self)
        if not n:
            return "CandleWindow(0 candles)"
        from .candles import iso  # the store's module imports this one

        ts = self.timestamp
        return f"CandleWindow({n} candle{'s' if n != 1 else ''}, {iso(int(ts[0]))} .. {iso(int(ts[-1]))})"
