"""DashboardState fed with hand-made engine events (no terminal): which run an event belongs to,
the walker leaderboard's ranking, risk and milestone logs, and equity per walker strategy."""

from __future__ import annotations

from dataclasses import replace

from console.state import DashboardState, LogLine, Milestone, Part, RunView
from engine import PartialEvent, RiskEvent, WalkerCompleteEvent, WalkerContract
from engine.errors import ErrorContext, annotate
from engine.model import ClosedResult, OpenedResult, Pnl, SignalRow
from engine.reports.statistics import backtest_statistics

T0 = 1_704_067_200_000
M = 60_000


def row(strategy: str, sid: str, position: str = "long") -> SignalRow:
    return SignalRow(
        id=sid,
        position=position,
        price_open=100.0,
        price_take_profit=110.0,
        price_stop_loss=95.0,
        minute_estimated_time=60,
        symbol="BTCUSDT",
        exchange_name="x",
        strategy_name=strategy,
        scheduled_at=T0,
        pending_at=T0,
        is_scheduled=False,
    )


def closed(strategy: str, sid: str, pnl: float, minute: int) -> ClosedResult:
    return ClosedResult(
        signal=row(strategy, sid),
        current_price=100.0,
        strategy_name=strategy,
        exchange_name="x",
        symbol="BTCUSDT",
        backtest=True,
        close_reason="take_profit" if pnl > 0 else "stop_loss",
        close_timestamp=T0 + minute * M,
        pnl=Pnl(pnl_percentage=pnl, price_open=100.0, price_close=100.0),
    )


def contract(strategy: str, metric: float | None, best: str | None, best_metric: float | None, n: int):
    stats = backtest_statistics([closed(strategy, f"{strategy}-1", 1.0, 5)])
    return WalkerContract(
        walker_name="w",
        exchange_name="x",
        frame_name="f",
        symbol="BTCUSDT",
        strategy_name=strategy,
        stats=stats,
        metric_value=metric,
        metric="sharpe_ratio",
        best_metric=best_metric,
        best_strategy=best,
        strategies_tested=n,
        total_strategies=3,
    )


def walker_state() -> DashboardState:
    state = DashboardState()
    run = RunView(id="walker:BTCUSDT:w", mode="walker", symbol="BTCUSDT", name="w", exchange="x", status="running")
    state.add_walker(run, "sharpe_ratio", ["a", "b", "c"])
    return state


def test_a_walker_strategys_results_go_to_the_walker_run_with_its_own_equity() -> None:
    state = walker_state()
    state.apply([closed("a", "a-1", 2.0, 5), closed("a", "a-2", -1.0, 9)])
    run = state.runs["walker:BTCUSDT:w"]
    assert (run.current, run.trades, run.equity) == ("a", 2, [2.0, 1.0])
    state.apply([contract("a", 0.5, "a", 0.5, 1), closed("b", "b-1", 3.0, 4)])
    assert (run.current, run.trades, run.equity) == ("b", 1, [3.0])  # b's curve starts afresh
    assert run.sim_time == T0 + 4 * M  # and so does the run's clock
    assert [line.detail for line in state.log_of(run.id)][-1] == "b: take_profit"
    run.status = "done"
    state.walkers[run.id].best = "a"
    label, curve, trades, _, total = state.equity_of(run.id)
    assert (label, curve, trades, total) == ("a", [2.0, 1.0], 2, 1.0)  # finished: the best's curve


def test_log_lines_are_built_when_read_with_their_price_and_strategy() -> None:
    """A line's detail is formatted when the log is read (a fast run notes thousands a batch and
    the log keeps the newest): the entry price with thousands separators, a walker's strategy
    first; a backtest of its own names no strategy."""
    state = walker_state()
    entry = replace(row("a", "a-1"), price_open=53_000.0)
    opened = OpenedResult(
        signal=entry, current_price=53_000.0, strategy_name="a", exchange_name="x", symbol="BTCUSDT", backtest=True
    )
    state.apply([opened, closed("a", "a-1", 1.0, 5)])
    assert [line.detail for line in state.log_of("walker:BTCUSDT:w")] == ["a: at 53,000.00", "a: take_profit"]
    state.add_run(
        RunView(id="backtest:BTCUSDT:s", mode="backtest", symbol="BTCUSDT", name="s", exchange="x", status="running")
    )
    own = OpenedResult(
        signal=replace(entry, strategy_name="s"),
        current_price=1.0,
        strategy_name="s",
        exchange_name="x",
        symbol="BTCUSDT",
        backtest=True,
    )
    state.apply([own])
    assert [line.detail for line in state.log_of("backtest:BTCUSDT:s")] == ["at 53,000.00"]


def test_leaderboard_ranks_by_metric_none_last_then_testing_failed_waiting() -> None:
    state = walker_state()
    view = state.walkers["walker:BTCUSDT:w"]
    state.apply([contract("a", None, None, None, 1)])
    assert [(r.strategy, r.status) for r in view.ranked()] == [("a", "done"), ("b", "waiting"), ("c", "waiting")]
    state.apply([closed("b", "b-1", 1.0, 1)])  # b's first result: b is under test
    state.apply([contract("b", -0.2, "b", -0.2, 2)])
    assert [r.strategy for r in view.ranked()][:2] == ["b", "a"]  # a value beats no value, even negative
    exc = RuntimeError("feed down")
    annotate(exc, ErrorContext("BTCUSDT", "c", True, None, "walker"), "skipped")
    changed = state.apply([exc])
    assert Part.WALKER in changed
    assert [(r.strategy, r.status) for r in view.ranked()] == [("b", "done"), ("a", "done"), ("c", "failed")]
    assert view.rows["c"].error == "feed down"
    state.apply(
        [
            WalkerCompleteEvent(
                walker_name="w",
                symbol="BTCUSDT",
                exchange_name="x",
                frame_name="f",
                metric="sharpe_ratio",
                total_strategies=3,
                best_strategy="b",
                best_metric=-0.2,
                best_stats=None,
            )
        ]
    )
    assert view.complete and view.best == "b" and view.tested == 2


def test_an_active_backtest_of_the_pair_wins_over_a_finished_walker() -> None:
    state = walker_state()
    state.runs["walker:BTCUSDT:w"].status = "done"
    state.add_run(RunView(id="backtest:BTCUSDT:a", mode="backtest", symbol="BTCUSDT", name="a", exchange="x"))
    state.runs["backtest:BTCUSDT:a"].status = "running"
    assert state.run_of(closed("a", "a-9", 1.0, 1)).id == "backtest:BTCUSDT:a"
    state.runs["backtest:BTCUSDT:a"].status = "done"
    state.runs["walker:BTCUSDT:w"].status = "running"
    assert state.run_of(closed("a", "a-9", 1.0, 1)).id == "walker:BTCUSDT:w"


def test_risk_and_milestone_events_are_logged_per_run_with_the_simulated_time() -> None:
    state = walker_state()
    risk = RiskEvent(
        symbol="BTCUSDT",
        pending_signal={"position": "short", "price_take_profit": 90.0, "price_stop_loss": 105.0},
        strategy_name="a",
        exchange_name="x",
        current_price=100.0,
        active_position_count=2,
        comment="max 2 open",
        timestamp=1_800_000_000_000,  # wall clock
        backtest=True,
        when=T0 + 30 * M,
    )
    milestone = PartialEvent("BTCUSDT", "a", "x", row("a", "a-1"), 103.0, 30, True, T0 + 7 * M)
    assert state.apply([risk, Milestone("profit", milestone)]) == Part.RISK | Part.PARTIAL
    (line,) = state.risk_log.of("walker:BTCUSDT:w")
    assert (line.time, line.side, line.reason, line.active) == (T0 + 30 * M, "short", "max 2 open", 2)
    (ms,) = state.milestone_log.of("walker:BTCUSDT:w")
    assert (ms.kind, ms.level, ms.price, ms.signal_id, ms.time) == ("profit", 30, 103.0, "a-1", T0 + 7 * M)
    assert state.risk_log.count(None) == 1 and state.milestone_log.count("other") == 0


def test_a_new_signal_drops_a_limit_entry_that_ended_without_an_event() -> None:
    from engine.model import ScheduledResult

    state = DashboardState()
    state.add_run(RunView(id="backtest:BTCUSDT:a", mode="backtest", symbol="BTCUSDT", name="a", exchange="x"))
    common = {"current_price": 100.0, "strategy_name": "a", "exchange_name": "x", "symbol": "BTCUSDT"}
    state.apply([ScheduledResult(signal=row("a", "s-1"), backtest=True, **common)])
    state.apply([ScheduledResult(signal=row("a", "s-2"), backtest=True, **common)])
    assert [s.signal_id for s in state.scheduled_of(None)] == ["s-2"]


def test_a_run_log_given_lazy_lines_holds_what_it_would_hold_given_them_one_by_one() -> None:
    """Lazy milestone batches (a worker run's, console/state.py ``add_lazy``) are built only if they
    are among the newest lines of every run or of their own; the log reads exactly as if each line
    had been added as it came, counts included, whichever runs interleave, and past the bound at
    which a log nobody reads drops what it can no longer show; how many lines it shows is known
    before they are built (``shown``)."""
    import random
    from dataclasses import dataclass

    from console.state import RunLog

    @dataclass(frozen=True)
    class Line:
        key: str
        run: str

    rng = random.Random(7)
    for _ in range(200):
        eager, lazy = RunLog(maxlen=6), RunLog(maxlen=6)
        built: list[int] = []
        n = 0
        for step in range(rng.randint(1, 80)):  # 80 batches: past LAZY_BOUND x 6 now and then
            run = rng.choice("abc")
            lines = [Line(f"{run}{n + i}", run) for i in range(rng.randint(0, 5))]
            n += len(lines)
            for line in lines:
                eager.add(line)
            if rng.random() < 0.2 and lines:  # now and then a line that came as an event
                for line in lines:
                    lazy.add(line)
            else:
                lazy.add_lazy(
                    run,
                    len(lines),
                    lambda skip, lines=lines, step=step, built=built: built.append(step) or lines[skip:],
                )
        before = list(built)
        shown = {run: lazy.shown(run) for run in (None, "a", "b", "c")}  # said without building
        assert built == before
        for run in (None, "a", "b", "c"):
            assert list(lazy.of(run)) == list(eager.of(run))
            assert lazy.count(run) == eager.count(run)
            assert shown[run] == len(eager.of(run))
        assert len(built) == len(set(built))  # each batch built once at most


def test_a_lazy_entry_of_many_lines_builds_only_those_a_window_shows() -> None:
    """A worker's run of trades adds hundreds of lines in one entry: reading the log builds the
    newest the windows show (its own run's and every run's), leaving out the first ones, whether
    the entry is the newest or older ones follow it."""
    from console.state import RunLog

    asked: list[int] = []

    def lines(run: str, n: int, tag: str):
        def build(skip: int) -> list[LogLine]:
            asked.append(skip)
            return [LogLine(f"{tag}{k}", k, "OPENED", run, "BTCUSDT", "s", "long", "") for k in range(skip, n)]

        return build

    log = RunLog(maxlen=6)
    log.add_lazy("a", 100, lines("a", 100, "a"))
    assert [x.time for x in log.of("a")] == list(range(94, 100)) and asked == [94]
    log.add_lazy("a", 50, lines("a", 50, "x"))
    log.add_lazy("b", 4, lines("b", 4, "b"))
    asked.clear()
    log.of(None)
    assert asked == [44, 0]  # run a's newest six (its window), then every line of b
    assert [x.key for x in log.of(None)] == ["x48", "x49", "b0", "b1", "b2", "b3"]
    assert [x.key for x in log.of("a")] == [f"x{k}" for k in range(44, 50)]
    assert log.count("a") == 150 and log.count(None) == 154


def test_a_log_nobody_reads_keeps_a_bounded_number_of_pending_lines_and_the_newest() -> None:
    """Signals lines are built when the log is read; a log not read for a long while (another
    screen over the dashboard during a live run) drops, past ``LAZY_BOUND`` times its length, the
    pending lines it can no longer show, unbuilt: nothing is built until it is read, and then
    only the lines it shows (building at the bound was a fifth of a fast run's fold)."""
    from console.state import LAZY_BOUND, RunLog

    built: list[int] = []

    def line(n: int):
        def build(skip: int):
            built.append(n)
            return [LogLine(f"k{n}", n, "OPENED", "run", "BTCUSDT", "s", "long", f"line {n}")]

        return build

    log = RunLog(maxlen=10)
    for n in range(1_000):
        log.add_lazy("run", 1, line(n))
        assert len(log._lazy) <= LAZY_BOUND * 10
    assert built == []  # nothing built while nobody reads
    assert [x.time for x in log.of("run")] == list(range(990, 1_000))
    assert sorted(built) == list(range(990, 1_000))  # and then only what it shows
    assert log.count("run") == 1_000
