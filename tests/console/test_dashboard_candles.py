"""The candle chart on the dashboard (issue 14 "Charts"): ``v`` turns the Equity pane into the
candles of the selected run's market with its entries and exits marked, and the trade picked in
the Signals log (Tab to the log, arrows) gets its TP, SL and entry drawn and the chart moves to
its life; another run selected, the chart follows it. The PnL line stays under the chart (issue
14 item 4). At 80x24 and 160x50."""

from __future__ import annotations

import pytest
from conftest import backtest_demo, demo_app, finish_runs, wait_until
from screen_text import screen_text
from textual.widgets import DataTable

import engine
from console.screens.dialogs import HelpScreen
from console.widgets.charts import CandleChart, EquityChart
from console.widgets.panes import EquityPane, SignalsPane

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]


async def read_done(pilot, pane: EquityPane, before: int) -> None:
    await wait_until(pilot, lambda: pane.reads > before and not pane.app.workers._workers)


@pytest.mark.parametrize("size", SIZES)
async def test_v_shows_the_selected_runs_candles_and_they_follow_the_picked_trade(tmp_path, no_settings, size):
    app = demo_app(dump_dir=tmp_path / "dump")
    async with app.run_test(size=size) as pilot:
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("enter")  # all three strategies of the demo
        await finish_runs(pilot)
        pane = app.dashboard.query_one(EquityPane)
        rid = app.session.selected
        run = app.state.runs[rid]
        assert pane.view == "equity" and pane.query_one(EquityChart).display

        reads = pane.reads
        await pilot.press("v")
        await read_done(pilot, pane, reads)
        chart = pane.query_one(CandleChart)
        assert pane.view == "candles" and chart.display and not pane.query_one(EquityChart).display
        frame = next(f for f in engine.list_frames() if f.frame_name == run.frame)
        assert chart.candles is not None and int(chart.candles.time[0]) == frame.start_ms  # the whole run
        closed = engine.Backtest.get_data(run.symbol, run.name).signal_list
        assert {t.signal_id for t in chart.trades} == {r.signal.id for r in closed}  # every trade marked
        assert chart.selected is None
        assert pane.border_title.startswith(f"Candles · {run.symbol} ") and "whole run" in pane.border_title
        text = screen_text(app)
        assert "▲" in text or "▼" in text  # entries drawn
        assert f"{run.trades} trades" in text  # the PnL line is still there (issue 14 item 4)
        pnl = f"{run.total_pnl:+.2f}%"
        assert pnl in text

        # Tab to the Signals log: a cursor on the newest line; Up picks an older line's trade
        signals = app.dashboard.query_one(SignalsPane)
        while not signals.table.has_focus:
            await pilot.press("tab")
        table = signals.table
        assert table.show_cursor and table.cursor_row == table.row_count - 1
        reads = pane.reads
        await pilot.press("up", "up")
        line = signals._lines[table.cursor_row]
        assert table.cursor_row == table.row_count - 3 and line.signal_id
        # (the first pick may be read first: at most one read a second, the latest pick last)
        await wait_until(pilot, lambda: chart.selected is not None and chart.selected.signal_id == line.signal_id)
        assert pane.reads > reads
        t = chart.selected
        assert int(chart.candles.time[0]) <= t.opened_at and int(chart.candles.time[-1]) >= t.closed_at - 4 * 3_600_000
        assert int(chart.candles.time[-1]) - int(chart.candles.time[0]) < 5 * 86_400_000  # the trade, not the month
        assert f"trade #{t.number}" in pane.border_title
        text = screen_text(app)
        assert "T" in text.split("Candles")[1] or size[1] < 30  # TP level label (room permitting)

        # v again: the equity chart, with the picked trade marked on it
        await pilot.press("v")
        assert pane.view == "equity"
        await wait_until(pilot, lambda: pane.query_one(EquityChart).marker == t.number)

        # another run selected: the chart follows it, no trade picked
        await pilot.press("v")
        runs = app.dashboard.query_one("RunsPane").query_one(DataTable)
        runs.focus()
        await pilot.press("down")
        await wait_until(pilot, lambda: app.session.selected != rid)
        other = app.state.runs[app.session.selected]
        theirs = {r.signal.id for r in engine.Backtest.get_data(other.symbol, other.name).signal_list}
        # (a read asked for before the move may land first: the chart is waited on, not a count)
        await wait_until(pilot, lambda: {t.signal_id for t in chart.trades} == theirs and chart.selected is None)
        assert pane.trade_id is None and pane.view == "candles"


async def test_the_chart_key_is_in_the_help_and_does_nothing_without_a_run(no_settings) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("v")
        pane = app.dashboard.query_one(EquityPane)
        assert pane.view == "candles" and "Select a run" in screen_text(app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_table = app.screen.query_one("#help-table", DataTable)
        assert [str(c) for c in help_table.get_row("chart")[:2]] == ["chart", "v"]


async def test_redrawing_the_equity_pane_lays_nothing_out_in_either_view(tmp_path, no_settings) -> None:
    """The pane's chart of the other view stays hidden across redraws, and the total line is
    updated in place: before, each redraw showed the hidden chart and hid it again, and each of
    those laid out the whole screen (issue 14 item 2)."""
    from test_log_view import Layouts

    from console.state import Part

    app = demo_app(dump_dir=tmp_path / "dump")
    async with app.run_test(size=(120, 40)) as pilot:
        await backtest_demo(pilot)
        pane = app.dashboard.query_one(EquityPane)
        for view in ("equity", "candles"):
            if pane.view != view:
                await pilot.press("v")
            await pilot.pause()
            shown = {type(w).__name__ for w in (pane.query_one(EquityChart), pane.query_one(CandleChart)) if w.display}
            assert shown == {"EquityChart" if view == "equity" else "CandleChart"}
            layouts = Layouts(app.screen)
            app.dashboard.redraw(Part.EQUITY)
            await pilot.pause()
            app.dashboard.redraw(Part.EQUITY)
            await pilot.pause()
            assert layouts.count == 0, view
            assert pane.query_one(CandleChart).display == (view == "candles")
