"""The confirmation before a live position is closed by hand (``c``) or every position of a
strategy is (``F``, flatten): what will happen, position by position, before the order is sent."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static

from ..preview import ClosePreview
from .dialogs import ConfirmScreen


def _amount(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def preview_table(previews: Sequence[ClosePreview]) -> Table:
    """One row per exit order: side, quantity, estimated price and fee, the trade's PnL after
    both fees (in the quote currency, then in percent)."""
    table = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False)
    for name, justify in (("Symbol", "left"), ("Order", "left"), ("Qty", "right"), ("~Price", "right")):
        table.add_column(name, justify=justify, no_wrap=True)
    for name in ("~Fee", "Net PnL", "%"):
        table.add_column(name, justify="right", no_wrap=True)
    for p in previews:
        table.add_row(
            p.symbol,
            f"{p.side.upper()} market",
            "n/a" if p.quantity is None else f"{p.quantity:.6g}",
            _amount(p.price),
            _amount(p.fee),
            "n/a" if p.pnl is None else f"{'+' if p.pnl > 0 else ''}{p.pnl:,.2f}",
            f"{'+' if p.pnl_percent > 0 else ''}{p.pnl_percent:.2f}%",
        )
    return table


class ClosePreviewScreen(ConfirmScreen):
    """y/Enter sends the close orders, n/Esc leaves the positions as they are."""

    def __init__(self, question: str, previews: Sequence[ClosePreview], note: str, yes: str = "Close") -> None:
        super().__init__(question, note, yes=yes, id="confirm-close")
        self.previews = list(previews)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="dialog-title")
            yield Static(preview_table(self.previews), id="close-preview")
            yield Static(self.detail, id="dialog-note", markup=False)
            yield Static(
                Text.assemble(("y", "bold"), f"/Enter {self.yes}    ", ("n", "bold"), "/Esc Cancel"), id="dialog-keys"
            )
