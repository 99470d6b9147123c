"""Redrawing panes whose content did not change repaints nothing (issue 14 item 2).

The dashboard names its panes and gives them their lines at every redraw. Textual repaints a
widget at each set of its border title, each ``refresh``, each ``Static.update``, even when the
value is the same. So a redraw of unchanged panes repainted 34 widgets, about 20 ms at 120x40,
several times a second during a run and in every redraw of a session left open."""

from __future__ import annotations

import pytest
from conftest import backtest_demo, demo_app, wait_until
from rich.text import Text
from screen_text import screen_lines
from textual.app import App, ComposeResult
from textual.strip import Strip
from textual.widget import Widget

from console.state import Part
from console.widgets.base import ResizingTable
from console.widgets.panes import SignalsPane


async def test_a_redraw_of_unchanged_panes_repaints_nothing_and_a_change_still_shows(
    tmp_path, no_settings, monkeypatch
) -> None:
    app = demo_app(dump_dir=tmp_path / "dump")
    async with app.run_test(size=(120, 40)) as pilot:
        await backtest_demo(pilot)
        await pilot.pause()
        app.dashboard.redraw(Part.ALL)
        await pilot.pause()

        repainted: list[str] = []
        original = Widget.refresh

        def counted(self, *args, **kwargs):
            repainted.append(f"{type(self).__name__}#{self.id}")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Widget, "refresh", counted)
        app.dashboard.redraw(Part.ALL)
        assert repainted == []

        # another run selected: its panes are named and filled again
        signals = app.dashboard.query_one(SignalsPane)
        before = signals.border_title
        await pilot.press("down")
        await wait_until(pilot, lambda: signals.border_title != before)  # once the keys stop
        assert any(name.startswith("SignalsPane") for name in repainted)


async def test_a_theme_change_draws_the_unchanged_equity_chart_in_the_new_colours(tmp_path, no_settings) -> None:
    """The equity chart skips a repaint while its points are the same; its colours come from
    the theme, so a theme change must still draw it again (Textual repaints every widget when
    the theme's styles change: the skip does not leave it in the old colours)."""
    from textual.geometry import Region

    from console.widgets.base import theme_style
    from console.widgets.charts import EquityChart

    app = demo_app(dump_dir=tmp_path / "dump")
    async with app.run_test(size=(120, 40)) as pilot:
        await backtest_demo(pilot)
        await pilot.pause()
        chart = app.dashboard.query_one(EquityChart)

        def colours() -> set:
            strips = chart.render_lines(Region(0, 0, chart.size.width, chart.size.height))
            return {seg.style.color for strip in strips for seg in strip if seg.style and seg.style.color}

        before = theme_style(chart, "error").color
        assert before in colours()
        await pilot.press("t")
        after = theme_style(chart, "error").color
        assert after != before
        await wait_until(pilot, lambda: after in colours())
        assert before not in colours()


@pytest.mark.parametrize("tab", ["tab-heatmap", "tab-partial", "tab-risk"])
async def test_a_hidden_analysis_pane_is_not_filled_at_a_runs_end_but_when_its_tab_comes_to_the_front(
    tmp_path, no_settings, tab
) -> None:
    """A run's end redraws every pane. An analysis pane filled there for the first time while
    its tab was hidden (a short run's panes are first drawn at its end) swapped its empty line for
    its table, and that change of ``display`` laid out the whole screen in the run's last paint.
    It is filled when its tab comes to the front."""
    from textual.widgets import TabbedContent

    from console.screens.dashboard import TAB_OF

    pane_type = next(pane for pane, tab_id in TAB_OF.items() if tab_id == tab)
    app = demo_app(dump_dir=tmp_path / "dump")
    async with app.run_test(size=(120, 40)) as pilot:
        await backtest_demo(pilot)
        await pilot.pause()
        pane = app.dashboard.query_one(pane_type)
        tabs = app.dashboard.query_one(TabbedContent)
        assert tabs.active != tab
        assert pane.table.row_count == 0

        tabs.active = tab
        await wait_until(pilot, lambda: pane.table.row_count > 0)


@pytest.fixture
def rendered_lines(monkeypatch) -> list[int]:
    """The lines (``y``) the next paints render of every ResizingTable, in order."""
    rendered: list[int] = []
    original = ResizingTable.render_line

    def render_line(self, y: int) -> Strip:
        rendered.append(y)
        return original(self, y)

    monkeypatch.setattr(ResizingTable, "render_line", render_line)
    return rendered


async def test_a_changed_cell_paints_its_row_again_not_the_whole_table(rendered_lines: list[int]) -> None:
    """``ResizingTable.update_cell``: the next paint renders the cell's row alone (DataTable
    renders every line of the table), and the screen shows the new value; a cell that may widen
    its column paints the table again, as before."""

    class TableApp(App):
        def compose(self) -> ComposeResult:
            yield ResizingTable(cursor_type="none", show_cursor=False)

    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(ResizingTable)
        table.add_column("Run", key="run", width=10)
        table.add_column("State", key="state", width=10)
        for n in range(8):
            table.add_row(f"run {n}", "running", key=f"r{n}")
        await pilot.pause()
        rendered_lines.clear()
        table.update_cell("r3", "state", Text("done"))
        await pilot.pause()
        assert rendered_lines == [4]  # row 3, under the header
        assert "done" in screen_lines(app)[4] and "running" in screen_lines(app)[3]
        rendered_lines.clear()
        table.update_cell("r5", "state", "stopped", update_width=True)
        await pilot.pause()
        assert len(rendered_lines) >= 9  # the header and every row
        assert "stopped" in screen_lines(app)[6]


async def test_a_run_that_moves_on_paints_its_progress_row_again_not_the_others(rendered_lines: list[int]) -> None:
    """The Progress pane updates a run's cell in place while its rows and width stay: the next
    paint renders that run's two lines, and shows its new state; a new run lays the pane out
    afresh (every line)."""
    from console.state import DashboardState, RunView
    from console.widgets.panes import ProgressPane

    class PaneApp(App):
        def compose(self) -> ComposeResult:
            yield ProgressPane()

    state = DashboardState()
    for n in range(3):
        state.add_run(RunView(f"r{n}", "backtest", "BTCUSDT", f"s{n}", "x", status="running", total=100))
    app = PaneApp()
    async with app.run_test(size=(60, 14)) as pilot:
        pane = app.query_one(ProgressPane)
        pane.refresh_from(state, 0.0)
        await pilot.pause()
        rendered_lines.clear()
        run = state.runs["r1"]
        run.progress, run.processed = 0.42, 42
        pane.refresh_from(state, 0.0)
        await pilot.pause()
        assert sorted(rendered_lines) == [2, 3]  # the second run's two lines (no header)
        assert any("42%" in line for line in screen_lines(app))
        rendered_lines.clear()
        state.add_run(RunView("r3", "backtest", "BTCUSDT", "s3", "x", status="running", total=100))
        pane.refresh_from(state, 0.0)
        await pilot.pause()
        assert len(rendered_lines) >= 8  # laid out afresh


async def test_a_pane_that_empties_keeps_its_columns_and_shows_its_rows_again_when_they_come() -> None:
    """A backtest's last position goes as it ends: its pane shows its empty line. Laying its
    columns out again for no rows (each column's label parsed anew) took ~5 ms of the redraw
    that shows the run done; the table keeps its columns, and rows that come back are shown."""
    from console.state import DashboardState, PositionView, RunView
    from console.widgets.panes import PositionsPane

    class PaneApp(App):
        def compose(self) -> ComposeResult:
            yield PositionsPane()

    state = DashboardState()
    state.add_run(RunView("r0", "backtest", "BTCUSDT", "s0", "x", status="running", total=100))

    def hold(sid: str, entry: float) -> None:
        state.positions[("r0", sid)] = PositionView(
            "r0", sid, "BTCUSDT", "s0", "long", entry, entry * 1.02, entry * 0.98, entry * 1.01, 0, 60_000, 1.0
        )

    app = PaneApp()
    async with app.run_test(size=(100, 10)) as pilot:
        pane = app.query_one(PositionsPane)
        hold("a", 100.0)
        pane.refresh_from(state, None)
        await pilot.pause()
        columns = list(pane.table.columns)
        added: list[str] = []
        original = ResizingTable.add_column

        def add_column(self, *args, **kwargs):
            added.append(str(kwargs.get("key")))
            return original(self, *args, **kwargs)

        ResizingTable.add_column = add_column  # type: ignore[method-assign]
        try:
            state.positions.clear()
            pane.refresh_from(state, None)
            await pilot.pause()
            assert added == [] and list(pane.table.columns) == columns
            assert pane.table.row_count == 0 and pane.shows_empty
            assert any("No open positions." in line for line in screen_lines(app))
            hold("b", 101.0)
            pane.refresh_from(state, None)
            await pilot.pause()
        finally:
            ResizingTable.add_column = original  # type: ignore[method-assign]
        assert pane.table.row_count == 1 and not pane.shows_empty
        assert any("101" in line for line in screen_lines(app))


async def test_a_table_pane_fills_and_empties_without_laying_out_the_screen_until_a_scrollbar_comes() -> None:
    """Its note is drawn in its table (no line of its own shown and hidden) and the table takes
    its new size quietly while its scrollbars stay: a position, three, none, one again lay
    nothing out. More rows than fit bring a scrollbar, which moves the content: laid out then."""
    from test_log_view import Layouts

    from console.state import DashboardState, PositionView, RunView
    from console.widgets.panes import PositionsPane

    class PaneApp(App):
        def compose(self) -> ComposeResult:
            yield PositionsPane()

    state = DashboardState()
    state.add_run(RunView("r0", "backtest", "BTCUSDT", "s0", "x", status="running", total=100))

    def hold(count: int) -> None:
        state.positions.clear()
        for n in range(count):
            entry = 100.0 + n
            state.positions[("r0", f"s{n}")] = PositionView(
                "r0", f"s{n}", "BTCUSDT", "s0", "long", entry, entry * 1.02, entry * 0.98, entry, 0, 60_000, 1.0
            )

    app = PaneApp()
    async with app.run_test(size=(100, 10)) as pilot:
        pane = app.query_one(PositionsPane)
        await wait_until(pilot, lambda: not app.screen._layout_required and pane.table.size.width > 0)
        assert pane.shows_empty and any("No open positions." in line for line in screen_lines(app))
        layouts = Layouts(app.screen)
        for count in (1, 3, 0, 1):
            hold(count)
            pane.refresh_from(state, None)
            await pilot.pause()
            assert pane.table.row_count == count and pane.shows_empty == (count == 0)
            lines = "\n".join(screen_lines(app))
            assert ("No open positions." in lines) == (count == 0) and ("100" in lines) == (count > 0)
        assert layouts.count == 0
        hold(20)  # more rows than the pane's 8 lines
        pane.refresh_from(state, None)
        await wait_until(pilot, lambda: pane.table.show_vertical_scrollbar)
        assert layouts.count >= 1


async def _cells_both_ways(cursor_type: str, column: int, height: int, cells: list[object]) -> set[int]:
    """Each cell of ``cells`` (a row each, ``height`` lines high, in a column ``column`` wide) as
    ``ResizingTable._render_cell`` makes it and as DataTable's own makes it through Rich, under
    the cursor and the hover or not: asserted equal character by character and style by style.
    Returns the rows whose cell ours handed on to DataTable's."""
    from textual.widgets import DataTable

    class TableApp(App):
        def compose(self) -> ComposeResult:
            yield ResizingTable(cursor_type=cursor_type, zebra_stripes=False)

    def flat(lines) -> list[list[tuple[str, object]]]:
        return [[(ch, seg.style) for seg in line for ch in seg.text] for line in lines]

    app = TableApp()
    async with app.run_test(size=(40, 24)) as pilot:
        table = app.query_one(ResizingTable)
        table.add_column("c", key="c", width=column)
        for n, cell in enumerate(cells):
            table.add_row(cell, key=str(n), height=height)
        await pilot.pause()
        width = table.columns["c"].get_render_width(table)
        base = table.rich_style
        general = DataTable._render_cell
        passed_on: set[int] = set()

        def counted(self, row, *args):
            passed_on.add(row)
            return general(self, row, *args)

        DataTable._render_cell = counted  # type: ignore[method-assign]
        try:
            for row in range(len(cells)):
                for cursor in (False, True):
                    for hover in (False, True):
                        table._cell_render_cache.clear()
                        ours = table._render_cell(row, 0, base, width, cursor, hover)
                        table._cell_render_cache.clear()
                        theirs = general(table, row, 0, base, width, cursor, hover)
                        assert flat(ours) == flat(theirs), (cells[row], cursor, hover)
        finally:
            DataTable._render_cell = general  # type: ignore[method-assign]
    return passed_on


@pytest.mark.parametrize("cursor_type", ["row", "none"])
async def test_a_table_cells_fast_segments_are_datatables_own_cell_by_cell(cursor_type: str) -> None:
    """``ResizingTable._render_cell`` builds a one-line cell that fits directly; every cell is
    the one DataTable renders through Rich, character by character and style by style: empty,
    one short of its column, exactly as wide, one wider, wide characters, a style with a
    background, markup, runs of styles over a style, a right-justified number, a newline, under
    the cursor and the hover."""
    from rich.text import Text

    cells: list[object] = [
        None,
        "",
        "abc",
        "abcd",  # exactly the column's room (6 - 2 * padding)
        "abcde",  # one over: cut
        "日本",
        "日本x",
        Text("abcd", style="bold red on blue"),
        Text("ab", style=""),
        "[b]ab[/b]",
        12.5,
        Text("ab", justify="right"),
        Text("a\nb"),
        Text("a\tb"),
        Text.assemble(("█", "green on black"), (" ok", "dim")),  # a bar and its label
        Text.assemble(("ab", "bold"), ("cd", "red"), style="on blue"),  # spans over a style, exact fit
        Text.assemble(("ab", "bold"), ("cde", "red")),  # spans, one over
    ]
    passed_on = await _cells_both_ways(cursor_type, 4, 1, cells)
    # the fast path took the one-line cells that fit (the others went the general way)
    assert not passed_on & {0, 1, 2, 3, 5, 7, 8, 9, 14, 15}
    assert {4, 6, 13, 16} <= passed_on


async def test_a_two_line_cells_fast_segments_are_datatables_own_cell_by_cell() -> None:
    """The same for rows two lines high (the Progress pane's: a run's name over its bar): a
    line each that fits goes the direct way; a line too long, one line in a two-line row, three
    lines, a blank line or a tab go Rich's. Every cell equals DataTable's own, cursor or not."""
    from rich.text import Text

    bar = Text.assemble(("██", "green"), " ", ("done", "green"), (" 1s", "dim"))  # 9 cells
    cells: list[object] = [
        Text.assemble(Text("BTC x", style="bold"), "\n", bar),
        Text.assemble(Text("BTC x", style="bold"), "\n", Text("12345678901")),  # 11: one over
        Text("one line"),
        Text("a\nb\nc"),
        Text("a\n"),
        Text("a\n\tb"),
        Text("ab\ncd", style="red on white"),
    ]
    passed_on = await _cells_both_ways("row", 10, 2, cells)
    assert not passed_on & {0, 6}
    assert {1, 2, 3, 5} <= passed_on


async def test_a_widget_works_its_style_out_once_a_paint_and_draws_the_same(tmp_path, no_settings, monkeypatch) -> None:
    """The equity chart, the logs and the tables read their Rich style for each line they draw
    (Textual walks every ancestor for it); within one ``render_lines`` it is worked out once
    (``StyleOncePerPaint``), and the lines are the ones a read a line gives."""
    from textual.dom import DOMNode
    from textual.geometry import Region

    from console.widgets.charts import EquityChart
    from console.widgets.log_view import LogView
    from console.widgets.paint_style import StyleOncePerPaint

    app = demo_app(dump_dir=tmp_path / "dump")
    async with app.run_test(size=(120, 40)) as pilot:
        await backtest_demo(pilot)
        await pilot.pause()
        chart = app.dashboard.query_one(EquityChart)
        log = app.dashboard.query_one(SignalsPane).table
        progress = app.dashboard.query_one("#progress").table
        widgets = (chart, log, progress)
        assert all(isinstance(w, StyleOncePerPaint) for w in widgets)

        reads: dict[int, int] = {}
        plain = DOMNode.rich_style.fget

        def counted(self):
            reads[id(self)] = reads.get(id(self), 0) + 1
            return plain(self)

        def drawn_afresh(widget) -> list[Strip]:
            if isinstance(widget, EquityChart):
                widget._strips = None
            elif isinstance(widget, LogView):
                widget._rows.clear()
            else:
                widget._line_cache.clear()
            widget.refresh()
            return widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))

        monkeypatch.setattr(DOMNode, "rich_style", property(counted))
        once = {}
        for widget in widgets:
            reads.clear()
            once[id(widget)] = drawn_afresh(widget)
            assert len(once[id(widget)]) >= 7 and reads[id(widget)] == 1
        assert log.rich_style == plain(log)  # outside a paint: worked out at each read
        # a read a line, as before: the same lines
        monkeypatch.setattr(StyleOncePerPaint, "rich_style", property(counted))
        for widget in widgets:
            reads.clear()
            assert drawn_afresh(widget) == once[id(widget)]
            assert reads[id(widget)] >= 7


async def test_the_signal_logs_widths_are_the_widths_its_cells_are_drawn_at(tmp_path, no_settings) -> None:
    """The Signals log measures its detail column alone (``SignalsPane.widths``; its other
    columns are fixed): the same width its cells are drawn at (wide characters count two), and
    the fixed columns hold the widest value each can show."""
    from console.state import LogLine
    from console.widgets.base import LogPane

    app = demo_app(dump_dir=tmp_path / "dump")
    async with app.run_test(size=(120, 40)) as pilot:
        await backtest_demo(pilot)
        pane = app.dashboard.query_one(SignalsPane)
        details = ["at 1,234.50", "take_profit", "限价 at 9.99", "x" * 70, "ab\u0301c"]
        kinds = list(SignalsPane.KIND_STYLE)
        lines = [
            LogLine(f"k{i}", 86_399_999 + i, kinds[i % len(kinds)], "r", "BTCUSDT", "s", side, d, pnl)
            for i, (d, side, pnl) in enumerate(
                (d, side, pnl) for d in details for side in ("long", "short", "") for pnl in (None, -100.0, 12.5)
            )
        ]
        for some in (lines, lines[:1], lines[3:9]):
            generic = LogPane.widths(pane, some)  # from the cells as drawn
            assert pane.widths(some)[3] == generic[3]
            keys = [k for k, _ in pane.COLUMNS]
            assert all(generic[keys.index(k)] <= width for k, width in pane.FIXED.items())


async def test_an_engine_batch_goes_to_the_dashboard_alone(tmp_path, no_settings, monkeypatch) -> None:
    """The bridge posts its batches to the dashboard, which alone handles them: a fast run posts
    one a worker's message, and each went through the bridge and on up to the app before."""
    from textual.message_pump import MessagePump

    from console.messages import EngineBatch
    from console.screens.dashboard import DashboardScreen

    seen: list[str] = []
    original = MessagePump._dispatch_message

    async def noted(self, message):
        if isinstance(message, EngineBatch):
            seen.append(type(self).__name__)
        return await original(self, message)

    monkeypatch.setattr(MessagePump, "_dispatch_message", noted)
    app = demo_app(dump_dir=tmp_path / "dump")
    async with app.run_test(size=(120, 40)) as pilot:
        await backtest_demo(pilot)
        await pilot.pause()
    assert seen and set(seen) == {DashboardScreen.__name__}
