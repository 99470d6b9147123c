"""The Scheduled pane follows the selected run: a finished backtest's ``✗ timeout`` rows are not
listed while a live run is selected, and come back when the backtest is selected again."""

from __future__ import annotations

import pytest
from conftest import demo_app, finish_runs, wait_until
from screen_text import screen_lines

from console.screens.dashboard import SELECTION_SETTLE_S
from console.state import Part, RunView
from console.widgets.panes import RunsPane, ScheduledPane

SIZES = [(80, 24), (160, 50)]


def pane_text(app) -> str:
    pane = app.screen.query_one(ScheduledPane)
    region = pane.region
    lines = screen_lines(app)[region.y : region.bottom]
    return "\n".join(line[region.x : region.right] for line in lines)


@pytest.mark.parametrize("size", SIZES)
async def test_a_live_run_selected_hides_the_finished_backtests_cancellations(no_settings, size) -> None:
    app = demo_app()
    app.project.ui["last_backtest"] = {"symbol": "BTCUSDT", "strategy": "demo-meanrev"}
    async with app.run_test(size=size) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        backtest = "backtest:BTCUSDT:demo-meanrev"
        assert app.session.selected == backtest
        assert "✗ timeout" in pane_text(app)  # the backtest's own cancellations
        live = RunView(
            id="live:ETHUSDT:demo-trend",
            mode="live",
            symbol="ETHUSDT",
            name="demo-trend",
            exchange="demo-synthetic",
            status="running",
        )
        app.state.add_run(live)
        app.session.selected = live.id  # as starting a live run selects it (app.start_live)
        app.dashboard.show(Part.ALL)
        await pilot.pause()
        table = app.screen.query_one(ScheduledPane).table
        assert table.row_count == 0
        assert "✗" not in pane_text(app)
        runs = app.screen.query_one(RunsPane)
        runs.table.focus()
        await pilot.press("up")  # the Runs pane's cursor back on the backtest
        await wait_until(pilot, lambda: app.session.selected == backtest)
        await pilot.pause(SELECTION_SETTLE_S * 3)
        assert "✗ timeout" in pane_text(app), "\n".join(screen_lines(app))


def test_cancellations_are_kept_per_run_and_a_new_run_of_the_pair_starts_afresh() -> None:
    from console.state import RECENT_CANCELLATIONS, CancelView, DashboardState

    state = DashboardState()
    for rid in ("a", "b"):
        state.add_run(RunView(id=rid, mode="backtest", symbol="X", name=rid, exchange="e"))
    for i in range(RECENT_CANCELLATIONS + 2):
        for rid in ("a", "b"):
            state._cancelled.setdefault(rid, __import__("collections").deque(maxlen=RECENT_CANCELLATIONS)).append(
                CancelView(rid, f"{rid}{i}", "X", rid, "long", 1.0, 1.0, "timeout", i * 10 + (rid == "b"))
            )
    assert [c.signal_id for c in state.cancelled_of("a")] == [f"a{i}" for i in range(2, RECENT_CANCELLATIONS + 2)]
    every = state.cancelled_of(None)
    assert len(every) == RECENT_CANCELLATIONS and every[-1].signal_id == f"b{RECENT_CANCELLATIONS + 1}"
    state.add_run(RunView(id="a", mode="backtest", symbol="X", name="a", exchange="e"))
    assert state.cancelled_of("a") == []
