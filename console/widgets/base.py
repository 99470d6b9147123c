"""Shared pieces of the dashboard's panes: a titled pane with an empty state, number formatting,
and colours taken from the current theme (so PnL follows the theme's success/error colours)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.widgets import DataTable, Static


def theme_style(widget, variable: str, bold: bool = False) -> Style:
    """A Rich style in the colour of a theme variable (``success``, ``error``, ``warning``...)."""
    value = widget.app.get_css_variables().get(variable)
    if not value:
        return Style(bold=bold)
    try:
        return Style(color=Color.parse(value).rich_color, bold=bold)
    except Exception:  # an exotic value: plain text beats a crash
        return Style(bold=bold)


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


class Pane(Vertical):
    """A bordered pane with a title and an empty-state line shown while it has nothing to show."""

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
        """Show the empty-state line instead of the (empty) content."""
        self.query_one(".empty", Static).display = empty
        for child in self.children:
            if not child.has_class("empty"):
                child.display = not empty


class TablePane(Pane):
    """A pane holding one DataTable whose rows are updated in place by stable keys."""

    COLUMNS: tuple[tuple[str, str], ...] = ()  # (key, label)

    def compose_body(self) -> ComposeResult:
        table = DataTable(cursor_type="none", zebra_stripes=False, show_cursor=False)
        table.can_focus = False
        yield table

    def on_mount(self) -> None:
        table = self.table
        for key, label in self.COLUMNS:
            table.add_column(label, key=key)
        self.set_empty(True)

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def sync(self, rows: dict[str, tuple]) -> None:
        """Make the table show exactly ``rows`` (row key -> cells): update cells that changed,
        add new rows, remove rows that went away. Nothing is rebuilt, so nothing flickers."""
        table = self.table
        existing = {str(k.value) for k in table.rows}
        for key in existing - rows.keys():
            table.remove_row(key)
        for key, cells in rows.items():
            if key in existing:
                for (col, _), value in zip(self.COLUMNS, cells):
                    if table.get_cell(key, col) != value:
                        table.update_cell(key, col, value, update_width=True)
            else:
                table.add_row(*cells, key=key)
        self.set_empty(not rows)
