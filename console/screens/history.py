"""The run history screen: finished backtests of every session, and a side-by-side comparison.

The list is newest first; Space marks a run, Enter compares the marked runs (two or more) metric
by metric, the best value of each metric in bold. Esc goes back from the comparison to the list
and from the list to the dashboard. Files that cannot be read are named in a toast and skipped.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ..history import METRICS, HistoryRecord, best_of, load_history

LIST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("mark", "✓"),
    ("strategy", "Strategy"),
    ("symbol", "Symbol"),
    ("frame", "Frame"),
    ("compounded", "Compounded"),
    ("drawdown", "Max DD"),
    ("trades", "Trades"),
    ("win", "Win %"),
    ("sharpe", "Sharpe"),
    ("exchange", "Exchange"),
    ("finished", "Finished"),
)
"""The list's columns: what tells runs apart and the numbers that matter first; a narrow screen
scrolls sideways to the rest."""


LIST_TITLE = "Finished backtests · Space marks · Enter compares the marked"


def number(value: float | None, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return "N/A"
    return f"{value:+.{digits}f}" if signed and value else f"{value:.{digits}f}"


def metric_text(name: str, value: float | int | None) -> str:
    if name in ("trades",):
        return str(value)
    signed = name in ("compounded_return", "total_pnl", "avg_pnl", "expected_yearly_returns")
    return number(value if value is None else float(value), 3 if "sharpe" in name else 2, signed)


class HistoryScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("space", "mark", "Mark"),
        Binding("enter", "compare", "Compare"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, root: Path) -> None:
        super().__init__(id="history-screen")
        self.root = root
        self.records: list[HistoryRecord] = []
        self.marked: set[int] = set()

    def compose(self) -> ComposeResult:
        yield DataTable(id="history-list", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="history-compare", cursor_type="row")
        yield Static("", id="history-empty", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        listing = load_history(self.root)
        self.records = listing.records
        self.marked.clear()
        if listing.unreadable:
            self.notify(
                "\n".join(f"{path}: {why}" for path, why in listing.unreadable),
                title=f"{len(listing.unreadable)} history file(s) cannot be read; skipped",
                severity="warning",
                timeout=20,
                markup=False,
            )
        table = self.query_one("#history-list", DataTable)
        table.border_title = LIST_TITLE
        table.clear(columns=True)
        for key, label in LIST_COLUMNS:
            table.add_column(label, key=key)
        for n, r in enumerate(self.records):
            table.add_row(*self._cells(r, marked=False), key=str(n))
        empty = self.query_one("#history-empty", Static)
        empty.display = not self.records
        empty.update(
            f"No finished backtest under {self.root / 'history'} yet: each backtest that finishes is kept there."
        )
        self._show_list()

    def _cells(self, r: HistoryRecord, marked: bool) -> list[object]:
        return [
            "✓" if marked else " ",
            r.strategy,
            r.symbol,
            r.frame,
            number(r.compounded_return, signed=True),
            number(r.max_drawdown),
            str(r.trades),
            number(r.win_rate, 1),
            number(r.sharpe_ratio, 3),
            r.exchange,
            r.finished.replace("T", " "),
        ]

    def _show_list(self) -> None:
        table = self.query_one("#history-list", DataTable)
        table.display = True
        self.query_one("#history-compare").display = False
        table.focus()

    def _cursor(self) -> int | None:
        table = self.query_one("#history-list", DataTable)
        if not self.records or not table.display:
            return None
        return table.cursor_row

    def action_mark(self) -> None:
        n = self._cursor()
        if n is None:
            return
        self.marked.symmetric_difference_update({n})
        table = self.query_one("#history-list", DataTable)
        table.update_cell(str(n), "mark", "✓" if n in self.marked else " ")
        table.border_title = (
            f"Finished backtests · {len(self.marked)} marked · Enter compares" if self.marked else LIST_TITLE
        )

    def action_compare(self) -> None:
        if self._cursor() is None:
            return
        if len(self.marked) < 2:
            self.notify("Mark two or more runs with Space, then press Enter to compare them.", markup=False)
            return
        chosen = [self.records[n] for n in sorted(self.marked)]
        table = self.query_one("#history-compare", DataTable)
        table.clear(columns=True)
        table.add_column("", key="metric")
        for n, r in enumerate(chosen):
            table.add_column(r.strategy, key=f"run{n}")
        for label, get in (
            ("Symbol", lambda r: r.symbol),
            ("Exchange", lambda r: r.exchange),
            ("Frame", lambda r: r.frame),
            ("Finished", lambda r: r.finished.replace("T", " ")),
        ):
            table.add_row(Text(label, style="bold"), *(get(r) for r in chosen))
        for name, label, better in METRICS:
            best = best_of(chosen, name, better)
            cells = []
            for r in chosen:
                value = getattr(r, name)
                text = Text(metric_text(name, value))
                if best is not None and value == best and len(chosen) > 1:
                    text.stylize("bold reverse")
                cells.append(text)
            table.add_row(Text(label, style="bold"), *cells)
        table.border_title = f"Comparing {len(chosen)} runs · best of each metric highlighted (Esc: back)"
        table.display = True
        self.query_one("#history-list").display = False
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on the list (the table takes Enter before the screen does) compares."""
        event.stop()
        if event.data_table.id == "history-list":
            self.action_compare()

    def action_back(self) -> None:
        if self.query_one("#history-compare").display:
            self._show_list()
        else:
            self.dismiss(None)
