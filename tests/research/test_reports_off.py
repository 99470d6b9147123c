"""``Backtest.run(..., reports=False)``: a backtest that feeds no report store (docs/behaviour.md
6.2), and the sweep worker that uses it. The results are those of a normal run; the report stores
keep nothing of it; asking for its report says so instead of answering zeros."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import numpy as np
import pytest
from strategies import START, setup

import engine as e
from engine.model import TradeMetrics
from engine.reports.statistics import DAY_MS
from engine.research.evaluate import Constraints
from engine.research.sweep import Sweep, run_sweep
from engine.research.table import ResultsTable
from engine.scope import active

DAYS = 3


async def mixed_signal(symbol, when, price):
    """Every kind of thing a report stores: market entries (closed trades, milestones), limit
    entries that activate or are cancelled (schedule rows), and a risk profile's rejections."""
    slot = int(when.timestamp() // 900) % 4  # ``when`` is a datetime
    if slot == 3:
        return None
    entry = price * (0.999 if slot == 1 else 1.0)  # slot 1: a limit entry just below the price
    return {
        "position": "long",
        **({"price_open": entry} if slot == 1 else {}),
        "price_take_profit": entry * 1.012,
        "price_stop_loss": entry * 0.992,
        "minute_estimated_time": 240,
    }


def no_round_hours(args):
    if args.timestamp % 3_600_000 == 0:
        raise ValueError("no entries on the hour")


def setup_mixed() -> None:
    e.add_synthetic_exchange("synthetic", seed=42)
    e.add_risk("picky", validations=[no_round_hours])
    e.add_strategy("mixed", "15m", mixed_signal, risk_name="picky")
    e.add_frame("days", "1m", START, START + timedelta(days=DAYS))


def backtest(strategy: str, frame: str, **kw) -> list:
    async def go():
        return [
            r
            async for r in e.Backtest.run(
                "BTCUSDT", strategy_name=strategy, exchange_name="synthetic", frame_name=frame, **kw
            )
        ]

    return asyncio.run(go())


def stores_of(strategy: str) -> dict:
    """What the active engine's report stores hold for (BTCUSDT, strategy) in backtest mode."""
    st = active().stores
    key3 = ("BTCUSDT", strategy, True)
    closed = st.backtest_store.get(("BTCUSDT", strategy))
    return {
        "closed": 0 if closed is None else closed.seen,
        "schedule": 0 if st.schedule_store.get(key3) is None else st.schedule_store.get(key3).seen,
        "milestones": 0 if key3 not in st.partial_store else st.partial_store[key3].seen,
        "risk": 0 if st.risk_store.get(key3) is None else st.risk_store.get(key3).seen,
        "timings": 0 if key3 not in st.performance_store else st.performance_store[key3].seen,
    }


def test_a_run_without_reports_yields_the_same_results_and_keeps_nothing():
    setup_mixed()
    kept = backtest("mixed", "days")
    held = stores_of("mixed")
    # the scenario exercises every store: a run that keeps reports fills each of them
    assert all(held.values()), held
    actions = {r.action for r in kept}
    assert actions == {"closed", "cancelled"}, actions
    lean = backtest("mixed", "days", reports=False)
    assert lean == kept  # the same results, in the same order, field for field
    assert stores_of("mixed") == dict.fromkeys(held, 0)


def test_a_run_without_reports_builds_no_milestone_batch():
    """A settled signal's lazy milestone batch is for the partial report alone: a run that keeps
    none does not build one (the results are the same)."""
    setup_mixed()
    partials = active().partials
    sink, batches = partials.lazy_sink, []

    def counted(batch) -> None:
        batches.append(batch)
        sink(batch)

    partials.lazy_sink = counted
    kept = backtest("mixed", "days")
    assert batches, "the scenario's trades reach milestones"
    batches.clear()
    assert backtest("mixed", "days", reports=False) == kept
    assert batches == []


def test_listeners_hear_the_same_events_when_the_run_keeps_no_report():
    """With listeners the results go through the streams (not the hooks-only shortcut): they hear
    everything, and the stores' hooks still keep nothing of the run."""
    setup_mixed()
    heard: dict[bool, list] = {True: [], False: []}
    mode = [True]
    e.listen_signal_backtest(lambda r: heard[mode[0]].append(("signal", r)))
    e.listen_partial_profit(lambda ev: heard[mode[0]].append(("profit", ev.level, ev.timestamp)))
    e.listen_partial_loss(lambda ev: heard[mode[0]].append(("loss", ev.level, ev.timestamp)))
    e.listen_risk(lambda ev: heard[mode[0]].append(("risk", ev.when, ev.comment)))  # timestamp: wall clock
    timings = []
    e.listen_performance(lambda ev: timings.append(ev.metric_type))
    kept = backtest("mixed", "days")
    mode[0] = False
    n = len(timings)
    lean = backtest("mixed", "days", reports=False)
    assert lean == kept
    assert heard[False] == heard[True] and len(heard[True]) > len(kept)
    kinds = {h[0] for h in heard[True]}
    assert kinds == {"signal", "profit", "loss", "risk"}, kinds
    assert sorted(set(timings[n:])) == sorted(set(timings[:n]))  # performance listeners still hear timings
    assert stores_of("mixed") == dict.fromkeys(stores_of("mixed"), 0)


def test_asking_for_the_report_of_a_run_that_kept_none_says_so():
    setup_mixed()
    backtest("mixed", "days", reports=False)
    asks = [
        lambda: e.Backtest.get_data("BTCUSDT", "mixed"),
        lambda: e.Backtest.get_report("BTCUSDT", "mixed"),
        lambda: e.Backtest.dump("BTCUSDT", "mixed"),
        lambda: e.Schedule.get_data("BTCUSDT", "mixed", True),
        lambda: e.Partial.get_report("BTCUSDT", "mixed", True),
        lambda: e.Risk.get_report("BTCUSDT", "mixed", True),
        lambda: e.Performance.get_data("BTCUSDT", "mixed", True),
    ]
    for ask in asks:
        with pytest.raises(e.NoReportError, match=r"last backtest of mixed on BTCUSDT ran with reports=False"):
            ask()
    # live mode and other pairs are not concerned
    assert e.Schedule.get_data("BTCUSDT", "mixed", False).total_events == 0
    assert e.Backtest.get_data("ETHUSDT", "mixed").total_signals == 0
    # the next run that keeps a report has one again
    kept = backtest("mixed", "days")
    assert e.Backtest.get_data("BTCUSDT", "mixed").total_signals == sum(r.action == "closed" for r in kept) > 0


def test_reports_must_be_a_bool():
    setup_mixed()
    with pytest.raises(TypeError, match=r"Backtest.run: reports must be True or False, got 'no'"):
        e.Backtest.run("BTCUSDT", strategy_name="mixed", exchange_name="synthetic", frame_name="days", reports="no")
    with pytest.raises(TypeError, match=r"Backtest.background: reports must be True or False, got 0"):
        e.Backtest.background("BTCUSDT", strategy_name="mixed", exchange_name="synthetic", frame_name="days", reports=0)
    assert e.Backtest.list() == []  # the refused background run left no task behind
    assert stores_of("mixed") == dict.fromkeys(stores_of("mixed"), 0)
    e.Backtest.get_data("BTCUSDT", "mixed")  # nothing was marked: a refused call changes nothing


def test_a_background_run_without_reports_keeps_none():
    setup_mixed()

    async def go():
        done = asyncio.Event()
        e.listen_done_backtest(lambda ev: done.set())
        e.Backtest.background(
            "BTCUSDT", strategy_name="mixed", exchange_name="synthetic", frame_name="days", reports=False
        )
        await asyncio.wait_for(done.wait(), 60)

    asyncio.run(go())
    assert stores_of("mixed") == dict.fromkeys(stores_of("mixed"), 0)
    with pytest.raises(e.NoReportError):
        e.Backtest.get_data("BTCUSDT", "mixed")


def test_the_sweep_table_equals_plain_backtests_with_their_reports(tmp_path):
    """Whole rows: every statistic from the report store of a normal ``Backtest.run`` of the same
    set (its packed columns, not the sweep's list), the cancelled count and the daily pnl column
    summed here, bit for bit."""
    setup()
    end = START + timedelta(days=DAYS)
    sweep = Sweep.over("tpsl", "synthetic", "BTCUSDT", START, end, metric="total_pnl", constraints=Constraints(3))
    run_sweep(sweep, tmp_path / "t.sqlite", workers=1)
    with ResultsTable(tmp_path / "t.sqlite") as t:
        rows = sorted(t.rows(), key=lambda r: r.trial)
    assert len(rows) == 36
    e.add_frame("same", "1m", START, end)
    start_ms = int(START.timestamp() * 1000)
    days = int((end - START).total_seconds() * 1000) // DAY_MS + 1
    for row in rows[::5]:  # several sets: long and short, each TP, SL and duration
        e.use_params("tpsl", row.params)
        results = backtest("tpsl", "same")
        s = e.Backtest.get_data("BTCUSDT", "tpsl")
        stats = {
            "trades": s.total_signals,
            "cancelled": sum(r.action == "cancelled" for r in results),
            "total_signals": s.total_signals,
            **{f.name: getattr(s, f.name) for f in dataclasses.fields(TradeMetrics)},
        }
        daily = np.zeros(days)
        for r in results:
            if r.action == "closed":
                daily[min(max((r.close_timestamp - start_ms) // DAY_MS, 0), days - 1)] += r.pnl.pnl_percentage
        expected = dataclasses.replace(
            row,
            params=dict(row.params),
            stats=stats,
            feasible=s.total_signals >= 3,
            error=None,
            daily=daily,
        )
        assert row.daily.tobytes() == expected.daily.tobytes(), row.trial
        got, want = dataclasses.asdict(row), dataclasses.asdict(expected)
        got.pop("daily"), want.pop("daily")
        assert got == want, row.trial
