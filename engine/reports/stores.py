"""The report stores: what each report remembers, fed by internal hooks on the event streams.

Each engine has its own (``ReportStores``); they hook into its streams when the engine is made,
before any user listener (as the original's markdown services do), keep events newest first,
every one unless CC_MAX_REPORT_EVENTS caps them (performance: 10 000), and count everything they
were offered, so statistics can say when they describe only the tail.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import config
from .. import partial as partial_mod
from ..clock import get_clock
from ..log import get_logger
from ..model import BacktestStatistics, ClosedResult, PerformanceEvent, PerformanceStatistics
from ..scope import active, forward
from . import backtest as backtest_report_mod
from . import heat as heat_mod
from . import live as live_mod
from . import markdown, statistics
from . import partial as partial_report_mod
from . import performance as performance_mod
from . import risk as risk_mod
from . import schedule as schedule_mod
from .packed import CHUNK, PackedList, PackedView, pack_closed, pack_lazy
from .trade_columns import TradeColumns

__all__ = [
    "EventStore",
    "NoReportError",
    "backtest_report",
    "backtest_statistics",
    "clear_run",
    "keep_reports",
    "require_report",
    "write_report",
]

PERFORMANCE_CAP = 10_000


class NoReportError(LookupError):
    """A report was asked of a run that was made to keep none (``Backtest.run(..., reports=False)``,
    docs/behaviour.md 6.2): its statistics would be zeros that describe nothing, so this says so."""


class EventStore:
    """Newest-first events of one key, capped; ``seen`` counts every event offered."""

    __slots__ = ("events", "seen")

    def __init__(self, cap: int | None) -> None:
        self.events: deque[Any] = deque(maxlen=cap)
        self.seen = 0

    def add(self, event: Any) -> None:
        self.events.appendleft(event)
        self.seen += 1

    def items(self) -> list[Any]:
        return list(self.events)


class ClosedStore:
    """Closed results of one key, newest first, capped like ``EventStore``, but packed into
    columns as they accumulate (engine/reports/packed.py): a long run's trades cost ~130 bytes
    each instead of ~600. The cap drops whole packed chunks, so up to ``CHUNK`` more than the cap
    may be held; ``items`` returns exactly the newest ``cap``."""

    __slots__ = ("cap", "on_fold", "packed", "seen")

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.packed = PackedList(pack_closed)
        self.seen = 0
        self.on_fold: Any = None  # (results, packed chunk) -> None: the lazy batches follow (backtests)

    def add(self, event: ClosedResult) -> None:
        tail = self.packed.tail
        tail.append(event)
        self.seen += 1
        if len(tail) >= CHUNK:
            self.pack()

    def items(self) -> PackedView:
        """The newest ``cap`` results (all without a cap), newest first, still packed."""
        return self.packed.view(self.cap)

    def take(self, chunk: Any, size: int) -> None:
        """``size`` closed results packed elsewhere (``TradeColumns``), after those held: the
        tail is folded first (its lazy milestones with it, ``on_fold``)."""
        self.pack()
        self.packed.add_packed(chunk, size)
        self.seen += size

    def pack(self) -> None:
        """Fold the unpacked tail now (a run ended: nothing will follow it soon)."""
        folded = self.packed.fold()
        if folded is not None and self.on_fold is not None:
            self.on_fold(*folded)
        if self.cap is not None:
            self.packed.drop_oldest(self.cap)


class _Keyed:
    """A family of stores keyed by a tuple."""

    def __init__(self, cap: int | None = None, kind: type = EventStore) -> None:
        self._cap = cap
        self._kind = kind
        self.stores: dict[tuple, Any] = {}

    def store(self, key: tuple) -> Any:
        st = self.stores.get(key)
        if st is None:
            st = self.stores[key] = self._kind(self._cap or config.report_cap())
        return st

    def get(self, key: tuple) -> Any:
        return self.stores.get(key)

    def drop(self, key: tuple) -> None:
        self.stores.pop(key, None)


class PartialStore:
    """Milestones of one (symbol, strategy, mode), newest first.

    A fast-forwarded signal's milestones are only computed when someone reads them: the engine
    hands over a lazy batch (the signal and the stretch of candles it crossed) when no user listens
    to the partial streams, and reading realises batches newest first until the cap is filled.
    Lazy batches wait in ``lazy`` and are packed into columns ``CHUNK`` at a time (or when an
    emitted milestone follows them, which keeps the order). Emitted milestones are kept as the raw
    event and turned into report rows on read, so a listened backtest pays one append per milestone.
    """

    __slots__ = ("dropped", "items_", "lazy")

    TRIM_AT = 200_000  # items kept before the oldest half is folded into ``dropped`` (endless runs)

    def __init__(self) -> None:
        self.items_: list[Any] = []  # oldest first: (kind, PartialEvent), LazyMilestones or packed batches
        self.lazy: list[partial_mod.LazyMilestones] = []  # the newest lazy batches, not packed yet
        self.dropped = 0  # milestones in items that were trimmed away (still counted as seen)

    def pack_lazy(self, shared: Any = None) -> None:
        """Move the waiting lazy batches into ``items_``, packed when they can be (``shared``: see
        ``packed.pack_lazy``)."""
        if self.lazy:
            packed = pack_lazy(self.lazy, shared)
            if packed is None:
                self.items_.extend(self.lazy)
            else:
                self.items_.append(packed)
            self.lazy.clear()

    def take(self, packed: Any) -> None:
        """Lazy batches packed elsewhere (``TradeColumns``), after those held."""
        self.pack_lazy()
        self.items_.append(packed)

    @staticmethod
    def _batches(item: Any) -> list[Any] | None:
        if isinstance(item, partial_mod.LazyMilestones):
            return [item]
        return None if type(item) is tuple else item.unpack()

    @classmethod
    def _count(cls, item: Any) -> int:
        batches = cls._batches(item)
        return 1 if batches is None else sum(len(b.events()) for b in batches)

    def _trim(self) -> None:
        """Forget the oldest half, unless the newest half holds fewer milestones than a report shows."""
        half = len(self.items_) // 2
        cap = config.report_cap()
        if cap is None:  # every milestone is kept
            return
        newer = sum(self._count(item) for item in self.items_[half:])
        if newer < cap:
            return
        self.dropped += sum(self._count(item) for item in self.items_[:half])
        del self.items_[:half]

    def items(self, all_: bool = False) -> list[Any]:
        self.pack_lazy()
        cap = config.report_cap()
        if cap is None:
            all_ = True
        out: list[Any] = []
        record = partial_report_mod.partial_record
        for item in reversed(self.items_):
            batches = self._batches(item)
            if batches is None:
                out.append(record(item[1], item[0]))
            else:
                for batch in reversed(batches):
                    out.extend(record(ev, kind) for kind, ev in reversed(batch.events()))
                    if not all_ and len(out) >= cap:
                        break
            if not all_ and len(out) >= cap:
                break
        return out if all_ else out[:cap]

    @property
    def seen(self) -> int:
        self.pack_lazy()
        return self.dropped + sum(self._count(item) for item in self.items_)


_NO_PREV = -(2**63)
_metric_names: list[str] = []  # metric codes of packed samples (a handful of names, grown as met)
_metric_codes: dict[str, int] = {}


def _code_of(metric: str) -> int:
    code = _metric_codes.get(metric)
    if code is None:
        code = _metric_codes[metric] = len(_metric_names)
        _metric_names.append(metric)
    return code


@dataclass(slots=True, frozen=True)
class _Samples:
    """Timing rows as columns; every value comes back as it went in (float64/int64 are exact for
    the durations, wall-clock milliseconds and counts the runners record)."""

    metric: np.ndarray  # int16 code into _metric_names
    times: np.ndarray  # (n, 2) int64: timestamp, previous timestamp (_NO_PREV for None)
    duration: np.ndarray  # float64
    count: np.ndarray  # int64
    total: int  # sum of ``count``

    @staticmethod
    def pack(rows: list[tuple]) -> _Samples:
        metrics, stamps, prevs, durations, counts = zip(*rows)
        codes = [_code_of(m) for m in metrics]
        count = np.array(counts, dtype=np.int64)
        return _Samples(
            metric=np.array(codes, dtype=np.int16),
            times=np.array([(t, _NO_PREV if p is None else p) for t, p in zip(stamps, prevs)], dtype=np.int64),
            duration=np.array(durations, dtype=np.float64),
            count=count,
            total=int(count.sum()),
        )

    def __reduce__(self) -> tuple[Any, tuple]:
        """Pickled with the names of its metric codes: the codes are this process's (the
        console's worker sends a run's samples to the console packed, not row by row)."""
        used = np.unique(self.metric).tolist()
        names = [_metric_names[c] for c in used]
        return (_Samples.adopt, (names, used, self.metric, self.times, self.duration, self.count, self.total))

    @staticmethod
    def adopt(
        names: list[str], used: list[int], metric: np.ndarray, times: np.ndarray, d: np.ndarray, c: np.ndarray, t: int
    ) -> _Samples:
        """Samples packed in another process, with its metric codes mapped to this one's."""
        table = np.zeros(max(used, default=0) + 1, dtype=np.int16)
        for name, code in zip(names, used):
            table[code] = _code_of(name)
        return _Samples(metric=table[metric], times=times, duration=d, count=c, total=t)

    def unpack(self) -> Iterator[tuple]:
        names = _metric_names
        for code, (ts, prev), duration, count in zip(
            self.metric.tolist(), self.times.tolist(), self.duration.tolist(), self.count.tolist()
        ):
            yield names[code], ts, None if prev == _NO_PREV else prev, duration, count


class PerformanceLog:
    """Timing samples of one (symbol, strategy, mode) as plain rows: the hot path appends a tuple
    to ``rows`` (``append``, bound once per run) and nothing else. ``tidy`` (the runner calls it
    whenever it yields) packs the rows into columns (``_Samples``: 33 bytes a row instead of ~150)
    and forgets the oldest packed rows the report's cap no longer needs. The report's
    ``PerformanceStore`` is built from them when somebody reads it."""

    __slots__ = ("append", "on_pack", "packed", "rows", "trimmed_seen")

    PACK_AT = 1024  # rows appended before ``tidy`` packs them

    def __init__(self) -> None:
        self.rows: list[tuple] = []  # (metric, timestamp, previous_timestamp, duration, count), oldest first
        self.append = self.rows.append
        self.packed: deque[_Samples] = deque()  # oldest first, all older than ``rows``
        self.trimmed_seen = 0  # samples offered and already trimmed away
        # told of each chunk ``tidy`` packs, before any trim (the console's worker sends them as
        # they come, so a run's end sends only its last rows)
        self.on_pack: Callable[[_Samples], None] | None = None

    @property
    def seen(self) -> int:
        return self.trimmed_seen + sum(p.total for p in self.packed) + sum(r[4] for r in self.rows)

    def add_raw(self, metric: str, ts: int, prev: int | None, duration: float, count: int) -> None:
        self.append((metric, ts, prev, duration, count))
        if len(self.rows) >= self.PACK_AT:
            self.tidy()

    def add(self, ev: Any) -> None:
        self.add_raw(ev.metric_type, ev.timestamp, ev.previous_timestamp, ev.duration, ev.count)

    def tidy(self, final: bool = False) -> None:
        """Pack the rows once there are enough of them (``final``: any), then drop the oldest
        packed rows that the newest PERFORMANCE_CAP samples do not need."""
        if len(self.rows) < (1 if final else self.PACK_AT):
            return
        chunk = _Samples.pack(self.rows)
        self.packed.append(chunk)
        self.rows.clear()
        if self.on_pack is not None:
            self.on_pack(chunk)
        self._trim()

    def take(self, packed: Iterable[_Samples], rows: list[tuple], trimmed: int) -> None:
        """Add another log's samples (``packed``, then ``rows``, all newer than this log's) and
        the count it trimmed: a run's timings that a worker process sends back whole."""
        self.tidy(final=True)
        self.packed.extend(packed)
        if rows:
            self.packed.append(_Samples.pack(rows))
        self.trimmed_seen += trimmed
        self._trim()

    def _trim(self) -> None:
        newer = sum(p.total for p in self.packed)
        while len(self.packed) > 1 and newer - self.packed[0].total >= PERFORMANCE_CAP:
            oldest = self.packed.popleft()
            newer -= oldest.total
            self.trimmed_seen += oldest.total

    def all_rows(self) -> Iterator[tuple]:
        """Every kept row, oldest first."""
        for p in self.packed:
            yield from p.unpack()
        yield from self.rows

    def store(self, symbol: str, strategy_name: str, backtest: bool) -> Any:
        st = performance_mod.PerformanceStore(PERFORMANCE_CAP)
        for metric, ts, prev, duration, count in self.all_rows():
            st.add(
                PerformanceEvent(
                    timestamp=ts,
                    previous_timestamp=prev,
                    metric_type=metric,
                    duration=duration,
                    strategy_name=strategy_name,
                    exchange_name="",
                    symbol=symbol,
                    backtest=backtest,
                    count=count,
                )
            )
        st._seen = self.seen
        return st


STORE_NAMES = (
    "backtest_store",
    "live_store",
    "schedule_store",
    "partial_store",
    "risk_store",
    "heat_store",
    "performance_store",
    "walker_store",
)


class ReportStores:
    """One engine's report stores, fed by internal hooks on that engine's streams (``attach``)."""

    __slots__ = (*STORE_NAMES, "_last_backtest", "on_chunk", "quiet")

    def __init__(self) -> None:
        self.backtest_store = _Keyed(kind=ClosedStore)  # (symbol, strategy) <- closed backtest results
        self.live_store: dict[tuple[str, str], live_mod.LiveEventList] = {}  # (symbol, strategy): SPEC 12.3 rules
        self.schedule_store = _Keyed()  # (symbol, strategy, backtest) <- scheduled / opened / cancelled
        self.partial_store: dict[tuple[str, str, bool], PartialStore] = {}  # (symbol, strategy, backtest)
        self.risk_store = _Keyed()  # (symbol, strategy, backtest) <- risk rejections
        self.heat_store: dict[tuple[str, bool], dict[str, ClosedStore]] = {}  # (strategy, backtest) -> symbol -> closed
        self.performance_store: dict[tuple[str, str, bool], PerformanceLog] = {}  # (symbol, strategy, backtest)
        # (symbol, walker) -> contracts, newest first; unbounded (SPEC 12.1). Keyed by symbol too, unlike the
        # original (walker name only), so one walker run on two symbols does not mix their results.
        self.walker_store: dict[tuple[str, str], list[Any]] = {}
        self._last_backtest: list = [None, None]  # (key, store) of the last closed result: runs append in bursts
        # (symbol, strategy, backtest) whose latest run keeps no report (``Backtest.run(..., reports=False)``,
        # docs/behaviour.md 6.2): every hook drops what such a run publishes; empty, it costs one check
        self.quiet: set[tuple[str, str, bool]] = set()
        # told of each chunk a backtest store folds, (results, chunk): a console's worker sends the
        # trades in those columns instead of packing them again (engine.FoldedChunks)
        self.on_chunk: Callable[[list[ClosedResult], Any], None] | None = None

    def attach(self, bus: Any, partials: Any) -> None:
        """Hook into ``bus`` before any user listener (as the original's markdown services do)."""
        bus.signal_backtest.add_hook(self._on_backtest_signal, actions=("closed",))
        bus.signal.add_hook(self._on_signal, actions=("closed", "scheduled", "cancelled"))
        bus.signal_live.add_hook(self._on_signal, actions=("opened",))  # backtest activations emit no "opened"
        bus.signal_live.add_hook(self._on_live_signal, actions=("idle", "opened", "active", "closed"))
        bus.partial_profit.add_hook(self._on_partial("profit"))
        bus.partial_loss.add_hook(self._on_partial("loss"))
        partials.lazy_sink = self._on_partial_lazy
        bus.risk.add_hook(self._on_risk)
        bus.performance.add_hook(self._on_performance)
        bus.walker.add_hook(self._on_walker)

    # ----------------------------------------------------------------------- hooks

    def _on_backtest_signal(self, result: ClosedResult) -> None:
        if self.quiet and (result.symbol, result.strategy_name, True) in self.quiet:
            return
        key = (result.symbol, result.strategy_name)
        last = self._last_backtest
        if last[0] != key or self.backtest_store.get(key) is not last[1]:
            st = self.backtest_store.store(key)
            if st.on_fold is None:
                st.on_fold = self._lazy_follows(key)
            last[0], last[1] = key, st
        last[1].add(result)

    def take_trades(self, trades: TradeColumns) -> bool:
        """Keep a backtest's trades packed in another process (the console's worker) as their
        events would have been kept: the closed results in the backtest store, the lazy
        milestones in the partial store, in order after what those hold. False, and nothing
        kept, where the hooks would do more than that (a report cap: the heat store keeps its
        own; a run that keeps no report): the caller publishes the events instead."""
        symbol, strategy = trades.symbol, trades.strategy_name
        if config.report_cap() is not None or (symbol, strategy, True) in self.quiet:
            return False
        key = (symbol, strategy)
        st = self.backtest_store.store(key)
        if st.on_fold is None:
            st.on_fold = self._lazy_follows(key)
        st.take(trades.closed, len(trades))
        if trades.lazy is not None:
            self.partial_of(symbol, strategy, True).take(trades.lazy)
        return True

    def _lazy_follows(self, key: tuple[str, str]) -> Any:
        """When a backtest's closed results fold, its waiting lazy milestone batches fold with them:
        each batch belongs to one of those signals (its batch is sunk just before its result is
        published), so their rows are taken from the closed chunk instead of packed again."""
        partial_store = self.partial_store

        def fold(results: list[ClosedResult], chunk: Any) -> None:
            st = partial_store.get((key[0], key[1], True))
            if st is not None and st.lazy and chunk is not None:
                st.pack_lazy((chunk.rows, results))
            if self.on_chunk is not None:
                self.on_chunk(results, chunk)

        return fold

    def _on_signal(self, result: Any) -> None:
        if self.quiet and (result.symbol, result.strategy_name, result.backtest) in self.quiet:
            return
        action = result.action
        if action == "closed":
            if result.backtest and config.report_cap() is None:
                return  # uncapped, a backtest's heat row is its backtest store (see ``_heat_stores``)
            per_symbol = self.heat_store.setdefault((result.strategy_name, result.backtest), {})
            st = per_symbol.get(result.symbol)
            if st is None:
                st = per_symbol[result.symbol] = ClosedStore(config.report_cap())
            st.add(result)
            return
        event = schedule_mod.schedule_event(result)  # None for an immediate open (not a schedule event)
        if event is not None:
            self.schedule_store.store((result.symbol, result.strategy_name, result.backtest)).add(event)

    def _on_live_signal(self, result: Any) -> None:
        event = live_mod.live_event(result, get_clock().now())  # idle/active rows carry "now" (SPEC 12.3)
        if event is None:
            return
        key = (result.symbol, result.strategy_name)
        log = self.live_store.get(key)
        if log is None:
            log = self.live_store[key] = live_mod.LiveEventList()
        log.add(event)

    def partial_of(self, symbol: str, strategy_name: str, backtest: bool) -> PartialStore:
        key = (symbol, strategy_name, backtest)
        st = self.partial_store.get(key)
        if st is None:
            st = self.partial_store[key] = PartialStore()
        return st

    def _on_partial(self, kind: str) -> Any:
        """The store hook of one milestone stream (a backtest with listeners sends one event per level
        crossed, so the hook stays flat: one lookup, one append)."""
        partial_store, partial_of, quiet = self.partial_store, self.partial_of, self.quiet

        def hook(event: Any) -> None:
            if quiet and (event.symbol, event.strategy_name, event.backtest) in quiet:
                return
            st = partial_store.get((event.symbol, event.strategy_name, event.backtest))
            if st is None:
                st = partial_of(event.symbol, event.strategy_name, event.backtest)
            if st.lazy:
                st.pack_lazy()
            items = st.items_
            items.append((kind, event))
            if len(items) > PartialStore.TRIM_AT:
                st._trim()

        return hook

    def _on_partial_lazy(self, batch: Any) -> None:
        """One lazy batch per fast-forwarded signal: flat like the milestone hooks."""
        row = batch.row
        if self.quiet and (row.symbol, row.strategy_name, batch.backtest) in self.quiet:
            return
        st = self.partial_store.get((row.symbol, row.strategy_name, batch.backtest))
        if st is None:
            st = self.partial_of(row.symbol, row.strategy_name, batch.backtest)
        lazy = st.lazy
        lazy.append(batch)
        if len(lazy) >= 2 * CHUNK:  # a backtest's batches fold with its closed results (``_lazy_follows``) first
            st.pack_lazy()
            if len(st.items_) > PartialStore.TRIM_AT:
                st._trim()

    def _on_risk(self, event: Any) -> None:
        if self.quiet and (event.symbol, event.strategy_name, event.backtest) in self.quiet:
            return
        self.risk_store.store((event.symbol, event.strategy_name, event.backtest)).add(event)

    def performance_log(self, symbol: str, strategy_name: str, backtest: bool) -> PerformanceLog:
        key = (symbol or "global", strategy_name or "global", backtest)
        st = self.performance_store.get(key)
        if st is None:
            st = self.performance_store[key] = PerformanceLog()
        return st

    def _on_performance(self, event: Any) -> None:
        if self.quiet and (event.symbol, event.strategy_name, event.backtest) in self.quiet:
            return
        self.performance_log(event.symbol, event.strategy_name, event.backtest).add(event)

    def _on_walker(self, contract: Any) -> None:
        self.walker_store.setdefault((contract.symbol, contract.walker_name), []).insert(0, contract)

    # ----------------------------------------------------------------------- runs

    def pack_run(self, symbol: str, strategy_name: str, backtest: bool) -> None:
        """A run ended: pack what its stores still hold as objects (a walker runs many strategies in
        turn; their unpacked tails would otherwise add up)."""
        if backtest:
            st = self.backtest_store.get((symbol, strategy_name))
            if st is not None:
                st.pack()
        heat = self.heat_store.get((strategy_name, backtest), {}).get(symbol)
        if heat is not None:
            heat.pack()
        partial = self.partial_store.get((symbol, strategy_name, backtest))
        if partial is not None:
            partial.pack_lazy()
        log = self.performance_store.get((symbol, strategy_name, backtest))
        if log is not None:
            log.tidy(final=True)

    def fold_backtests(self) -> None:
        """Fold every backtest store's unpacked tail now (a console's worker does at each batch it
        sends, so the batch's trades are in the columns ``on_chunk`` hears of)."""
        for st in self.backtest_store.stores.values():
            if st.packed.tail:
                st.pack()

    def clear_run(self, symbol: str, strategy_name: str, backtest: bool) -> None:
        """SPEC 6.2 / 8.1: a new run starts with empty stores for its (symbol, strategy, mode).

        The heatmap spans runs in the original (SPEC 6.2), which its 250-signal cap per symbol hid: a
        re-run of a big run filled the window with its own signals. With the cap off (btk's default)
        spanning runs would count a re-run's trades twice, so the symbol's heat row starts afresh;
        with a cap set, the original's behaviour is kept."""
        if config.report_cap() is None:
            self.heat_store.get((strategy_name, backtest), {}).pop(symbol, None)
        if backtest:
            self.backtest_store.drop((symbol, strategy_name))
        else:
            self.live_store.pop((symbol, strategy_name), None)
        self.schedule_store.drop((symbol, strategy_name, backtest))
        self.partial_store.pop((symbol, strategy_name, backtest), None)
        self.risk_store.drop((symbol, strategy_name, backtest))
        self.performance_store.pop((symbol, strategy_name, backtest), None)

    def keep_reports(self, symbol: str, strategy_name: str, backtest: bool, keep: bool) -> None:
        """Whether the run of (symbol, strategy, mode) starting now feeds its report stores (called
        after ``clear_run``). A run that keeps none stays marked after its end, so asking its report
        raises ``NoReportError`` instead of answering zeros; the next run that keeps one clears it."""
        key = (symbol, strategy_name, backtest)
        if keep:
            self.quiet.discard(key)
        else:
            self.quiet.add(key)

    def clear_all(self) -> None:
        """Forget every stored event (tests, notebooks)."""
        self.quiet.clear()
        for keyed in (self.backtest_store, self.schedule_store, self.risk_store):
            keyed.stores.clear()
        self.live_store.clear()
        self.partial_store.clear()
        self.heat_store.clear()
        self.performance_store.clear()
        self.walker_store.clear()


# ``stores.backtest_store`` and the others mean the active engine's store (docs/architecture.md 8)
__getattr__ = forward(__name__, "stores", STORE_NAMES)


def _st() -> ReportStores:
    return active().stores


def partial_of(symbol: str, strategy_name: str, backtest: bool) -> PartialStore:
    return active().stores.partial_of(symbol, strategy_name, backtest)


def performance_log(symbol: str, strategy_name: str, backtest: bool) -> PerformanceLog:
    return active().stores.performance_log(symbol, strategy_name, backtest)


def walker_contracts(symbol: str, walker_name: str) -> list[Any]:
    return list(active().stores.walker_store.get((symbol, walker_name), []))


def pack_run(symbol: str, strategy_name: str, backtest: bool) -> None:
    active().stores.pack_run(symbol, strategy_name, backtest)


def clear_run(symbol: str, strategy_name: str, backtest: bool) -> None:
    active().stores.clear_run(symbol, strategy_name, backtest)


def clear_all() -> None:
    active().stores.clear_all()


def keep_reports(symbol: str, strategy_name: str, backtest: bool, keep: bool) -> None:
    active().stores.keep_reports(symbol, strategy_name, backtest, keep)


def require_report(asker: str, symbol: str, strategy_name: str, backtest: bool) -> None:
    """Raise ``NoReportError`` when the latest run of (symbol, strategy, mode) kept no report."""
    if (symbol, strategy_name, backtest) in active().stores.quiet:
        raise NoReportError(
            f"{asker}: the last backtest of {strategy_name} on {symbol} ran with reports=False and kept "
            "no report (no closed trades, milestones or timing samples); run it again without "
            "reports=False to get one"
        )


# --------------------------------------------------------------------------- backtest


def backtest_statistics(symbol: str, strategy_name: str) -> BacktestStatistics:
    st = _st().backtest_store.get((symbol, strategy_name))
    if st is None:
        return statistics.backtest_statistics([], 0)
    return statistics.backtest_statistics(st.items(), st.seen)


def backtest_report(symbol: str, strategy_name: str, columns: Any = None) -> str:
    return backtest_report_mod.render_backtest_report(
        strategy_name, backtest_statistics(symbol, strategy_name), columns
    )


# --------------------------------------------------------------------------- live


def live_statistics(symbol: str, strategy_name: str) -> live_mod.LiveStatistics:
    """SPEC 12.3 over the live log of (symbol, strategy) (what ``Live.get_data`` will return)."""
    log = _st().live_store.get((symbol, strategy_name))
    if log is None:
        return live_mod.live_statistics([], 0)
    return live_mod.live_statistics(log.events(), log.seen)


def live_report(symbol: str, strategy_name: str, columns: Any = None) -> str:
    return live_mod.render_live_report(strategy_name, live_statistics(symbol, strategy_name), columns)


# --------------------------------------------------------------------------- performance


def performance_statistics(symbol: str, strategy_name: str, backtest: bool) -> PerformanceStatistics:
    log = _st().performance_store.get((symbol, strategy_name, backtest))
    st = log.store(symbol, strategy_name, backtest) if log else performance_mod.PerformanceStore(PERFORMANCE_CAP)
    return st.statistics(strategy_name)


def performance_report(symbol: str, strategy_name: str, backtest: bool, columns: Any = None) -> str:
    return performance_mod.render_performance_report(performance_statistics(symbol, strategy_name, backtest), columns)


# --------------------------------------------------------------------------- schedule, partial, risk, heat


def _items(keyed: _Keyed, key: tuple) -> tuple[list[Any], int]:
    st = keyed.get(key)
    return (st.items(), st.seen) if st is not None else ([], 0)


def schedule_statistics(symbol: str, strategy_name: str, backtest: bool) -> Any:
    return schedule_mod.schedule_statistics(*_items(_st().schedule_store, (symbol, strategy_name, backtest)))


def schedule_report(symbol: str, strategy_name: str, backtest: bool, columns: Any = None) -> str:
    return schedule_mod.render_schedule_report(
        strategy_name, schedule_statistics(symbol, strategy_name, backtest), columns
    )


def partial_statistics(symbol: str, strategy_name: str, backtest: bool) -> Any:
    st = _st().partial_store.get((symbol, strategy_name, backtest))
    if st is None:
        return partial_report_mod.partial_statistics([], 0)
    return partial_report_mod.partial_statistics(st.items(), st.seen)


def partial_report(symbol: str, strategy_name: str, backtest: bool, columns: Any = None) -> str:
    return partial_report_mod.render_partial_report(
        symbol, strategy_name, partial_statistics(symbol, strategy_name, backtest), columns
    )


def risk_statistics(symbol: str, strategy_name: str, backtest: bool) -> Any:
    return risk_mod.risk_statistics(*_items(_st().risk_store, (symbol, strategy_name, backtest)))


def risk_report(symbol: str, strategy_name: str, backtest: bool, columns: Any = None) -> str:
    return risk_mod.render_risk_report(symbol, strategy_name, risk_statistics(symbol, strategy_name, backtest), columns)


def _heat_stores(strategy_name: str, backtest: bool) -> dict[str, Any]:
    """The heatmap's stores by symbol. Uncapped, a backtest's row of a symbol holds exactly its
    latest run's closed signals (``clear_run``), which its backtest store holds already: it is
    read from there instead of being kept twice."""
    per_symbol = dict(_st().heat_store.get((strategy_name, backtest), {}))
    if backtest and config.report_cap() is None:
        per_symbol.update(
            {sym: st for (sym, strat), st in _st().backtest_store.stores.items() if strat == strategy_name}
        )
    return per_symbol


def heat_statistics(strategy_name: str, backtest: bool) -> Any:
    per_symbol = _heat_stores(strategy_name, backtest)
    return heat_mod.heat_statistics(
        {sym: st.items() for sym, st in per_symbol.items()}, {sym: st.seen for sym, st in per_symbol.items()}
    )


def heat_report(strategy_name: str, backtest: bool, columns: Any = None) -> str:
    return heat_mod.render_heat_report(strategy_name, heat_statistics(strategy_name, backtest), columns)


# --------------------------------------------------------------------------- files


def write_report(directory: str | os.PathLike, filename: str, text: str) -> str | None:
    """Write ``text`` to ``directory/filename`` (relative to the working directory), creating the
    directory. Never raises: an I/O failure is logged and None returned (SPEC 12.1)."""
    target = Path(directory) / filename
    try:
        return str(markdown.write_report(target, text))
    except OSError as exc:
        get_logger().warning(f"could not write report {target}: {exc}")
        return None
