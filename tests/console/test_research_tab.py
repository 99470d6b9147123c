"""The Research tab: a sweep started from the dashboard (S), run in its own process on a tiny btk.toml
project, its progress, ranked sets (sortable), heat map, walk-forward folds and verdict read back
from the results table; bad input stays in the dialog; the same sweep again resumes."""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from pathlib import Path

import pytest
from conftest import demo_app, fixed_clock, wait_until
from textual.widgets import DataTable, Input, Select, Static

import engine
from console.app import BtkApp
from console.project import load_project
from console.research.dialog import SweepDialog
from console.research.pane import ResearchPane

STRATEGY = """
import os

import engine


HOLD = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "hold")


async def get_signal(symbol, when, price, params):
    if params["tp"] == 2.0 and os.path.exists(HOLD):  # a FIFO: the stop tests hold the sweep here
        with open(HOLD, "rb") as fifo:  # blocks until the test opens the other end...
            fifo.read()  # ...and then until it closes it (or SIGTERM stops the process)
    up, down = 1 + params["tp"] / 100, 1 - params["sl"] / 100
    return {"position": "long", "price_take_profit": price * up, "price_stop_loss": price * down,
            "minute_estimated_time": 180}


async def plain(symbol, when, price):
    return None


engine.add_strategy(
    "tpsl", "15m", get_signal,
    params={"tp": engine.FloatParam(1.0, 2.0, step=0.5), "sl": engine.FloatParam(0.5, 1.0, step=0.5)},
)
engine.add_strategy("plain", "15m", plain)
"""

TOML = """
[project]
name = "tiny"
modules = ["strategies/tpsl.py"]
dump_dir = "dump"

[exchanges.sim]
kind = "synthetic"

[frames.short]
interval = "1m"
start = 2024-01-01T00:00:00Z
end = 2024-01-04T23:59:00Z
"""


def table_rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT * FROM results ORDER BY trial, symbol, window"))


def research_project(root: Path) -> Path:
    (root / "strategies").mkdir(parents=True, exist_ok=True)
    (root / "strategies" / "tpsl.py").write_text(STRATEGY)
    (root / "btk.toml").write_text(TOML)
    return root / "btk.toml"


def research_app(root: Path) -> BtkApp:
    return BtkApp(load_project(research_project(root)), clock=fixed_clock, save_settings=False)


async def sweep_from_dialog(pilot, **fields: str) -> None:
    """S, fill the dialog's fields (selects and texts by name), Enter in the Workers field."""
    await pilot.press("S")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, SweepDialog))
    screen = pilot.app.screen
    for name, value in fields.items():
        widget = screen.query_one(f"#sweep-{name.replace('_', '-')}")
        if isinstance(widget, Select):
            widget.value = value
        else:
            widget.value = value
    await pilot.pause()
    screen.query_one("#sweep-workers", Input).focus()
    await pilot.press("enter")
    await pilot.pause()


async def finished(pilot) -> ResearchPane:
    pane = pilot.app.dashboard.query_one(ResearchPane)
    await wait_until(pilot, lambda: pane.status in ("done", "failed"))
    await pilot.pause()
    assert pane.status == "done", pane.error
    return pane


async def test_a_grid_sweep_runs_from_the_dashboard_and_shows_its_results(tmp_path: Path, no_settings) -> None:
    app = research_app(tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await sweep_from_dialog(pilot, metric="total_pnl", workers="1")
        pane = await finished(pilot)
        table = tmp_path / "dump" / "sweep" / "tpsl-grid.sqlite"
        assert pane.done is not None and pane.done.table == table and pane.done.report.exists()
        rows = engine.load_sweep_rows(table)
        stored = table_rows(table)
        assert len(rows) == 6 and pane.done.trials == 6 and pane.done.computed == 6
        # the sets table: the sweep's own ranking, which the engine computes from the table
        board = pane.query_one("#research-board", DataTable)
        ranked = engine.rank_sweep_sets(pane.job.sweep, rows)
        assert [str(k.value) for k in board.rows] == [str(s.trial) for s in ranked]
        status = str(pane.query_one("#research-status", Static).render())
        assert "grid · tpsl on BTCUSDT · by total_pnl · done: 6 sets, 6 rows" in status
        top = ranked[0]
        assert f"best: set {top.trial} total_pnl {engine.to_fixed(top.value('total_pnl'), 2)}" in status
        verdict = str(pane.query_one("#research-verdict", Static).render())
        guard = engine.sweep_guard(ranked, "total_pnl")
        word = "NOT distinguishable from luck" if guard.lucky else "unlikely to be luck"
        assert verdict.startswith(f"Verdict: set {guard.best.trial} is {word}")
        assert "over 6 sets" in verdict
        # the best set's Monte Carlo bands, as the report computes them (its 4 days resampled)
        mc = engine.sweep_monte_carlo(pane.job.sweep, rows, guard.best.trial)
        assert pane.monte == mc and mc.paths == 1000 and mc.trades == 4
        monte = str(pane.query_one("#research-monte", Static).render())
        r, d = mc.total_return, mc.max_drawdown
        fixed = engine.to_fixed
        assert monte == (
            f"Monte Carlo, set {guard.best.trial} (1000 resamplings of its 4 days): "
            f"PnL % 5/50/95: {fixed(r.p5, 2)} / {fixed(r.p50, 2)} / {fixed(r.p95, 2)} · "
            f"max DD % 5/50/95: {fixed(d.p5, 2)} / {fixed(d.p50, 2)} / {fixed(d.p95, 2)} · "
            f"P(loss) {fixed(mc.p_loss * 100, 1)}%"
        )
        report = pane.done.report.read_text()
        assert f"95th percentile {fixed(r.p95, 2)}" in report  # the report's section: the same bands

        # o: sorted by the next column (trades, highest first), then the next
        pane.query_one("#research-board", DataTable).focus()
        await pilot.press("o")  # total_pnl: the sweep's metric, first after the ranking
        assert pane.sort_by == "total_pnl"
        await pilot.press("o")
        assert pane.sort_by == "trades"
        trades = [s.value("trades") for s in pane._ordered()]
        assert trades == sorted(trades, reverse=True)
        assert "Trades▼" in [str(c.label) for c in board.columns.values()]

        # v: the heat map (the report's: the first two parameters, sl across, tp down; the best
        # total_pnl of each pair)
        await pilot.press("v")
        heat = pane.query_one("#research-heat", DataTable)
        assert pane.query_one("ContentSwitcher").current == "research-heat"
        assert [str(c.label) for c in heat.columns.values()] == ["tp \\ sl", "0.5", "1.0"]
        assert heat.row_count == 3
        by_pair = {(s.params["tp"], s.params["sl"]): s.value("total_pnl") for s in ranked if s.feasible}
        for i, tp in enumerate((1.0, 1.5, 2.0)):
            row = [str(heat.get_row_at(i)[j].plain) for j in range(3)]
            assert row == [str(tp), *(engine.to_fixed(by_pair[(tp, sl)], 2) for sl in (0.5, 1.0))]

        # v: walk-forward (this sweep is not one), then back to the sets
        await pilot.press("v")
        folds = pane.query_one("#research-folds", DataTable)
        assert "not a walk-forward sweep" in folds.get_row_at(0)[0].plain
        await pilot.press("v")
        assert pane.query_one("ContentSwitcher").current == "research-board"

        # R: the report, opened in the reports browser
        await pilot.press("R")
        await pilot.pause()
        assert app.screen.id == "reports-screen"
        await pilot.press("escape", "escape")
        await pilot.pause()

        # the same sweep again resumes: nothing recomputed, the same table
        await sweep_from_dialog(pilot)  # the last fields come back
        pane = await finished(pilot)
        assert pane.done.computed == 0 and pane.done.rows == 6
        assert table_rows(table) == stored

        # Enter on a set: a normal backtest of it, its params bound to the strategy in this session
        board = pane.query_one("#research-board", DataTable)
        board.focus()
        board.move_cursor(row=1)
        chosen = next(s for s in pane.sets if str(s.trial) == board.coordinate_to_cell_key((1, 0)).row_key.value)
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(r.mode == "backtest" for r in app.state.runs.values()))
        run = next(r for r in app.state.runs.values() if r.mode == "backtest")
        assert (run.symbol, run.name, run.exchange, run.frame) == ("BTCUSDT", "tpsl", "sim", "short")
        await wait_until(pilot, lambda: not run.is_active)
        assert run.status == "done"
        schema = next(x for x in engine.list_strategies() if x.strategy_name == "tpsl")
        assert dict(schema.param_values) == dict(chosen.params)


async def test_a_walk_forward_sweep_shows_its_folds(tmp_path: Path, no_settings) -> None:
    app = research_app(tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await sweep_from_dialog(pilot, method="random", trials="3", walk_forward="2/1/1", workers="2")
        pane = await finished(pilot)
        assert pane.done.table.name == "tpsl-random-wf.sqlite"
        assert pane.done.rows == 3 * 2 + 2  # 3 sets x 2 train windows + each fold's winner on its test window
        summary = engine.walk_forward_summary(pane.job.sweep, pane.done.table)
        folds = pane.query_one("#research-folds", DataTable)
        assert folds.row_count == len(summary.folds) + 1 == 3
        for i, f in enumerate(summary.folds):
            row = [c.plain for c in folds.get_row_at(i)]
            assert row[0] == str(f.fold) and row[1] == str(f.trial)
        assert folds.get_row_at(2)[0].plain == "stitched"
        assert folds.get_row_at(2)[5].plain == engine.to_fixed(summary.oos_total, 2)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"walk_forward": "2x1"}, "--walk-forward must be TRAIN/TEST/STEP in whole days"),
        ({"workers": "0"}, "--workers must be >= 1"),
        ({"trials": "many"}, "argument --trials: invalid int value: 'many'"),
    ],
)
async def test_bad_input_stays_in_the_dialog_with_the_reason(tmp_path: Path, no_settings, fields, message) -> None:
    app = research_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        fields = {"workers": "1", **fields}
        await sweep_from_dialog(pilot, **fields)
        assert isinstance(pilot.app.screen, SweepDialog)
        error = str(pilot.app.screen.query_one("#sweep-error", Static).render())
        assert error.startswith("Cannot start: ") and message in error
        for name, value in fields.items():  # nothing typed is lost
            widget = pilot.app.screen.query_one(f"#sweep-{name.replace('_', '-')}")
            assert str(widget.value) == value
        assert not (tmp_path / "dump" / "sweep").exists()


async def test_a_sweep_the_engine_refuses_fails_in_the_tab_with_its_reason(tmp_path: Path, no_settings) -> None:
    """The engine checks the rest in the sweep process (random needs trials): the tab says why."""
    app = research_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await sweep_from_dialog(pilot, method="random", workers="1")
        pane = pilot.app.dashboard.query_one(ResearchPane)
        await wait_until(pilot, lambda: pane.status == "failed")
        await pilot.pause()
        assert "method random needs trials >= 1" in pane.error
        assert "method random needs trials >= 1" in str(pane.query_one("#research-status", Static).render())
        assert not pane.running


async def test_a_project_without_params_has_no_research_tab_and_s_says_why(no_settings) -> None:

    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        assert not app.dashboard.query(ResearchPane)
        await pilot.press("S")
        await pilot.pause()
        assert not isinstance(app.screen, SweepDialog)
        assert any("declares params" in n.message for n in app._notifications)


async def test_progress_shows_sets_done_eta_and_the_best_so_far(tmp_path: Path, no_settings) -> None:
    """The running status line from the sweep's progress messages (ETA: the time per computed
    row times the rows left)."""
    app = research_app(tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        from console.research.control import build_job
        from console.research.dialog import SweepForm

        job = build_job(app.project, app.dump_dir, SweepForm("tpsl", "BTCUSDT", "sim", "short", metric="total_pnl"))
        pane = app.dashboard.query_one(ResearchPane)
        pane.job, pane.status = job, "running"
        pane.receive(engine.SweepProgress(2, 6, 2, 4.0, 1, 1.5, {"sl": 0.5, "tp": 1.5}, None))
        await pilot.pause()
        status = str(pane.query_one("#research-status", Static).render())
        assert status.endswith("sets 2/6 · ETA 8s · best: set 1 total_pnl 1.50 (sl=0.5, tp=1.5)")
        verdict = str(pane.query_one("#research-verdict", Static).render())
        assert verdict == "Verdict (deflated Sharpe ratio, PBO): when the sweep ends."
        monte = str(pane.query_one("#research-monte", Static).render())
        assert monte == "Monte Carlo of the best set: when the sweep ends."


async def test_stop_keeps_the_finished_rows_and_the_same_sweep_resumes(tmp_path: Path, no_settings) -> None:
    """x stops the sweep process while it backtests a set the test holds; the finished rows stay,
    and starting the same sweep again computes only the rest."""
    app = research_app(tmp_path)
    hold = tmp_path / "hold"  # a FIFO nobody writes to: set 4 blocks on it until x stops the process
    os.mkfifo(hold)
    async with app.run_test(size=(160, 50)) as pilot:
        await sweep_from_dialog(pilot, metric="total_pnl", workers="1")
        pane = pilot.app.dashboard.query_one(ResearchPane)
        # the grid runs tp 1.0 and 1.5 (sets 0-3) before the held tp 2.0
        await wait_until(pilot, lambda: pane.tick is not None and pane.tick.done == 4)
        pane.query_one("#research-board", DataTable).focus()
        await pilot.press("x")
        await wait_until(pilot, lambda: pane.status == "failed")
        assert pane.error.startswith("stopped; start the same sweep again to resume it")
        table = tmp_path / "dump" / "sweep" / "tpsl-grid.sqlite"
        assert len(table_rows(table)) == 4
        hold.unlink()
        await sweep_from_dialog(pilot)
        pane = await finished(pilot)
        assert pane.done.computed == 2 and pane.done.rows == 6


def _children(pid: int) -> list[int]:
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except OSError:
        return False


def _open_writer(fifo: Path, safety_s: float = 180.0) -> int:
    """Open the write end of ``fifo``: returns once a sweep worker has opened the read end, i.e. it
    is held there (an event, not a poll). ``safety_s`` only guards against a hang: then this test
    opens a reader itself to free its own open, and fails."""
    got: list[int] = []
    opener = threading.Thread(target=lambda: got.append(os.open(fifo, os.O_WRONLY)), daemon=True)
    opener.start()
    opener.join(safety_s)
    if not got:
        freed = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        opener.join()
        os.close(got[0])
        os.close(freed)
        raise AssertionError(f"no sweep worker reached the hold in {safety_s:.0f} s (a safety limit; is it stuck?)")
    return got[0]


def test_stopping_a_sweep_on_a_pool_ends_its_workers_at_once_and_resumes(tmp_path: Path, no_settings) -> None:
    """SIGTERM (what x sends) to a sweep process whose two pool workers are both held inside a
    backtest: the process ends without waiting for them (before, its pool waited for the held sets
    until the console's safety kill), no worker outlives it, the finished rows stay and the same
    sweep resumes from them."""
    from console.research.control import build_job
    from console.research.dialog import SweepForm
    from console.research.runner import STOPPED, SweepDone, SweepFailed, SweepProcess

    project = load_project(research_project(tmp_path))
    hold = tmp_path / "hold"
    os.mkfifo(hold)
    form = SweepForm("tpsl", "BTCUSDT", "sim", "short", metric="total_pnl", workers="2")
    job = build_job(project, tmp_path / "dump", form)
    messages: queue.Queue = queue.Queue()

    def until(cls: type) -> list:
        got = []
        while not got or not isinstance(got[-1], cls):
            got.append(messages.get(timeout=180))  # a safety limit only; each message is an event
        return got

    first = SweepProcess(job, messages.put)
    first.start()
    # the grid runs tp 1.0 and 1.5 (sets 0-3) first; the workers then take sets 4 and 5 (tp 2.0)
    while True:
        msg = messages.get(timeout=180)  # a safety limit only
        assert isinstance(msg, engine.SweepProgress), msg
        if msg.computed == 4:
            break
    writer = _open_writer(hold)  # a worker holds its set now
    # the sweep process's child is its fork server; the pool's workers are the fork server's
    workers = [w for server in _children(first.process.pid) for w in _children(server)]
    assert len(workers) == 2 and all(_alive(w) for w in workers)
    try:
        first.stop()  # SIGTERM, then waits for the process (with a safety kill at 120 s)
        assert first.process.returncode == 0  # it ended by itself: no safety kill
        assert until(SweepFailed)[-1].message == STOPPED
        assert not [w for w in workers if _alive(w)]  # ended with the sweep, not left holding their sets
    finally:  # released whatever happened: a worker left behind runs on and ends (its parent is gone)
        hold.unlink()
        os.close(writer)
    first._reader.join()  # the end of its stdout: nothing holds the pipe any more
    assert len(table_rows(job.table)) == 4
    again = SweepProcess(job, messages.put)
    again.start()
    done = until(SweepDone)[-1]
    again._reader.join()
    assert done.computed == 2 and done.rows == 6
