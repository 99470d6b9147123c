"""Shared pieces of the dashboard's panes: a titled pane with an empty state, number formatting,
and colours taken from the current theme (so PnL follows the theme's success/error colours)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from weakref import WeakKeyDictionary

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

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


def theme_style(widget, variable: str, bold: bool = False) -> Style:
    """A Rich style in the colour of a theme variable (``success``, ``error``, ``warning``...)."""
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
    """A bordered pane with a title and an empty-state line shown while it has nothing to show.
    Its table takes the focus (Tab), scrolls from the keyboard and the pane zooms (issue 14 item 4)."""

    ALLOW_MAXIMIZE = True

    DEFAULT_CSS = """
    Pane { height: 1fr; }
    Pane > .empty { color: $text-muted; padding: 0 1; }
    """

    def __init__(self, title: str, empty: str, *, id: str | None = None, classes: str = "") -> None:
        super().__init__(id=id, classes=f"pane {classes}".strip())
        self.border_title = title
        self.empty_text = empty

    def compose_body(self) -> ComposeResult:  # overridden by panes
        yield from ()

    def compose(self) -> ComposeResult:
        yield Static(self.empty_text, classes="empty")
        yield from self.compose_body()

    def set_empty(self, empty: bool) -> None:
        """Show the empty-state line instead of the (empty) content. An empty pane takes the focus
        itself (its table is hidden), so Tab still reaches every pane."""
        self.query_one(".empty", Static).display = empty
        self.can_focus = empty or type(self).can_focus
        for child in self.children:
            if not child.has_class("empty"):
                child.display = not empty


class ResizingTable(DataTable):
    """A DataTable that tells its pane when its size changed (Textual's Resize does not bubble)."""

    class Resized(Message):
        pass

    def on_resize(self) -> None:
        self.post_message(self.Resized())


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
        # a table hidden while its pane was empty has no region until the next reflow, which may
        # not resize it (shown again before a reflow ran: no Resize, so no relayout); the pane it
        # fills keeps its width throughout, so its content width stands in (the same width: the
        # table has no border or padding of its own)
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

        A table hidden while the pane was empty has no width to lay out for, and showing it again
        does not resize it: its columns are laid out again once it is drawn (else a pane that was
        empty for a moment showed every column, cut at its right edge)."""
        if rows and self._table_room() is None:
            self.call_after_refresh(self._relayout)
        table = self.table
        self._rows = dict(rows)
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


class LogPane(TablePane):
    """A TablePane of log lines (objects with a unique ``key``), newest at the bottom: each
    refresh adds the lines it has not shown. Lines that fell out of the log stay on screen until
    as many again have piled up, then the table is refilled once with the log: removing a
    DataTable row renumbers every row after it and lays the screen out again, so trimming one
    line per new line made a busy run's redraws cost more than the run (issue 14 item 2).

    An unfocused log that follows its newest line holds only its newest ``FLOOD_SCREENS``
    screens of lines (it shows no more): rows are measured and rendered as they are added, and a
    busy backtest's 500 new lines at every redraw cost more than the run. The log holds every
    line again when it gets the focus and when the run ends (``settle``)."""

    FLOOD_SCREENS = 4

    def __init__(self, title: str, empty: str, *, id: str | None = None) -> None:
        super().__init__(title, empty, id=id)
        self._shown: list[str] = []
        self._exact = False
        self._log: list = []  # the lines of the latest refresh, whole (the table may hold the newest)

    def settle(self) -> None:
        """The next refresh shows exactly the log, stale lines gone (a full redraw: a run ended)."""
        self._exact = True

    def _on_mount(self) -> None:
        # (Textual runs TablePane.on_mount too: handlers are called along the class hierarchy)
        # a log's columns are fixed: lines are added, never laid out again
        for key, label in self.COLUMNS:
            self.table.add_column(label, key=key)
        # stay at the newest line as lines arrive, until the user scrolls up to read
        self.table.anchor()

    def cells(self, line) -> tuple:  # overridden by panes
        raise NotImplementedError

    def room(self) -> int | None:
        """How many of the newest lines the table holds; None: all of them (it has the focus, or
        the user scrolled it up to read)."""
        table = self.table
        if table.has_focus or getattr(table, "_anchor_released", False):
            return None
        return max(self.FLOOD_SCREENS * table.size.height, 40)

    @on(events.DescendantFocus)
    def _log_focused(self) -> None:
        if len(self._shown) < len(self._log):
            self._fill(self._log)
        self.log_focused()

    def log_focused(self) -> None:
        """The log got the focus and holds every line (a pane moves its cursor here)."""

    def _fill(self, lines: list) -> None:
        table = self.table
        table.clear()
        for line in lines:
            table.add_row(*self.cells(line), key=line.key)
        self._shown = [line.key for line in lines]

    def show_lines(self, lines) -> None:
        self._log = lines = list(lines)
        exact, self._exact = self._exact, False
        room = None if exact else self.room()
        shown = self._shown
        fresh = self._appended(shown, lines)
        if fresh is None:  # another run's lines, or the newest shown line fell out of the log
            refill = True
        elif exact:  # exactly the whole log, stale or missing lines mended (a run ended)
            refill = len(shown) + len(fresh) != len(lines)
        else:  # as many stale lines as live ones: refill in one go
            refill = len(shown) + len(fresh) > 2 * max(len(lines), 1)
        if refill:
            fresh = lines
        if room is not None and len(fresh) > room:  # a flood: none of the shown lines would be on screen
            fresh, refill = fresh[-room:], True
        if refill:
            self._fill(fresh)
        else:
            table = self.table
            for line in fresh:
                table.add_row(*self.cells(line), key=line.key)
            shown.extend(line.key for line in fresh)
        self.set_empty(not lines)

    @staticmethod
    def _appended(shown: list[str], lines: list) -> list | None:
        """The lines after the newest one shown, if the log only moved on since (its oldest lines
        may have fallen out; after a flood the table holds only its newest); None when the shown
        rows are not the log's past (another run selected, the newest shown line fell out of the
        log)."""
        if not shown:
            return lines
        last = shown[-1]
        for i in range(len(lines) - 1, -1, -1):  # the newest shown line is near the end of the log
            if lines[i].key == last:
                # the shown rows end like the log up to there (the table may hold only the newest
                # of them after a flood, or stale older rows)
                n = min(len(shown), i + 1)
                if shown[-n:] != [line.key for line in lines[i + 1 - n : i + 1]]:
                    return None
                return lines[i + 1 :]
        return None

    def restyle_lines(self, lines) -> None:
        """Draw every shown line again (after a theme change: colours come from the theme)."""
        table = self.table
        for line in lines:
            if line.key in table.rows:
                for (col, _), value in zip(self.COLUMNS, self.cells(line)):
                    table.update_cell(line.key, col, value)
