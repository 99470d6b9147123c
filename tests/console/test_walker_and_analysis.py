"""The walker, risk, partial, scheduled and heatmap parts of the console, driven from the keyboard
on the demo project (App.run_test). Each pane is checked against the engine's own reports for
the same run, so the console shows what the reports say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Gate, demo_app, finish_runs, fixed_clock, flush_bridge, wait_until
from textual.widgets import OptionList, TabbedContent

import engine
from console.app import BtkApp
from console.demo import WALKER
from console.project import load_project
from console.screens.dialogs import ConfirmScreen, StartDialog
from console.screens.reports import ReportsScreen, ReportViewer
from console.state import RECENT_CANCELLATIONS, RunView
from console.widgets.events import PartialPane, RiskPane
from console.widgets.heatmap import HeatmapPane
from console.widgets.leaderboard import LeaderboardPane
from console.widgets.panes import EquityPane, ScheduledPane
from engine.model import ActiveResult, ScheduledResult, SignalRow

DEMO_STRATEGIES = ("demo-breakout", "demo-meanrev", "demo-trend")


def cell_text(table, row: int, col: int) -> str:
    if hasattr(table, "row_cells"):  # a log (LogView): its line's cells as drawn
        return str(table.row_cells(row)[col])
    return str(table.get_cell_at((row, col)))


async def run_demo_walker(pilot) -> None:
    await pilot.press("w")
    assert isinstance(pilot.app.screen, StartDialog) and pilot.app.screen.mode == "walker"
    await pilot.press("enter")
    await finish_runs(pilot)


async def test_w_runs_the_demo_walker_and_the_leaderboard_ranks_like_the_engine(no_settings) -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_demo_walker(pilot)
        (run,) = app.state.runs.values()
        assert (run.mode, run.symbol, run.name, run.status) == ("walker", "BTCUSDT", WALKER, "done")
        assert app.screen.query_one("#analysis", TabbedContent).active == "tab-walker"
        data = engine.Walker.get_data("BTCUSDT", WALKER)
        expected = sorted(data.strategy_results, key=lambda r: -r.metric_value)
        table = app.screen.query_one(LeaderboardPane).table
        assert table.row_count == 3
        for row, result in enumerate(expected):
            assert cell_text(table, row, 1) == result.strategy_name
            assert float(cell_text(table, row, 2)) == pytest.approx(result.metric_value, abs=1e-4)
            assert int(cell_text(table, row, 3)) == result.stats.total_signals
        assert cell_text(table, 0, 0) == "★1" and expected[0].strategy_name == data.best_strategy
        assert cell_text(table, 1, 0) == " 2"
        pane = app.screen.query_one(LeaderboardPane)
        assert pane.border_title.endswith(f"3/3 tested · best {data.best_strategy}")
        # a finished walker's equity pane shows its best strategy's curve
        assert app.screen.query_one(EquityPane).border_title == f"Equity · {data.best_strategy}"


async def test_the_walker_report_is_dumped_and_listed_in_the_browser(no_settings, tmp_path) -> None:
    app = demo_app(dump_dir=tmp_path / "dump")
    async with app.run_test(size=(120, 40)) as pilot:
        await run_demo_walker(pilot)
        await pilot.press("d")
        await pilot.pause()
        keyed = Path("demo-synthetic") / "demo-30d" / "BTCUSDT"  # exchange, frame, symbol (issue 14 item 13)
        report = tmp_path / "dump" / "walker" / keyed / f"{WALKER}.md"
        text = report.read_text()
        assert text.startswith(f"# Walker Comparison Report: {WALKER}")
        assert "**Symbol:** BTCUSDT  \n**Exchange:** demo-synthetic  \n" in text  # one per line
        for name in DEMO_STRATEGIES:  # and each tested strategy's own reports
            assert (tmp_path / "dump" / "backtest" / keyed / f"{name}.md").exists()
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ReportsScreen)
        index = app.screen.files.index(report)
        app.screen.query_one("#report-list", OptionList).highlighted = index
        await pilot.press("enter")
        await pilot.pause()
        viewer = app.screen.query_one("#report-view", ReportViewer)
        assert viewer.display and viewer.border_title.startswith(f"walker/{keyed.as_posix()}/{WALKER}.md")
        assert [str(h.content) for h in viewer.query("MarkdownH1")] == [f"Walker Comparison Report: {WALKER}"]


def _walker_with_a_gate(gate: Gate) -> BtkApp:
    """The demo plus a walker whose last strategy waits on ``gate`` (a walker held mid-run)."""
    project = load_project(None)
    engine.add_strategy("held", "1m", gate.get_signal)
    engine.add_walker("held-walker", "demo-synthetic", "demo-30d", ["demo-breakout", "demo-meanrev", "held"])
    project.walkers.append("held-walker")
    project.ui["last_walker"] = {"symbol": "BTCUSDT", "strategy": "held-walker"}
    return BtkApp(project, clock=fixed_clock, save_settings=False)


async def test_mid_run_the_leaderboard_shows_tested_testing_and_stop_skips_the_rest(no_settings) -> None:
    gate = Gate()
    app = _walker_with_a_gate(gate)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("w", "enter")
        await wait_until(pilot, lambda: gate.calls >= 1)
        await flush_bridge(pilot)
        view = app.state.walkers["walker:BTCUSDT:held-walker"]
        assert [r.status for r in view.ranked()] == ["done", "done", "testing"]
        table = app.screen.query_one(LeaderboardPane).table
        assert cell_text(table, 2, 1) == "held" and cell_text(table, 2, 2).startswith("testing")
        assert "2/3 tested" in app.screen.query_one(LeaderboardPane).border_title
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        gate.open.set()
        await finish_runs(pilot)
        (run,) = app.state.runs.values()
        assert run.status == "stopped"
        # the strategy under test ended at its next check: tested, with no signal
        assert engine.Walker.get_data("BTCUSDT", "held-walker").best_strategy is not None


async def test_stopping_a_walker_before_its_last_strategy_skips_it(no_settings) -> None:
    gate = Gate()
    project = load_project(None)
    engine.add_strategy("held", "1m", gate.get_signal)
    engine.add_walker("held-first", "demo-synthetic", "demo-30d", ["held", "demo-breakout", "demo-meanrev"])
    project.walkers.append("held-first")
    project.ui["last_walker"] = {"symbol": "BTCUSDT", "strategy": "held-first"}
    app = BtkApp(project, clock=fixed_clock, save_settings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("w", "enter")
        await wait_until(pilot, lambda: gate.calls >= 1)
        await pilot.press("s", "y")
        gate.open.set()
        await finish_runs(pilot)
        view = app.state.walkers["walker:BTCUSDT:held-first"]
        assert {r.strategy: r.status for r in view.rows.values()} == {
            "held": "done",
            "demo-breakout": "waiting",
            "demo-meanrev": "waiting",
        }
        assert app.state.runs["walker:BTCUSDT:held-first"].status == "stopped"


async def test_risk_pane_lists_the_rejections_the_risk_report_counts(no_settings) -> None:
    app = demo_app()
    app.project.ui["last_backtest"] = {"symbol": "BTCUSDT", "strategy": "demo-breakout"}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        await pilot.press("right_square_bracket")  # Walker -> Risk
        assert app.screen.query_one("#analysis", TabbedContent).active == "tab-risk"
        stats = engine.Risk.get_data("BTCUSDT", "demo-breakout", True)
        assert stats.total_rejections > 0
        lines = list(app.state.risk_log.of("backtest:BTCUSDT:demo-breakout"))
        assert len(lines) == stats.total_rejections
        table = app.screen.query_one(RiskPane).table
        assert table.row_count == len(lines)
        first = lines[0]
        assert datetime.fromtimestamp(first.time / 1000, tz=UTC).hour in (0, 1)  # the demo's quiet hours
        assert cell_text(table, 0, 6) == "quiet hours: no entries 00:00-02:00 UTC"
        assert cell_text(table, 0, 5) == str(first.active)
        assert app.screen.query_one(RiskPane).border_title.endswith(f"· {len(lines)}")


async def test_partial_pane_shows_every_milestone_the_partial_report_counts(no_settings) -> None:
    app = demo_app()
    app.project.ui["last_backtest"] = {"symbol": "BTCUSDT", "strategy": "demo-trend"}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert app.screen.query_one("#analysis", TabbedContent).active == "tab-partial"
        stats = engine.Partial.get_data("BTCUSDT", "demo-trend", True)
        rid = "backtest:BTCUSDT:demo-trend"
        assert app.state.milestone_log.count(rid) == stats.seen_events > 0
        shown = list(app.state.milestone_log.of(rid))
        # per signal, each level once and in ascending order (SPEC 10.1)
        per_signal: dict[tuple[str, str], list[int]] = {}
        for line in shown:
            per_signal.setdefault((line.signal_id, line.kind), []).append(line.level)
        for levels in per_signal.values():
            assert levels == sorted(set(levels))
        table = app.screen.query_one(PartialPane).table
        assert table.row_count == len(shown)
        assert cell_text(table, 0, 5).split()[0] in ("TP", "SL")


async def test_heatmap_shows_the_strategy_on_every_symbol_like_heat_get_data(no_settings) -> None:
    app = demo_app()
    app.project.ui["last_backtest"] = {"symbol": "*", "strategy": "demo-trend"}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        assert len(app.state.runs) == 2
        await pilot.press("left_square_bracket")  # Walker -> Heatmap (wraps around)
        await pilot.pause()
        data = engine.Heat.get_data("demo-trend", True)
        table = app.screen.query_one(HeatmapPane).table
        assert [cell_text(table, r, 0) for r in range(table.row_count)] == [row.symbol for row in data.symbols]
        for r, row in enumerate(data.symbols):
            assert cell_text(table, r, 1) == f"{row.total_pnl:+.2f}%"
            assert int(cell_text(table, r, 5).replace(",", "")) == row.total_trades
        assert app.screen.query_one(HeatmapPane).border_title.startswith("Heatmap · demo-trend · portfolio")
        # colour-scaled: the two symbols' PnL cells do not share one background
        backgrounds = {table.get_cell_at((r, 1)).style.bgcolor for r in range(table.row_count)}
        assert len(backgrounds) == 2


async def test_scheduled_pane_keeps_the_latest_cancellations_with_their_reason(no_settings) -> None:
    app = demo_app()
    app.project.ui["last_backtest"] = {"symbol": "BTCUSDT", "strategy": "demo-meanrev"}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        stats = engine.Schedule.get_data("BTCUSDT", "demo-meanrev", True)
        assert stats.total_cancelled >= RECENT_CANCELLATIONS
        cancels = [line for line in app.state.log_of("backtest:BTCUSDT:demo-meanrev") if line.kind == "CANCEL"]
        assert len(cancels) == stats.total_cancelled
        table = app.screen.query_one(ScheduledPane).table
        rows = [[str(c) for c in table.get_row(k)] for k in table.rows]
        assert len(rows) == RECENT_CANCELLATIONS  # the run is over: nothing waits, the latest cancellations stay
        newest = [line.detail for line in cancels[-RECENT_CANCELLATIONS:]][::-1]
        assert [r[-1] for r in rows] == [f"✗ {reason}" for reason in newest]


async def test_a_waiting_limit_entry_shows_its_distance_and_time_left(no_settings) -> None:
    """Fed with engine results directly (a live run's limit entry waits for minutes, which a
    backtest's fast-forward never shows), the pane counts the timeout down."""
    app = demo_app()
    t0 = int(datetime(2024, 1, 1, 12, tzinfo=UTC).timestamp() * 1000)
    row = SignalRow(
        id="sig-1",
        position="long",
        price_open=99.0,
        price_take_profit=110.0,
        price_stop_loss=95.0,
        minute_estimated_time=60,
        symbol="BTCUSDT",
        exchange_name="demo-synthetic",
        strategy_name="demo-meanrev",
        scheduled_at=t0,
        pending_at=None,
        is_scheduled=True,
    )
    common = {"strategy_name": "demo-meanrev", "exchange_name": "demo-synthetic", "symbol": "BTCUSDT"}
    async with app.run_test(size=(120, 40)) as pilot:
        app.state.add_run(
            RunView(
                id="live:BTCUSDT:demo-meanrev",
                mode="live",
                symbol="BTCUSDT",
                name="demo-meanrev",
                exchange="demo-synthetic",
                status="running",
            )
        )
        clock = engine.SimulatedClock(t0, speed=0)  # live time is the engine's clock
        engine.set_clock(clock)
        app.dashboard.fold([ScheduledResult(signal=row, current_price=100.0, backtest=False, **common)])
        await pilot.pause()
        table = app.screen.query_one(ScheduledPane).table
        assert [str(c) for c in table.get_row_at(0)][3:] == ["99", "-1.00%", "2h00"]
        clock.advance(45 * 60_000)
        app.dashboard.fold(
            [ActiveResult(signal=row, current_price=99.5, backtest=False, percent_tp=0.0, percent_sl=0.0, **common)]
        )
        await pilot.pause()
        assert [str(c) for c in table.get_row_at(0)][3:] == ["99", "-0.50%", "75m"]
        assert app.screen.query_one(ScheduledPane).border_title == "Scheduled · 1 waiting"


def test_time_left_runs_from_the_timeout_down_to_zero() -> None:
    from console.state import DashboardState, RunView, ScheduledView

    state = DashboardState(schedule_await_minutes=120)
    start = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
    state.add_run(RunView(id="r", mode="live", symbol="X", name="s", exchange="e"))
    s = ScheduledView("r", "id", "X", "s", "long", 100.0, 101.0, start, start)
    assert state.time_left(s) == 120
    state.runs["r"].sim_time = start + int(timedelta(minutes=45).total_seconds() * 1000)
    assert state.time_left(s) == 75
    state.runs["r"].sim_time = start + int(timedelta(hours=5).total_seconds() * 1000)
    assert state.time_left(s) == 0


def test_headless_walker_prints_the_leaderboard_and_writes_the_report(tmp_path: Path) -> None:
    import io

    from console.cli import main
    from console.report_layout import one_per_line, walker_pnl_columns

    out, err = io.StringIO(), io.StringIO()
    code = main(["walker", "--dump-dir", str(tmp_path / "out")], out, err)
    assert code == 0, err.getvalue()
    text = out.getvalue()
    data = engine.Walker.get_data("BTCUSDT", WALKER)
    assert f"{WALKER} on BTCUSDT (best by sharpe_ratio: {data.best_strategy})" in text
    board = [line for line in text.splitlines() if line.strip()[:1] in ("*", "1", "2", "3")]
    assert board[0].split()[0] == "*1" and board[0].split()[1] == data.best_strategy
    assert [line.split()[1] for line in board] == [
        r.strategy_name for r in sorted(data.strategy_results, key=lambda r: -r.metric_value)
    ]
    # the same keyed path and layout as the console's d (issue 14 item 13, console/report_dump.py)
    keyed = tmp_path / "out" / "walker" / "demo-synthetic" / "demo-30d" / "BTCUSDT"
    report = (keyed / f"{WALKER}.md").read_text()
    assert report == one_per_line(engine.Walker.get_report("BTCUSDT", WALKER, pnl_columns=walker_pnl_columns()))
    assert not (tmp_path / "out" / "walker" / f"{WALKER}.md").exists()  # not the old flat path
    backtests = tmp_path / "out" / "backtest" / "demo-synthetic" / "demo-30d" / "BTCUSDT"
    for r in data.strategy_results:  # each tested strategy's backtest report beside it
        assert (backtests / f"{r.strategy_name}.md").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["walker", "--walker", "nope"], "unknown walker 'nope'"),
        (["walker", "--symbol", "btc"], "--symbol must look like BTCUSDT"),
    ],
)
def test_headless_walker_usage_errors(argv: list[str], message: str) -> None:
    import io

    from console.cli import main

    out, err = io.StringIO(), io.StringIO()
    assert main(argv, out, err) == 2
    assert message in err.getvalue()


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_a_started_walker_is_both_highlighted_and_shown(no_settings, size) -> None:
    """Issue 14 item 6: starting a walker selects it, and the Runs cursor moves to it too (it
    stayed on the earlier backtest while the panes showed the walker)."""
    from console.widgets.panes import RunsPane, SignalsPane

    app = demo_app()
    async with app.run_test(size=size) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        runs = app.screen.query_one(RunsPane)
        assert runs.selected == app.session.selected == "backtest:BTCUSDT:demo-breakout"
        await run_demo_walker(pilot)
        rid = f"walker:BTCUSDT:{WALKER}"
        assert app.session.selected == rid
        assert runs.selected == rid
        await pilot.pause()
        assert app.session.selected == rid  # the cursor's move did not select anything else
        assert app.screen.query_one(SignalsPane).border_title == f"Signals · BTCUSDT {WALKER}"
