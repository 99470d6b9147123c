"""The walker leaderboard: strategies ranked by the walker's metric as each one finishes."""

from __future__ import annotations

from rich.text import Text

from ..state import DashboardState, LeaderRow, WalkerView
from .base import TablePane, column_width, same_cell, signed_text, theme_style

METRIC_LABELS = {
    "sharpe_ratio": "Sharpe",
    "annualized_sharpe_ratio": "Ann. Sharpe",
    "win_rate": "Win rate",
    "total_pnl": "Total PnL",
    "certainty_ratio": "Certainty",
    "avg_pnl": "Avg PnL",
    "expected_yearly_returns": "Yearly ret.",
}


SIGNED_METRICS = frozenset(
    {"sharpe_ratio", "annualized_sharpe_ratio", "total_pnl", "avg_pnl", "expected_yearly_returns"}
)
"""Metrics whose sign says good or bad: coloured by it. A win rate or a certainty ratio is never
negative, so it stays plain."""

SAME_AS_SHARPE = frozenset({"sharpe_ratio"})
"""Metrics that are the Sharpe column already: ranked by one, the board shows it once."""


def _number(value: float | None, fmt: str = "{:.3f}") -> Text:
    return Text("N/A", style="dim") if value is None else Text(fmt.format(value))


class LeaderboardPane(TablePane):
    """Rank, strategy, metric, signals, win rate, average and total PnL, Sharpe; the best row
    marked and highlighted; strategies not tested yet below, the one under test with its progress."""

    COLUMNS = (
        ("rank", "#"),
        ("strategy", "Strategy"),
        ("metric", "Metric"),
        ("signals", "Signals"),
        ("win", "Win rate"),
        ("avg", "Avg PnL"),
        ("total", "Total PnL"),
        ("sharpe", "Sharpe"),
    )

    def __init__(self) -> None:
        super().__init__("Walker", "No walker yet: press w to compare strategies.", id="leaderboard")
        self._shown: list[tuple[str, tuple]] = []

    def refresh_from(self, state: DashboardState, run: str | None) -> None:
        view = state.walker_for(run)
        table = self.table
        if view is None:
            self.set_title("Walker")
            self._shown = []
            self.set_empty(True)
            return
        walker_run = state.runs.get(view.run)
        self.set_title(self._title(view, walker_run.status if walker_run else ""))
        label = METRIC_LABELS.get(view.metric, view.metric)
        columns = self._columns(view)
        keep = [n for n, (key, _) in enumerate(self.COLUMNS) if key in {k for k, _ in columns}]
        rows = [
            (f"{view.run}|{r.strategy}", tuple(self._cells(view, r, i)[n] for n in keep))
            for i, r in enumerate(view.ranked())
        ]
        shown = [(label, ()), *rows]
        if len(shown) == len(self._shown) and all(
            k == k2 and all(same_cell(a, b) for a, b in zip(c, c2)) for (k, c), (k2, c2) in zip(shown, self._shown)
        ):
            return
        # A few rows: laid out afresh on every change, so each column is as wide as what it shows
        # now (a DataTable column only ever widens, and a passing "testing 100%" would stay in its
        # width: the layout would depend on which moments happened to be drawn), each width set as
        # it is laid out (``column_width``).
        table.clear(columns=True)
        for n, (key, text) in enumerate(columns):
            title = label if key == "metric" else text
            table.add_column(title, key=key, width=column_width(title, (cells[n] for _, cells in rows)))
        for key, cells in rows:
            table.add_row(*cells, key=key)
        self._shown = shown
        self.set_empty(not rows)

    def _columns(self, view: WalkerView) -> tuple[tuple[str, str], ...]:
        """The columns for this walker: ranked by Sharpe, the Metric column is the Sharpe column
        (issue 14 item 14: the board showed two Sharpe columns)."""
        if view.metric in SAME_AS_SHARPE:
            return tuple(c for c in self.COLUMNS if c[0] != "sharpe")
        return self.COLUMNS

    def _title(self, view: WalkerView, status: str) -> str:
        total = len(view.rows)
        title = f"Walker · {view.walker} · {view.symbol} · by {view.metric} · {view.tested}/{total} tested"
        if view.complete and view.best:
            title += f" · best {view.best}"
        elif status == "failed":
            title += " · failed"
        return title

    def _cells(self, view: WalkerView, r: LeaderRow, index: int) -> tuple:
        best = r.status == "done" and r.strategy == view.best
        if r.status != "done":
            muted = "dim"
            if r.status == "testing":
                state = Text(f"testing {view.current_progress * 100:.0f}%", style=theme_style(self, "accent"))
            elif r.status == "failed":
                state = Text(f"failed: {r.error or ''}"[:60], style=theme_style(self, "error"))
            else:
                state = Text("waiting", style=muted)
            blank = Text("")
            return (Text("·", style=muted), Text(r.strategy, style=muted), state, blank, blank, blank, blank, blank)
        # the best row stands out by its star and weight, not by the success colour: a best
        # Sharpe can be negative, and it was drawn green (issue 14 item 14); its sign colours it
        style = theme_style(self, "accent", bold=True) if best else None
        rank = Text(f"★{index + 1}" if best else f" {index + 1}", style=style or "")
        name = Text(r.strategy, style=style or "")
        metric = _number(r.metric, "{:.4f}" if r.metric is not None and abs(r.metric) < 10 else "{:,.2f}")
        if r.metric is not None and view.metric in SIGNED_METRICS and r.metric:
            metric.stylize(theme_style(self, "success" if r.metric > 0 else "error", bold=best))
        win = Text("N/A", style="dim") if r.win_rate is None else Text(f"{r.win_rate:.1f}%")
        return (
            rank,
            name,
            metric,
            Text(str(r.signals)),
            win,
            signed_text(self, r.avg_pnl),
            signed_text(self, r.total_pnl),
            _number(r.sharpe),
        )
