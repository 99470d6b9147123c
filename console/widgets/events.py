"""Risk rejections and partial milestones: two logs of the selected run, newest at the bottom."""

from __future__ import annotations

from rich.text import Text

from ..state import DashboardState, MilestoneLine, RiskLine
from .base import LogPane, hhmm, price, theme_style


def _run_title(state: DashboardState, run: str | None, what: str, count: int) -> str:
    chosen = state.runs.get(run) if run else None
    where = f" · {chosen.symbol} {chosen.name}" if chosen else ""
    return f"{what}{where} · {count:,}" if count else f"{what}{where}"


class RiskPane(LogPane):
    """Signals a risk profile refused: when, which, at what price, why, and how many positions
    the profile counted open at that moment."""

    COLUMNS = (
        ("time", "Time"),
        ("symbol", "Symbol"),
        ("strategy", "Strategy"),
        ("side", "Side"),
        ("price", "Price"),
        ("active", "Open"),
        ("reason", "Reason"),
    )

    FIXED = {"time": 11, "side": 5}
    FLEX = "reason"  # a long reason is cut to the room, the columns before it stay

    def __init__(self) -> None:
        super().__init__("Risk", "No rejections: every signal passed its risk profile.", id="risk")

    def refresh_from(self, state: DashboardState, run: str | None) -> None:
        self.set_title(_run_title(state, run, "Risk rejections", state.risk_log.count(run)))
        self.show_lines(state.risk_log.of(run))

    def line_count(self, state: DashboardState, run: str | None) -> int:
        return state.risk_log.shown(run)

    def measure(self, line: RiskLine) -> tuple[int, ...]:
        return (
            0,
            len(line.symbol),
            len(line.strategy),
            0,
            len(price(line.price)),
            len(str(line.active)),
            len(line.reason),
        )

    def cells(self, line: RiskLine) -> tuple:
        return (
            hhmm(line.time),
            line.symbol,
            line.strategy,
            line.side.upper(),
            price(line.price),
            str(line.active),
            Text(line.reason, style=theme_style(self, "warning")),
        )

    def restyle(self, state: DashboardState, run: str | None) -> None:
        self.restyle_lines()


class PartialPane(LogPane):
    """Milestones of open positions: 10 %, 20 % ... of the way to the take-profit (profit) or
    the stop-loss (loss), each once per signal."""

    COLUMNS = (
        ("time", "Time"),
        ("symbol", "Symbol"),
        ("strategy", "Strategy"),
        ("signal", "Signal"),
        ("side", "Side"),
        ("level", "Level"),
        ("price", "Price"),
    )

    FIXED = {"time": 11, "signal": 8, "side": 5, "level": 7}

    def __init__(self) -> None:
        super().__init__("Partial", "No milestones yet: open positions report 10 %..100 % to TP or SL.", id="partial")

    def refresh_from(self, state: DashboardState, run: str | None) -> None:
        self.set_title(_run_title(state, run, "Milestones", state.milestone_log.count(run)))
        self.show_lines(state.milestone_log.of(run))

    def line_count(self, state: DashboardState, run: str | None) -> int:
        return state.milestone_log.shown(run)

    def measure(self, line: MilestoneLine) -> tuple[int, ...]:
        return (0, len(line.symbol), len(line.strategy), 0, 0, 0, len(price(line.price)))

    def cells(self, line: MilestoneLine) -> tuple:
        profit = line.kind == "profit"
        level = Text(
            f"{'TP' if profit else 'SL'} {line.level}%", style=theme_style(self, "success" if profit else "error")
        )
        return (
            hhmm(line.time),
            line.symbol,
            line.strategy,
            line.signal_id[:8],
            line.side.upper(),
            level,
            price(line.price),
        )

    def restyle(self, state: DashboardState, run: str | None) -> None:
        self.restyle_lines()
