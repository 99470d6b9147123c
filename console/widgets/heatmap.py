"""The heatmap: one strategy's results per symbol, each number on a colour as strong as it is
good or bad, so the symbols to keep and to drop stand out."""

from __future__ import annotations

from rich.text import Text

import engine

from ..state import DashboardState
from .base import TablePane, scaled_text


def _fmt(value: float | None, fmt: str) -> str:
    return "N/A" if value is None else fmt.format(value)


def _scale(values: list[float | None]) -> float:
    """The largest magnitude in a column (1 when there is none, so nothing divides by zero)."""
    return max((abs(v) for v in values if v is not None), default=0.0) or 1.0


class HeatmapPane(TablePane):
    """Engine ``Heat.get_data`` of the selected run's strategy (a walker: the strategy it shows in
    the equity pane), sorted by Sharpe ratio as the heatmap report is, with a portfolio line."""

    COLUMNS = (
        ("symbol", "Symbol"),
        ("pnl", "Total PnL"),
        ("sharpe", "Sharpe"),
        ("win", "Win rate"),
        ("dd", "Max DD"),
        ("trades", "Trades"),
    )

    def __init__(self) -> None:
        super().__init__("Heatmap", "Select a run with closed trades to see its strategy per symbol.", id="heatmap")
        self.strategy: str | None = None

    def refresh_from(self, state: DashboardState, run: str | None) -> None:
        chosen = state.equity_of(run)
        selected = state.runs.get(run) if run else None
        if chosen is None or selected is None:
            self.set_title("Heatmap")
            self.sync({})
            return
        strategy = chosen[0]
        backtest = selected.mode != "live"
        try:
            data = engine.Heat.get_data(strategy, backtest)
        except Exception as exc:  # a strategy removed from the project: say so, keep the app up
            self.set_title(f"Heatmap · {strategy}: {exc}")
            self.sync({})
            return
        self.strategy = strategy
        rows = data.symbols
        pnl_scale = _scale([r.total_pnl for r in rows])
        sharpe_scale = _scale([r.sharpe_ratio for r in rows])
        win_scale = _scale([None if r.win_rate is None else r.win_rate - 50 for r in rows])
        dd_scale = _scale([r.max_drawdown for r in rows])
        out: dict[str, tuple] = {}
        for r in rows:
            out[r.symbol] = (
                Text(r.symbol, style="bold"),
                self._signed(r.total_pnl, pnl_scale, "{:+.2f}%"),
                self._signed(r.sharpe_ratio, sharpe_scale, "{:.3f}"),
                self._signed(None if r.win_rate is None else r.win_rate - 50, win_scale, "", r.win_rate),
                scaled_text(
                    self,
                    _fmt(None if r.max_drawdown is None else -r.max_drawdown, "{:.2f}%"),
                    None if r.max_drawdown is None else r.max_drawdown / dd_scale,
                    good=False,
                ),
                Text(f"{r.total_trades:,}"),
            )
        portfolio = (
            f" · portfolio {_fmt(data.portfolio_total_pnl, '{:+.2f}%')}"
            f" · Sharpe {_fmt(data.portfolio_sharpe_ratio, '{:.3f}')}"
            f" · {data.portfolio_total_trades:,} trades"
            if rows
            else ""
        )
        mode = "" if backtest else " (live)"
        self.set_title(f"Heatmap · {strategy}{mode}{portfolio}")
        self.sync(out, ordered=True)

    def _signed(self, value: float | None, scale: float, fmt: str, shown: float | None = None) -> Text:
        """A value whose sign says good or bad; ``shown`` is printed instead when given (win
        rate is scaled around 50 % but printed as itself)."""
        if value is None:
            return Text("N/A", style="dim")
        text = f"{shown:.1f}%" if shown is not None else fmt.format(value)
        return scaled_text(self, text, abs(value) / scale, good=value >= 0)
