"""Every closed trade of a run, as the trade inspector lists them (no Textual in here).

The dashboard's signal log keeps the last few hundred lines of a run; the inspector needs every
trade, so it reads them from the engine's own stores through its public API
(``Backtest.get_data``, ``Live.get_data``, ``Partial.get_data``: with ``CC_MAX_REPORT_EVENTS = 0``,
the default, those hold every closed signal). Sorting, filtering and the equity curve with its
drawdown are plain functions here, tested without a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import engine

from .state import DashboardState, RunView


@dataclass(frozen=True, slots=True)
class TradeMilestone:
    """A partial profit or loss level the open position crossed (SPEC 10.1)."""

    time: int
    kind: str  # "profit" or "loss"
    level: int
    price: float


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed trade. ``number`` counts trades in close order from 1 (what the equity curve's
    x axis counts); prices are raw, ``pnl`` is the net percent the engine booked (fees and
    slippage included, SPEC 1.6)."""

    number: int
    signal_id: str
    side: str
    entry: float
    exit: float
    take_profit: float
    stop_loss: float
    opened_at: int
    closed_at: int
    reason: str
    pnl: float
    note: str = ""
    milestones: tuple[TradeMilestone, ...] = ()

    @property
    def duration_ms(self) -> int:
        return max(0, self.closed_at - self.opened_at)


@dataclass(frozen=True, slots=True)
class TradeSource:
    """Whose trades a run shows: the strategy (a walker's: the one its equity pane shows), the
    symbol, exchange and frame, and whether they are backtest trades."""

    run: str
    symbol: str
    strategy: str
    exchange: str
    frame: str
    backtest: bool


def source_of(state: DashboardState, run: RunView) -> TradeSource:
    strategy = run.name
    if run.mode == "walker":
        shown = state.equity_of(run.id)
        strategy = shown[0] if shown is not None else (run.current or run.name)
    return TradeSource(run.id, run.symbol, strategy, run.exchange, run.frame, run.mode != "live")


def _milestones(source: TradeSource) -> dict[str, list[TradeMilestone]]:
    by_signal: dict[str, list[TradeMilestone]] = {}
    try:
        stats = engine.Partial.get_data(source.symbol, source.strategy, source.backtest)
    except engine.NotFoundError:
        return by_signal
    for e in stats.event_list:
        by_signal.setdefault(e.signal_id, []).append(TradeMilestone(e.timestamp, e.action, e.level, e.current_price))
    for marks in by_signal.values():
        marks.sort(key=lambda m: m.time)
    return by_signal


def load_trades(source: TradeSource) -> list[Trade]:
    """Every closed trade the engine holds for ``source``, oldest close first. A strategy the
    engine does not know (a run of a project reloaded since) has none."""
    marks = _milestones(source)
    rows: list[Trade] = []
    try:
        if source.backtest:
            closed: Iterable[Any] = engine.Backtest.get_data(source.symbol, source.strategy).signal_list
            for r in closed:
                s = r.signal
                rows.append(
                    Trade(
                        0,
                        s.id,
                        s.position,
                        r.pnl.price_open,
                        r.pnl.price_close,
                        s.price_take_profit,
                        s.price_stop_loss,
                        s.pending_at or s.scheduled_at,
                        r.close_timestamp,
                        r.close_reason,
                        r.pnl.pnl_percentage,
                        s.note,
                        tuple(marks.get(s.id, ())),
                    )
                )
        else:
            events = engine.Live.get_data(source.symbol, source.strategy).event_list
            for e in events:
                if e.action != "closed" or e.pnl is None:
                    continue
                opened = e.timestamp - (e.duration or 0) * 60_000
                rows.append(
                    Trade(
                        0,
                        e.signal_id or "",
                        e.position or "",
                        e.open_price or 0.0,
                        e.current_price,
                        e.take_profit or 0.0,
                        e.stop_loss or 0.0,
                        opened,
                        e.timestamp,
                        e.close_reason or "",
                        e.pnl,
                        e.note or "",
                        tuple(marks.get(e.signal_id or "", ())),
                    )
                )
    except engine.NotFoundError:
        return []
    rows.sort(key=lambda t: (t.closed_at, t.opened_at, t.signal_id))
    return [_numbered(t, i + 1) for i, t in enumerate(rows)]


def _numbered(t: Trade, n: int) -> Trade:
    return Trade(
        n,
        t.signal_id,
        t.side,
        t.entry,
        t.exit,
        t.take_profit,
        t.stop_loss,
        t.opened_at,
        t.closed_at,
        t.reason,
        t.pnl,
        t.note,
        t.milestones,
    )


SORT_KEYS: dict[str, Callable[[Trade], Any]] = {
    "number": lambda t: t.number,
    "side": lambda t: (t.side, t.number),
    "opened": lambda t: (t.opened_at, t.number),
    "duration": lambda t: (t.duration_ms, t.number),
    "reason": lambda t: (t.reason, t.number),
    "pnl": lambda t: (t.pnl, t.number),
}
"""The columns the inspector sorts by (ties keep the close order)."""


def sort_trades(trades: Sequence[Trade], key: str, descending: bool = False) -> list[Trade]:
    if key not in SORT_KEYS:
        raise ValueError(f"cannot sort trades by {key!r}; by one of {', '.join(SORT_KEYS)}")
    return sorted(trades, key=SORT_KEYS[key], reverse=descending)


REASON_WORDS = {"tp": "take_profit", "sl": "stop_loss"}
"""Short words a trader types for a close reason."""


def matches(trade: Trade, query: str) -> bool:
    """Whether ``trade`` passes the filter: every word must match. ``win``/``loss`` and
    ``>N``/``<N`` (net PnL %) test the result, ``tp``/``sl`` the close reason; any other word
    is looked for in the side, the close reason, the note and the signal id."""
    for word in query.lower().split():
        if word in ("win", "wins"):
            ok = trade.pnl > 0
        elif word in ("loss", "losses"):
            ok = trade.pnl < 0
        elif word[0] in "<>" and _number(word[1:]) is not None:
            bound = _number(word[1:])
            ok = trade.pnl > bound if word[0] == ">" else trade.pnl < bound
        elif word in REASON_WORDS:
            ok = trade.reason == REASON_WORDS[word]
        else:
            ok = any(word in text.lower() for text in (trade.side, trade.reason, trade.note, trade.signal_id))
        if not ok:
            return False
    return True


def _number(text: str) -> float | None:
    try:
        return float(text.rstrip("%"))
    except ValueError:
        return None


def filter_trades(trades: Iterable[Trade], query: str) -> list[Trade]:
    return [t for t in trades if matches(t, query)] if query.strip() else list(trades)


@dataclass(frozen=True, slots=True)
class EquityCurve:
    """Cumulative net PnL % after each trade (the first point is 0, before any trade) and the
    drawdown under it: how far each point is below the highest point before it (0 or negative)."""

    points: tuple[float, ...]
    drawdown: tuple[float, ...]

    @property
    def max_drawdown(self) -> float:
        return min(self.drawdown, default=0.0)


def equity_curve(pnls: Iterable[float]) -> EquityCurve:
    """The curve of trades' net PnL % in close order."""
    points = [0.0]
    for p in pnls:
        points.append(points[-1] + p)
    return cumulative_curve(points)


def cumulative_curve(points: Sequence[float]) -> EquityCurve:
    """The curve of cumulative values that already start at 0 (the dashboard's ``RunView.equity``
    with its 0 put in front)."""
    values = np.asarray(points, dtype=np.float64)
    if np.isnan(values).any() or (np.signbit(values) & (values == 0)).any():
        # the rule as it reads: a NaN never becomes the peak, and on a tie the peak keeps its
        # own sign of zero (np.maximum takes the second); a curve that starts at 0.0 and adds
        # PnLs never holds a -0.0, so this is the rare path
        peak, drawdown = points[0], []
        for v in points:
            peak = max(peak, v)
            drawdown.append(v - peak)
        return EquityCurve(tuple(points), tuple(drawdown))
    # the same, a column at a time (a fast run's 5,000 trades at each redraw): without NaN or
    # -0.0, a tie between the peak and a point is between equal values, whichever is kept
    with np.errstate(invalid="ignore"):  # inf - inf is NaN here as in the loop, without a warning
        drawdown = values - np.maximum.accumulate(values)
    return EquityCurve(tuple(points), tuple(drawdown.tolist()))


TRADE_MARGIN_MS = 30 * 60_000
"""A trade's chart shows at least this much before its entry and after its exit."""


def run_window(source: TradeSource, trades: Sequence[Trade]) -> tuple[int, int] | None:
    """The period a chart of the whole run shows: its frame (a backtest), else from the first
    entry to the last exit; None when there is neither."""
    frame = next((f for f in engine.list_frames() if f.frame_name == source.frame), None)
    if frame is not None and source.backtest:
        return frame.start_ms, frame.end_ms
    if trades:
        return min(t.opened_at for t in trades), max(t.closed_at for t in trades)
    return None


def trade_window(t: Trade) -> tuple[int, int]:
    """The period a chart of one trade shows: its life, with a margin on each side."""
    margin = max(TRADE_MARGIN_MS, t.duration_ms)
    return t.opened_at - margin, t.closed_at + margin
