"""The console's layout of the reports it writes (issue 14 item 13).

The engine's reports reproduce the original's columns (SPEC 12.2-12.9): a 36-character signal id
first, prices with 8 decimals and `` USD``, the PnL far to the right. That stays the engine's
default (``engine.Backtest.get_report`` and friends are faithful to SPEC 12); the console passes
its own columns instead (SPEC 12.10 lets every ``get_report``/``dump`` take a column list): time,
side and PnL first, prices as the dashboard prints them, the id last and shortened.

Markdown joins consecutive lines into one paragraph, so the reports' ``**Label:** value`` lines
(the walker's symbol, exchange, frame...) ran together on one line in every viewer;
``one_per_line`` ends each such line with a hard break.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import engine

from .widgets.base import minutes, price

__all__ = [
    "ID_CHARS",
    "backtest_columns",
    "live_columns",
    "one_per_line",
    "price_cell",
    "schedule_columns",
    "short_id",
    "walker_pnl_columns",
]

ID_CHARS = 8
"""The head of a signal id the reports print: enough to find it in a log (``grep``), short
enough not to lead the row."""

NA = "N/A"


def short_id(value: Any) -> str:
    return NA if not value else str(value)[:ID_CHARS]


def price_cell(value: float | None) -> str:
    """A price at the precision it needs (``43,250.50``, ``1.2345``, ``0.000123``)."""
    return NA if value is None else price(value)


def time_cell(ms: int | None) -> str:
    """``2024-03-01 14:05`` UTC: the minute is what a 1m-candle backtest can tell apart."""
    if ms is None:
        return NA
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def pnl_cell(value: float | None) -> str:
    return NA if value is None else f"{'+' if value > 0 else ''}{value:.2f}%"


def side_cell(value: Any) -> str:
    return NA if value is None else str(value).upper()


def text_cell(value: Any) -> str:
    return NA if value is None or value == "" else str(value)


def held_cell(start: int | None, end: int | None) -> str:
    """How long a trade was held, as the dashboard says it (``45m``, ``3h05``, ``2d04h``)."""
    return NA if start is None or end is None else minutes(end - start)


def _col(key: str, label: str, fmt: Any) -> engine.Column:
    return engine.Column(key, label, fmt)


def backtest_columns() -> list[engine.Column]:
    """Closed trades: when, which side, the result, why, then the prices, the id last."""
    return [
        _col("close_time", "Closed (UTC)", lambda r, i: time_cell(r.close_timestamp)),
        _col("position", "Side", lambda r, i: side_cell(r.signal.position)),
        _col("pnl", "PnL (net)", lambda r, i: pnl_cell(r.pnl.pnl_percentage)),
        _col("close_reason", "Reason", lambda r, i: text_cell(r.close_reason)),
        _col("held", "Held", lambda r, i: held_cell(r.signal.pending_at, r.close_timestamp)),
        _col("price_open", "Entry", lambda r, i: price_cell(r.signal.price_open)),
        _col("price_close", "Exit", lambda r, i: price_cell(r.current_price)),
        _col("take_profit", "TP", lambda r, i: price_cell(r.signal.price_take_profit)),
        _col("stop_loss", "SL", lambda r, i: price_cell(r.signal.price_stop_loss)),
        _col("open_time", "Opened (UTC)", lambda r, i: time_cell(r.signal.pending_at)),
        _col("signal_id", "Id", lambda r, i: short_id(r.signal.id)),
    ]


def live_columns() -> list[engine.Column]:
    """Live events: when, what happened, the side and the result first."""
    return [
        _col("timestamp", "Time (UTC)", lambda e, i: time_cell(e.timestamp)),
        _col("action", "Event", lambda e, i: side_cell(e.action)),
        _col("position", "Side", lambda e, i: side_cell(e.position)),
        _col("pnl", "PnL (net)", lambda e, i: pnl_cell(e.pnl)),
        _col("close_reason", "Reason", lambda e, i: text_cell(e.close_reason)),
        _col("current_price", "Price", lambda e, i: price_cell(e.current_price)),
        _col("open_price", "Entry", lambda e, i: price_cell(e.open_price)),
        _col("take_profit", "TP", lambda e, i: price_cell(e.take_profit)),
        _col("stop_loss", "SL", lambda e, i: price_cell(e.stop_loss)),
        _col("duration", "Held (min)", lambda e, i: text_cell(e.duration)),
        _col("symbol", "Symbol", lambda e, i: text_cell(e.symbol)),
        _col("signal_id", "Id", lambda e, i: short_id(e.signal_id)),
    ]


def schedule_columns() -> list[engine.Column]:
    """Limit entries: when, what happened to them, at which limit, how long they waited."""
    return [
        _col("timestamp", "Time (UTC)", lambda e, i: time_cell(e.timestamp)),
        _col("action", "Event", lambda e, i: side_cell(e.action)),
        _col("position", "Side", lambda e, i: side_cell(e.position)),
        _col("price_open", "Limit", lambda e, i: price_cell(e.price_open)),
        _col("current_price", "Price", lambda e, i: price_cell(e.current_price)),
        _col("take_profit", "TP", lambda e, i: price_cell(e.take_profit)),
        _col("stop_loss", "SL", lambda e, i: price_cell(e.stop_loss)),
        _col("duration", "Waited (min)", lambda e, i: text_cell(e.duration)),
        _col("signal_id", "Id", lambda e, i: short_id(e.signal_id)),
    ]


def walker_pnl_columns() -> list[engine.Column]:
    """Every closed trade of the walker's strategies: the strategy, when, side, result, id last."""
    return [
        _col("strategy", "Strategy", lambda r, i: text_cell(r.strategy_name)),
        _col("close_time", "Closed (UTC)", lambda r, i: time_cell(r.signal.close_timestamp)),
        _col("position", "Side", lambda r, i: side_cell(r.signal.signal.position)),
        _col("pnl", "PnL (net)", lambda r, i: pnl_cell(r.signal.pnl.pnl_percentage)),
        _col("close_reason", "Reason", lambda r, i: text_cell(r.signal.close_reason)),
        _col("open_time", "Opened (UTC)", lambda r, i: time_cell(r.signal.signal.pending_at)),
        _col("signal_id", "Id", lambda r, i: short_id(r.signal.signal.id)),
    ]


def one_per_line(markdown: str) -> str:
    """End every line of a run of ``**Label:** value`` lines (but the last) with a hard break,
    so a markdown viewer shows one per line instead of one paragraph; tables, headings and other
    text are left as they are."""
    lines = markdown.split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.startswith("**") and nxt.startswith("**") and not line.endswith("  "):
            line += "  "
        out.append(line)
    return "\n".join(out)
