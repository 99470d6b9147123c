"""The trade inspector (``i``) and issue 14 item 14 (equity chart, leaderboard, frame picker),
driven through the real app on the demo project."""

from __future__ import annotations

import pytest
from conftest import demo_app, finish_runs, fixed_clock, wait_until
from rich.text import Text
from screen_text import screen_strips, screen_text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

import engine
from console.app import BtkApp
from console.project import load_project
from console.screens.dialogs import HelpScreen, StartDialog
from console.screens.trades import TradesScreen
from console.state import Part, RunView
from console.widgets.base import price, theme_style
from console.widgets.charts import CandleChart, EquityChart
from console.widgets.leaderboard import LeaderboardPane
from console.widgets.panes import EquityPane


async def _backtest_and_inspect(pilot) -> TradesScreen:
    await pilot.press("b", "enter")
    await finish_runs(pilot)
    await pilot.press("i")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, TradesScreen)
    await wait_until(pilot, lambda: screen.charted is not None and screen.charted == screen.window)
    return screen


def _column(table: DataTable, key: str) -> list[str]:
    col = table.get_column_index(key)
    return [str(table.get_cell_at(Coordinate(row, col))) for row in range(table.row_count)]


async def test_i_lists_every_closed_trade_sorts_filters_and_enter_shows_one(no_settings) -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _backtest_and_inspect(pilot)
        run = app.state.runs[app.session.selected]
        closed = {r.signal.id: r for r in engine.Backtest.get_data(run.symbol, run.name).signal_list}
        table = screen.query_one("#trades-table", DataTable)
        assert table.row_count == len(closed) == run.trades > 20  # every trade, not the log's last lines
        assert {str(k.value) for k in table.rows} == set(closed)
        assert _column(table, "number")[:3] == ["1", "2", "3"]  # in close order first
        # every trade carries the milestones the engine recorded for it
        marks = engine.Partial.get_data(run.symbol, run.name, True).event_list
        for t in screen.trades:
            assert sorted((m.time, m.level) for m in t.milestones) == sorted(
                (e.timestamp, e.level) for e in marks if e.signal_id == t.signal_id
            )

        while screen.sort_key != "pnl":  # o cycles the sort column
            await pilot.press("o")
        pnls = [float(x.rstrip("%")) for x in _column(table, "pnl")]
        assert pnls == sorted(pnls) and pnls[0] < 0
        await pilot.press("O")  # reversed
        pnls = [float(x.rstrip("%")) for x in _column(table, "pnl")]
        assert pnls == sorted(pnls, reverse=True)

        await pilot.press("slash", "w", "i", "n", "enter")
        wins = [r for r in closed.values() if r.pnl.pnl_percentage > 0]
        assert table.row_count == len(wins) > 0
        assert all(x.startswith("+") for x in _column(table, "pnl"))  # +0.00%: a win under 0.005%
        assert f"{len(wins)} of {len(closed)} trades" in str(screen.query_one("#trades-title").render())
        assert screen.focused is table  # Enter in the filter went back to the table

        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: screen.selected is not None and screen.charted == screen.window)
        t = screen.selected
        r = closed[t.signal_id]
        assert t.signal_id == str(table.coordinate_to_cell_key(Coordinate(1, 0)).row_key.value)
        detail = str(screen.query_one("#trade-detail").render())
        for wanted in (
            price(r.pnl.price_open),
            price(r.pnl.price_close),
            price(r.signal.price_take_profit),
            price(r.signal.price_stop_loss),
            r.close_reason,
            f"{r.pnl.pnl_percentage:+.2f}%",
            r.signal.note,
            "fees 0.20%",
        ):
            assert wanted in detail, (wanted, detail)
        chart = screen.query_one(CandleChart)  # the chart moved to the trade's life
        assert chart.selected == t and chart.candles is not None
        assert int(chart.candles.time[0]) <= t.opened_at and int(chart.candles.time[-1]) >= t.closed_at - 3_600_000
        assert int(chart.candles.time[-1]) - int(chart.candles.time[0]) < 2 * 86_400_000  # not the whole month
        assert f"trade #{t.number}" in screen.query_one("#candles-pane").border_title
        assert screen.query_one(EquityChart).marker == t.number

        await pilot.press("a")  # the whole run again
        await wait_until(pilot, lambda: screen.charted == screen.window and screen.selected is None)
        frame = next(f for f in engine.list_frames() if f.frame_name == run.frame)
        assert screen.window == (frame.start_ms, frame.end_ms)

        await pilot.press("escape")
        assert app.screen is app.dashboard


async def test_i_without_a_run_says_to_select_one(no_settings) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        await pilot.pause()
        assert app.screen is app.dashboard
        assert any("Select a run first" in n.message for n in app._notifications)


async def test_the_trades_key_is_in_help_and_remappable_with_keys(no_settings) -> None:
    project = load_project(None)
    project.keys = {"trades": "f6"}
    app = BtkApp(project, clock=fixed_clock, save_settings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.keys["trades"] == "f6"
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_table = app.screen.query_one("#help-table", DataTable)
        assert [str(c) for c in help_table.get_row("trades")[:2]] == ["trades", "f6"]
        await pilot.press("escape")
        await pilot.press("i")
        await pilot.pause()
        assert not any("Select a run first" in n.message for n in app._notifications)  # i is free now
        await pilot.press("f6")
        await pilot.pause()
        assert any("Select a run first" in n.message for n in app._notifications)


# --------------------------------------------------------------------------- issue 14 item 14


def _fill_colours(app, widget) -> set[str]:
    """The colours of the filled cells (█) inside ``widget`` as drawn on the screen."""
    region = widget.region
    colours = set()
    for y, strip in enumerate(screen_strips(app)):
        if region.y <= y < region.bottom:
            for seg in strip.crop(region.x, region.right):
                if "█" in seg.text and seg.style and seg.style.color:
                    colours.add(seg.style.color.name)
    return colours


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_an_all_negative_equity_curve_is_labelled_and_drawn_in_the_loss_colour(no_settings, size) -> None:
    """It was a 4-row sparkline without labels, coloured by height: a falling curve was green."""
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        run = RunView("backtest:BTCUSDT:falling", "backtest", "BTCUSDT", "falling", "demo-synthetic", "demo-30d")
        run.status, run.trades, run.total_pnl = "done", 4, -7.5
        run.equity = [-1.0, -3.0, -3.5, -7.5]
        app.state.add_run(run)
        app.session.selected = run.id
        app.dashboard.show(Part.ALL)
        await pilot.pause()
        pane = app.screen.query_one(EquityPane)
        chart = pane.query_one(EquityChart)
        lines = [chart.render_line(y).text for y in range(chart.size.height)]
        assert lines[0].lstrip().startswith("0%┤")
        assert any(line.lstrip().startswith("-7.5%┤") for line in lines)
        error = theme_style(pane, "error").color.name
        success = theme_style(pane, "success").color.name
        assert _fill_colours(app, chart) == {error} and error != success
        if size == (160, 50):  # room for the drawdown under it
            assert any(line.lstrip().startswith("DD┤") for line in lines)


async def test_the_leaderboard_shows_sharpe_once_and_a_negative_best_in_the_loss_colour(no_settings) -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        run = RunView("walker:BTCUSDT:w", "walker", "BTCUSDT", "w", "demo-synthetic", "demo-30d", status="done")
        view = app.state.add_walker(run, "sharpe_ratio", ["a", "b"])
        for name, metric in (("a", -0.5), ("b", -1.25)):
            row = view.rows[name]
            row.status, row.metric, row.sharpe, row.signals, row.total_pnl = "done", metric, metric, 10, -3.0
        view.best, view.complete = "a", True
        app.session.selected = run.id
        app.dashboard.show(Part.ALL)
        await pilot.pause()
        pane = app.screen.query_one(LeaderboardPane)
        labels = [str(c.label) for c in pane.table.ordered_columns]
        assert labels.count("Sharpe") == 1, labels
        best = pane.table.get_cell_at(Coordinate(0, labels.index("Sharpe")))
        assert isinstance(best, Text) and best.plain == "-0.5000"
        colours = {span.style.color.name for span in best.spans if span.style.color} | (
            {best.style.color.name} if not isinstance(best.style, str) and best.style.color else set()
        )
        assert colours == {theme_style(pane, "error").color.name}
        assert str(pane.table.get_cell_at(Coordinate(0, 0))) == "★1"


async def test_the_frame_picker_shows_each_frames_dates(no_settings) -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, StartDialog)
        assert "demo-30d · 2024-01-01 → 2024-01-30 · 1m" in screen_text(app)
