"""The Account pane: balance, equity, today's PnL, open orders and the breaker of the broker a
live run trades through (README "Orders and accounts").

It is shown only while the session knows an account (a live run started, or an account event
came): a backtest has none, and at 80x24 its room goes to the panes a backtest needs. Its lines
go by priority (issue 14 item 4): what a trader must see first (equity and today's PnL, then
whether new entries are allowed) comes first, so a short pane loses the lines at the end.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from engine import AccountSnapshot

from ..state import DashboardState
from .base import Pane, signed_text, theme_style


def money(value: float) -> str:
    return f"{value:,.2f}"


class AccountPane(Pane):
    """One account; it has no table, so the pane itself takes the focus (Tab, z zooms it)."""

    can_focus = True

    def __init__(self) -> None:
        super().__init__("Account", "No account: a live run opens one.", id="account")
        self._snap: AccountSnapshot | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="account-lines")

    def on_mount(self) -> None:
        self.set_empty(True)
        self.display = False

    def on_resize(self) -> None:
        if self._snap is not None:
            self._draw(self._snap)

    def refresh_from(self, state: DashboardState, run: str | None) -> None:
        snap = state.account_of(run)
        self.display = snap is not None or bool(state.active_live_runs())
        self._snap = snap
        if snap is None:
            self.set_title("Account")
            self.set_empty(True)
            return
        self.set_empty(False)
        self._draw(snap)

    def lines(self, snap: AccountSnapshot) -> list[Text]:
        """Every line, most important first; the pane shows as many as fit."""
        first = Text("Equity ")
        first.append(money(snap.equity), style="bold")
        day = Text("Today ")
        day.append_text(signed_text(self, snap.day_pnl, suffix=""))
        if snap.breaker is not None:
            state = Text(f"CLOSE-ONLY: {snap.breaker}", style=theme_style(self, "error", bold=True))
        else:
            state = Text("trading", style=theme_style(self, "success"))
        second = state  # first on its line: a narrow pane cuts the end
        second.append(f" · {snap.open_orders} open order{'' if snap.open_orders == 1 else 's'}")
        third = Text(f"Balance {money(snap.balance)}")
        fourth = Text("Realised ")
        fourth.append_text(signed_text(self, snap.realised_pnl, suffix=""))
        fourth.append(f"  fees {money(snap.fees_paid)}")
        held = ", ".join(f"{s} {q:g}" for s, q in snap.positions.items() if q)
        fifth = Text(f"Holds {held}" if held else "Holds nothing", style="dim")
        return [first, second, day, third, fourth, fifth]

    def _draw(self, snap: AccountSnapshot) -> None:
        self.set_title(f"Account · {snap.broker} {snap.currency}")
        room = self.content_region.height or 5
        lines = self.lines(snap)[: max(1, room)]
        width = self.content_region.width - 2  # the padding of #account-lines
        if width > 0:  # a line never wraps onto the next one's place: its end is cut
            for line in lines:
                line.truncate(width, overflow="ellipsis")
        self.query_one("#account-lines", Static).update(Text("\n").join(lines))
