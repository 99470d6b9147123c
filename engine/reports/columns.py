"""Default report columns and the active engine's column configuration (SPEC 12.10).

Each report renders its table from a list of ``Column``s. The defaults below reproduce the
labels and cell formats of SPEC 12.2-12.9; ``set_columns`` lets a user swap whole lists, with
every problem of a bad configuration reported at once and nothing changed on failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from operator import attrgetter
from typing import Any

from engine.config import GLOBAL_CONFIG
from engine.reports.format import (
    NA,
    fmt_fixed,
    fmt_iso,
    fmt_percent,
    fmt_price,
    fmt_signed_percent,
    js_number,
    js_round,
    printf,
)
from engine.reports.markdown import Column, always_visible
from engine.scope import active

__all__ = [
    "COLUMN_COLLECTIONS",
    "Column",
    "ColumnConfigError",
    "get_columns",
    "get_default_columns",
    "reset_columns",
    "set_columns",
]

COLUMN_COLLECTIONS: tuple[str, ...] = (
    "backtest_columns",
    "heat_columns",
    "live_columns",
    "partial_columns",
    "performance_columns",
    "risk_columns",
    "schedule_columns",
    "walker_pnl_columns",
    "walker_strategy_columns",
)
"""The collection names ``set_columns`` accepts."""

_FIELDS = ("key", "label", "format", "is_visible")


def show_note() -> bool:
    """Visibility of every Note column: read at render time, so a ``set_config`` applies at once."""
    return bool(GLOBAL_CONFIG.CC_REPORT_SHOW_SIGNAL_NOTE)


def field_of(obj: Any, name: str) -> Any:
    """``obj.name`` or ``obj[name]`` or ``None``: risk payloads carry the signal the user
    returned, which may be a ``SignalDto``, a ``SignalRow`` or a plain dict."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _text(value: Any) -> str:
    """A free-text or identifier cell: ``N/A`` for a missing value, numbers as JavaScript prints them."""
    if value is None:
        return NA
    if isinstance(value, int | float) and not isinstance(value, bool):
        return js_number(value)
    return str(value)


def _upper(value: Any) -> str:
    return NA if value is None else str(value).upper()


def _minutes_between(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return NA
    return str(js_round((end - start) / 60_000))


def _pct_fmt(fmt: str, value: float | None) -> str:
    return NA if value is None else printf(fmt, value)


# ------------------------------------------------------------------ defaults, one builder per report
# Builders return fresh lists so nobody can mutate the defaults through a returned list.


def _closed(
    key: str, label: str, fields: str, fmt: Callable[..., str], visible: Callable[[], bool] = always_visible
) -> Column:
    """A backtest column: ``fmt`` of the closed result's ``fields`` (attribute paths, comma-separated),
    for one result (``format``) or for a packed chunk's columns of them (``column``), one rule."""
    names = tuple(fields.split(","))
    get = attrgetter(*names)
    if len(names) == 1:

        def one(r: Any, i: int) -> str:
            return fmt(get(r))

    else:

        def one(r: Any, i: int) -> str:
            return fmt(*get(r))

    def chunk(packed: Any) -> list[str] | None:
        values = [packed.column(name) for name in names]
        return None if None in values else list(map(fmt, *values))

    return Column(key, label, one, visible, chunk)


def _backtest_columns() -> list[Column]:
    return [
        _closed("signal_id", "Signal ID", "signal.id", _text),
        _closed("symbol", "Symbol", "signal.symbol", _text),
        _closed("position", "Position", "signal.position", _upper),
        _closed("note", "Note", "signal.note", _text, show_note),
        _closed("price_open", "Open Price", "signal.price_open", fmt_price),
        _closed("price_close", "Close Price", "current_price", fmt_price),
        _closed("take_profit", "Take Profit", "signal.price_take_profit", fmt_price),
        _closed("stop_loss", "Stop Loss", "signal.price_stop_loss", fmt_price),
        _closed("pnl", "PNL (net)", "pnl.pnl_percentage", fmt_signed_percent),
        _closed("close_reason", "Close Reason", "close_reason", _text),
        _closed("duration", "Duration (min)", "signal.pending_at,close_timestamp", _minutes_between),
        _closed("open_timestamp", "Open Time", "signal.pending_at", fmt_iso),
        _closed("close_timestamp", "Close Time", "close_timestamp", fmt_iso),
    ]


def _live_columns() -> list[Column]:
    return [
        Column("timestamp", "Timestamp", lambda e, i: fmt_iso(e.timestamp)),
        Column("action", "Action", lambda e, i: _upper(e.action)),
        Column("symbol", "Symbol", lambda e, i: _text(e.symbol)),
        Column("signal_id", "Signal ID", lambda e, i: _text(e.signal_id)),
        Column("position", "Position", lambda e, i: _upper(e.position)),
        Column("note", "Note", lambda e, i: _text(e.note), show_note),
        Column("current_price", "Current Price", lambda e, i: fmt_price(e.current_price)),
        Column("open_price", "Open Price", lambda e, i: fmt_price(e.open_price)),
        Column("take_profit", "Take Profit", lambda e, i: fmt_price(e.take_profit)),
        Column("stop_loss", "Stop Loss", lambda e, i: fmt_price(e.stop_loss)),
        Column("percent_tp", "% to TP", lambda e, i: fmt_percent(e.percent_tp)),
        Column("percent_sl", "% to SL", lambda e, i: fmt_percent(e.percent_sl)),
        Column("pnl", "PNL (net)", lambda e, i: fmt_signed_percent(e.pnl)),
        Column("close_reason", "Close Reason", lambda e, i: _text(e.close_reason)),
        Column("duration", "Duration (min)", lambda e, i: _text(e.duration)),
    ]


def _schedule_columns() -> list[Column]:
    return [
        Column("timestamp", "Timestamp", lambda e, i: fmt_iso(e.timestamp)),
        Column("action", "Action", lambda e, i: _upper(e.action)),
        Column("symbol", "Symbol", lambda e, i: _text(e.symbol)),
        Column("signal_id", "Signal ID", lambda e, i: _text(e.signal_id)),
        Column("position", "Position", lambda e, i: _upper(e.position)),
        Column("note", "Note", lambda e, i: _text(e.note), show_note),
        Column("current_price", "Current Price", lambda e, i: fmt_price(e.current_price)),
        Column("price_open", "Entry Price", lambda e, i: fmt_price(e.price_open)),
        Column("take_profit", "Take Profit", lambda e, i: fmt_price(e.take_profit)),
        Column("stop_loss", "Stop Loss", lambda e, i: fmt_price(e.stop_loss)),
        Column("duration", "Wait Time (min)", lambda e, i: _text(e.duration)),
    ]


def _level(e: Any) -> str:
    return ("+" if e.action == "profit" else "-") + _text(e.level) + "%"


def _partial_columns() -> list[Column]:
    return [
        Column("action", "Action", lambda e, i: _upper(e.action)),
        Column("symbol", "Symbol", lambda e, i: _text(e.symbol)),
        Column("strategy_name", "Strategy", lambda e, i: _text(e.strategy_name)),
        Column("signal_id", "Signal ID", lambda e, i: _text(e.signal_id)),
        Column("position", "Position", lambda e, i: _upper(e.position)),
        Column("level", "Level %", lambda e, i: _level(e)),
        Column("current_price", "Current Price", lambda e, i: fmt_price(e.current_price)),
        Column("timestamp", "Timestamp", lambda e, i: fmt_iso(e.timestamp)),
        Column("mode", "Mode", lambda e, i: "Backtest" if e.backtest else "Live"),
    ]


def _risk_columns() -> list[Column]:
    def sig(e: Any, name: str) -> Any:
        return field_of(e.pending_signal, name)

    return [
        Column("symbol", "Symbol", lambda e, i: _text(e.symbol)),
        Column("strategy_name", "Strategy", lambda e, i: _text(e.strategy_name)),
        Column("signal_id", "Signal ID", lambda e, i: _text(sig(e, "id") or None)),
        Column("position", "Position", lambda e, i: _upper(sig(e, "position"))),
        Column("note", "Note", lambda e, i: _text(sig(e, "note")), show_note),
        Column("exchange_name", "Exchange", lambda e, i: _text(e.exchange_name)),
        Column("price_open", "Open Price", lambda e, i: fmt_price(sig(e, "price_open"))),
        Column("take_profit", "Take Profit", lambda e, i: fmt_price(sig(e, "price_take_profit"))),
        Column("stop_loss", "Stop Loss", lambda e, i: fmt_price(sig(e, "price_stop_loss"))),
        Column("current_price", "Current Price", lambda e, i: fmt_price(e.current_price)),
        Column("active_position_count", "Active Positions", lambda e, i: _text(e.active_position_count)),
        Column("comment", "Reason", lambda e, i: _text(e.comment)),
        Column("timestamp", "Timestamp", lambda e, i: fmt_iso(e.timestamp)),
    ]


def _max_dd(value: float | None) -> str:
    return NA if value is None else printf("%.2f%%", -value)


def _heat_columns() -> list[Column]:
    return [
        Column("symbol", "Symbol", lambda r, i: _text(r.symbol)),
        Column("total_pnl", "Total PNL", lambda r, i: _pct_fmt("%+.2f%%", r.total_pnl)),
        Column("sharpe_ratio", "Sharpe", lambda r, i: _pct_fmt("%.2f", r.sharpe_ratio)),
        Column("profit_factor", "PF", lambda r, i: _pct_fmt("%.2f", r.profit_factor)),
        Column("expectancy", "Expect", lambda r, i: _pct_fmt("%+.2f%%", r.expectancy)),
        Column("win_rate", "WR", lambda r, i: _pct_fmt("%.1f%%", r.win_rate)),
        Column("avg_win", "Avg Win", lambda r, i: _pct_fmt("%+.2f%%", r.avg_win)),
        Column("avg_loss", "Avg Loss", lambda r, i: _pct_fmt("%+.2f%%", r.avg_loss)),
        Column("max_drawdown", "Max DD", lambda r, i: _max_dd(r.max_drawdown)),
        Column("max_win_streak", "W Streak", lambda r, i: _text(r.max_win_streak)),
        Column("max_loss_streak", "L Streak", lambda r, i: _text(r.max_loss_streak)),
        Column("total_trades", "Trades", lambda r, i: _text(r.total_trades)),
    ]


def _performance_columns() -> list[Column]:
    def ms(name: str) -> Callable[[Any, int], str]:
        return lambda m, i: fmt_fixed(getattr(m, name), 2)

    return [
        Column("metric_type", "Metric Type", lambda m, i: _text(m.metric_type)),
        Column("count", "Count", lambda m, i: _text(m.count)),
        Column("total_duration", "Total (ms)", ms("total_duration")),
        Column("avg_duration", "Avg (ms)", ms("avg_duration")),
        Column("min_duration", "Min (ms)", ms("min_duration")),
        Column("max_duration", "Max (ms)", ms("max_duration")),
        Column("std_dev", "Std Dev (ms)", ms("std_dev")),
        Column("median", "Median (ms)", ms("median")),
        Column("p95", "P95 (ms)", ms("p95")),
        Column("p99", "P99 (ms)", ms("p99")),
        Column("avg_wait_time", "Avg Wait (ms)", ms("avg_wait_time")),
        Column("min_wait_time", "Min Wait (ms)", ms("min_wait_time")),
        Column("max_wait_time", "Max Wait (ms)", ms("max_wait_time")),
    ]


def _walker_strategy_columns() -> list[Column]:
    return [
        Column("rank", "Rank", lambda r, i: str(i + 1)),
        Column("strategy_name", "Strategy", lambda r, i: _text(r.strategy_name)),
        Column("metric_value", "Metric", lambda r, i: fmt_fixed(r.metric_value, 2)),
        Column("total_signals", "Total Signals", lambda r, i: _text(r.stats.total_signals)),
        Column("win_rate", "Win Rate", lambda r, i: fmt_percent(r.stats.win_rate)),
        Column("avg_pnl", "Avg PNL", lambda r, i: fmt_signed_percent(r.stats.avg_pnl)),
        Column("total_pnl", "Total PNL", lambda r, i: fmt_signed_percent(r.stats.total_pnl)),
        Column("sharpe_ratio", "Sharpe Ratio", lambda r, i: fmt_fixed(r.stats.sharpe_ratio, 3)),
        Column("std_dev", "Std Dev", lambda r, i: fmt_fixed(r.stats.std_dev, 3, "%")),
    ]


def _walker_pnl_columns() -> list[Column]:
    return [
        Column("strategy_name", "Strategy", lambda r, i: _text(r.strategy_name)),
        Column("signal_id", "Signal ID", lambda r, i: _text(r.signal.signal.id)),
        Column("symbol", "Symbol", lambda r, i: _text(r.signal.signal.symbol)),
        Column("position", "Position", lambda r, i: _upper(r.signal.signal.position)),
        Column("pnl", "PNL (net)", lambda r, i: fmt_signed_percent(r.signal.pnl.pnl_percentage)),
        Column("close_reason", "Close Reason", lambda r, i: _text(r.signal.close_reason)),
        Column("open_timestamp", "Open Time", lambda r, i: fmt_iso(r.signal.signal.pending_at)),
        Column("close_timestamp", "Close Time", lambda r, i: fmt_iso(r.signal.close_timestamp)),
    ]


_BUILDERS: dict[str, Callable[[], list[Column]]] = {
    "backtest_columns": _backtest_columns,
    "heat_columns": _heat_columns,
    "live_columns": _live_columns,
    "partial_columns": _partial_columns,
    "performance_columns": _performance_columns,
    "risk_columns": _risk_columns,
    "schedule_columns": _schedule_columns,
    "walker_pnl_columns": _walker_pnl_columns,
    "walker_strategy_columns": _walker_strategy_columns,
}

DEFAULTS: dict[str, tuple[Column, ...]] = {name: tuple(build()) for name, build in _BUILDERS.items()}


# ------------------------------------------------------------------ configuration API


class ColumnConfigError(ValueError):
    """A rejected ``set_columns`` call; ``problems`` lists every failed rule, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  {n}. {p}" for n, p in enumerate(self.problems, 1))
        super().__init__(f"column configuration is invalid:\n{lines}")


def get_columns() -> dict[str, list[Column]]:
    """A copy of the columns in force: collection name -> list (changing it changes nothing)."""
    return {name: list(cols) for name, cols in active().columns.items()}


def get_default_columns() -> dict[str, list[Column]]:
    """A copy of the built-in columns of SPEC 12.2-12.9."""
    return {name: list(cols) for name, cols in DEFAULTS.items()}


def columns_for(name: str, override: Iterable[Column] | None = None) -> list[Column]:
    """The columns a report uses: ``override`` when the caller gave some, else those in force
    for the collection ``name``."""
    return list(override) if override is not None else list(active().columns[name])


def reset_columns() -> None:
    """Back to the built-in columns (handy in tests and notebooks)."""
    active().columns = dict(DEFAULTS)


def _read_field(item: Any, name: str) -> tuple[bool, Any]:
    if isinstance(item, Mapping):
        return (name in item, item.get(name))
    return (hasattr(item, name), getattr(item, name, None))


def _hint(item: Any, name: str) -> str:
    camel = {"is_visible": "isVisible"}.get(name)
    if camel and _read_field(item, camel)[0]:
        return f" (found {camel!r}; fields are snake_case)"
    return ""


def _check_column(where: str, item: Any) -> tuple[list[str], Column | None]:
    """Problems with one column, and the ``Column`` it stands for when there are none."""
    if isinstance(item, Column):
        values = {f: getattr(item, f) for f in _FIELDS}
        missing: list[str] = []
    else:
        if item is None or isinstance(item, str | bytes | int | float | list | tuple):
            return [f"{where}: expected a Column or a mapping, got {type(item).__name__}"], None
        read = {f: _read_field(item, f) for f in _FIELDS}
        missing = [f for f, (present, _) in read.items() if not present]
        values = {f: v for f, (_, v) in read.items()}
    problems = [f"{where}: missing field {f!r}{_hint(item, f)}" for f in missing]
    for name in ("key", "label"):
        if name in missing:
            continue
        v = values[name]
        if not isinstance(v, str) or not v:
            problems.append(f"{where}: {name!r} must be a non-empty string, got {v!r}")
    problems.extend(
        f"{where}: {name!r} must be callable, got {type(values[name]).__name__}"
        for name in ("format", "is_visible")
        if name not in missing and not callable(values[name])
    )
    if problems:
        return problems, None
    if isinstance(item, Column):
        return [], item
    return [], Column(values["key"], values["label"], values["format"], values["is_visible"])


def _check_collection(name: str, value: Any) -> tuple[list[str], tuple[Column, ...]]:
    if not isinstance(value, list | tuple):
        return [f"{name}: expected a list of columns, got {type(value).__name__}"], ()
    problems: list[str] = []
    columns: list[Column] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        item_problems, column = _check_column(where, item)
        problems.extend(item_problems)
        key = column.key if column is not None else _read_field(item, "key")[1]
        if isinstance(key, str) and key:
            if key in first_index:
                problems.append(f"{where}: duplicate key {key!r} (first used at index {first_index[key]})")
            else:
                first_index[key] = index
        if column is not None:
            columns.append(column)
    return problems, tuple(columns)


def _coerce_unsafe(value: Any) -> tuple[Column, ...]:
    """Without validation: keep ``Column``s, build them from mappings/objects best-effort."""
    out: list[Column] = []
    for item in value:
        if isinstance(item, Column):
            out.append(item)
        else:
            key, label, fmt, vis = (_read_field(item, f)[1] for f in _FIELDS)
            out.append(Column(key, label, fmt, vis if vis is not None else always_visible))
    return tuple(out)


def set_columns(partial: Mapping[str, Any] | None = None, /, *, unsafe: bool = False, **kwargs: Any) -> None:
    """Replace some column lists; the collections not named keep their columns.

    Each value is a list of ``Column``s or of mappings / objects with ``key``, ``label``,
    ``format(item, index)`` and ``is_visible()``. Unknown collection names are always rejected.
    Unless ``unsafe``, every rule of SPEC 12.10 is checked and *all* problems are raised together
    in one ``ColumnConfigError`` (each naming its collection and index); on any problem nothing
    changes. ``unsafe=True`` skips the per-column checks (a bad column then fails at render time).
    """
    updates: dict[str, Any] = dict(partial or {})
    updates.update(kwargs)
    unknown = [name for name in updates if name not in _BUILDERS]
    problems = [f"{name}: unknown column collection; known: {', '.join(COLUMN_COLLECTIONS)}" for name in unknown]
    staged: dict[str, tuple[Column, ...]] = {}
    for name, value in updates.items():
        if name in unknown:
            continue
        if unsafe:
            if not isinstance(value, list | tuple):
                problems.append(f"{name}: expected a list of columns, got {type(value).__name__}")
                continue
            staged[name] = _coerce_unsafe(value)
            continue
        collection_problems, columns = _check_collection(name, value)
        problems.extend(collection_problems)
        staged[name] = columns
    if problems:
        raise ColumnConfigError(problems)
    eng = active()
    eng.columns = {**eng.columns, **staged}
