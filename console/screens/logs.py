"""The log viewer (``e``): every error of the session with its type, the strategy file and line
it came from and its traceback, the engine's feed and persistence warnings, and live ticks.

Issue 14 item 7 and "Log viewer": a strategy raising on some days left one cut line per error in
the Signals pane and nothing else. Here the filter takes the keys as they are typed (every word
must appear: ``valueerror rsi.py``), Enter or Tab moves to the log, which scrolls from the
keyboard like a report (``ScrollBody``: arrows, PgUp/PgDn, Home/End, j/k, Space), ``/`` goes back
to the filter, Esc leaves.
The newest ``SHOWN`` matching entries are drawn; the title says how many matched.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static

from ..logbook import Entry, LogBook
from ..widgets.base import theme_style
from ..widgets.scroll_body import ScrollBody
from .dialogs import ErrorScreen

SHOWN = 400
"""Entries drawn at most (the newest that match): a long live session's ticks stay cheap to draw."""

KIND_COLOUR = {"ERROR": "error", "WARNING": "warning", "INFO": "accent", "TICK": "secondary"}


def when(ms: int | None) -> str:
    if ms is None:
        return "                "
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


class LogScreen(Screen[None]):
    DEFAULT_CSS = """
    LogScreen #logs-title { height: 1; padding: 0 1; text-style: bold; }
    LogScreen #logs-filter { height: 3; }
    LogScreen #logs-body { height: 1fr; border: round $primary; padding: 0 1; scrollbar-size-vertical: 1; }
    LogScreen #logs-body:focus { border: round $accent; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "find", "Filter", show=False),
    ]

    def __init__(self, book: LogBook) -> None:
        super().__init__(id="logs-screen")
        self.book = book
        self._drawn: tuple[int, str] | None = None
        self.shown: list[Entry] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="logs-title", markup=False)
        hint = "type to filter: words that must all appear (ValueError, rsi.py, BTCUSDT)"
        yield Input(placeholder=hint, id="logs-filter")
        with ScrollBody(id="logs-body"):
            yield Static("", id="logs-text", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#logs-body", ScrollBody).border_title = "Errors, warnings and live ticks (Esc: back)"
        self.draw()
        self.query_one("#logs-filter", Input).focus()
        self.set_interval(0.5, self.draw)  # runs go on while the log is read: new entries appear

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.draw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#logs-body", ScrollBody).focus()

    def action_find(self) -> None:
        self.query_one("#logs-filter", Input).focus()

    def action_back(self) -> None:
        self.dismiss(None)

    @property
    def query_text(self) -> str:
        return self.query_one("#logs-filter", Input).value

    def draw(self) -> None:
        """Draw the matching entries again when the book or the filter changed."""
        query = self.query_text
        key = (self.book.version, query)
        if key == self._drawn:
            return
        self._drawn = key
        matched = self.book.matching(query)
        self.shown = matched[-SHOWN:]
        book = self.book
        counts = f"{book.count('ERROR')} errors · {book.count('WARNING')} warnings · {book.count('TICK')} live ticks"
        found = f" · {len(matched)} match" if query.strip() else ""
        cut = f" (newest {SHOWN} shown)" if len(matched) > SHOWN else ""
        live = f" · live log: {book.live_log}" if book.live_log else ""
        self.query_one("#logs-title", Static).update(f"Log · {counts}{found}{cut}{live}")
        self.query_one("#logs-text", Static).update(self._render_entries())

    def _render_entries(self) -> Text:
        if not self.shown:
            empty = "No errors, warnings or live ticks yet."
            if self.query_text.strip():
                empty = "Nothing matches the filter."
            return Text(empty, style="dim")
        out = Text(no_wrap=False)
        for n, entry in enumerate(self.shown):
            if n:
                out.append("\n")
            out.append(when(entry.time), style="dim")
            out.append(" ")
            colour = KIND_COLOUR.get(entry.kind, "foreground")
            out.append(f"{entry.kind:<7}", style=theme_style(self, colour, bold=True))
            if entry.run:
                out.append(f" {entry.run}", style="dim")
            out.append(f" {entry.text}")
            if entry.repeats > 1:  # warnings of one shape, counted into one entry (LogBook.note)
                out.append(f"\n    and {entry.repeats - 1:,} more like it; the last: {entry.last}", style="dim")
            if entry.where:
                out.append(f"\n    at {entry.where}", style=theme_style(self, "accent"))
            if entry.detail:
                out.append("\n")
                out.append("\n".join(f"    {line}" for line in entry.detail.splitlines()), style="dim")
        return out


class ReloadErrorScreen(ErrorScreen):
    """The error screen of a reload that failed: the same message as at start-up, but Esc goes
    back to the console, which still runs the project as it was before the edit."""

    BINDINGS = [Binding("escape,q", "back", "Back")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="error-box"):
            yield Label(self.title_text, id="error-title")
            yield Static(self.message, id="error-message", markup=False)
            yield Static("Fix the file and press ctrl+r again.   Esc  back to the console", id="error-hint")

    def action_back(self) -> None:
        self.dismiss(None)
