"""Shared pieces of the dashboard's panes: a titled pane with an empty state, number formatting,
and colours taken from the current theme (so PnL follows the theme's success/error colours)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from weakref import WeakKeyDictionary

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static

from .log_view import CELL_PADDING, HEADER_ROWS, LogView
from .note import NOTE_CLASS, NoteHolder, note_css
from .paint_style import StyleOncePerPaint
from .scroll_size import bars_fixed, bars_would_change, resized_quietly, scrollbars_stay

cell_len("✓")  # rich reads its table of character widths at the first one it measures: before a run

FINISHED_STYLE = {"failed": "error", "done": "success", "stopped": "warning"}
"""The theme variable that colours each way a run can end."""


_variables: WeakKeyDictionary = WeakKeyDictionary()  # app -> (theme name, its CSS variables)


def theme_variables(widget) -> dict[str, str]:
    """The current theme's CSS variables, computed once per theme: Textual's
    ``get_css_variables()`` builds the whole colour system on every call (about 2 ms), and the
    panes ask for a colour per cell, so calling it per cell made each redraw cost grow with the
    number of runs shown."""
    app = widget.app
    cached = _variables.get(app)
    if cached is None or cached[0] != app.theme:
        cached = _variables[app] = (app.theme, app.get_css_variables())
    return cached[1]


_styles: WeakKeyDictionary = WeakKeyDictionary()  # app -> (theme name, {(variable, bold): Style})


def theme_style(widget, variable: str, bold: bool = False) -> Style:
    """A Rich style in the colour of a theme variable (``success``, ``error``, ``warning``...),
    built once per theme: the logs ask for one per coloured cell."""
    app = widget.app
    cached = _styles.get(app)
    if cached is None or cached[0] != app.theme:
        cached = _styles[app] = (app.theme, {})
    style = cached[1].get((variable, bold))
    if style is None:
        style = cached[1][variable, bold] = _theme_style(widget, variable, bold)
    return style


def _theme_style(widget, variable: str, bold: bool) -> Style:
    value = theme_variables(widget).get(variable)
    if not value:
        return Style(bold=bold)
    try:
        return Style(color=Color.parse(value).rich_color, bold=bold)
    except Exception:  # an exotic value: plain text beats a crash
        return Style(bold=bold)


def scaled_text(widget, text: str, strength: float | None, good: bool) -> Text:
    """``text`` on a background whose strength (0..1) says how good or bad the value is: the
    theme's success or error colour blended into the pane's surface. ANSI themes get three
    steps instead (plain, coloured text, coloured background), as ANSI colours cannot blend."""
    if strength is None:
        return Text(text, style="dim")
    variables = theme_variables(widget)
    try:
        base = Color.parse(variables.get("success" if good else "error", ""))
        surface = Color.parse(variables.get("surface", ""))
    except Exception:  # an exotic theme value: no colour beats a crash
        return Text(text)
    t = max(0.0, min(1.0, strength))
    if base.ansi is not None or surface.ansi is not None:
        if t < 0.15:
            return Text(text)
        if t < 0.6:
            return Text(text, style=Style(color=base.rich_color))
        return Text(text, style=Style(bgcolor=base.rich_color, color="black", bold=True))
    background = surface.blend(base, 0.12 + 0.6 * t)
    return Text(text, style=Style(bgcolor=background.rich_color, color=background.get_contrast_text(1.0).rich_color))


def signed_text(widget, value: float | None, suffix: str = "%", digits: int = 2) -> Text:
    """``+1.23%`` in the success colour, ``-0.40%`` in the error colour, ``N/A`` dimmed."""
    if value is None:
        return Text("N/A", style="dim")
    sign = "+" if value > 0 else ""
    style = theme_style(widget, "success" if value > 0 else "error" if value < 0 else "foreground")
    return Text(f"{sign}{value:.{digits}f}{suffix}", style=style)


def price(value: float) -> str:
    """Prices read best with separators and as many decimals as the price needs."""
    if value >= 1000:
        return f"{value:,.2f}"
    if value >= 1:
        return f"{value:,.4f}".rstrip("0").rstrip(".") if value < 100 else f"{value:,.3f}"
    return f"{value:.6g}"


def hhmm(ms: int | None, with_date: bool = False) -> str:
    if not ms:
        return "--:--"
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%d %H:%M") if with_date else dt.strftime("%m-%d %H:%M")


def minutes(ms: int) -> str:
    m = max(0, ms // 60_000)
    if m < 120:
        return f"{m}m"
    if m < 48 * 60:
        return f"{m // 60}h{m % 60:02d}"
    return f"{m // 1440}d{(m % 1440) // 60:02d}h"


def same_cell(a: object, b: object) -> bool:
    """Cell equality that sees colours: Rich's ``Text ==`` compares the characters and the spans
    but not the base style, so a cell whose colour changed would never be redrawn."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.style == b.style and a.spans == b.spans
    return a == b


def column_width(label: str, cells: Iterable[object]) -> int:
    """The width a DataTable's auto width would give a column showing ``label`` and ``cells``
    (its widest line), known at once. A table laid out afresh gets its widths from this: an
    auto width is measured only when the table is next idle, and a frame drawn before that kept
    the cells wrapped at the label's width (Textual caches a rendered cell without its width), so
    a snapshot could catch "BTC" / "USD"."""
    texts = [label, *(c.plain if isinstance(c, Text) else str(c) for c in cells)]
    return max(cell_len(line) for text in texts for line in text.split("\n"))


class Pane(Vertical):
    """A bordered pane with a title and an empty-state note shown while it has nothing to show.
    Its table takes the focus (Tab), scrolls from the keyboard and the pane zooms (issue 14 item 4).

    The note is drawn by the pane's body itself when its body can (``NOTE_IN_BODY``: a table, a
    log, a chart, each a ``NoteHolder``): the pane's widgets stay as they are laid out whether it
    is empty or not. A note of its own beside the body (a ``Static`` shown in its place) changed
    ``display`` twice a run, and each change laid out the whole screen while the run went on: a
    backtest on the engine benchmark laid the dashboard out six times in 0.2 s, ~50 ms of the
    console's CPU on the other core, and the worker's run slowed by as much as that core's work
    weighed on it (tests/bench/bench_console.py)."""

    ALLOW_MAXIMIZE = True
    NOTE_IN_BODY = False
    """The body draws the note (its first shown ``NoteHolder``); else a ``Static`` line does."""

    DEFAULT_CSS = """
    Pane { height: 1fr; }
    Pane > .empty { color: $text-muted; padding: 0 1; }
    Pane > ResizingTable { height: 1fr; }  /* its note shows while it has no rows */
    """

    def __init__(self, title: str, empty: str, *, id: str | None = None, classes: str = "") -> None:
        super().__init__(id=id, classes=f"pane {classes}".strip())
        self._shown_title = title
        self.border_title = title
        self.empty_text = empty
        self._empty = True

    def set_title(self, title: str) -> None:
        """The pane's border title, set only when it changes: Textual parses the title and repaints
        the whole pane at each set, and the dashboard names its panes again at every redraw (a
        redraw of unchanged panes repainted 34 widgets, ~20 ms at 120x40)."""
        if title != self._shown_title:
            self._shown_title = title
            self.border_title = title

    def compose_body(self) -> ComposeResult:  # overridden by panes
        yield from ()

    def compose(self) -> ComposeResult:
        if not self.NOTE_IN_BODY:
            yield Static(self.empty_text, classes="empty")
        yield from self.compose_body()

    @property
    def shows_empty(self) -> bool:
        """Is the pane showing its empty-state note (it had nothing to show when last drawn)?"""
        return self._empty

    def scrollbar_due(self, state: Any, run: str | None) -> bool:
        """Would drawing ``state`` now give the pane a scrollbar it lacks, or take one away? (That
        lays out the whole screen; a log pane can tell without building its lines.)"""
        return False

    @property
    def fills_with_layout(self) -> bool:
        """Would drawing content here lay out the screen (an empty pane whose note is a line of
        its own, hidden as the content shows)?"""
        return self._empty and not self.NOTE_IN_BODY

    def set_empty(self, empty: bool) -> None:
        """Show the empty-state note instead of the (empty) content."""
        self._empty = empty
        if self.NOTE_IN_BODY:  # the body stays as laid out, its views as the pane chose them
            holder = None
            for child in self.children:
                shown = self.shows(child)
                child.display = shown
                if isinstance(child, NoteHolder):
                    if holder is None and shown:
                        holder = child
                    child.show_note(self.empty_text if empty and child is holder else None)
            return
        # a note of its own: an empty pane takes the focus itself (its body is hidden), so Tab
        # still reaches every pane
        self.query_one(".empty", Static).display = empty
        self.can_focus = empty or type(self).can_focus
        for child in self.children:
            if not child.has_class("empty"):
                child.display = not empty and self.shows(child)

    def shows(self, child: Widget) -> bool:
        """Is ``child`` shown while the pane has something to show? A pane with views to choose
        from says which: a child shown here and hidden again by its pane changed ``display``
        twice a redraw, and each change lays out the whole screen (50-100 ms on a busy run)."""
        return True


class ResizingTable(StyleOncePerPaint, NoteHolder, DataTable):
    """A DataTable that tells its pane when its size changed (Textual's Resize does not bubble),
    paints again only the row of a cell it updates, grows without laying out the screen while
    its scrollbars stay (console/widgets/scroll_size.py), and draws its pane's empty-state note
    while it has no rows (``NoteHolder``)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {NOTE_CLASS}
    DEFAULT_CSS = note_css("ResizingTable")

    _cell_row: Any = None  # the row of the cell ``update_cell`` is updating
    _sized_from: Size | None = None  # its virtual size before DataTable measures it again (``_update_dimensions``)

    class Resized(Message):
        pass

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> Any:
        """DataTable's, with a body cell whose lines fit its column, a line a row line (a ``Text``
        left to the console's justification), built as the segments DataTable gets from
        Rich for it (its padding, the text, the rest of the column, under the cell's style and
        the cursor's): what DataTable passes through Rich's general layout of any renderable,
        about 0.1 ms a cell, so a row's status that changed cost ~0.6 ms to paint. A test holds
        the two equal, cell by cell, at the boundaries (tests/console/test_redraw_cost.py)."""
        if row_index < 0 or column_index < 0 or self.fixed_rows or self.fixed_columns:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        key = (
            row_key,
            self._column_locations.get_key(column_index),
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cache = self._cell_render_cache
        lines = cache.get(key)
        if lines is not None:
            return lines
        row = self.rows.get(row_key)
        cell = self._get_row_renderables(row_index)[1][column_index] if row is not None else None
        pad, room = self.cell_padding, width - 2 * self.cell_padding
        if type(cell) is not Text or cell.justify not in (None, "default"):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        # a line a row line (a Progress row is two): each printable (no tab or control code)
        # and within the room, so Rich neither wraps nor cuts it
        parts = cell.split("\n", allow_blank=True) if "\n" in cell.plain else [cell]
        if len(parts) != row.height or not all(p.plain.isprintable() and cell_len(p.plain) <= room for p in parts):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        component, post = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component
        console = self.app.console
        blank = pre + post
        lines = []
        for part in parts:
            if part.spans:  # its runs as Rich renders them, each under the cell's style and the cursor's
                middle = [Segment(t, pre + style + post if style else blank) for t, style, _ in part.render(console)]
            else:
                middle = [Segment(part.plain, pre + console.get_style(part.style) + post if part.style else blank)]
            rest = width - cell_len(part.plain) - pad
            lines.append([Segment(" " * pad, blank), *middle, Segment(" " * rest, blank)])
        cache[key] = lines
        return lines

    def update_cell(self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = False) -> None:
        """DataTable's, except that only the cell's row is painted again (``refresh``): DataTable
        paints the whole table for one cell, and the paint that shows a backtest done re-rendered
        every line of the Runs and Progress tables for a row's status (~3 of its 9 ms on the
        console's engine benchmark). A cell that may widen its column repaints it all, as before."""
        if update_width:
            super().update_cell(row_key, column_key, value, update_width=True)
            return
        self._cell_row = row_key
        try:
            super().update_cell(row_key, column_key, value)
        finally:
            self._cell_row = None

    def _update_dimensions(self, new_rows: Iterable[Any]) -> None:
        """DataTable's (rows added or measured again: the virtual size follows), with the new size
        taken as a log takes its own (``refresh``): a table that got its first rows, or a row
        more, asked Textual for a layout of the whole screen each time."""
        self._sized_from = self.virtual_size
        try:
            super()._update_dimensions(new_rows)
        finally:
            self._sized_from = None

    def refresh(self, *regions: Any, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Any:
        row, self._cell_row = self._cell_row, None
        if row is not None and not regions and repaint and not layout and not recompose and self.is_mounted:
            return self.refresh_row(self.get_row_index(row))
        sized_from, self._sized_from = self._sized_from, None
        if (  # the virtual size just changed (``_update_dimensions``), the scrollbars stay
            layout
            and sized_from is not None
            and not regions
            and not recompose
            and scrollbars_stay(self, sized_from, self.virtual_size)
        ):
            resized_quietly(self)
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)


@dataclass(frozen=True, slots=True)
class Layout:
    """Which columns a table shows and how wide each is."""

    keys: tuple[str, ...]
    widths: tuple[int, ...]


def fit_columns(
    natural: dict[str, int],
    room: int | None,
    gap: int,
    drop: Iterable[str] = (),
    flex: str | None = None,
    least: int = 4,
) -> Layout:
    """Columns by priority (issue 14 item 4): every column at its natural width when the room
    allows; otherwise the columns in ``drop`` go, first named first, until the rest fits, then the
    ``flex`` column (a name) is cut to the room that is left, down to ``least``. ``gap`` is what each
    shown column costs beside its width (the cell padding); ``room`` None: not laid out yet, all shown."""
    keys = list(natural)

    def total() -> int:
        return sum(natural[k] + gap for k in keys)

    if room is None:
        return Layout(tuple(keys), tuple(natural[k] for k in keys))
    for key in drop:
        if total() <= room:
            break
        if key in keys and key != flex:
            keys.remove(key)
    widths = {k: natural[k] for k in keys}
    if flex in widths and total() > room:
        widths[flex] = max(min(least, natural[flex]), natural[flex] - (total() - room))
    return Layout(tuple(keys), tuple(widths[k] for k in keys))


def fitted(cell: object, width: int) -> object:
    """``cell`` cut to ``width`` with an ellipsis (a cell wider than its column)."""
    text = cell if isinstance(cell, Text) else Text(str(cell))
    if max((cell_len(line) for line in text.plain.split("\n")), default=0) <= width:
        return cell
    text = text.copy()
    text.no_wrap, text.overflow = True, "ellipsis"
    text.truncate(width, overflow="ellipsis")
    return text


class TablePane(Pane):
    """A pane holding one DataTable whose rows are updated in place by stable keys. Its columns
    are laid out by priority for the room the pane has (``DROP``, ``FLEX``, ``fit_columns``): a
    narrow terminal loses the low-value columns first, never the numbers a trader reads."""

    COLUMNS: tuple[tuple[str, str], ...] = ()  # (key, label)
    DROP: tuple[str, ...] = ()
    """Columns that go when the pane is too narrow, first named first."""
    FLEX: str | None = None
    """A column cut (with an ellipsis) to the room the others leave, before any of ``DROP`` goes."""
    FIXED: dict[str, int] = {}
    """Columns of a known width whatever they show now (no relayout when a value widens)."""
    NOTE_IN_BODY = True

    def compose_body(self) -> ComposeResult:
        # focusable without a cursor: the arrows and PgUp/PgDn scroll it (issue 14 item 4)
        yield ResizingTable(cursor_type="none", zebra_stripes=False, show_cursor=False)

    def on_mount(self) -> None:
        self._layout: Layout | None = None
        self._rows: dict[str, tuple] = {}
        self.set_empty(True)

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    @on(ResizingTable.Resized)
    def _table_resized(self, event: ResizingTable.Resized) -> None:
        event.stop()
        self._relayout()

    def _relayout(self) -> None:
        if self._layout is not None and self._plan(self._rows) != self._layout:
            self._lay_out_rows(self._rows)

    def _table_room(self) -> int | None:
        table = self.table
        # a table not laid out yet (its pane just mounted) has no region until the first reflow;
        # the pane it fills has its width as soon as it does, so the pane's content width stands
        # in (the same width: the table has no border or padding of its own)
        width = table.content_region.width or self.content_region.width
        if not width:
            return None
        return width - table.styles.scrollbar_size_vertical

    def _plan(self, rows: dict[str, tuple]) -> Layout:
        natural = {}
        for n, (key, label) in enumerate(self.COLUMNS):
            natural[key] = self.FIXED.get(key) or column_width(label, (cells[n] for cells in rows.values()))
        return fit_columns(natural, self._table_room(), 2 * self.table.cell_padding, self.DROP, self.FLEX)

    def _shown_cells(self, cells: tuple, layout: Layout) -> list[object]:
        index = {key: n for n, (key, _) in enumerate(self.COLUMNS)}
        return [fitted(cells[index[k]], w) for k, w in zip(layout.keys, layout.widths)]

    def _lay_out_rows(self, rows: dict[str, tuple]) -> None:
        table = self.table
        layout = self._plan(rows)
        labels = dict(self.COLUMNS)
        table.clear(columns=True)
        for key, width in zip(layout.keys, layout.widths):
            table.add_column(labels[key], key=key, width=width)
        for key, cells in rows.items():
            table.add_row(*self._shown_cells(cells, layout), key=key)
        self._layout = layout
        self.laid_out()

    def laid_out(self) -> None:
        """Called after the table was laid out afresh (a pane with a cursor puts it back)."""

    def sync(self, rows: dict[str, tuple], ordered: bool = False) -> None:
        """Make the table show exactly ``rows`` (row key -> cells): update cells that changed,
        add new rows, remove rows that went away. Nothing is rebuilt, so nothing flickers, unless
        the columns' layout changed (a value wider than its column, a pane resized) or ``ordered``
        and the order of ``rows`` changed (a ranking): then the rows are laid out again.

        A table not laid out yet has no width to lay out for: its columns are laid out again once
        it is drawn (else it showed every column, cut at its right edge)."""
        if rows and self._table_room() is None:
            self.call_after_refresh(self._relayout)
        table = self.table
        self._rows = dict(rows)
        if not rows:  # the empty note shows instead: the columns stay laid out for the next rows
            if table.row_count:
                table.clear()
            self.set_empty(True)
            return
        layout = self._plan(rows)
        if layout != self._layout or (ordered and [str(k.value) for k in table.rows] != list(rows)):
            self._lay_out_rows(rows)
            self.set_empty(not rows)
            return
        existing = {str(k.value) for k in table.rows}
        for key in existing - rows.keys():
            table.remove_row(key)
        for key, cells in rows.items():
            shown = self._shown_cells(cells, layout)
            if key in existing:
                for col, value in zip(layout.keys, shown):
                    if not same_cell(table.get_cell(key, col), value):
                        table.update_cell(key, col, value)
            else:
                table.add_row(*shown, key=key)
        self.set_empty(not rows)


class LogPane(Pane):
    """A pane of log lines (objects with a unique ``key``), newest at the bottom, in a
    ``LogView`` (console/widgets/log_view.py): each refresh hands it the whole log, which costs
    a list and a virtual size, as only the lines on screen are ever rendered (issue 14 item 2: a
    DataTable built and measured every row added, and a busy run's redraws cost more than the
    run).

    Its columns are laid out like a ``TablePane``'s (``FIXED``, ``FLEX``, ``DROP``,
    ``fit_columns``) for the room the view has; a column's natural width is the widest of its
    cells seen in the log (measured once per line as it arrives, ``measure``)."""

    COLUMNS: tuple[tuple[str, str], ...] = ()  # (key, label)
    FIXED: dict[str, int] = {}
    FLEX: str | None = None
    DROP: tuple[str, ...] = ()
    LEAST = 4
    """The narrowest the ``FLEX`` column gets."""
    NOTE_IN_BODY = True

    def __init__(self, title: str, empty: str, *, id: str | None = None) -> None:
        super().__init__(title, empty, id=id)
        self._natural = {key: len(label) for key, label in self.COLUMNS}
        self._measured: set[str] = set()
        self._layout: Layout | None = None

    def compose_body(self) -> ComposeResult:
        yield LogView(self.shown_cells)

    def on_mount(self) -> None:
        self.set_empty(True)
        self._lay_out()

    @property
    def table(self) -> LogView:
        return self.query_one(LogView)

    def line_count(self, state: Any, run: str | None) -> int:  # overridden by panes
        """How many lines the pane shows of ``state`` for ``run`` (``RunLog.shown``)."""
        raise NotImplementedError

    def scrollbar_due(self, state: Any, run: str | None) -> bool:
        view = self.table
        if bars_fixed(view):  # the logs keep their scrollbar: no line count at each fold
            return False
        return bars_would_change(view, Size(view.row_width, self.line_count(state, run) + HEADER_ROWS))

    def cells(self, line) -> tuple:  # overridden by panes
        raise NotImplementedError

    def shown_cells(self, line) -> tuple:
        """The cells of the columns the layout shows."""
        cells = self.cells(line)
        layout = self._layout
        if layout is None or len(layout.keys) == len(cells):
            return cells
        index = {key: n for n, (key, _) in enumerate(self.COLUMNS)}
        return tuple(cells[index[k]] for k in layout.keys)

    def measure(self, line) -> tuple[int, ...]:
        """The widths of ``line``'s cells (a pane may say it cheaper than drawing them)."""
        return tuple(
            max((cell_len(part) for part in (c.plain if isinstance(c, Text) else str(c)).split("\n")), default=0)
            for c in self.cells(line)
        )

    def widths(self, lines: list) -> tuple[int, ...]:
        """The widest cell of each column over ``lines`` (not empty): a pane whose columns are
        fixed but one may measure that one alone."""
        return tuple(map(max, zip(*map(self.measure, lines))))

    def _measure(self, lines: list) -> None:
        """Widen the columns for the lines not measured yet (the newest; all of another log)."""
        fresh = []
        for line in reversed(lines):
            if line.key in self._measured:
                break
            fresh.append(line)
        if len(fresh) == len(lines):  # another log: its own widths
            self._natural = {key: len(label) for key, label in self.COLUMNS}
            self._measured = set()
        elif len(self._measured) > 4 * max(len(lines), 100):
            self._measured = {line.key for line in lines}
        if not fresh:
            return
        natural = self._natural
        # a column at a time: a fast run's end brings hundreds of new lines at once
        for (key, _), width in zip(self.COLUMNS, self.widths(fresh)):
            natural[key] = max(natural[key], width)
        self._measured.update(line.key for line in fresh)

    def _room(self) -> int | None:
        view = self.table
        # the pane's width stands in before the view is laid out; a scrollbar's worth is kept
        # free (the log's scrollbar is always there)
        width = view.size.width or self.content_region.width
        return width - view.styles.scrollbar_size_vertical if width else None

    def _lay_out(self) -> None:
        natural = {key: self.FIXED.get(key) or self._natural[key] for key, _ in self.COLUMNS}
        layout = fit_columns(natural, self._room(), 2 * CELL_PADDING, self.DROP, self.FLEX, self.LEAST)
        if layout != self._layout:
            self._layout = layout
            labels = dict(self.COLUMNS)
            self.table.set_columns([labels[k] for k in layout.keys], layout.widths)

    @on(LogView.Resized)
    def _view_resized(self, event: LogView.Resized) -> None:
        event.stop()
        self._lay_out()

    def show_lines(self, lines) -> None:
        lines = list(lines)
        self._measure(lines)
        self._lay_out()
        self.table.set_lines(lines)
        self.set_empty(not lines)

    @on(events.DescendantFocus)
    def _log_focused(self) -> None:
        self.log_focused()

    def log_focused(self) -> None:
        """The log got the focus (a pane shows its cursor here)."""

    def restyle_lines(self, lines=None) -> None:
        """Draw every shown line again (after a theme change: colours come from the theme)."""
        self.table.restyle()
