"""What the report stores keep per trade, packed into numpy columns (issue 13: bounded memory).

A closed result is four Python objects (the result, its signal row, the PNL, an id string) and a
dozen boxed floats and ints: about 600 bytes, and a fast-forwarded signal's lazy milestone batch
another 250. A walker of 100 strategies over a year keeps half a million of them. Packed, a closed
result costs about 130 bytes and a lazy batch about 100.

How: the hot path still appends the object to a short list (one ``append``, as before); every
``CHUNK`` objects the list is folded into a chunk of columns. Reading unpacks a chunk back into
equal objects (frozen dataclasses compare by value; every float and int round-trips exactly through
float64/int64). Anything a column cannot hold exactly (an id that is not a 36-character ASCII
string, a price that is not a float, names that differ from the chunk's, a note) is kept aside,
whole or by field, so unpacking never changes a value or a type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice, repeat
from operator import attrgetter, is_
from typing import Any

import numpy as np

from ..model import ClosedResult, Pnl, SignalRow
from ..partial import LazyMilestones, own_stretches

__all__ = ["CHUNK", "CLOSED_COLUMNS", "PackedList", "PackedView", "pack_closed", "pack_lazy"]

CHUNK = 512  # objects folded at a time: the unpacked tail stays small, a fold amortises its numpy calls
_NO_TIME = np.iinfo(np.int64).min  # pending_at None
_POSITIONS = ("long", "short")
_REASONS = ("take_profit", "stop_loss", "time_expired", "manual")
_ID_LEN = 36

_ROW_FIELDS = (
    "id",
    "position",
    "price_open",
    "price_take_profit",
    "price_stop_loss",
    "minute_estimated_time",
    "symbol",
    "exchange_name",
    "strategy_name",
    "scheduled_at",
    "pending_at",
    "is_scheduled",
    "note",
)
_row_fields = attrgetter(*_ROW_FIELDS)  # one row's fields (the careful path)
_row_columns = tuple(map(attrgetter, _ROW_FIELDS))  # one field of every row: ``list(map(get, rows))``
_LIMIT = 2**62  # whole numbers kept in int64 columns stay strictly inside +-2**62 (the _NO_TIME sentinel is outside)


@dataclass(slots=True, frozen=True)
class _Rows:
    """Signal rows as columns; ``whole`` keeps, by position, the rows that did not fit."""

    ids: bytes
    position: np.ndarray  # int8 index into _POSITIONS
    prices: np.ndarray  # (n, 3) float64: open, take profit, stop loss
    minutes: np.ndarray  # int64
    times: np.ndarray  # (n, 2) int64: scheduled_at, pending_at (_NO_TIME for None)
    scheduled: np.ndarray  # bool
    names: tuple[str, str, str]  # symbol, exchange, strategy: one run's, shared by every row
    notes: dict[int, str]
    whole: dict[int, SignalRow]

    def unpack(self) -> list[SignalRow]:
        n = len(self.position)
        ids = self.ids.decode("ascii")
        make = SignalRow._positional
        symbol, exchange, strategy = self.names
        notes, whole = self.notes, self.whole
        out = []
        for i, pos, (po, tp, sl), met, (sched, pend), is_s in zip(
            range(n),
            self.position.tolist(),
            self.prices.tolist(),
            self.minutes.tolist(),
            self.times.tolist(),
            self.scheduled.tolist(),
        ):
            row = whole.get(i) if whole else None
            if row is None:
                row = make(
                    ids[i * _ID_LEN : (i + 1) * _ID_LEN],
                    _POSITIONS[pos],
                    po,
                    tp,
                    sl,
                    met,
                    symbol,
                    exchange,
                    strategy,
                    sched,
                    None if pend == _NO_TIME else pend,
                    is_s,
                    notes.get(i, ""),
                )
            out.append(row)
        return out

    def part(self, i: int, j: int) -> _Rows:
        """Rows ``i`` to ``j`` (not included), as ``_pack_rows`` of those rows would give them."""
        return _Rows(
            ids=self.ids[i * _ID_LEN : j * _ID_LEN],
            position=self.position[i:j],
            prices=self.prices[i:j],
            minutes=self.minutes[i:j],
            times=self.times[i:j],
            scheduled=self.scheduled[i:j],
            names=self.names,
            notes=_within_part(self.notes, i, j),
            whole=_within_part(self.whole, i, j),
        )


def _within_part(by_position: dict[int, Any], i: int, j: int) -> dict[int, Any]:
    """The entries of ``by_position`` from ``i`` to ``j`` (not included), renumbered from 0."""
    return {k - i: v for k, v in by_position.items() if i <= k < j} if by_position else {}


@dataclass(slots=True, frozen=True)
class _RowsRef:
    """Rows another chunk packed already: a closed chunk holds the very signals of the lazy
    milestone batches folded with it (``pack_lazy``'s ``shared``), so those keep where their rows
    are in it instead of packing them a second time."""

    rows: _Rows
    index: np.ndarray  # int32 positions in ``rows``

    def unpack(self) -> list[SignalRow]:
        every = self.rows.unpack()
        return [every[i] for i in self.index.tolist()]


def _fits(f: tuple, names: tuple[str, str, str]) -> bool:
    """Can this row's fields go into the columns and come back identical (values and types)?"""
    rid, position, po, tp, sl, met, sym, exch, strat, sched, pend, is_s, note = f
    return (
        type(rid) is str
        and len(rid) == _ID_LEN
        and rid.isascii()
        and position in _POSITIONS
        and type(po) is float
        and type(tp) is float
        and type(sl) is float
        and type(met) is int
        and type(sched) is int
        and (pend is None or type(pend) is int)
        and type(is_s) is bool
        and type(note) is str
        and (sym, exch, strat) == names
        and -(2**62) < met < 2**62
        and -(2**62) < sched < 2**62
        and (pend is None or -(2**62) < pend < 2**62)
    )


def _types(column: Sequence[Any]) -> set[type]:
    return set(map(type, column))


def _within(column: Sequence[int]) -> bool:
    return min(column) > -(2**62) and max(column) < 2**62


def _rows_fit(cols: list[Sequence[Any]], names: tuple[str, str, str]) -> bool:
    """``_fits`` for every row at once, a column at a time at C speed (the common case: rows the
    engine built, all of one run): when it says no, the rows are checked one by one. The range of
    the two always-whole columns is checked on their arrays (``_row_numbers``)."""
    rid, position, po, tp, sl, met, sym, exch, strat, sched, pend, is_s, note = cols
    pending = [p for p in pend if p is not None]
    return (
        _types(rid) == {str}
        and set(map(len, rid)) == {_ID_LEN}
        and "".join(rid).isascii()
        and set(position) <= set(_POSITIONS)
        and _types(po) == _types(tp) == _types(sl) == {float}
        and _types(met) == _types(sched) == {int}
        and _types(is_s) == {bool}
        and _types(note) == {str}
        and _types(pending) <= {int}
        and set(sym) == {names[0]}
        and set(exch) == {names[1]}
        and set(strat) == {names[2]}
        and (not pending or _within(pending))
    )


def _row_numbers(cols: list[Sequence[Any]]) -> tuple[np.ndarray, np.ndarray] | None:
    """The minutes and (scheduled, pending) columns as arrays; None when a value is out of range."""
    try:
        minutes = np.array(cols[5], dtype=np.int64)
        times = np.array([cols[9], [_NO_TIME if p is None else p for p in cols[10]]], dtype=np.int64)
    except OverflowError:  # beyond int64 altogether
        return None
    for a in (minutes, times[0]):
        if a.size and not (int(a.min()) > -_LIMIT and int(a.max()) < _LIMIT):
            return None
    return minutes, times.T.copy()


def _pack_rows(rows: Sequence[SignalRow]) -> _Rows:
    cols: list[Sequence[Any]] = [list(map(get, rows)) for get in _row_columns]  # a column at a time
    names = (cols[6][0], cols[7][0], cols[8][0])
    whole: dict[int, SignalRow] = {}
    numbers = _row_numbers(cols) if _rows_fit(cols, names) else None
    if numbers is None:
        fields = list(zip(*cols))
        blank = ("0" * _ID_LEN, "long", 0.0, 0.0, 0.0, 0, *names, 0, None, False, "")
        for i, f in enumerate(fields):
            if not _fits(f, names):
                whole[i] = rows[i]
                fields[i] = blank
        cols = list(zip(*fields))
        numbers = _row_numbers(cols)
        assert numbers is not None  # every row left fits
    minutes, times = numbers
    notes = {i: note for i, note in enumerate(cols[12]) if note and i not in whole}
    n = len(rows)
    return _Rows(
        ids="".join(cols[0]).encode("ascii"),
        position=np.fromiter((p == "short" for p in cols[1]), dtype=np.int8, count=n),
        prices=np.array(cols[2:5], dtype=np.float64).T.copy(),
        minutes=minutes,
        times=times,
        scheduled=np.array(cols[11], dtype=bool),
        names=names,
        notes=notes,
        whole=whole,
    )


_closed_fields = attrgetter(
    "signal", "current_price", "strategy_name", "exchange_name", "symbol", "backtest", "close_reason", "close_timestamp"
)
_pnl_fields = attrgetter("pnl_percentage", "price_open", "price_close")


@dataclass(slots=True, frozen=True)
class _Closed:
    """Closed results as columns (their rows packed by ``_Rows``)."""

    rows: _Rows
    price: np.ndarray  # (n, 4) float64: current price, PNL %, PNL open price, PNL close price
    reason: np.ndarray  # int8 index into _REASONS
    close_ts: np.ndarray  # int64
    ids: tuple[str, str, str, bool]  # strategy, exchange, symbol, backtest (ClosedResult's order)
    whole: dict[int, ClosedResult]

    def unpack(self) -> list[ClosedResult]:
        make, pnl = ClosedResult._positional, Pnl._positional
        strategy, exchange, symbol, backtest = self.ids
        whole = self.whole
        out = []
        for i, row, (cur, pct, po, pc), why, ts in zip(
            range(len(self.reason)),
            self.rows.unpack(),
            self.price.tolist(),
            self.reason.tolist(),
            self.close_ts.tolist(),
        ):
            res = whole.get(i) if whole else None
            if res is None:
                res = make(row, cur, strategy, exchange, symbol, backtest, _REASONS[why], ts, pnl(pct, po, pc))
            out.append(res)
        return out

    def part(self, i: int, j: int) -> _Closed:
        """Results ``i`` to ``j`` (not included), as ``pack_closed`` of those results would give
        them (a run of a worker's trades that is a stretch of its store's chunk)."""
        if i == 0 and j == len(self.reason):
            return self
        return _Closed(
            rows=self.rows.part(i, j),
            price=self.price[i:j],
            reason=self.reason[i:j],
            close_ts=self.close_ts[i:j],
            ids=self.ids,
            whole=_within_part(self.whole, i, j),
        )

    def column(self, name: str) -> list[Any] | None:
        """Oldest first, what the field ``name`` (an attribute path of ``ClosedResult``, one of
        ``CLOSED_COLUMNS``) holds in each object ``unpack`` would build: the same values, of the
        same types, without building the objects. None when a result or row is kept whole."""
        if self.whole or self.rows.whole:
            return None
        return _CLOSED_COLUMNS[name](self)

    def pnl_and_duration(self) -> tuple[list[float], list[int | None]] | None:
        """Oldest first: each result's PNL % and ``close_timestamp - pending_at`` (None where the
        row has no ``pending_at``), read off the columns, so statistics need not build the
        objects. None when a result or row is kept whole (its columns hold blanks): unpack then."""
        pending = self.column("signal.pending_at")
        if pending is None:
            return None
        durations = [None if p is None else c - p for c, p in zip(self.column("close_timestamp"), pending)]
        return self.column("pnl.pnl_percentage"), durations


def _ids(rows: _Rows) -> list[str]:
    text = rows.ids.decode("ascii")
    return [text[k : k + _ID_LEN] for k in range(0, len(text), _ID_LEN)]


_CLOSED_COLUMNS: dict[str, Callable[[_Closed], list[Any]]] = {
    "signal.id": lambda c: _ids(c.rows),
    "signal.symbol": lambda c: [c.rows.names[0]] * len(c.reason),
    "signal.position": lambda c: [_POSITIONS[p] for p in c.rows.position.tolist()],
    "signal.note": lambda c: [c.rows.notes.get(i, "") for i in range(len(c.reason))],
    "signal.price_open": lambda c: c.rows.prices[:, 0].tolist(),
    "signal.price_take_profit": lambda c: c.rows.prices[:, 1].tolist(),
    "signal.price_stop_loss": lambda c: c.rows.prices[:, 2].tolist(),
    "signal.pending_at": lambda c: [None if p == _NO_TIME else p for p in c.rows.times[:, 1].tolist()],
    "signal.scheduled_at": lambda c: c.rows.times[:, 0].tolist(),
    "current_price": lambda c: c.price[:, 0].tolist(),
    "pnl.pnl_percentage": lambda c: c.price[:, 1].tolist(),
    "close_reason": lambda c: [_REASONS[r] for r in c.reason.tolist()],
    "close_timestamp": lambda c: c.close_ts.tolist(),
}
CLOSED_COLUMNS = tuple(_CLOSED_COLUMNS)
"""The fields ``_Closed.column`` reads off the columns (the backtest report's default cells)."""


def pack_closed(results: Sequence[ClosedResult]) -> _Closed:
    """Fold closed results into columns (see the module's docstring)."""
    fields = [_closed_fields(r) for r in results]
    ids = fields[0][2:6]
    pnls = [r.pnl for r in results]
    cols = list(zip(*fields))
    fast = (
        _types(pnls) == {Pnl}
        and all(set(c) == {v} for c, v in zip(cols[2:6], ids))
        and set(cols[6]) <= set(_REASONS)
        and _types(cols[7]) == {int}
        and _within(cols[7])
    )
    if fast:  # a column at a time (one array from four columns, not one from n rows of four)
        money_cols = (cols[1], *zip(*map(_pnl_fields, pnls)))
        fast = set().union(*map(_types, money_cols)) == {float}
    whole: dict[int, ClosedResult] = {}
    if fast:
        reasons = list(map(_REASONS.index, cols[6]))
        stamps = cols[7]
        price = np.array(money_cols, dtype=np.float64).T.copy()
    else:
        money, reasons, stamps = [], [], []
        for i, (res, f) in enumerate(zip(results, fields)):
            pnl = res.pnl
            p = (f[1], *_pnl_fields(pnl)) if type(pnl) is Pnl else (None,)
            fits = (
                f[2:6] == ids
                and f[6] in _REASONS
                and type(f[7]) is int
                and -(2**62) < f[7] < 2**62
                and len(p) == 4
                and all(type(v) is float for v in p)
            )
            if not fits:
                whole[i] = res
                p, f = (0.0, 0.0, 0.0, 0.0), (*f[:6], "take_profit", 0)
            money.append(p)
            reasons.append(_REASONS.index(f[6]))
            stamps.append(f[7])
        price = np.array(money, dtype=np.float64).reshape(len(results), 4)
    return _Closed(
        rows=_pack_rows(cols[0]),
        price=price,
        reason=np.array(reasons, dtype=np.int8),
        close_ts=np.array(stamps, dtype=np.int64),
        ids=ids,
        whole=whole,
    )


@dataclass(slots=True, frozen=True)
class _Lazy:
    """Lazy milestone batches as columns: their rows, their stretches, and the (few) VWAP columns
    they point into (one per run and candle store: shared, never copied)."""

    rows: _Rows | _RowsRef
    stretch: np.ndarray  # (n, 3) int64: k0, k1, t0
    source: np.ndarray  # int16 index into ``columns``
    columns: tuple[tuple[np.ndarray, np.ndarray | None], ...]  # (vw, ts)
    backtest: np.ndarray  # bool

    def unpack(self, rows: Sequence[SignalRow] | None = None) -> list[LazyMilestones]:
        """The batches; ``rows``: their signal rows when the caller has them already (the very
        objects, so a trade's results and its batch share one, as when they were emitted)."""
        cols = self.columns
        return [
            LazyMilestones(row, cols[src][0], t0, cols[src][1], k0, k1, bt)
            for row, (k0, k1, t0), src, bt in zip(
                self.rows.unpack() if rows is None else rows,
                self.stretch.tolist(),
                self.source.tolist(),
                self.backtest.tolist(),
            )
        ]

    def compact(self) -> _Lazy:
        """The same batches holding only their own stretches of candles, each column's stretches
        copied into one array, in the batches' order (``partial.own_stretches``, as
        ``LazyMilestones.share`` does for batch objects): a column may be a whole year's, and
        these go to another process."""
        k0, k1, t0 = self.stretch[:, 0], self.stretch[:, 1], self.stretch[:, 2]
        stretch = np.empty_like(self.stretch)
        columns: list[tuple[np.ndarray, np.ndarray | None]] = []
        for j, (vw, ts) in enumerate(self.columns):
            mine = np.flatnonzero(self.source == j)
            vw_own, ts_own, starts, ends, moved = own_stretches(vw, ts, k0[mine], k1[mine], t0[mine])
            columns.append((vw_own, ts_own))
            stretch[mine, 0], stretch[mine, 1], stretch[mine, 2] = starts, ends, moved
        return _Lazy(self.rows, stretch, self.source, tuple(columns), self.backtest)


_BATCH_ROW, _SIGNAL = attrgetter("row"), attrgetter("signal")


def _shared_rows(batches: Sequence[LazyMilestones], shared: tuple[_Rows, Sequence[ClosedResult]]) -> _RowsRef | None:
    """Where the batches' rows are among ``shared``'s closed results (packed as ``shared[0]``),
    if every one is there. By identity: those results are alive while this runs, so an object
    with the same ``id`` is the same object."""
    packed_rows, results = shared
    if len(batches) == len(results) and all(map(is_, map(_BATCH_ROW, batches), map(_SIGNAL, results))):
        # a trade's batch and its closed result, trade by trade (``TradeColumns.pack``): each
        # batch's row is at its own place (the lookup below finds the same object there)
        return _RowsRef(packed_rows, np.arange(len(batches), dtype=np.int32))
    where = {id(r.signal): i for i, r in enumerate(results)}
    try:
        index = [where[id(b.row)] for b in batches]
    except KeyError:
        return None
    return _RowsRef(packed_rows, np.array(index, dtype=np.int32))


def pack_lazy(
    batches: Sequence[LazyMilestones], shared: tuple[_Rows, Sequence[ClosedResult]] | None = None
) -> _Lazy | None:
    """Fold unread lazy batches into columns; None when one was read already (its events are
    computed: keep the objects) or there are too many distinct VWAP columns. ``shared``: the rows
    and results of the closed chunk just packed with them, whose rows they reuse when they can."""
    vws, tss = [b.vw for b in batches], [b.ts for b in batches]
    stretch = ([b.k0 for b in batches], [b.k1 for b in batches], [b.t0 for b in batches])
    if any(map(is_, vws, repeat(None))) or set().union(*map(_types, stretch)) != {int}:
        return None  # a batch already read (its vw is gone) or a stretch numpy would not give back
    # the few distinct (vw, ts) columns, numbered in order of first use (a run reads one store:
    # one column, found without a key a batch)
    one = all(map(is_, vws, repeat(vws[0]))) and all(map(is_, tss, repeat(tss[0])))
    sources = {(id(vws[0]), id(tss[0])): None} if one else dict.fromkeys(zip(map(id, vws), map(id, tss)))
    if len(sources) > 30_000:
        return None
    if len(sources) == 1:
        src = np.zeros(len(batches), dtype=np.int16)
        columns: tuple[tuple[np.ndarray, np.ndarray | None], ...] = ((vws[0], tss[0]),)
    else:
        number = {key: j for j, key in enumerate(sources)}
        src = np.fromiter((number[k] for k in zip(map(id, vws), map(id, tss))), dtype=np.int16, count=len(batches))
        first = {}
        for j, vw, ts in zip(src.tolist(), vws, tss):
            first.setdefault(j, (vw, ts))
        columns = tuple(first[j] for j in range(len(sources)))
    rows = _shared_rows(batches, shared) if shared is not None else None
    return _Lazy(
        rows=_pack_rows([b.row for b in batches]) if rows is None else rows,
        stretch=np.array(stretch, dtype=np.int64).T.copy(),
        source=src,
        columns=columns,
        backtest=np.array([b.backtest for b in batches], dtype=bool),
    )


class PackedList:
    """An append-only list, oldest first, whose older part is packed: ``append`` is a list append;
    every ``CHUNK`` items the tail is folded by ``pack`` (None from ``pack`` keeps them as they are).
    ``drop_oldest`` forgets whole chunks (a capped store)."""

    __slots__ = ("_chunks", "_pack", "_sizes", "append", "tail")

    def __init__(self, pack: Any) -> None:
        self._pack = pack
        self._chunks: list[Any] = []  # packed chunks or plain lists, oldest first
        self._sizes: list[int] = []
        self.tail: list[Any] = []
        self.append = self.tail.append

    def fold(self) -> tuple[list[Any], Any] | None:
        """Pack the tail (the stores call this when it reaches ``CHUNK``); returns the items and
        what they were packed into (None if the tail was empty)."""
        if not self.tail:
            return None
        items = list(self.tail)
        packed = self._pack(items)
        self._chunks.append(packed if packed is not None else items)
        self._sizes.append(len(items))
        self.tail.clear()
        return items, packed

    def add_packed(self, chunk: Any, size: int) -> None:
        """Append ``size`` items packed elsewhere (another process's chunk), after every item
        already here: the tail is folded first, so the order holds."""
        self.fold()
        self._chunks.append(chunk)
        self._sizes.append(size)

    def __len__(self) -> int:
        return sum(self._sizes) + len(self.tail)

    def drop_oldest(self, keep: int) -> int:
        """Forget the oldest chunks as long as ``keep`` items remain; returns how many were dropped."""
        dropped = 0
        while self._chunks and len(self) - self._sizes[0] >= keep:
            dropped += self._sizes.pop(0)
            self._chunks.pop(0)
        return dropped

    def newest_first(self) -> Iterator[Any]:
        """Every item, newest first (each chunk unpacked as it is reached)."""
        yield from reversed(self.tail)
        for chunk in reversed(self._chunks):
            yield from reversed(chunk if type(chunk) is list else chunk.unpack())

    def view(self, limit: int | None = None) -> PackedView:
        """The newest ``limit`` items (all for None) as they are now, still packed."""
        return PackedView(tuple(self._chunks), tuple(self._sizes), tuple(self.tail), limit)


class PackedView(Sequence):
    """A read-only sequence, newest first, of what a ``PackedList`` held when it was taken: the
    chunks stay packed and are unpacked as they are read (statistics keep their ``signal_list``
    this way: a 100-strategy walker keeps every trade of every strategy at packed size).
    Compares equal to any sequence of equal items, like the tuple it stands for."""

    __slots__ = ("_chunks", "_len", "_sizes", "_tail")
    packed_view = True

    def __init__(self, chunks: tuple, sizes: tuple[int, ...], tail: tuple, limit: int | None) -> None:
        self._chunks, self._sizes, self._tail = chunks, sizes, tail
        total = sum(sizes) + len(tail)
        self._len = total if limit is None else min(limit, total)

    def __len__(self) -> int:
        return self._len

    def _all(self) -> Iterator[Any]:
        yield from reversed(self._tail)
        for chunk in reversed(self._chunks):
            yield from reversed(chunk if type(chunk) is list else chunk.unpack())

    def __iter__(self) -> Iterator[Any]:
        return islice(self._all(), self._len)

    def segments(self) -> Iterator[tuple[Any, Callable[[], Iterable[Any]], int]]:
        """The view newest first, in pieces ``(chunk, objects, count)``: the next ``count`` items
        are the ``count`` newest of ``chunk`` when it is packed (else ``chunk`` is None), and
        ``objects()`` gives them as objects, newest first, either way. A report renders a packed
        chunk from its columns (markdown.render_table)."""
        left = self._len
        pieces = zip((list(self._tail), *reversed(self._chunks)), (len(self._tail), *reversed(self._sizes)))
        for piece, size in pieces:
            if left <= 0:
                return
            count = size if size < left else left
            if count == 0:
                continue
            left -= count
            packed = type(piece) is not list

            def objects(piece: Any = piece, count: int = count, packed: bool = packed) -> list[Any]:
                items = piece.unpack() if packed else piece
                return items[::-1][:count]

            yield (piece if packed else None), objects, count

    def pnl_and_duration(self) -> tuple[list[float], list[Any]]:
        """Newest first, like iterating the view: each closed result's ``pnl.pnl_percentage`` and
        ``close_timestamp - signal.pending_at`` (None without ``pending_at``). Packed chunks give
        them from their columns (the same values unpacking would put in the objects); others, and
        chunks with rows kept whole, from the objects (docs/behaviour.md 12.2)."""
        pnls: list[Any] = []
        durations: list[Any] = []

        def from_objects(items: Any) -> None:
            for c in items:
                pnls.append(c.pnl.pnl_percentage)
                pending = c.signal.pending_at
                durations.append(None if pending is None else c.close_timestamp - pending)

        for chunk, objects, count in self.segments():
            got = None if chunk is None else chunk.pnl_and_duration()
            if got is None:
                from_objects(objects())
            else:
                pnls.extend(got[0][::-1][:count])
                durations.extend(got[1][::-1][:count])
        return pnls, durations

    def __reversed__(self) -> Iterator[Any]:
        return reversed(list(self))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self)[index]
        n = self._len
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError("PackedView index out of range")
        return next(islice(self._all(), i, None))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # equal to tuples, so not hashable like them

    def __repr__(self) -> str:
        return f"PackedView({self._len} items)"
