"""A log of table-like lines that renders only what is on screen (issue 14 item 2).

The Signals, Risk and Partial panes showed their lines in a DataTable, which builds and measures
every row as it is added (about 0.7 ms a row): a busy run's 500 new lines at each redraw cost more
than the run, and a run's end filled the 500-line logs again. ``LogView`` uses Textual's Line API
instead: adding lines appends them to a list and changes the virtual size; a line is turned into
cells and rendered (once, then cached) only when it is scrolled into view. So every line of the
log stays reachable, whatever the rate (the DataTable logs held only their newest four screens
during a flood, and the mouse wheel could not reach further back).

It keeps what the DataTable logs did: a bold header row, fixed column widths given by its pane,
cells cut to their column with an ellipsis, anchored to the newest line until the user scrolls
up (and again once they scroll back to the end), keyboard scrolling when focused, and an optional
row cursor that posts ``Highlighted`` as it moves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar  # noqa: F401  Textual imports it as a first scrollbar shows: 3 ms mid-run
from textual.strip import Strip

from .note import NOTE_CLASS, NoteHolder
from .paint_style import StyleOncePerPaint
from .scroll_size import set_virtual_size

HEADER_ROWS = 1
CELL_PADDING = 1
"""Blank cells each side of a cell's text (a DataTable's default, so the columns read the same)."""


def cell_text(cell: object, width: int) -> Text:
    """``cell`` as one line of text cut to ``width`` with an ellipsis (a log line has one row)."""
    text = cell if isinstance(cell, Text) else Text(str(cell))
    if "\n" in text.plain:
        text = Text(" ".join(text.plain.split()), style=text.style)
    if text.cell_len > width:
        text = text.copy()
        text.truncate(width, overflow="ellipsis")
    return text


def cell_segments(console: Console, cell: object, width: int) -> list[Segment]:
    """A cell cut to ``width`` (``cell_text``) as segments, padded to its column and the gap after
    it; the row's base style is applied as it is drawn."""
    text = cell_text(cell, width)
    segments = list(text.render(console))
    if text.style:  # (Text.render leaves a text's own style to its console's render)
        segments = list(Segment.apply_style(segments, console.get_style(text.style)))
    segments.append(Segment(" " * (width - text.cell_len + CELL_PADDING)))
    return segments


class LogView(StyleOncePerPaint, NoteHolder, ScrollView, can_focus=True):
    """Lines (objects with a unique ``key``) drawn as rows of cells by ``cells(line)``, the
    newest at the bottom. Its owner sets the columns (``set_columns``) and the lines
    (``set_lines``); both are cheap: nothing is rendered until it is on screen. Its vertical
    scrollbar is always there (``overflow-y: scroll``): a log that outgrew its pane mid-run got
    one, and Textual laid the whole screen out three times in a row for it (the scrollbar, then
    its size, then its thumb)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"logview--header", "logview--cursor", NOTE_CLASS}

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        height: 1fr;
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 0;
        &:focus {
            background-tint: $foreground 5%;
            & > .logview--header { background-tint: $foreground 5%; }
        }
        & > .logview--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .logview--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .logview--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .pane-note { color: $text-muted; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "line_up", "Up", show=False),
        Binding("down", "line_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "first", "First", show=False),
        Binding("end,ctrl+end", "last", "Last", show=False),
    ]

    class Highlighted(Message):
        """The row cursor moved to ``line``."""

        def __init__(self, view: LogView, line: Any) -> None:
            super().__init__()
            self.view = view
            self.line = line

        @property
        def control(self) -> LogView:
            return self.view

    class Resized(Message):
        """The view's size changed (Textual's Resize does not bubble): its pane lays out its
        columns again for the new width."""

    def __init__(self, cells: Callable[[Any], Sequence[object]], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._cells = cells
        self.labels: tuple[str, ...] = ()
        self.widths: tuple[int, ...] = ()
        self.lines: list[Any] = []
        self.cursor_row: int | None = None  # an index into ``lines``; drawn while ``show_cursor``
        self.show_cursor = False
        self.following = True  # stays on the newest line as lines arrive (until scrolled up)
        self._rows: LRUCache[str, Strip] = LRUCache(1024)  # line key -> its row, unstyled, uncut
        self._base: Style | None = None  # the widget's style the rows were drawn under
        self._paint_width: int | None = None  # its width during a paint (``render_lines``)
        self.rendered = 0  # rows turned into cells and rendered (tests: only what is seen)

    # ------------------------------------------------------------------ what the owner sets
    def set_columns(self, labels: Sequence[str], widths: Sequence[int]) -> None:
        """The header's labels and each column's width (cells are cut to it)."""
        labels, widths = tuple(labels), tuple(widths)
        if (labels, widths) == (self.labels, self.widths):
            return
        self.labels, self.widths = labels, widths
        self._rows.clear()
        self._update_size()
        self.refresh()

    def set_lines(self, lines: Sequence[Any]) -> None:
        """Show ``lines``. A log that moved on (its oldest lines fell out, new ones came) keeps
        the lines the user reads where they are and the cursor on its line; another log (another
        run's) starts at its newest line."""
        old = self.lines
        new = list(lines)
        if len(new) == len(old) and (not new or (new[0] is old[0] and new[-1] is old[-1])):
            return  # the same lines (a log only grows at its end and drops at its start): no repaint
        shift = self._dropped(old, new)
        self.lines = new
        if shift is None:  # another log altogether
            self.following = True
            self.cursor_row = len(new) - 1 if self.show_cursor and new else None
        elif shift:
            if self.cursor_row is not None:
                self.cursor_row = max(0, self.cursor_row - shift)
            if not self.following:  # the same lines stay in view
                self.scroll_to(y=max(0, self.scroll_y - shift), animate=False, immediate=True, force=True)
        self._update_size()
        if self.cursor_row is not None and self.cursor_row >= len(new):
            self.cursor_row = len(new) - 1 if new else None
        if self.following:
            self._scroll_to_end()
        self.refresh()

    def restyle(self) -> None:
        """Draw every row again (its colours come from the theme, which changed)."""
        self._rows.clear()
        self.refresh()

    @staticmethod
    def _dropped(old: list[Any], new: list[Any]) -> int | None:
        """How many of ``old``'s first lines are gone from ``new``, if ``new`` continues ``old``
        (None: it does not: another log, or every old line fell out)."""
        if not old:
            return 0
        if not new:
            return None
        first = new[0].key
        for i, line in enumerate(old):
            if line.key == first:
                # the rest of old must be where it was in new (it only moved on)
                if i + 1 < len(old) and (len(new) <= len(old) - 1 - i or new[len(old) - 1 - i].key != old[-1].key):
                    return None
                return i
        return None

    # ------------------------------------------------------------------ size and scrolling
    @property
    def row_count(self) -> int:
        return len(self.lines)

    def row_cells(self, index: int) -> Sequence[object]:
        """The cells line ``index`` shows (as drawn, before they are cut to their columns)."""
        return self._cells(self.lines[index])

    @property
    def row_width(self) -> int:
        return sum(w + 2 * CELL_PADDING for w in self.widths)

    def _update_size(self) -> None:
        set_virtual_size(self, Size(self.row_width, len(self.lines) + HEADER_ROWS))

    @property
    def page(self) -> int:
        """Lines shown at once, under the header."""
        return max(1, self.scrollable_content_region.height - HEADER_ROWS)

    def _scroll_to_end(self) -> None:
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # scrolled away from the end (a wheel, the scrollbar, a key): the lines stay put; back at
        # the end: they follow again
        self.following = round(new_value) >= self.max_scroll_y

    def on_resize(self, _event: events.Resize) -> None:
        if self.following:
            self._scroll_to_end()
        self.post_message(self.Resized())

    def _show_row(self, row: int) -> None:
        """Scroll so the line ``row`` is on screen."""
        top = round(self.scroll_y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True, force=True)
        elif row >= top + self.page:
            self.scroll_to(y=row - self.page + 1, animate=False, immediate=True, force=True)

    # ------------------------------------------------------------------ the cursor and keys
    def move_cursor(self, row: int) -> None:
        """Put the cursor on line ``row`` (clamped), bring it into view, say so."""
        if not self.lines:
            return
        row = max(0, min(len(self.lines) - 1, row))
        moved = row != self.cursor_row
        self.cursor_row = row
        self._show_row(row)
        self.refresh()
        if moved:
            self.post_message(self.Highlighted(self, self.lines[row]))

    def _step(self, lines: int) -> None:
        """Move by ``lines``: the view, and the cursor with it when it is shown (a page keeps the
        cursor where it was on the screen, as a DataTable's does)."""
        if abs(lines) > 1 or not (self.show_cursor and self.cursor_row is not None):
            self.scroll_to(
                y=max(0, min(self.max_scroll_y, round(self.scroll_y) + lines)), animate=False, immediate=True
            )
        if self.show_cursor and self.cursor_row is not None:
            self.move_cursor(self.cursor_row + lines)

    def action_line_up(self) -> None:
        self._step(-1)

    def action_line_down(self) -> None:
        self._step(1)

    def action_page_up(self) -> None:
        self._step(-self.page)

    def action_page_down(self) -> None:
        self._step(self.page)

    def action_first(self) -> None:
        if self.show_cursor and self.cursor_row is not None:
            self.move_cursor(0)
        self.scroll_to(y=0, animate=False)

    def action_last(self) -> None:
        if self.show_cursor and self.cursor_row is not None:
            self.move_cursor(len(self.lines) - 1)
        self._scroll_to_end()

    def on_click(self, event: events.Click) -> None:
        if self.show_cursor and event.y >= HEADER_ROWS:
            self.move_cursor(round(self.scroll_y) + event.y - HEADER_ROWS)

    # ------------------------------------------------------------------ drawing
    def _row(self, cells: Sequence[object]) -> Strip:
        """One row: each cell cut and padded to its column, its own segments (as a DataTable's
        cells: a screenshot places each cell where its column starts), unstyled: the base style
        is applied as it is drawn."""
        console = self.app.console
        pad = Segment(" " * CELL_PADDING)
        segments: list[Segment] = []
        for cell, width in zip(cells, self.widths):
            segments.append(pad)
            plain = cell if type(cell) is str else cell.plain if type(cell) is Text and not cell.spans else None
            if plain is not None and "\n" not in plain and (used := cell_len(plain)) <= width:
                # one line that fits, in one style: the segments ``cell_segments`` makes of it,
                # built directly (a fast run's end draws a screenful of new lines at once)
                style = console.get_style(cell.style) if type(cell) is Text and cell.style else None
                segments += (Segment(plain, style), Segment(" " * (width - used + CELL_PADDING)))
            else:
                segments += cell_segments(console, cell, width)
        return Strip(segments, self.row_width)

    def render_lines(self, crop: Region) -> list[Strip]:
        # its width once a paint, as its style (``StyleOncePerPaint``: a third of a new line's
        # cost, 11 new lines as a fast run ends)
        self._paint_width = self.scrollable_content_region.width
        try:
            return super().render_lines(crop)
        finally:
            self._paint_width = None

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self._paint_width if self._paint_width is not None else self.scrollable_content_region.width
        if self.note is not None:  # its pane's empty-state note (``NoteHolder``)
            return self.note_line(y, width, base)
        if base != self._base:  # the focus tint or the theme changed: rows drawn again
            self._base = base
            self._rows.clear()
        if y < HEADER_ROWS:
            header = self.get_component_rich_style("logview--header", partial=True)
            strip = self._row(self.labels).apply_style(header)
            return strip.apply_style(base).crop_extend(0, width, base)
        index = round(self.scroll_y) + y - HEADER_ROWS
        if not 0 <= index < len(self.lines):
            return Strip.blank(width, base)
        line = self.lines[index]
        strip = self._rows.get(line.key)
        if strip is None:
            self.rendered += 1
            strip = self._rows[line.key] = self._row(self._cells(line)).apply_style(base)
        if self.show_cursor and index == self.cursor_row:
            cursor = self.get_component_rich_style("logview--cursor", partial=True)
            strip = Strip(Segment.apply_style(strip, post_style=cursor), strip.cell_length)
        return strip.crop_extend(0, width, base)
