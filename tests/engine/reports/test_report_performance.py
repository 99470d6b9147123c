"""Performance store and report (SPEC 12.8), including bulk events."""

from __future__ import annotations

import math
import random

import pytest

from engine.model import PerformanceEvent
from engine.reports.performance import (
    PerformanceStore,
    expand_event,
    performance_statistics,
    render_performance_report,
)

T0 = 1_704_067_200_000


def ev(kind: str, duration: float, ts: int, prev: int | None, count: int = 1) -> PerformanceEvent:
    return PerformanceEvent(
        timestamp=ts,
        previous_timestamp=prev,
        metric_type=kind,  # type: ignore[arg-type]
        duration=duration,
        strategy_name="s",
        exchange_name="x",
        symbol="BTCUSDT",
        backtest=True,
        count=count,
    )


def singles_of(event: PerformanceEvent) -> list[PerformanceEvent]:
    """Independent expansion, oldest first: sample i of n at prev + floor(span * i / n)."""
    n = event.count
    if event.previous_timestamp is None:
        return [
            ev(event.metric_type, event.duration, event.timestamp, None if i == 0 else event.timestamp)
            for i in range(n)
        ]
    prev, span = event.previous_timestamp, event.timestamp - event.previous_timestamp
    stamps = [prev + span * i // n for i in range(n + 1)]
    return [ev(event.metric_type, event.duration, stamps[i], stamps[i - 1]) for i in range(1, n + 1)]


def naive_stats(samples: list[PerformanceEvent], kind: str) -> dict[str, float]:
    d = sorted(s.duration for s in samples if s.metric_type == kind)
    w = [
        s.timestamp - s.previous_timestamp
        for s in samples
        if s.metric_type == kind and s.previous_timestamp is not None
    ]
    n = len(d)
    avg = math.fsum(d) / n

    def pct(p: int) -> float:
        return d[max(0, math.ceil(n * p / 100) - 1)]

    return {
        "count": n,
        "total": math.fsum(d),
        "avg": avg,
        "min": d[0],
        "max": d[-1],
        "std": math.sqrt(math.fsum((x - avg) ** 2 for x in d) / n),
        "median": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "avg_wait": (math.fsum(w) / len(w)) if w else 0.0,
        "min_wait": min(w) if w else 0.0,
        "max_wait": max(w) if w else 0.0,
    }


def assert_matches(stats_obj, expected: dict[str, float]) -> None:
    m = stats_obj
    assert m.count == expected["count"]
    for attr, key in [
        ("total_duration", "total"),
        ("avg_duration", "avg"),
        ("min_duration", "min"),
        ("max_duration", "max"),
        ("std_dev", "std"),
        ("median", "median"),
        ("p95", "p95"),
        ("p99", "p99"),
        ("avg_wait_time", "avg_wait"),
        ("min_wait_time", "min_wait"),
        ("max_wait_time", "max_wait"),
    ]:
        assert getattr(m, attr) == pytest.approx(expected[key], rel=1e-12, abs=1e-9), attr


def test_percentiles_nearest_rank() -> None:
    store = PerformanceStore()
    for i, d in enumerate(range(1, 101)):
        store.add(ev("backtest_timeframe", float(d), T0 + i, T0 + i - 1 if i else None))
    m = store.statistics("s").metric_stats["backtest_timeframe"]
    assert (m.median, m.p95, m.p99, m.min_duration, m.max_duration) == (50, 95, 99, 1, 100)
    assert m.count == 100 and m.total_duration == 5050 and m.avg_duration == 50.5
    assert (m.avg_wait_time, m.min_wait_time, m.max_wait_time) == (1, 1, 1)
    seven = performance_statistics(
        "s", [ev("live_tick", float(d), T0, None) for d in (7, 3, 5, 1, 6, 2, 4)]
    ).metric_stats["live_tick"]
    # n = 7: median d[ceil(3.5) - 1] = d[3]; p95, p99 -> d[6]
    assert (seven.median, seven.p95, seven.p99) == (4, 7, 7)
    assert (seven.avg_wait_time, seven.min_wait_time, seven.max_wait_time) == (0, 0, 0)
    assert seven.std_dev == 2.0


def test_bulk_event_equals_its_single_samples() -> None:
    rng = random.Random(7)
    events: list[PerformanceEvent] = []
    ts = T0
    prev: int | None = None
    for _ in range(40):
        kind = rng.choice(["backtest_timeframe", "backtest_signal", "backtest_total"])
        count = rng.choice([1, 1, 2, 3, 17, 250])
        step = rng.randint(0, 5000)
        events.append(ev(kind, rng.choice([0.25, 1.5, 3.0, 0.001]), ts + step, prev, count))
        prev = ts = ts + step
    bulk_store, single_store = PerformanceStore(), PerformanceStore()
    samples: list[PerformanceEvent] = []
    for e in events:
        bulk_store.add(e)
        for s in singles_of(e):
            single_store.add(s)
            samples.append(s)
    bulk, single = bulk_store.statistics("s"), single_store.statistics("s")
    assert bulk.total_events == single.total_events == len(samples) == bulk_store.seen
    assert bulk.metric_stats.keys() == single.metric_stats.keys()
    assert bulk.metric_stats == {k: v for k, v in single.metric_stats.items()}
    assert bulk.total_duration == pytest.approx(math.fsum(s.duration for s in samples))
    for kind in bulk.metric_stats:
        assert_matches(bulk.metric_stats[kind], naive_stats(samples, kind))
    # the store yields exactly those samples, newest first
    assert list(bulk_store.samples()) == samples[::-1]
    assert len(bulk.events) == len(events)  # compact: one event per recorded segment


def test_cap_trims_oldest_samples_even_inside_a_segment() -> None:
    first = ev("backtest_timeframe", 2.0, T0 + 1000, T0, count=30)
    second = ev("backtest_signal", 5.0, T0 + 1700, T0 + 1000, count=7)
    third = ev("backtest_timeframe", 1.0, T0 + 3000, T0 + 1700, count=40)
    store = PerformanceStore(cap=50)
    reference = PerformanceStore(cap=50)
    for e in (first, second, third):
        store.add(e)
        for s in singles_of(e):
            reference.add(s)
    assert len(store) == 50 and store.seen == 77
    stats, ref = store.statistics("s"), reference.statistics("s")
    assert stats.metric_stats == ref.metric_stats
    assert stats.total_events == 50 and stats.seen_events == 77
    m = stats.metric_stats["backtest_timeframe"]
    assert m.count == 43  # 40 + the newest 3 of the first event
    # events: compact, the cut one re-based on its newest dropped sample
    assert [e.count for e in stats.events] == [40, 7, 3]
    cut = stats.events[2]
    assert cut.timestamp == T0 + 1000 and cut.previous_timestamp == T0 + 1000 * 27 // 30
    assert list(store.samples()) == list(reference.samples())
    # an event bigger than the cap on its own
    big = PerformanceStore(cap=10)
    big.add(ev("live_tick", 1.0, T0 + 100, T0, count=1000))
    assert len(big) == 10 and big.seen == 1000
    assert [s.timestamp for s in big.samples()] == [T0 + 100 * i // 1000 for i in range(1000, 990, -1)]


def test_expand_event_without_previous_and_edge_cases() -> None:
    samples = list(expand_event(ev("live_tick", 1.0, T0, None, count=3)))
    assert [(s.timestamp, s.previous_timestamp, s.count) for s in samples] == [
        (T0, T0, 1),
        (T0, T0, 1),
        (T0, None, 1),
    ]
    store = PerformanceStore()
    store.add(ev("live_tick", 1.0, T0, None, count=0))
    assert len(store) == 0 and store.seen == 0
    with pytest.raises(ValueError):
        store.add(ev("live_tick", 1.0, T0, None, count=-1))
    with pytest.raises(ValueError):
        PerformanceStore(cap=0)
    huge = ev("live_tick", 1.0, 2**61, 0, count=8)  # span * count would overflow int64
    assert next(s.timestamp for s in expand_event(huge)) == 2**61
    s = PerformanceStore()
    s.add(huge)
    assert s.statistics("s").metric_stats["live_tick"].avg_wait_time == 2**61 / 8


def test_empty_store_and_report() -> None:
    stats = PerformanceStore().statistics("strat")
    assert stats.total_events == 0 and stats.metric_stats == {} and stats.events == ()
    assert render_performance_report(stats) == "# Performance Report: strat\n\nNo performance metrics recorded yet."


def test_report_layout() -> None:
    store = PerformanceStore()
    store.add(ev("backtest_timeframe", 1.0, T0 + 10, T0, count=10))
    store.add(ev("backtest_signal", 30.0, T0 + 20, T0 + 10))
    store.add(ev("backtest_total", 60.0, T0 + 30, T0 + 20))
    lines = render_performance_report(store.statistics("strat")).split("\n")
    assert lines[:15] == [
        "# Performance Report: strat",
        "",
        "**Total events:** 12",
        "**Total execution time:** 100.00ms",
        "**Number of metric types:** 3",
        "",
        "## Time Distribution",
        "",
        "- **backtest_total**: 60.0% (60.00ms total)",
        "- **backtest_signal**: 30.0% (30.00ms total)",
        "- **backtest_timeframe**: 10.0% (10.00ms total)",
        "",
        "## Detailed Metrics",
        "",
        "| Metric Type | Count | Total (ms) | Avg (ms) | Min (ms) | Max (ms) | Std Dev (ms) | Median (ms) "
        "| P95 (ms) | P99 (ms) | Avg Wait (ms) | Min Wait (ms) | Max Wait (ms) |",
    ]
    assert lines[16] == (
        "| backtest_total | 1 | 60.00 | 60.00 | 60.00 | 60.00 | 0.00 | 60.00 | 60.00 | 60.00 | 10.00 | 10.00 | 10.00 |"
    )
    assert lines[18].startswith("| backtest_timeframe | 10 | 10.00 | 1.00 |")
    assert lines[19] == ""
    assert lines[20].startswith("*Note:")
    assert len(lines) == 21
    capped = PerformanceStore(cap=5)
    capped.add(ev("live_tick", 1.0, T0 + 10, T0, count=8))
    assert "*Statistics over the newest 5 of 8 timing samples (performance store cap).*" in (
        render_performance_report(capped.statistics("s"))
    )
