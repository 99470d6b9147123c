"""Profit/loss milestones (SPEC 10): 10 %, 20 %, ... 100 % of the way to TP or SL, once per signal."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import events
from .model import PartialEvent, SignalRow
from .persist.adapters import PersistPartialAdapter, writer
from .scope import forward
from .settlement import MINUTE_MS, Lane, levels_reached, milestone_counts, milestones

new_tuple = tuple.__new__

__all__ = ["LazyMilestones", "PartialService"]


@dataclass(slots=True)
class _Levels:
    signal_id: str
    symbol: str
    strategy_name: str
    profit: set[int] = field(default_factory=set)
    loss: set[int] = field(default_factory=set)


def _time(t0: int, ts: np.ndarray | None, k: int) -> int:
    return t0 + k * MINUTE_MS if ts is None else int(ts[k])


def own_stretches(
    vw: np.ndarray, ts: np.ndarray | None, k0: np.ndarray, k1: np.ndarray, t0: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
    """The stretches ``[k0, k1)`` of the column ``(vw, ts)`` copied into new columns, and each
    stretch's new ``k0``, ``k1`` and ``t0``: candle ``k0`` of a stretch becomes its offset in the
    copy, and its ``t0`` moves by as many minutes, so every candle keeps its time (``ts``, when
    given, holds the times themselves). For batches that go to another process
    (``LazyMilestones.share``, and their columns, ``packed._Lazy.compact``).

    The copy is the stretches' whole span, in one slice, when that holds at most twice their
    candles (a busy run's trades follow one another: gathering them one by one cost a console's
    worker 2.5 ms of the engine benchmark's run), else the stretches one after another."""
    lengths = k1 - k0
    if len(k0):
        lo, hi = int(k0.min()), int(k1.max())
        if hi - lo <= 2 * int(lengths.sum()):
            span = slice(lo, hi)
            return vw[span].copy(), None if ts is None else ts[span].copy(), k0 - lo, k1 - lo, t0 + lo * MINUTE_MS
    ends = np.cumsum(lengths)
    starts = ends - lengths
    at = np.arange(int(ends[-1]) if len(ends) else 0) + np.repeat(k0 - starts, lengths)
    return vw[at], None if ts is None else ts[at], starts, ends, t0 + (k0 - starts) * MINUTE_MS


class LazyMilestones:
    """The milestones one fast-forwarded signal reached, computed on first read.

    Holds the signal and the stretch ``[k0, k1)`` of a VWAP column it was evaluated on; a fresh
    signal has no levels yet, so the result depends on nothing else. ``vw[k]`` is the VWAP at
    candle ``k``, which opened at ``t0 + k`` minutes, or at ``ts[k]`` when ``ts`` is given (a lane
    with gaps). The column may be a whole candle store's: nothing is copied or sliced per signal.
    """

    __slots__ = ("_events", "backtest", "k0", "k1", "row", "t0", "ts", "vw")

    def __init__(
        self, row: SignalRow, vw: np.ndarray, t0: int, ts: np.ndarray | None, k0: int, k1: int, backtest: bool
    ) -> None:
        self.row, self.vw, self.t0, self.ts, self.k0, self.k1, self.backtest = row, vw, t0, ts, k0, k1, backtest
        self._events: list[tuple[str, PartialEvent]] | None = None

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Its fields as one tuple: the default for a slotted object builds a dict of them per
        object, and a console's worker sends one of these per trade."""
        return _rebuilt, (self.row, self.vw, self.t0, self.ts, self.k0, self.k1, self.backtest, self._events)

    @classmethod
    def of_lane(cls, row: SignalRow, lane: Lane, k0: int, k1: int, backtest: bool) -> LazyMilestones:
        return cls(row, lane.vw, lane.t0, lane.ts, k0, k1, backtest)

    @staticmethod
    def share(batches: Sequence[LazyMilestones]) -> list[LazyMilestones]:
        """The same batches holding only their own stretches of candles (small to pickle, where a
        column may be a whole year's), each column's stretches copied into one array that the new
        batches read at their offsets (``own_stretches``). The same milestones: a console's worker
        sends a batch per trade, and pickling an array per batch was more than half of pickling
        its messages (42 of 76 ms on the engine benchmark's run)."""
        out: list[LazyMilestones] = list(batches)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, b in enumerate(batches):
            if b._events is None and b.vw is not None:
                groups.setdefault((id(b.vw), id(b.ts)), []).append(i)
        for members in groups.values():
            first = batches[members[0]]
            k0, k1, t0 = (
                np.array([getattr(batches[i], f) for i in members], dtype=np.int64) for f in ("k0", "k1", "t0")
            )
            vw, ts, starts, ends, moved = own_stretches(first.vw, first.ts, k0, k1, t0)
            for i, a, z, t in zip(members, starts.tolist(), ends.tolist(), moved.tolist()):
                b = batches[i]
                out[i] = LazyMilestones(b.row, vw, t, ts, a, z, b.backtest)
        return out

    def count(self) -> int:
        """How many milestones ``events`` gives, without building them (``count_all`` of one)."""
        return LazyMilestones.count_all([self])[0]

    @staticmethod
    def count_all(batches: Sequence[LazyMilestones]) -> list[int]:
        """``[b.count() for b in batches]``, the unread ones counted together
        (``settlement.milestone_counts``, equal to the count of each)."""
        counts = [len(b._events) if b._events is not None else 0 for b in batches]
        unread = [i for i, b in enumerate(batches) if b._events is None]
        if unread:
            rows = [batches[i].row for i in unread]
            found = milestone_counts(
                [(batches[i].vw, batches[i].k0, batches[i].k1) for i in unread],
                [r.position for r in rows],
                [r.price_open for r in rows],
                [r.price_take_profit for r in rows],
                [r.price_stop_loss for r in rows],
            )
            for i, count in zip(unread, found):
                counts[i] = count
        return counts

    def _prices(self) -> dict[str, object]:
        row = self.row
        return {
            "position": row.position,
            "price_open": row.price_open,
            "take_profit": row.price_take_profit,
            "stop_loss": row.price_stop_loss,
        }

    def events(self) -> list[tuple[str, PartialEvent]]:
        """``("profit"|"loss", event)`` in emission order (oldest first)."""
        if self._events is None:
            row, backtest, t0, ts = self.row, self.backtest, self.t0, self.ts
            head = (row.symbol, row.strategy_name, row.exchange_name, row)
            self._events = [
                (kind, new_tuple(PartialEvent, (*head, price, level, backtest, _time(t0, ts, k))))
                for k, kind, level, price in milestones(self.vw, self.k0, self.k1, **self._prices())
            ]
            self.vw = self.ts = None  # type: ignore[assignment]  # free the candles
        return self._events


def _rebuilt(
    row: SignalRow,
    vw: np.ndarray,
    t0: int,
    ts: np.ndarray | None,
    k0: int,
    k1: int,
    backtest: bool,
    events: list[tuple[str, PartialEvent]] | None,
) -> LazyMilestones:
    """A pickled ``LazyMilestones`` back (``LazyMilestones.__reduce__``)."""
    batch = LazyMilestones(row, vw, t0, ts, k0, k1, backtest)
    batch._events = events
    return batch


class PartialService:
    """Trackers per (signal id, mode); a tracker lives from the first milestone to the close."""

    def __init__(self) -> None:
        self.trackers: dict[tuple[str, bool], _Levels] = {}
        # live milestones waiting for their levels to be on disk, per (symbol, strategy): see take_live
        self.held: dict[tuple[str, str], list[tuple[events.Stream, PartialEvent]]] = {}
        self.lazy_sink: object = None  # set by the report stores
        self._wants_version = -1
        self._wants = False

    def wants_events(self) -> bool:
        """Does a user listen to milestones (so they must be computed and emitted now)?"""
        version = events.subscription_version()
        if version != self._wants_version:
            self._wants_version = version
            self._wants = events.partial_profit.has_subscribers() or events.partial_loss.has_subscribers()
        return self._wants

    def tracking(self, row: SignalRow, backtest: bool) -> bool:
        """Has this signal reached any milestone already?"""
        return (row.id, backtest) in self.trackers

    def lazy(self, row: SignalRow, backtest: bool) -> bool:
        """May this signal's milestones go to the report as a lazy batch? Only when nobody but the
        report listens and the signal has no levels yet (so they depend on nothing else)."""
        return self.lazy_sink is not None and not self.wants_events() and (row.id, backtest) not in self.trackers

    def levels(self, row: SignalRow, backtest: bool) -> tuple[set[int], set[int]]:
        t = self.trackers.get((row.id, backtest))
        if t is None:
            return set(), set()
        return t.profit, t.loss

    def record(
        self, row: SignalRow, kind: str, level: int, price: float, when: int, backtest: bool
    ) -> Awaitable[None] | None:
        """Mark one level reached and publish it (the caller knows it is new; live: once it is on
        disk, see ``take_live``). Returns what is left to await when a listener is async, else
        None (the common case costs no coroutine)."""
        key = (row.id, backtest)
        t = self.trackers.get(key)
        if t is None:
            t = self.trackers[key] = _Levels(row.id, row.symbol, row.strategy_name)
        (t.profit if kind == "profit" else t.loss).add(level)
        if not backtest:
            self._changed(row.symbol, row.strategy_name)
        stream = events.partial_profit if kind == "profit" else events.partial_loss
        if not stream.wants():
            return None
        event = PartialEvent(
            symbol=row.symbol,
            strategy_name=row.strategy_name,
            exchange_name=row.exchange_name,
            data=row,
            current_price=price,
            level=level,
            backtest=backtest,
            timestamp=when,
        )
        if not backtest:  # announced by the live runner (take_live) once the level is on disk
            self.held.setdefault((row.symbol, row.strategy_name), []).append((stream, event))
            return None
        return stream.emit_nowait(event)

    def record_found(
        self, row: SignalRow, found: list[tuple[int, str, int, float]], lane: Lane, backtest: bool
    ) -> Awaitable[None] | None:
        """``record`` for the milestones a fast-forward found (``settlement.milestones`` output),
        in their order; the per-event lookups are done once. Returns what is left to await, if a
        listener is async."""
        key = (row.id, backtest)
        t = self.trackers.get(key)
        if t is None:
            t = self.trackers[key] = _Levels(row.id, row.symbol, row.strategy_name)
        profit_stream, loss_stream = events.partial_profit, events.partial_loss
        wants_profit, wants_loss = profit_stream.wants(), loss_stream.wants()
        symbol, strategy_name, exchange_name = row.symbol, row.strategy_name, row.exchange_name
        ts, t0 = lane.ts, lane.t0
        for i, (k, kind, level, price) in enumerate(found):
            if kind == "profit":
                t.profit.add(level)
                stream, wanted = profit_stream, wants_profit
            else:
                t.loss.add(level)
                stream, wanted = loss_stream, wants_loss
            if wanted:
                when = t0 + k * MINUTE_MS if ts is None else int(ts[k])  # Lane.time, inlined
                # tuple.__new__ skips the NamedTuple's Python-level __new__ (one call less per event)
                event = new_tuple(
                    PartialEvent, (symbol, strategy_name, exchange_name, row, price, level, backtest, when)
                )
                pending = stream.emit_nowait(event)
                if pending is not None:
                    return self._record_rest(pending, row, found[i + 1 :], lane, backtest)
        return None

    async def _record_rest(
        self,
        pending: Awaitable[None],
        row: SignalRow,
        rest: list[tuple[int, str, int, float]],
        lane: Lane,
        backtest: bool,
    ) -> None:
        await pending
        if rest:
            more = self.record_found(row, rest, lane, backtest)
            if more is not None:
                await more

    async def progress(
        self, row: SignalRow, kind: str, percent: float, price: float, when: int, backtest: bool
    ) -> None:
        """One evaluation (SPEC 10.1): publish every level up to ``percent`` not yet reached."""
        done = self.levels(row, backtest)[0 if kind == "profit" else 1]
        for level in levels_reached(percent, done):
            pending = self.record(row, kind, level, price, when, backtest)
            if pending is not None:
                await pending

    def take_live(self, symbol: str, strategy_name: str) -> list[tuple[events.Stream, PartialEvent]]:
        """The live milestones of (symbol, strategy) reached since the last call, to announce.
        The live runner takes them after the state flush of their tick and emits them once that
        flush wrote their levels, so a milestone that was announced is on disk and a restart
        after a crash never announces it again."""
        return self.held.pop((symbol, strategy_name), [])

    def clear(self, row: SignalRow, backtest: bool) -> None:
        if self.trackers.pop((row.id, backtest), None) is not None and not backtest:
            self._changed(row.symbol, row.strategy_name)

    # -- live persistence (SPEC 10.3) ------------------------------------------------------------
    def _changed(self, symbol: str, strategy_name: str) -> None:
        """A live level set changed: its levels file is rewritten at the next state flush."""

        async def write() -> None:
            await PersistPartialAdapter.write_partial_data(
                self.live_levels(symbol, strategy_name), symbol, strategy_name
            )

        writer.mark(("partial", symbol, strategy_name), write)

    def live_levels(self, symbol: str, strategy_name: str) -> dict[str, dict[str, list[int]]]:
        """The levels file's content: signal id -> reached profit and loss levels."""
        return {
            t.signal_id: {"profitLevels": sorted(t.profit), "lossLevels": sorted(t.loss)}
            for (_, backtest), t in self.trackers.items()
            if not backtest and t.symbol == symbol and t.strategy_name == strategy_name
        }

    async def load_live(self, symbol: str, strategy_name: str) -> None:
        """Read the levels file of a live (symbol, strategy) into memory (before its first tick);
        a file that cannot be read is reported and the levels start empty."""
        try:
            data = await PersistPartialAdapter.read_partial_data(symbol, strategy_name)
        except Exception as exc:
            await events.report_error(exc)
            return
        for signal_id, levels in data.items():
            t = self.trackers.get((signal_id, False))
            if t is None:
                t = self.trackers[(signal_id, False)] = _Levels(signal_id, symbol, strategy_name)
            t.profit.update(levels.get("profitLevels", ()))
            t.loss.update(levels.get("lossLevels", ()))

    def keep_live(self, symbol: str, strategy_name: str, signal_id: str | None) -> None:
        """Forget the live levels of (symbol, strategy) that belong to any signal but ``signal_id``
        (left by a crash between a close's writes); the levels file is rewritten if any went."""
        stale = [
            k
            for k, t in self.trackers.items()
            if not k[1] and t.symbol == symbol and t.strategy_name == strategy_name and t.signal_id != signal_id
        ]
        for key in stale:
            del self.trackers[key]
        if stale:
            self._changed(symbol, strategy_name)

    def reset_for(self, symbol: str, strategy_name: str, backtest: bool) -> None:
        """Forget the trackers of one (symbol, strategy, mode), e.g. when a new backtest starts."""
        for key in [
            k
            for k, t in self.trackers.items()
            if k[1] == backtest and t.symbol == symbol and t.strategy_name == strategy_name
        ]:
            del self.trackers[key]
        if not backtest:
            self.held.pop((symbol, strategy_name), None)

    def reset(self) -> None:
        self.trackers.clear()
        self.held.clear()


# ``partial.partials`` means the active engine's milestone service (docs/architecture.md 8)
__getattr__ = forward(__name__, "", ("partials",))


@dataclass(frozen=True, slots=True)
class _Constant:
    """Suggested milestone thresholds for user logic (SPEC 10.3); the engine itself does not use
    them: e.g. take a third off at ``TP_LEVEL1`` percent of the way to the take-profit."""

    TP_LEVEL1: int = 30
    TP_LEVEL2: int = 60
    TP_LEVEL3: int = 90
    SL_LEVEL1: int = 40
    SL_LEVEL2: int = 80


Constant = _Constant()
