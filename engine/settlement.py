"""Settlement rules: how candles decide the fate of a signal (SPEC 4.2, 6.4, 5.3/10.1).

This module is the one place that knows
- when a price or a candle reaches a signal's take-profit, stop-loss or entry price, when its time is
  up, and which of them wins (``exit_on``, ``entry_on``, ``reaches_*``, ``expired``): the per-minute
  ``tick`` (SPEC 5.2, one price) and the fast-forward scans (SPEC 6.4, candles) both ask here;
- which candles form the VWAP at a moment, and in which order they are summed;
- how a fetched candle array is read by the backtest fast-forward (the first ``W-1`` candles are
  history only; after a limit entry fills, the next ``W-1`` candles are history again);
- tie-breaking inside a candle (timeout before price; cancellation before activation; time expiry
  before take-profit before stop-loss);
- which progress milestones (10 %..100 % towards TP or SL) a stretch of candles reaches.

Everything works on numpy columns. The scans are vectorised; the floating-point work is done in
the same order as the step-by-step definition, so results are bit-identical to it (the test-suite
checks this against a literal reference implementation on many random markets).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np

from .model import MINUTE_MS, SignalRow

if TYPE_CHECKING:
    from .candles import CandleStore

__all__ = [
    "AfterFill",
    "Decision",
    "Lane",
    "TickDecision",
    "decide_pending_tick",
    "decide_scheduled_tick",
    "entry_on",
    "exit_on",
    "expired",
    "first_exit",
    "first_touch",
    "first_true",
    "milestones",
    "reaches_entry",
    "reaches_stop_loss",
    "rolling_vwap",
    "scan_after_fill",
    "scan_pending",
    "scan_position",
    "scan_scheduled",
    "scan_store_position",
    "span_extremes",
    "vwap_of",
]

ExitKind = Literal["take_profit", "stop_loss"]
EntryKind = Literal["cancel_price", "activate"]
Kind = Literal["take_profit", "stop_loss", "time_expired", "cancel_timeout", "cancel_price", "activate", "undecided"]

PARTIAL_LEVELS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
_FIRST_BLOCK = 128  # candles compared at once before first_true's blocks start growing


# --------------------------------------------------------------------------- VWAP


def vwap_of(high, low, close, volume) -> float:
    """VWAP of a short candle list, summed left to right from 0 exactly as SPEC 4.2 defines it.

    ``tp = (high + low + close) / 3``; ``sum(tp * volume) / sum(volume)``; a zero total volume falls
    back to the plain mean of the closes. Raises ``ValueError`` for an empty list.
    """
    n = len(close)
    if n == 0:
        raise ValueError("no candles data")
    num = 0.0
    vol = 0.0
    for h, lo, c, v in zip(high, low, close, volume):
        h, lo, c, v = float(h), float(lo), float(c), float(v)
        num += (h + lo + c) / 3 * v
        vol += v
    if vol == 0:
        total = 0.0
        for c in close:
            total += float(c)
        return total / n
    return num / vol


def rolling_vwap(high, low, close, volume, present, window: int) -> np.ndarray:
    """``out[k]`` = VWAP of the candles at positions ``k-window+1 .. k`` that are present.

    Missing candles (``present`` false) contribute nothing: adding 0.0 leaves a float sum unchanged,
    so the result equals summing only the present candles in order. Positions whose window starts
    before 0, or holds no candle at all, are NaN: the caller treats them as "ask the slow way".

    A backtest's store is one run of present candles between slots not fetched (the history kept
    free before the start, the read-ahead after the end): the run is computed on the all-present
    path and only the windows straddling its two edges on the masked one, about half the work of
    masking every slot. Each output depends only on its own window, summed in the same order, so the
    result is identical to the masked computation over everything.
    """
    n = len(close)
    pres = present.astype(bool)
    idx = np.flatnonzero(pres) if n >= window else ()
    if len(idx) >= 2 * window and len(idx) < n and int(idx[-1]) - int(idx[0]) + 1 == len(idx):
        p0, p1 = int(idx[0]), int(idx[-1]) + 1
        out = np.full(n, np.nan)
        out[p0:p1] = _rolling_vwap_masked(high[p0:p1], low[p0:p1], close[p0:p1], volume[p0:p1], pres[p0:p1], window)
        for edge in (p0, p1):  # windows holding the edge: a few slots each side, masked
            a, b = max(0, edge - window + 1), min(n, edge + window - 1)
            if b <= a:
                continue
            part = _rolling_vwap_masked(high[a:b], low[a:b], close[a:b], volume[a:b], pres[a:b], window)
            k = max(edge, a + window - 1)
            out[k:b] = part[k - a :]
        return out
    return _rolling_vwap_masked(high, low, close, volume, pres, window)


def _rolling_vwap_masked(high, low, close, volume, present, window: int) -> np.ndarray:
    """``rolling_vwap`` over every position, masking the slots without a candle."""
    n = len(close)
    out = np.full(n, np.nan)
    if n < window:
        return out
    pres = present.astype(bool)
    everything = bool(pres.all())
    # (h + l + c) / 3 * v, computed only where a candle exists (absent slots may hold garbage);
    # in place, because fresh multi-megabyte temporaries cost page faults on every run
    with np.errstate(over="ignore", invalid="ignore"):  # slots without a candle hold garbage, zeroed below
        tpv = np.add(high, low)
        tpv += close
        tpv /= 3
        tpv *= volume
    vol = volume
    if not everything:
        tpv[~pres] = 0.0
        vol = np.where(pres, volume, 0.0)
    m = n - window + 1

    def window_sum(a: np.ndarray) -> np.ndarray:
        s = a[0:m].copy()
        for j in range(1, window):  # oldest first, like the sequential sum
            s += a[j : m + j]
        return s

    res = window_sum(tpv)
    del tpv
    s_vol = window_sum(vol)
    with np.errstate(divide="ignore", invalid="ignore"):
        res /= s_vol
    zero = s_vol == 0
    if not everything or zero.any():  # mean of closes where there was no volume; NaN where no candle
        cls = close if everything else np.where(pres, close, 0.0)
        cnt = window_sum(pres.astype(np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            res = np.where(zero, window_sum(cls) / cnt, res)
        res[cnt == 0] = np.nan
    out[window - 1 :] = res
    return out


# --------------------------------------------------------------------------- touches (SPEC 5.2, 6.4)
#
# Each works on one price (a tick: pass it as both ``high`` and ``low``), one candle, or numpy columns
# of candles (a scan: the comparisons then give masks).


def reaches_stop_loss(position: str, high, low, stop_loss: float):
    """A long's stop is below (a low reaches it), a short's above; for a waiting limit entry this is
    its cancellation price (SPEC 5.2 rule 2.2, 6.4)."""
    return low <= stop_loss if position == "long" else high >= stop_loss


def reaches_entry(position: str, high, low, price_open: float):
    """A long limit entry fills when the price comes down to it, a short one when it comes up; also
    whether a new signal's ``price_open`` is already reached when it is made (SPEC 5.1 step 6)."""
    return low <= price_open if position == "long" else high >= price_open


def expired(t: int, since: int, minutes: int) -> bool:
    """Whether ``minutes`` have passed from ``since`` to ``t``: a lifetime (from ``pending_at``) or the
    wait of a limit entry (from ``scheduled_at``). The scans find the first such candle with
    ``Lane.first_at_or_after(since + minutes * MINUTE_MS)``, the same condition."""
    return t - since >= minutes * MINUTE_MS


def exit_on(position: str, high, low, take_profit: float, stop_loss: float) -> ExitKind | None:
    """How one price or candle closes an open position, if it does: a long's target is above (a
    high reaches it) and its stop below (a low reaches it), a short's the other way round; a candle
    that touches both is a take-profit (SPEC 5.2 rule 4, 6.4). Written out rather than built on
    ``reaches_stop_loss``: it runs once per trade."""
    if position == "long":
        if high >= take_profit:
            return "take_profit"
        if low <= stop_loss:
            return "stop_loss"
    else:
        if low <= take_profit:
            return "take_profit"
        if high >= stop_loss:
            return "stop_loss"
    return None


def entry_on(position: str, high, low, price_open: float, stop_loss: float) -> EntryKind | None:
    """What one price or candle does to a waiting limit entry, if anything: cancellation wins a
    candle that reaches both the stop-loss and the entry (SPEC 5.2 rule 2.2, 6.4)."""
    if reaches_stop_loss(position, high, low, stop_loss):
        return "cancel_price"
    if reaches_entry(position, high, low, price_open):
        return "activate"
    return None


class TickDecision(NamedTuple):
    """What one evaluation at a moment decides (SPEC 5.2): the kind, and the price it happens at."""

    kind: Kind
    price: float


def decide_pending_tick(row: SignalRow, p: float, when: int) -> TickDecision | None:
    """SPEC 5.2 rule 4 at ``when`` with VWAP ``p``: expiry first (at ``p``), then TP, then SL (each at
    exactly its level); None keeps the position open. A restored row without ``pending_at`` never
    expires by time."""
    pending_at = row.pending_at
    if pending_at is not None and expired(when, pending_at, row.minute_estimated_time):
        return TickDecision("time_expired", p)
    kind = exit_on(row.position, p, p, row.price_take_profit, row.price_stop_loss)
    if kind is None:
        return None
    return TickDecision(kind, row.price_take_profit if kind == "take_profit" else row.price_stop_loss)


def decide_scheduled_tick(row: SignalRow, p: float, when: int, await_minutes: int) -> TickDecision | None:
    """SPEC 5.2 rule 2 at ``when`` with VWAP ``p``: the wait over (``cancel_timeout``), else the
    stop-loss reached (``cancel_price``), else the entry reached (``activate``, at ``price_open``);
    None keeps it waiting."""
    if expired(when, row.scheduled_at, await_minutes):
        return TickDecision("cancel_timeout", p)
    kind = entry_on(row.position, p, p, row.price_open, row.price_stop_loss)
    if kind is None:
        return None
    return TickDecision(kind, row.price_open if kind == "activate" else p)


# --------------------------------------------------------------------------- lanes


class Lane:
    """A candle array the way the fast-forward of SPEC 6.4 reads it: position ``k`` is the k-th
    candle of the fetched list. ``vw[k]`` is the VWAP of the ``W`` candles ending at ``k`` (valid
    for ``k >= W-1``). A contiguous lane (no missing minute) has ``ts=None`` and timestamps
    ``t0 + k*60_000``; otherwise ``ts`` holds them."""

    __slots__ = ("_close", "_off", "_volume", "high", "low", "n", "t0", "ts", "vw")

    def __init__(
        self,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        vw: np.ndarray,
        n: int,
        t0: int,
        ts: np.ndarray | None = None,
        off: int = 0,
    ) -> None:
        """``close``/``volume`` may be whole store columns in which the lane starts at ``off``:
        only a VWAP the precomputed ``vw`` cannot give reads them, so they are sliced on demand
        (two fewer views per fast-forward)."""
        self.high, self.low, self.vw, self.n, self.t0, self.ts = high, low, vw, n, t0, ts
        self._close, self._volume, self._off = close, volume, off

    @property
    def close(self) -> np.ndarray:
        return self._close[self._off : self._off + self.n]

    @property
    def volume(self) -> np.ndarray:
        return self._volume[self._off : self._off + self.n]

    def __repr__(self) -> str:
        return f"Lane(n={self.n}, t0={self.t0}, gaps={self.ts is not None})"

    def time(self, k: int) -> int:
        if self.ts is None:
            return self.t0 + k * MINUTE_MS
        return int(self.ts[k])

    def first_at_or_after(self, ms: int, k0: int) -> int:
        """Smallest ``k >= k0`` whose candle opens at or after ``ms`` (``n`` if none)."""
        if self.ts is None:
            k = -((self.t0 - ms) // MINUTE_MS)  # ceil((ms - t0) / MINUTE)
            return min(max(k, k0), self.n)
        k = int(np.searchsorted(self.ts, ms, side="left"))
        return min(max(k, k0), self.n)

    def tail_vwap(self, start: int, window: int) -> float:
        """VWAP of the last ``window`` candles of ``lane[start:]`` (fewer if it is shorter)."""
        lo = max(start, self.n - window)
        if self.n - lo == window and not math.isnan(self.vw[self.n - 1]):
            return float(self.vw[self.n - 1])
        return vwap_of(self.high[lo:], self.low[lo:], self.close[lo:], self.volume[lo:])

    def vwap_at(self, k: int, window: int, start: int = 0) -> float:
        """``vw(k)`` for a lane whose list begins at ``start`` (a post-activation sub-array)."""
        if k - window + 1 >= start:
            v = self.vw[k]
            if not math.isnan(v):
                return float(v)
        lo = max(start, k - window + 1)
        return vwap_of(self.high[lo : k + 1], self.low[lo : k + 1], self.close[lo : k + 1], self.volume[lo : k + 1])


def first_true(make_mask, k0: int, k1: int, first_block: int = 128) -> int:
    """Smallest ``k`` in ``[k0, k1)`` where ``make_mask(lo, hi)`` is true, else ``-1``.

    Blocks grow geometrically, so a decision a few candles in costs one small comparison and a
    signal that lives for days still costs O(log) numpy calls rather than one per candle.
    """
    lo = k0
    block = first_block
    while lo < k1:
        hi = min(k1, lo + block)
        mask = make_mask(lo, hi)
        idx = int(mask.argmax())
        if mask[idx]:
            return lo + idx
        lo = hi
        block *= 4
    return -1


def span_extremes(high: np.ndarray, low: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """``(highest, lowest)``: ``highest[k]`` is the largest of ``high[k : k + span]`` and ``lowest[k]``
    the smallest of ``low[k : k + span]``, for every ``k`` whose span fits (``len - span + 1`` of
    them). NaNs are passed over (``fmax``/``fmin``); a span of NaNs only gives NaN.

    Why: most positions of a sweep close ``time_expired`` (their TP and SL are never touched), and
    ``first_touch`` asks numpy for a mask of the whole lifetime to learn that. With these, one
    lookup per side proves it: no candle in ``[k, k + span)`` reaches ``up`` or ``down`` exactly
    when ``highest[k] < up`` and ``lowest[k] > down`` (a NaN candle reaches nothing, and a NaN
    extreme fails the test, so the mask then decides). Built by doubling: O(n log span)."""
    n = len(high)
    if span < 1 or span > n:
        return np.empty(0), np.empty(0)
    hi, lo, w = high, low, 1
    while 2 * w <= span:  # hi[k], lo[k]: extremes of the 2w values from k
        hi, lo, w = np.fmax(hi[:-w], hi[w:]), np.fmin(lo[:-w], lo[w:]), 2 * w
    if w < span:  # [k, k + w) and [k + span - w, k + span) together cover [k, k + span)
        cut = len(hi) - (span - w)
        hi, lo = np.fmax(hi[:cut], hi[span - w :]), np.fmin(lo[:cut], lo[span - w :])
    return hi, lo


def first_touch(high: np.ndarray, low: np.ndarray, k0: int, k1: int, up: float, down: float) -> int:
    """Smallest ``k`` in ``[k0, k1)`` whose high reaches ``up`` or whose low reaches ``down``, else -1.

    The pending phase's only question about a candle (for a long, TP above and SL below; a short
    swaps them). A signal's usual life fits in one comparison; longer ones go block by block."""
    if k1 - k0 > _FIRST_BLOCK:
        return first_true(lambda a, b: (high[a:b] >= up) | (low[a:b] <= down), k0, k1, _FIRST_BLOCK)
    if k1 <= k0:
        return -1
    mask = (high[k0:k1] >= up) | (low[k0:k1] <= down)
    k = int(mask.argmax())
    return k0 + k if mask[k] else -1


# --------------------------------------------------------------------------- decisions


class Decision(NamedTuple):
    """What a fast-forward scan decided."""

    kind: Kind
    k: int  # the deciding candle, or the last candle for the end-of-data fallbacks
    price: float  # exit/cancel price, or activation price
    timestamp: int
    evaluated_end: int  # progress (partial) evaluations cover candles [k0, evaluated_end)


_new_tuple = tuple.__new__  # a Decision without NamedTuple's keyword-handling __new__: once per trade


def first_exit(
    high: np.ndarray, low: np.ndarray, k0: int, k1: int, position: str, take_profit: float, stop_loss: float
) -> tuple[int, ExitKind] | None:
    """The first candle in ``[k0, k1)`` that closes an open position by price, and how (TP wins a
    candle that touches both); None if none does."""
    # a long is closed by a high reaching TP or a low reaching SL (exit_on); a short the other way round
    long = position == "long"
    k = first_touch(high, low, k0, k1, take_profit if long else stop_loss, stop_loss if long else take_profit)
    if k < 0:
        return None
    return k, exit_on(position, high.item(k), low.item(k), take_profit, stop_loss)  # type: ignore[return-value]


def scan_pending(
    lane: Lane,
    k0: int,
    *,
    start: int,
    position: str,
    take_profit: float,
    stop_loss: float,
    pending_at: int,
    lifetime_minutes: int,
    window: int,
) -> Decision:
    """Pending phase of SPEC 6.4 on ``lane[start:]``, examining candles from ``k0``.

    Per candle: lifetime over -> ``time_expired`` at vw(k); else TP touched -> exact TP; else SL
    touched -> exact SL (TP wins a candle that touches both). No decision -> ``time_expired`` at
    the VWAP of the last ``window`` candles, stamped with the last candle's time.
    """
    n = lane.n
    k_exp = lane.first_at_or_after(pending_at + lifetime_minutes * MINUTE_MS, k0)  # the first ``expired``
    hit = first_exit(lane.high, lane.low, k0, k_exp if k_exp < n else n, position, take_profit, stop_loss)
    if hit is not None:
        k_hit, kind = hit
        return Decision(kind, k_hit, take_profit if kind == "take_profit" else stop_loss, lane.time(k_hit), k_hit)
    if k_exp < n:
        return Decision("time_expired", k_exp, lane.vwap_at(k_exp, window, start), lane.time(k_exp), k_exp)
    last = n - 1
    return Decision("time_expired", last, lane.tail_vwap(start, window), lane.time(last), max(k0, n))


def scan_position(lane: Lane, k0: int, row: SignalRow, window: int, start: int = 0) -> Decision:
    """``scan_pending`` for the open position ``row`` (its levels, ``pending_at`` and lifetime)."""
    return scan_pending(
        lane,
        k0,
        start=start,
        position=row.position,
        take_profit=row.price_take_profit,
        stop_loss=row.price_stop_loss,
        pending_at=row.pending_at,
        lifetime_minutes=row.minute_estimated_time,
        window=window,
    )


def scan_store_position(st: CandleStore, vw: np.ndarray, k0: int, k1: int, row: SignalRow, window: int) -> Decision:
    """``scan_pending`` for the one shape of a market entry settled straight from a 1m candle
    store's columns (slot ``k`` opens at ``st.base + k`` minutes; ``vw`` is its rolling VWAP): the
    position opened on slot ``k0`` and its lifetime ends on slot ``k1``, one past the fetch a
    fast-forward would make, so no candle expires it by time: the first TP/SL touch in
    ``[k0, k1)`` decides, else ``time_expired`` on the last candle at the VWAP of the ``window``
    candles ending there (SPEC 6.4). No lane and no views: this runs once per trade."""
    take_profit, stop_loss, position = row.price_take_profit, row.price_stop_loss, row.position
    high, low, t0 = st.high, st.low, st.base * MINUTE_MS
    long = position == "long"
    up, down = (take_profit, stop_loss) if long else (stop_loss, take_profit)
    # ``first_exit``, written out: this runs once per trade, and a call is a tenth of its cost. The
    # extremes of the lifetime's candles (``span_extremes``) prove "no touch" without a mask
    highest, lowest = st.extremes(k1 - k0)
    if highest.item(k0) < up and lowest.item(k0) > down:
        k = -1
    else:
        k = first_touch(high, low, k0, k1, up, down)
    if k >= 0:
        kind = exit_on(position, high.item(k), low.item(k), take_profit, stop_loss)  # floats: plain compares
        price = take_profit if kind == "take_profit" else stop_loss
        return _new_tuple(Decision, (kind, k, price, t0 + k * MINUTE_MS, k))
    k = k1 - 1
    price = float(vw[k])
    if price != price:  # NaN: a window without volume or candles; read it the slow way
        lo = k1 - window
        price = vwap_of(high[lo:k1], low[lo:k1], st.close[lo:k1], st.volume[lo:k1])
    return _new_tuple(Decision, ("time_expired", k, price, t0 + k * MINUTE_MS, k1))


def scan_scheduled(
    lane: Lane,
    k0: int,
    *,
    position: str,
    price_open: float,
    stop_loss: float,
    scheduled_at: int,
    await_minutes: int,
    window: int,
) -> Decision:
    """Scheduled phase of SPEC 6.4: timeout first, then (long) low <= SL cancels, low <= entry
    activates; short mirrored. Cancellation wins a candle that reaches both. A candle that reaches
    the stop-loss also reaches the entry (SL lies beyond it), so the first candle reaching the entry
    is the first that decides by price."""
    n = lane.n
    k_to = lane.first_at_or_after(scheduled_at + await_minutes * MINUTE_MS, k0)  # the first ``expired``
    high, low = lane.high, lane.low

    def reached(a: int, b: int) -> np.ndarray:
        return reaches_entry(position, high[a:b], low[a:b], price_open)

    k_px = first_true(reached, k0, min(k_to, n))
    if k_px >= 0:
        if entry_on(position, high.item(k_px), low.item(k_px), price_open, stop_loss) == "cancel_price":
            return Decision("cancel_price", k_px, lane.vwap_at(k_px, window), lane.time(k_px), k_px)
        return Decision("activate", k_px, price_open, lane.time(k_px), k_px)
    if k_to < n:
        return Decision("cancel_timeout", k_to, lane.vwap_at(k_to, window), lane.time(k_to), k_to)
    last = n - 1
    price = lane.tail_vwap(0, window)
    if not expired(lane.time(last), scheduled_at, await_minutes):
        return Decision("undecided", last, price, lane.time(last), n)
    return Decision("cancel_timeout", last, price, lane.time(last), n)


class AfterFill(NamedTuple):
    """The pending phase of a limit entry that filled inside a fast-forward (SPEC 6.4 step 4)."""

    decision: Decision
    k0: int  # the first candle examined; progress evaluations cover [k0, decision.evaluated_end)
    on_fill_candle: bool  # the fill was the lane's last candle: closed there, as the row that waited


def scan_after_fill(lane: Lane, fill: Decision, row: SignalRow, window: int) -> AfterFill:
    """The lane continues as ``lane[fill.k + 1:]``, whose first ``window - 1`` candles are history
    again. If nothing follows the filling candle, the position closes ``time_expired`` on it at its
    VWAP (with the row as it waited: ``pending_at`` still ``scheduled_at``)."""
    start = fill.k + 1
    if start >= lane.n:
        price = lane.vwap_at(fill.k, window)
        return AfterFill(Decision("time_expired", fill.k, price, fill.timestamp, fill.k), fill.k, True)
    k0 = start + window - 1
    return AfterFill(scan_position(lane, k0, row, window, start), k0, False)


# --------------------------------------------------------------------------- milestones


def progress_percent(d: float, distance: float) -> float:
    """Progress towards a target, in percent, capped at 100 (SPEC 5.3)."""
    return min(d / distance * 100, 100)


def milestones(
    vw: np.ndarray,
    k0: int,
    k1: int,
    *,
    position: str,
    price_open: float,
    take_profit: float,
    stop_loss: float,
    done_profit: frozenset[int] | set[int] = frozenset(),
    done_loss: frozenset[int] | set[int] = frozenset(),
) -> list[tuple[int, str, int, float]]:
    """Profit/loss levels newly reached on candles ``[k0, k1)``, as ``(k, "profit"|"loss", level,
    price)`` in emission order (ascending candle, ascending level within a candle).

    Progress is a monotonic function of the price, so a level's first candle is where the running
    maximum of progress first reaches it: one ``accumulate`` and one ``searchsorted`` per side
    find every level at once. The progress values are computed with the same operations, in the
    same order, as SPEC 5.3's per-candle formula (the cap at 100 never changes a ``>= level`` test).
    """
    if k1 <= k0:
        return []
    seg = vw[k0:k1]
    d = seg - price_open if position == "long" else price_open - seg
    out: list[tuple[int, str, int, float]] = []
    profit, loss, tp_dist, sl_dist = _levels_of(
        float(d.max()), float(d.min()), price_open, take_profit, stop_loss, done_profit, done_loss
    )
    if profit:
        reach = np.maximum.accumulate(d / tp_dist * 100)
        for lv, k in zip(profit, np.searchsorted(reach, profit, side="left").tolist()):
            out.append((k0 + k, "profit", lv, float(seg[k])))
    if loss:
        reach = np.maximum.accumulate(-d / sl_dist * 100)
        for lv, k in zip(loss, np.searchsorted(reach, loss, side="left").tolist()):
            out.append((k0 + k, "loss", lv, float(seg[k])))
    if out and out[0][1] != out[-1][1]:
        out.sort(key=lambda e: (e[0], e[2]))
    return out


def milestone_count(
    vw: np.ndarray, k0: int, k1: int, *, position: str, price_open: float, take_profit: float, stop_loss: float
) -> int:
    """``len(milestones(...))`` of a signal with no levels yet, without finding each level's candle
    (the same test, ``_levels_of``): a console counts a run's milestones as they come and
    builds the lines of only the newest."""
    if k1 <= k0:
        return 0
    seg = vw[k0:k1]
    hi, lo = float(seg.max()), float(seg.min())
    # the extremes of the move, without the array of it: subtracting a constant rounds monotonically,
    # so max(seg - p) is max(seg) - p to the bit (and p - seg's is p - min(seg)); NaN stays NaN
    move = (hi - price_open, lo - price_open) if position == "long" else (price_open - lo, price_open - hi)
    profit, loss, _, _ = _levels_of(*move, price_open, take_profit, stop_loss, frozenset(), frozenset())
    return len(profit) + len(loss)


def milestone_counts(
    spans: Sequence[tuple[np.ndarray, int, int]],
    positions: Sequence[str],
    price_open: Sequence[float],
    take_profit: Sequence[float],
    stop_loss: Sequence[float],
) -> list[int]:
    """``milestone_count`` of many signals at once (each a stretch ``(vw, k0, k1)`` with its
    position and prices): a console folding a fast run counts thousands a batch, and numpy's fixed
    cost per call was most of each count. The same arithmetic in the same order, elementwise in
    float64, so each count equals the scalar one to the bit; a bracket of zero width (where the
    scalar division raises) and NaN prices take the scalar path."""
    n = len(spans)
    live = [i for i, (_, k0, k1) in enumerate(spans) if k1 > k0]
    if not live:
        return [0] * n
    segs = [spans[i][0][spans[i][1] : spans[i][2]] for i in live]
    starts = np.zeros(len(segs), dtype=np.int64)
    np.cumsum([len(seg) for seg in segs[:-1]], out=starts[1:])
    flat = np.concatenate(segs).astype(np.float64, copy=False)
    hi, lo = np.maximum.reduceat(flat, starts), np.minimum.reduceat(flat, starts)
    pick = np.array(live, dtype=np.int64)
    p, tp, sl = (np.asarray(c, dtype=np.float64)[pick] for c in (price_open, take_profit, stop_loss))
    long = np.array([positions[i] == "long" for i in live], dtype=bool)
    counts = _counts_of_extremes(n, pick, hi, lo, long, p, tp, sl)
    return _odd_ones_alone(counts, spans.__getitem__, positions, price_open, take_profit, stop_loss)


def milestone_counts_in(
    vw: np.ndarray,
    k0: np.ndarray,
    k1: np.ndarray,
    long: np.ndarray,
    price_open: np.ndarray,
    take_profit: np.ndarray,
    stop_loss: np.ndarray,
) -> list[int]:
    """``milestone_counts`` of many signals whose stretches ``[k0, k1)`` lie in one column ``vw``
    (a batch of trades as columns, ``TradeColumns``), given as arrays (``long``: a bool each):
    the extremes of every stretch in two ``reduceat`` calls over the column itself, nothing
    gathered a signal at a time. The counts are the same (a stretch's max and min are exact
    whichever way they are found; the arithmetic after them is ``milestone_counts``'s)."""
    n = len(k0)
    pick = np.flatnonzero(k1 > k0)
    if not len(pick):
        return [0] * n
    # a reduceat over [start, end) pairs: the even results are the stretches' (each pair reduces
    # its own slice whatever the order of the pairs). An end must be an index of the column: a
    # stretch that ends at the column's end (a compacted batch's last) is reduced on its own
    column = np.asarray(vw, dtype=np.float64)
    size = len(column)
    ends = k1[pick]
    at_end = np.flatnonzero(ends >= size)
    bounds = np.empty(2 * len(pick), dtype=np.int64)
    bounds[0::2], bounds[1::2] = k0[pick], np.minimum(ends, size - 1)
    hi, lo = np.maximum.reduceat(column, bounds)[0::2], np.minimum.reduceat(column, bounds)[0::2]
    for j in at_end.tolist():
        tail = column[bounds[2 * j] :]
        hi[j], lo[j] = tail.max(), tail.min()
    p, tp, sl = (np.asarray(c, dtype=np.float64)[pick] for c in (price_open, take_profit, stop_loss))
    counts = _counts_of_extremes(n, pick, hi, lo, np.asarray(long, dtype=bool)[pick], p, tp, sl)
    if -1 not in counts:  # no odd one (``_odd_ones_alone``)
        return counts
    positions = ["long" if x else "short" for x in np.asarray(long).tolist()]
    k0s, k1s = np.asarray(k0).tolist(), np.asarray(k1).tolist()
    return _odd_ones_alone(
        counts,
        lambda i: (vw, k0s[i], k1s[i]),
        positions,
        np.asarray(price_open).tolist(),
        np.asarray(take_profit).tolist(),
        np.asarray(stop_loss).tolist(),
    )


def _counts_of_extremes(
    n: int,
    pick: np.ndarray,
    hi: np.ndarray,
    lo: np.ndarray,
    long: np.ndarray,
    p: np.ndarray,
    tp: np.ndarray,
    sl: np.ndarray,
) -> list[int]:
    """The counts of ``n`` signals, those at ``pick`` (the ones with candles) from their stretches'
    extremes ``hi``/``lo`` and their prices, elementwise as ``milestone_count`` computes one; -1
    where the scalar path must say it (a bracket of zero width, NaN: ``_odd_ones_alone``)."""
    d_max = np.where(long, hi - p, p - lo)
    d_min = np.where(long, lo - p, p - hi)
    tp_dist, sl_dist = np.abs(tp - p), np.abs(p - sl)
    levels = np.asarray(PARTIAL_LEVELS, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        up, down = d_max / tp_dist * 100, -d_min / sl_dist * 100
    profit = np.where(d_max > 0, np.searchsorted(levels, up, side="right"), 0)
    loss = np.where(d_min < 0, np.searchsorted(levels, down, side="right"), 0)
    odd = ((d_max > 0) & ~(tp_dist > 0)) | ((d_min < 0) & ~(sl_dist > 0)) | np.isnan(up) | np.isnan(down)
    total = np.where(odd, -1, profit + loss)
    counts = np.zeros(n, dtype=np.int64)
    counts[pick] = total
    return counts.tolist()


def _odd_ones_alone(
    counts: list[int],
    span: Callable[[int], tuple[np.ndarray, int, int]],
    positions: Sequence[str],
    price_open: Sequence[float],
    take_profit: Sequence[float],
    stop_loss: Sequence[float],
) -> list[int]:
    """``counts`` with each -1 (``_counts_of_extremes``) replaced by ``milestone_count`` of that
    signal (``span(i)``: its stretch), which raises where the scalar rule raises."""
    if -1 not in counts:
        return counts
    for i, count in enumerate(counts):
        if count < 0:
            vw, k0, k1 = span(i)
            prices = {"price_open": price_open[i], "take_profit": take_profit[i], "stop_loss": stop_loss[i]}
            counts[i] = milestone_count(vw, k0, k1, position=positions[i], **prices)
    return counts


def _levels_of(
    d_max: float,
    d_min: float,
    price_open: float,
    take_profit: float,
    stop_loss: float,
    done_profit: frozenset[int] | set[int],
    done_loss: frozenset[int] | set[int],
) -> tuple[list[int], list[int], float, float]:
    """The profit and the loss levels not done yet that a move reaches, from its extremes in the
    position's favour (``d_max``) and against it (``d_min``), and the distances to TP and SL they
    are measured on."""
    profit: list[int] = []
    loss: list[int] = []
    tp_dist = sl_dist = 0.0
    if d_max > 0:
        tp_dist = abs(take_profit - price_open)
        profit = levels_reached(d_max / tp_dist * 100, done_profit)
    if d_min < 0:
        sl_dist = abs(price_open - stop_loss)
        loss = levels_reached(-d_min / sl_dist * 100, done_loss)
    return profit, loss, tp_dist, sl_dist


def levels_reached(progress: float, done: frozenset[int] | set[int]) -> list[int]:
    """The levels at or under ``progress`` (percent of the way) that are not ``done`` (SPEC 10.1),
    ascending: the one rule, for a fast-forward's move and for one evaluation. The levels
    ascend, so those are a prefix, found by bisection (``progress < level`` is exactly "not
    ``level <= progress``" for a number); NaN reaches none, where bisection would take them all."""
    if progress != progress:
        return []
    reached = PARTIAL_LEVELS[: bisect_right(PARTIAL_LEVELS, progress)]
    return [lv for lv in reached if lv not in done] if done else list(reached)
