"""A stretch of one backtest's trades as columns, for another process (issue 14 item 2).

A fast backtest closes thousands of trades a second, and each trade is three objects on its way
to a listener: the opened result, the signal's lazy milestone batch and the closed result. The
console's worker sent them one by one; unpickling them, publishing each into the console's bus and
folding each into its dashboard took the console ~130 ms of CPU on the engine benchmark, on the
core the worker's run needed next to it. ``TradeColumns`` carries the same trades in the report
stores' packed columns (engine/reports/packed.py): the closed results as the backtest store packs
them, the lazy batches as the partial store packs them (their rows shared with the closed ones).
An opened result has nothing of its own: it is its row's (``model.opened_result``), so the worker
hears of an open as the row alone (``Bus.opened_rows``) and builds no result for it. The report
stores take the columns as they are (``ReportStores.take_trades``); a reader that wants the
objects gets equal ones back (``trades``): the same row object in a trade's three, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice, repeat
from operator import is_
from typing import Any, ClassVar

from ..model import ClosedResult, OpenedResult, SignalRow, opened_result
from ..partial import LazyMilestones
from ..settlement import milestone_counts, milestone_counts_in
from .packed import _POSITIONS, _Closed, _Lazy, _RowsRef, pack_closed, pack_lazy

__all__ = ["FoldedChunks", "HeardTrade", "Trade", "TradeColumns"]

_LONG = _POSITIONS.index("long")

Trade = tuple[OpenedResult, LazyMilestones | None, ClosedResult]
"""One trade as a backtest emits it: opened, its lazy milestones (if it has any), closed."""

HeardTrade = tuple[SignalRow, LazyMilestones | None, ClosedResult]
"""One trade as a listener of ``Bus.opened_rows`` hears it: the row it opened, then its lazy
milestones (if it has any) and its closed result."""


@dataclass(slots=True, frozen=True)
class TradeColumns:
    """Trades of one (symbol, strategy, exchange) backtest, oldest first, as columns."""

    closed: _Closed
    lazy: _Lazy | None  # each trade's lazy milestones, rows shared with ``closed``; None: no trade has any
    backtest: ClassVar[bool] = True  # a backtest's trades (what a listener asks of a result)

    @staticmethod
    def pack(trades: Sequence[HeardTrade], folded: FoldedChunks | None = None) -> TradeColumns | None:
        """The trades as columns, or None unless they all fit: each trade's row the same object
        as its closed result's, its opened result the one its row gives (the row's names are the
        closed result's), one pair, every trade with an unread lazy batch of that row or none
        with one. What does not fit goes as objects, as before. ``folded``: chunks a report store
        packed; closed results found there in one stretch are not packed a second time."""
        if not trades:
            return None
        first = trades[0][2]
        symbol, strategy, exchange = first.symbol, first.strategy_name, first.exchange_name
        lazies = [lazy for _, lazy, _ in trades]
        with_lazy = lazies[0] is not None
        for row, lazy, closed in trades:  # name by name, no tuple a trade (a third of this loop)
            if not (
                type(closed) is ClosedResult
                and closed.signal is row
                and type(row) is SignalRow
                and closed.backtest is True
                and closed.symbol == symbol
                and closed.strategy_name == strategy
                and closed.exchange_name == exchange
                and row.symbol == symbol
                and row.strategy_name == strategy
                and row.exchange_name == exchange
                and (lazy is not None) == with_lazy
                and (lazy is None or (lazy.row is row and type(lazy) is LazyMilestones))
            ):
                return None
        results = [closed for _, _, closed in trades]
        packed = folded.columns_of(results) if folded else None
        if packed is None:
            packed = pack_closed(results)
        lazy_packed = None
        if with_lazy:
            lazy_packed = pack_lazy(lazies, (packed.rows, results))  # type: ignore[arg-type]
            if lazy_packed is None or not isinstance(lazy_packed.rows, _RowsRef):
                return None  # a batch already read, or rows it could not share
            lazy_packed = lazy_packed.compact()  # its own candles only: the engine's columns stay here
        return TradeColumns(packed, lazy_packed)

    def __len__(self) -> int:
        return len(self.closed.reason)

    @property
    def symbol(self) -> str:
        return self.closed.ids[2]

    @property
    def strategy_name(self) -> str:
        return self.closed.ids[0]

    def trades(self) -> list[Trade]:
        """Every trade as the objects it was packed from (equal values; one row object a trade)."""
        closed = self.closed.unpack()
        opened = [opened_result(c.signal, True) for c in closed]
        lazies: list[LazyMilestones | None] = (
            [None] * len(closed) if self.lazy is None else self.lazy.unpack([c.signal for c in closed])
        )
        return list(zip(opened, lazies, closed))

    def column(self, name: str) -> list[Any] | None:
        """Oldest first, the closed results' field ``name`` (``packed.CLOSED_COLUMNS``) read off
        the columns; None when a result is kept whole."""
        return self.closed.column(name)

    def milestone_counts(self) -> list[int]:
        """How many milestones each trade's lazy batch holds (``LazyMilestones.count_all`` of the
        batches ``trades`` gives, from the columns): zeros when the trades have none."""
        lazy = self.lazy
        if lazy is None:
            return [0] * len(self)
        assert isinstance(lazy.rows, _RowsRef)
        rows = lazy.rows.rows
        if rows.whole:  # a row kept whole has blanks in the columns: count the objects
            return LazyMilestones.count_all(self.lazy_batches())
        at = lazy.rows.index
        prices = rows.prices[at]
        if len(lazy.columns) == 1:  # every stretch in one column (a run's trades on one market)
            k0, k1 = lazy.stretch[:, 0], lazy.stretch[:, 1]
            long = rows.position[at] == _LONG
            return milestone_counts_in(lazy.columns[0][0], k0, k1, long, prices[:, 0], prices[:, 1], prices[:, 2])
        positions = [_POSITIONS[p] for p in rows.position[at].tolist()]
        vws = [lazy.columns[src][0] for src in lazy.source.tolist()]
        spans = [(vw, k0, k1) for vw, (k0, k1, _) in zip(vws, lazy.stretch.tolist())]
        return milestone_counts(spans, positions, prices[:, 0].tolist(), prices[:, 1].tolist(), prices[:, 2].tolist())

    def lazy_batches(self) -> list[LazyMilestones]:
        """The trades' lazy milestone batches, oldest first (none when they have none)."""
        if self.lazy is None:
            return []
        return self.lazy.unpack()


class FoldedChunks:
    """Chunks of closed results a report store packed (``ReportStores.on_chunk``), found by their
    results: a console's worker sends a backtest's trades in the columns its backtest store packed
    them into, as a headless run packs them, instead of packing them a second time."""

    __slots__ = ("_chunks",)

    def __init__(self) -> None:
        # each chunk with the results it packed (alive with it: an object found there by identity
        # is that result); a few between two batches, each searched at C speed, where a key a
        # result cost the worker ~1 ms a run on the engine benchmark
        self._chunks: list[tuple[_Closed, list[ClosedResult]]] = []

    def __bool__(self) -> bool:
        return bool(self._chunks)

    def add(self, results: list[ClosedResult], chunk: Any) -> None:
        """``chunk``: ``results`` packed (a store keeps a chunk it could not pack as a list)."""
        if type(chunk) is _Closed:
            self._chunks.append((chunk, results))

    def clear(self) -> None:
        self._chunks.clear()

    def columns_of(self, results: Sequence[ClosedResult]) -> _Closed | None:
        """``results`` packed, when they are one stretch of a chunk here, in order."""
        if not results:
            return None
        first, n = results[0], len(results)
        for chunk, held in self._chunks:
            try:
                k = list(map(is_, held, repeat(first))).index(True)
            except ValueError:
                continue
            if len(held) - k < n or not all(map(is_, islice(held, k, k + n), results)):
                return None
            return chunk.part(k, k + n)
        return None
