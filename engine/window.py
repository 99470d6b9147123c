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
from dataclasses import FrozenInstanceError
from typing import overload

import numpy as np

from .model import Candle

__all__ = ["CandleWindow", "read_only"]

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


def read_only(a: np.ndarray) -> np.ndarray:
    """``a`` itself if nobody can write through it, else a read-only view of it (never a copy)."""
    if not a.flags.writeable:
        return a
    view = a.view()
    view.flags.writeable = False
    return view


def _column(k: int, name: str) -> property:
    """The window's ``name`` column: the ``k``-th source column, sliced to its rows when read."""

    def read(self: CandleWindow) -> np.ndarray:
        return self._cols[k][self._lo : self._hi]

    return property(read, doc=f"The {name} of each candle (float64, read-only; a view, sliced when read).")


class CandleWindow(Sequence):
    """Candles ascending by open time, as read-only numpy columns.

    A window is rows ``[lo, hi)`` of five source columns (the store's own, read-only), and each
    column is sliced when it is read: a history request builds one small object and no array,
    and a strategy pays only for the columns it reads (slicing a column costs about as much as
    the rest of the request, and most strategies read one to three of the five). Read a column
    once into a local if you use it often: every read is a new view on the same memory.

    Evenly spaced rows (the usual case: no gap) keep ``times`` None and derive each open time from
    ``first_ms + row * step_ms``. A window with gaps carries its open times in ``times``.

    ``CandleWindow(open, high, low, close, volume, first_ms, step_ms, times)`` makes writable
    columns read-only (views, not copies); the store and the window's own slices use ``_over``,
    whose columns are read-only already. Windows are immutable, as a frozen dataclass is.
    """

    __slots__ = ("_cols", "_hi", "_lo", "first_ms", "step_ms", "times")

    def __init__(
        self,
        open: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        first_ms: int = 0,
        step_ms: int = 0,
        times: np.ndarray | None = None,
    ) -> None:
        cols = tuple(read_only(np.asarray(c)) for c in (open, high, low, close, volume))
        n = len(cols[3])
        if any(len(c) != n for c in cols) or (times is not None and len(times) != n):
            raise ValueError(f"a candle window's columns must have one length, got {[len(c) for c in cols]}")
        _fill(self, cols, 0, n, first_ms, step_ms, None if times is None else read_only(times))

    @staticmethod
    def _over(
        cols: tuple[np.ndarray, ...], lo: int, hi: int, first_ms: int, step_ms: int, times: np.ndarray | None
    ) -> CandleWindow:
        """Rows ``[lo, hi)`` of read-only columns (open, high, low, close, volume), without checks:
        once per history request."""
        return _fill(_new(CandleWindow), cols, lo, hi, first_ms, step_ms, times)

    def __reduce__(self) -> tuple:
        """Pickled (and copied) as its own rows only, not the store's whole columns it looks at."""
        return CandleWindow, (
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.first_ms,
            self.step_ms,
            self.times,
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}: a candle window is read-only")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}: a candle window is read-only")

    open = _column(0, "open")
    high = _column(1, "high")
    low = _column(2, "low")
    close = _column(3, "close")
    volume = _column(4, "volume")

    @property
    def timestamp(self) -> np.ndarray:
        """Open times in UTC milliseconds (int64, read-only)."""
        if self.times is not None:
            return self.times
        ts = self.first_ms + self.step_ms * np.arange(self._hi - self._lo, dtype=np.int64)
        ts.flags.writeable = False
        return ts

    def __len__(self) -> int:
        return self._hi - self._lo

    @overload
    def __getitem__(self, key: int) -> Candle: ...
    @overload
    def __getitem__(self, key: slice) -> CandleWindow: ...
    def __getitem__(self, key: int | slice) -> Candle | CandleWindow:
        n = self._hi - self._lo
        if isinstance(key, slice):
            rows = range(n)[key]
            if rows.step == 1 or len(rows) == 0:  # contiguous rows: the same columns, narrower
                lo = self._lo + (rows.start if len(rows) else 0)
                times = None if self.times is None else self.times[key]
                first = self.first_ms + (rows.start if len(rows) else 0) * self.step_ms
                return CandleWindow._over(self._cols, lo, lo + len(rows), first, self.step_ms, times)
            # a stride or a reversal: the rows picked out (strided read-only views, nothing copied)
            cols = tuple(c[self._lo : self._hi][key] for c in self._cols)
            if self.times is not None:
                return CandleWindow._over(cols, 0, len(rows), 0, 0, self.times[key])
            start_ms, step_ms = self.first_ms + rows.start * self.step_ms, rows.step * self.step_ms
            return CandleWindow._over(cols, 0, len(rows), start_ms, step_ms, None)
        i = operator.index(key)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"candle index {key} out of range for a window of {n} candle(s)")
        ts = int(self.times[i]) if self.times is not None else self.first_ms + i * self.step_ms
        k = self._lo + i
        o, h, lw, c, v = self._cols
        return Candle._positional(ts, float(o[k]), float(h[k]), float(lw[k]), float(c[k]), float(v[k]))

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


# the slots' own setters: ``_over`` builds a window per history request, and ``__setattr__`` refuses
_new = object.__new__
_set_cols, _set_lo, _set_hi, _set_first, _set_step, _set_times = (
    CandleWindow.__dict__[name].__set__ for name in ("_cols", "_lo", "_hi", "first_ms", "step_ms", "times")
)


def _fill(
    w: CandleWindow,
    cols: tuple[np.ndarray, ...],
    lo: int,
    hi: int,
    first_ms: int,
    step_ms: int,
    times: np.ndarray | None,
) -> CandleWindow:
    """Write a window's slots (both constructors end here)."""
    _set_cols(w, cols)
    _set_lo(w, lo)
    _set_hi(w, hi)
    _set_first(w, first_ms)
    _set_step(w, step_ms)
    _set_times(w, times)
    return w
