"""The logs' line widget (console/widgets/log_view.py) in the Signals pane, driven by a pilot:
only what is on screen is rendered, it follows the newest line until scrolled up, every line of a
flood stays reachable, the focused log's cursor picks trades, and a resize cuts the detail again."""

from __future__ import annotations

from conftest import demo_app
from screen_text import screen_lines
from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Button

from console.state import LogLine, Part, RunView
from console.widgets.panes import SignalsPane

T0 = 1_700_000_000_000


def line(n: int, detail: str | None = None, kind: str = "OPENED") -> LogLine:
    return LogLine(
        f"k{n}",
        T0 + n * 60_000,
        kind,  # type: ignore[arg-type]
        "run",
        "BTCUSDT",
        "s",
        "long",
        detail if detail is not None else f"line {n:05d}",
        pnl=-0.5 if kind == "CLOSED" else None,
        signal_id=f"sig{n}",
    )


class LogApp(App):
    CSS = "SignalsPane { height: 1fr; border: round white; } Button { height: 3; }"

    def __init__(self) -> None:
        super().__init__()
        self.picked: list[str] = []

    def compose(self) -> ComposeResult:
        yield Button("elsewhere")
        yield SignalsPane()

    def on_signals_pane_trade_picked(self, message: SignalsPane.TradePicked) -> None:
        self.picked.append(message.signal_id)


def shown(app: App) -> str:
    return "\n".join(screen_lines(app))


async def show_first(pilot, pane: SignalsPane, count: int, start: int = 0):
    """Lines ``start`` to ``start + count - 1`` in the pane, drawn; returns its log widget."""
    pane.show_lines([line(n) for n in range(start, start + count)])
    await pilot.pause()
    return pane.table


async def test_a_flood_renders_only_the_screen_follows_the_newest_and_keeps_every_line() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(SignalsPane)
        view = pane.table
        lines = [line(n) for n in range(5_000)]
        pane.show_lines(lines)
        await pilot.pause()
        text = shown(app)
        assert "line 04999" in text and "line 00000" not in text  # anchored at the newest line
        # adding 5,000 lines rendered only the screen's worth (a DataTable built every row)
        assert 0 < view.rendered <= 3 * view.size.height  # (a first frame may come before the layout)
        assert "Time" in text and "Detail" in text and "PnL" in text  # the header row

        view.focus()
        await pilot.pause()
        await pilot.press("home")
        await pilot.pause()
        assert "line 00000" in shown(app)  # the flood's first line is still there (no four-screen limit)
        assert not view.following
        pane.show_lines([*lines, line(5_000)])  # scrolled up: a new line does not move the view
        await pilot.pause()
        assert "line 00000" in shown(app) and "line 05000" not in shown(app)
        await pilot.press("end")
        await pilot.pause()
        assert view.following and "line 05000" in shown(app)
        pane.show_lines([*lines, line(5_000), line(5_001)])  # back at the end: it follows again
        await pilot.pause()
        assert "line 05001" in shown(app)


async def test_the_mouse_wheel_scrolls_up_through_a_flood_to_its_first_line() -> None:
    """The DataTable logs held only their newest four screens during a flood, so the wheel
    stopped there; every line is in the log now."""
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(SignalsPane)
        pane.show_lines([line(n) for n in range(300)])
        await pilot.pause()
        view = pane.table
        # more wheel notches than the log has lines, through the screen as a terminal's wheel
        # (the pilot has no public wheel)
        await pilot._post_mouse_events([events.MouseScrollUp], widget=view, offset=(5, 5), times=400)
        await pilot.pause()
        assert view.scroll_y == 0 and "line 00000" in shown(app)
        assert not view.following


async def test_old_lines_falling_out_keep_what_the_reader_reads_in_place() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(SignalsPane)
        view = await show_first(pilot, pane, 500)
        view.focus()
        await pilot.pause()
        await pilot.press("home")
        for _ in range(10):
            await pilot.press("pagedown")
        await pilot.pause()
        top = view.lines[round(view.scroll_y)].key
        await show_first(pilot, pane, 500, start=50)  # a capped log moved on by 50 lines
        assert view.lines[round(view.scroll_y)].key == top


async def test_the_focused_log_has_a_cursor_that_picks_trades_as_it_moves() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(SignalsPane)
        view = await show_first(pilot, pane, 100)
        assert not view.show_cursor and app.picked == []
        for _ in range(3):  # Tab reaches the log
            if view.has_focus:
                break
            await pilot.press("tab")
            await pilot.pause()
        assert view.has_focus and view.show_cursor
        assert view.cursor_row == 99 and app.picked == ["sig99"]  # on the newest line
        await pilot.press("up", "up")
        await pilot.pause()
        assert view.cursor_row == 97 and app.picked[-2:] == ["sig98", "sig97"]
        await pilot.press("home")
        await pilot.pause()
        assert view.cursor_row == 0 and app.picked[-1] == "sig0" and "line 00000" in shown(app)
        await pilot.press("pagedown")
        await pilot.pause()
        # a page moves the view and the cursor with it: the cursor stays on the screen's first row
        assert view.cursor_row == view.page and round(view.scroll_y) == view.page
        assert app.picked[-1] == f"sig{view.page}"
        await pilot.press("shift+tab")  # the focus goes: no cursor
        await pilot.pause()
        assert not view.show_cursor


async def test_a_resize_cuts_the_detail_to_the_new_room_and_keeps_pnl_in_view() -> None:
    app = LogApp()
    long = "stop_loss hit after a very long and winding story about the market " * 2
    async with app.run_test(size=(120, 24)) as pilot:
        pane = app.query_one(SignalsPane)
        view = pane.table
        pane.show_lines([line(0, "short"), line(1, long, kind="CLOSED")])
        await pilot.pause()
        wide = dict(zip(view.labels, view.widths))["Detail"]
        assert view.row_width <= view.scrollable_content_region.width
        assert "-0.50%" in shown(app)
        await pilot.resize_terminal(70, 24)
        await pilot.pause()
        narrow = dict(zip(view.labels, view.widths))["Detail"]
        assert narrow < wide and view.row_width <= view.scrollable_content_region.width
        text = shown(app)
        assert "-0.50%" in text and "…" in text  # PnL still shown, the detail cut with an ellipsis


async def test_an_empty_log_shows_its_note_and_another_run_starts_at_its_newest_line() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(SignalsPane)
        pane.show_lines([])
        await pilot.pause()
        assert "Opens, closes and cancellations appear here." in shown(app)
        pane.show_lines([line(n) for n in range(200)])
        await pilot.pause()
        pane.table.focus()
        await pilot.press("home")
        await pilot.pause()
        other = [line(n, f"other {n:03d}") for n in range(1_000, 1_100)]
        pane.show_lines(other)  # another run's log: its newest line, whatever was read before
        await pilot.pause()
        assert "other 1099" in shown(app) and pane.table.following


async def test_the_log_follows_its_newest_line_as_it_first_overflows() -> None:
    """The first refresh that makes the log taller than its pane comes before the layout gives the
    view a scrollbar; Textual refuses a scroll then, unless forced (the demo's log stopped short of
    its newest lines at 160x50)."""
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(SignalsPane)
        for count in (3, 10, 20, 40):
            pane.show_lines([line(n) for n in range(count)])
            await pilot.pause()
            assert f"line {count - 1:05d}" in shown(app), count
            assert pane.table.following


class Layouts:
    """Counts the screen's layouts (``Screen._refresh_layout``), the pass a changed
    ``virtual_size`` used to ask for at every redraw of a growing log."""

    def __init__(self, screen) -> None:
        self.count = 0
        original = screen._refresh_layout

        def counted(*args, **kwargs):
            self.count += 1
            return original(*args, **kwargs)

        screen._refresh_layout = counted


async def settle(pilot, widget) -> None:
    """Until the screen and ``widget`` have no layout, scroll or repaint left to do: the screen's
    update timer runs when the event loop gets to it, later than ``pause`` on a loaded machine."""
    screen = pilot.app.screen
    for _ in range(500):
        await pilot.pause()
        pending = screen._layout_required or screen._scroll_required or screen._repaint_required
        if not (pending or screen._dirty_widgets or widget._layout_required):
            return
    raise AssertionError("the screen never settled")


async def test_a_log_grows_and_shrinks_without_laying_out_the_screen() -> None:
    """Its scrollbar is always there (a log that outgrew its pane got one mid-run, and Textual
    laid the screen out three times for it): from empty to 100 lines, 300, then 2 and empty
    again, nothing is laid out, and the size, the thumb and the newest line follow."""
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(SignalsPane)
        view = pane.table
        await settle(pilot, view)
        assert view.show_vertical_scrollbar and pane.shows_empty
        layouts = Layouts(app.screen)
        await show_first(pilot, pane, 100)
        assert view.show_vertical_scrollbar and not pane.shows_empty
        await show_first(pilot, pane, 300)
        assert view.virtual_size.height == 301
        assert view.vertical_scrollbar.window_virtual_size == 301
        assert view.scroll_y == view.max_scroll_y > 0
        assert "line 00299" in shown(app)
        await show_first(pilot, pane, 2)
        assert view.show_vertical_scrollbar and view.scroll_y == 0
        assert "line 00001" in shown(app)
        pane.show_lines([])
        await settle(pilot, view)
        assert pane.shows_empty and pane.empty_text in shown(app)
        assert layouts.count == 0


async def test_a_fold_into_the_dashboards_logs_draws_nothing_early_and_lays_nothing_out() -> None:
    """On the dashboard (its paced drawing an hour away): folds into the Signals log, its first
    lines and then more than it has rows, are drawn at the paced drawing, not as they come (its
    note is drawn in the log, whose scrollbar is always there: no layout to get out of the way
    early), and neither the folds nor that drawing lay the screen out."""
    app = demo_app(refresh_interval=3600.0)
    async with app.run_test(size=(120, 40)) as pilot:
        dashboard, state = app.dashboard, app.state
        state.add_run(RunView("run", "backtest", "BTCUSDT", "s", "x", status="running"))
        app.session.selected = "run"
        pane = dashboard.query_one(SignalsPane)
        view = pane.table
        await settle(pilot, view)
        layouts = Layouts(app.screen)

        def fold(first: int, count: int) -> None:
            for n in range(first, first + count):
                state.signal_log.add(line(n))
            dashboard._undrawn |= Part.LOG
            dashboard._draw_layout_changes()

        fold(0, 2)  # the pane's first lines
        fold(2, 60)  # more lines than rows
        await settle(pilot, view)
        assert pane.shows_empty and view.virtual_size.height == 1
        dashboard.redraw(Part.LOG)  # the paced drawing: every line
        await settle(pilot, view)
        assert not pane.shows_empty and view.virtual_size.height == 63 and view.show_vertical_scrollbar
        assert "line 00061" in shown(app)
        assert layouts.count == 0


async def test_a_rows_cells_are_the_general_paths_segments_at_every_boundary() -> None:
    """``LogView._row`` builds a one-line cell that fits directly; each row equals the one
    ``cell_segments`` (cut with an ellipsis, styled by Rich) makes: cells one short of their
    column, exactly as wide, one wider, wide characters, a styled and a spanned text, a newline."""
    from rich.style import Style
    from rich.text import Text

    from console.widgets.log_view import CELL_PADDING, LogView, cell_segments

    app = LogApp()
    async with app.run_test(size=(80, 24)):
        view = app.query_one(LogView)
        width = 6
        view.widths = (width,)
        red = Style(color="red", bold=True)
        spanned = Text("ab")
        spanned.stylize("green", 0, 1)
        cells: list[object] = [
            "",
            "abcde",
            "abcdef",
            "abcdefg",
            "日本語",  # 6 cells: exactly the column
            "日本語x",  # 7: cut
            Text("abcdef", style=red),
            Text("abcdefg", style="red"),
            Text("abc", style=""),
            spanned,
            "a\nb",
            12.5,
        ]
        for cell in cells:
            want = cell_segments(app.console, cell, width)
            got = list(view._row([cell]))
            assert got[0].text == " " * CELL_PADDING
            assert got[1:] == want, cell


async def test_a_log_with_a_fixed_scrollbar_is_never_due_one_and_counts_no_lines() -> None:
    """The dashboard asks each undrawn pane at every fold whether a scrollbar would come or go;
    a log whose scrollbar is always there answers no without counting its lines. Were its
    overflow ``auto``, more lines than its rows would be due one (the general rule)."""
    from console.state import DashboardState

    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(SignalsPane)
        state = DashboardState()
        state.add_run(RunView("run", "backtest", "BTCUSDT", "s", "x", status="running"))
        for n in range(100):
            state.signal_log.add(line(n))
        counted: list[str | None] = []
        count = pane.line_count
        pane.line_count = lambda s, run: counted.append(run) or count(s, run)  # type: ignore[method-assign]
        assert not pane.scrollbar_due(state, "run") and counted == []
        pane.table.styles.overflow_y = "auto"
        await pilot.pause()
        assert pane.scrollbar_due(state, "run") and counted == ["run"]
