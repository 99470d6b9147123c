"""Timing samples and the performance report (SPEC 12.8).

The fast backtest path reports thousands of skipped idle frames as one *bulk* event (``count``
samples of the same ``duration``). The store keeps such an event as one segment and only turns it
into numbers with numpy when statistics are asked for, so recording stays O(1) per event and
memory stays O(events), not O(samples).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from engine.model import MetricStats, PerformanceEvent, PerformanceStatistics
from engine.reports.columns import columns_for
from engine.reports.format import to_fixed
from engine.reports.markdown import Column, render_table, truncation_lines

__all__ = [
    "PerformanceStore",
    "expand_event",
    "performance_statistics",
    "render_performance_report",
]

DEFAULT_CAP = 10_000
_NOTE = (
    "*Note: all times are in milliseconds. Median, P95 and P99 are the 50th, 95th and 99th "
    "percentiles of the durations (nearest rank). A wait time is the gap between a sample and the "
    "sample recorded before it in the same run, whatever its type.*"
)


def _sample_timestamps(event: PerformanceEvent, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps of samples ``first..last`` (1-based, oldest first) of a bulk event, and the
    previous timestamps of those that have one.

    Sample ``i`` of ``n`` is at ``prev + floor(span * i / n)``, so the waits add up to the span
    exactly and the newest sample sits at ``event.timestamp``. Without a ``previous_timestamp``
    every sample is at ``event.timestamp``: the first has no predecessor (so the second array is
    one shorter when ``first == 1``), the others follow it with a wait of 0.
    """
    n = event.count
    end = int(event.timestamp)
    idx = np.arange(first, last + 1, dtype=np.int64)
    if event.previous_timestamp is None:
        ts = np.full(idx.shape, end, dtype=np.int64)
        return ts, np.full(idx.shape[0] - (1 if first == 1 else 0), end, dtype=np.int64)
    prev = int(event.previous_timestamp)
    span = end - prev
    if abs(span) * n < 2**62:
        return prev + (span * idx) // n, prev + (span * (idx - 1)) // n
    # exact Python integers where int64 products could overflow
    ts = np.array([prev + (span * i) // n for i in range(first, last + 1)], dtype=np.int64)
    before = np.array([prev + (span * (i - 1)) // n for i in range(first, last + 1)], dtype=np.int64)
    return ts, before


@dataclass(slots=True)
class _Segment:
    """One recorded event, of which only the newest ``keep`` samples are still stored."""

    event: PerformanceEvent
    keep: int

    def first_kept(self) -> int:
        return self.event.count - self.keep + 1

    def as_event(self) -> PerformanceEvent:
        """The kept part as an event of its own (the original object when nothing was cut).

        A cut segment starts at the timestamp of its newest dropped sample; re-expanding it
        spreads the kept samples over that shorter span, which may move intermediate timestamps
        by less than 1 ms.
        """
        if self.keep == self.event.count:
            return self.event
        first = self.first_kept()
        prev = self.event.previous_timestamp
        if prev is not None:
            prev = int(_sample_timestamps(self.event, first - 1, first - 1)[0][0])
        else:
            prev = self.event.timestamp
        return dataclasses.replace(self.event, count=self.keep, previous_timestamp=prev)

    def waits(self) -> np.ndarray:
        first, last = self.first_kept(), self.event.count
        ts, before = _sample_timestamps(self.event, first, last)
        if before.shape[0] < ts.shape[0]:
            ts = ts[1:]
        return ts - before


def expand_event(event: PerformanceEvent) -> Iterator[PerformanceEvent]:
    """The single samples a (bulk) event stands for, newest first, each with ``count == 1``."""
    if event.count == 1:
        yield event
        return
    ts, _ = _sample_timestamps(event, 1, event.count)
    stamps = [int(t) for t in ts]
    for i in range(event.count - 1, -1, -1):
        if i == 0:
            prev = event.previous_timestamp
        else:
            prev = stamps[i - 1]
        yield dataclasses.replace(event, timestamp=stamps[i], previous_timestamp=prev, count=1)


class PerformanceStore:
    """The newest ``cap`` timing samples of one (symbol, strategy, mode), newest first.

    ``add`` takes single or bulk events; when the store is over its cap the oldest samples are
    dropped, cutting the oldest segment if it is only partly too old.
    """

    __slots__ = ("_cap", "_seen", "_segments", "_stored")

    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        if cap < 1:
            raise ValueError(f"PerformanceStore cap must be at least 1, got {cap}")
        self._cap = cap
        self._segments: deque[_Segment] = deque()
        self._stored = 0
        self._seen = 0

    @property
    def cap(self) -> int:
        return self._cap

    @property
    def seen(self) -> int:
        """Every sample ever added (stored or already dropped)."""
        return self._seen

    def __len__(self) -> int:
        """Samples stored (bulk samples counted one by one)."""
        return self._stored

    def clear(self) -> None:
        self._segments.clear()
        self._stored = 0
        self._seen = 0

    def add(self, event: PerformanceEvent) -> None:
        """Record one event (``count`` samples) as the newest."""
        count = event.count
        if count < 0:
            raise ValueError(f"performance event count must be >= 0, got {count}")
        if count == 0:
            return
        keep = min(count, self._cap)
        self._segments.appendleft(_Segment(event, keep))
        self._stored += keep
        self._seen += count
        excess = self._stored - self._cap
        while excess > 0:
            oldest = self._segments[-1]
            if oldest.keep <= excess:
                self._segments.pop()
                self._stored -= oldest.keep
                excess -= oldest.keep
            else:
                oldest.keep -= excess
                self._stored -= excess
                excess = 0

    def events(self) -> tuple[PerformanceEvent, ...]:
        """The stored samples as compact events (bulk ones keep ``count`` > 1), newest first."""
        return tuple(s.as_event() for s in self._segments)

    def samples(self) -> Iterator[PerformanceEvent]:
        """Every stored sample as a single event, newest first (created lazily)."""
        for segment in self._segments:
            expanded = expand_event(segment.event)
            for _, sample in zip(range(segment.keep), expanded):
                yield sample

    def statistics(self, strategy_name: str) -> PerformanceStatistics:
        """SPEC 12.8 over the stored samples."""
        # Durations keep the stored order (their float sum depends on it): one (value, repeat)
        # pair per segment, expanded by a single np.repeat. Waits are whole milliseconds, so their
        # sums are exact in any order; single samples skip numpy until the end.
        values: dict[str, list[float]] = {}
        repeats: dict[str, list[int]] = {}
        single_waits: dict[str, list[int]] = {}
        bulk_waits: dict[str, list[np.ndarray]] = {}
        for seg in self._segments:
            event = seg.event
            kind = event.metric_type
            if kind not in values:
                values[kind], repeats[kind], single_waits[kind], bulk_waits[kind] = [], [], [], []
            values[kind].append(float(event.duration))
            repeats[kind].append(seg.keep)
            if event.count == 1:
                if event.previous_timestamp is not None:
                    single_waits[kind].append(int(event.timestamp) - int(event.previous_timestamp))
            else:
                bulk_waits[kind].append(seg.waits())
        metric_stats: dict[str, MetricStats] = {}
        total = 0.0
        for kind in values:
            d = np.repeat(np.array(values[kind], dtype=np.float64), repeats[kind])
            w = np.concatenate([np.array(single_waits[kind], dtype=np.int64), *bulk_waits[kind]]).astype(np.float64)
            stats = _metric_stats(kind, d, w)
            metric_stats[kind] = stats
            total += stats.total_duration
        return PerformanceStatistics(
            strategy_name=strategy_name,
            total_events=self._stored,
            total_duration=total,
            metric_stats=metric_stats,
            events=self.events(),
            seen_events=self._seen,
        )


def _metric_stats(kind: str, d: np.ndarray, w: np.ndarray) -> MetricStats:
    """One metric type: count, sum, mean, extremes, population deviation, nearest-rank
    percentiles ``d[max(0, ceil(n*p/100) - 1)]`` and the wait times (0 when there are none)."""
    n = int(d.shape[0])
    total = float(d.sum())
    avg = total / n
    std = float(np.sqrt(np.sum((d - avg) * (d - avg)) / n))
    ordered = np.sort(d)

    def pct(p: int) -> float:
        rank = -(-n * p // 100)
        return float(ordered[max(0, rank - 1)])

    if w.shape[0]:
        avg_wait, min_wait, max_wait = float(w.sum()) / w.shape[0], float(w.min()), float(w.max())
    else:
        avg_wait = min_wait = max_wait = 0.0
    return MetricStats(
        metric_type=kind,  # type: ignore[arg-type]
        count=n,
        total_duration=total,
        avg_duration=avg,
        min_duration=float(ordered[0]),
        max_duration=float(ordered[-1]),
        std_dev=std,
        median=pct(50),
        p95=pct(95),
        p99=pct(99),
        avg_wait_time=avg_wait,
        min_wait_time=min_wait,
        max_wait_time=max_wait,
    )


def performance_statistics(
    strategy_name: str, events: Sequence[PerformanceEvent], cap: int | None = None
) -> PerformanceStatistics:
    """Statistics of ``events`` given newest first (as a store returns them), for callers that
    keep their own list. Without ``cap`` nothing is dropped."""
    store = PerformanceStore(cap if cap is not None else max(1, sum(e.count for e in events)))
    for event in reversed(events):
        store.add(event)
    return store.statistics(strategy_name)


def render_performance_report(stats: PerformanceStatistics, columns: Sequence[Column] | None = None) -> str:
    """``Performance.get_report``: totals, each metric type's share of the time, and the table,
    metric types ordered by total duration (largest first)."""
    title = f"# Performance Report: {stats.strategy_name}"
    if stats.total_events == 0:
        return "\n".join([title, "", "No performance metrics recorded yet."])
    cols = columns_for("performance_columns", columns)
    ranked = sorted(stats.metric_stats.values(), key=lambda m: m.total_duration, reverse=True)
    total = stats.total_duration

    def share(m: MetricStats) -> str:
        return to_fixed(m.total_duration / total * 100 if total > 0 else 0.0, 1)

    lines = [
        title,
        "",
        *truncation_lines(stats.total_events, stats.seen_events, "timing samples", cap_name="performance store cap"),
        f"**Total events:** {stats.total_events}",
        f"**Total execution time:** {to_fixed(total, 2)}ms",
        f"**Number of metric types:** {len(ranked)}",
        "",
        "## Time Distribution",
        "",
        *(f"- **{m.metric_type}**: {share(m)}% ({to_fixed(m.total_duration, 2)}ms total)" for m in ranked),
        "",
        "## Detailed Metrics",
        "",
        render_table(cols, ranked),
        "",
        _NOTE,
    ]
    return "\n".join(lines)
