"""Run history: every finished backtest's results, kept under the dump folder across sessions.

A backtest's statistics and trades live in the engine only until the next run of the same pair
or the end of the process; a trader comparing today's change with yesterday's run had nothing to
compare with. When a console backtest finishes, its statistics (the engine's ``Backtest.get_data``)
and its closed trades are written to

    <dump>/history/<exchange>/<frame>/<symbol>/<strategy>/<finished>.json

one file per run (keyed by strategy, symbol, exchange and frame, then the wall-clock time it
finished), replaced atomically through ``engine.write_atomic``. The history screen reads them all
back; a file that cannot be read (cut short, edited by hand, another schema) is named and skipped,
never fatal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import engine

from .paths import safe_part

__all__ = [
    "FORMAT",
    "METRICS",
    "HistoryListing",
    "HistoryRecord",
    "HistoryTrade",
    "best_of",
    "history_path",
    "load_history",
    "record_from",
    "save_record",
]

FORMAT = "btk-run-history/1"
"""The ``format`` field of every history file; a file with another one is reported, not guessed at."""

FOLDER = "history"


@dataclass(frozen=True, slots=True)
class HistoryTrade:
    """One closed trade as the history keeps it (times in UTC ms, PnL in net %)."""

    closed_at: int
    opened_at: int | None
    side: str
    entry: float
    exit: float
    take_profit: float
    stop_loss: float
    pnl: float
    reason: str
    signal_id: str


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """A finished backtest: what it ran on, when it finished, its statistics and its trades.

    The statistics are the engine's (SPEC 12.2 over every closed signal, plus btk's compounded
    return and drawdown); ``None`` is a metric the engine could not compute.
    """

    strategy: str
    symbol: str
    exchange: str
    frame: str
    finished: str  # ISO wall-clock time, to the second
    status: str
    trades: int
    wins: int
    losses: int
    win_rate: float | None
    avg_pnl: float | None
    total_pnl: float | None
    compounded_return: float | None
    max_drawdown: float | None
    std_dev: float | None
    sharpe_ratio: float | None
    annualized_sharpe_ratio: float | None
    certainty_ratio: float | None
    expected_yearly_returns: float | None
    trade_list: tuple[HistoryTrade, ...] = ()
    path: Path | None = field(default=None, compare=False)  # where it was read from

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.strategy, self.symbol, self.exchange, self.frame)


METRICS: tuple[tuple[str, str, int], ...] = (
    ("trades", "Trades", 0),
    ("win_rate", "Win rate %", 1),
    ("compounded_return", "Compounded %", 1),
    ("max_drawdown", "Max drawdown %", -1),
    ("total_pnl", "Sum of trade %", 1),
    ("avg_pnl", "Average trade %", 1),
    ("sharpe_ratio", "Sharpe", 1),
    ("annualized_sharpe_ratio", "Sharpe (annual)", 1),
    ("certainty_ratio", "Certainty", 1),
    ("expected_yearly_returns", "Expected yearly %", 1),
    ("std_dev", "Std dev %", -1),
)
"""The metrics a comparison lists: field, label, and which way is better (1 higher, -1 lower,
0 neither)."""


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def record_from(
    strategy: str, symbol: str, exchange: str, frame: str, status: str, finished: datetime
) -> HistoryRecord:
    """The record of a backtest that just finished, from what the engine holds for the pair."""
    return record_of(engine.Backtest.get_data(symbol, strategy), strategy, symbol, exchange, frame, status, finished)


def record_of(
    stats: Any, strategy: str, symbol: str, exchange: str, frame: str, status: str, finished: datetime
) -> HistoryRecord:
    """The record of ``stats`` (``engine.Backtest.get_data`` of the pair): its trades are read here,
    which may be off the event loop (the statistics hold their own view of them)."""
    trades = tuple(
        HistoryTrade(
            closed_at=r.close_timestamp,
            opened_at=r.signal.pending_at,
            side=str(r.signal.position),
            entry=r.signal.price_open,
            exit=r.current_price,
            take_profit=r.signal.price_take_profit,
            stop_loss=r.signal.price_stop_loss,
            pnl=r.pnl.pnl_percentage,
            reason=str(r.close_reason),
            signal_id=r.signal.id,
        )
        for r in reversed(tuple(stats.signal_list))  # oldest first, as a trade list reads
    )
    return HistoryRecord(
        strategy=strategy,
        symbol=symbol,
        exchange=exchange,
        frame=frame,
        finished=finished.replace(microsecond=0).isoformat(),
        status=status,
        trades=stats.total_signals,
        wins=stats.win_count,
        losses=stats.loss_count,
        win_rate=_finite(stats.win_rate),
        avg_pnl=_finite(stats.avg_pnl),
        total_pnl=_finite(stats.total_pnl),
        compounded_return=_finite(stats.compounded_return),
        max_drawdown=_finite(stats.max_drawdown),
        std_dev=_finite(stats.std_dev),
        sharpe_ratio=_finite(stats.sharpe_ratio),
        annualized_sharpe_ratio=_finite(stats.annualized_sharpe_ratio),
        certainty_ratio=_finite(stats.certainty_ratio),
        expected_yearly_returns=_finite(stats.expected_yearly_returns),
        trade_list=trades,
    )


def history_path(root: Path, record: HistoryRecord) -> Path:
    """``<root>/history/<exchange>/<frame>/<symbol>/<strategy>/<finished>.json``."""
    stamp = record.finished.replace(":", "-")
    folder = root / FOLDER
    for part in (record.exchange, record.frame, record.symbol, record.strategy):
        folder = folder / safe_part(part)
    return folder / f"{safe_part(stamp)}.json"


_TRADE_FIELDS = tuple(f.name for f in fields(HistoryTrade))


def save_record(root: Path, record: HistoryRecord) -> Path:
    """Write ``record`` (atomically: a reader sees the whole file or none); returns its path.
    I/O errors propagate: the caller says what went wrong."""
    path = history_path(root, record)
    # shallow, by field name: ``asdict`` deep-copies every trade (twice, through the record), which
    # held the console's event loop for a tenth of a 5,000-trade run's time in the console
    body = {f.name: getattr(record, f.name) for f in fields(record) if f.name not in ("path", "trade_list")}
    names = _TRADE_FIELDS
    body["trade_list"] = [{n: getattr(t, n) for n in names} for t in record.trade_list]
    path.parent.mkdir(parents=True, exist_ok=True)
    engine.write_atomic(path, json.dumps({"format": FORMAT, **body}, indent=1, allow_nan=False) + "\n")
    return path


_TEXT = ("strategy", "symbol", "exchange", "frame", "finished", "status")
_COUNTS = ("trades", "wins", "losses")


def _record(data: Any, path: Path) -> HistoryRecord:
    """A history file's content as a record, or ``ValueError`` saying what is wrong with it."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("format") != FORMAT:
        raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
    fields: dict[str, Any] = {}
    for name in _TEXT:
        if not isinstance(data.get(name), str):
            raise ValueError(f"{name}: expected text, got {data.get(name)!r}")
        fields[name] = data[name]
    for name in _COUNTS:
        value = data.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name}: expected a count, got {value!r}")
        fields[name] = value
    for name, _label, _better in METRICS:
        if name in _COUNTS:
            continue
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{name}: expected a number or null, got {value!r}")
        fields[name] = None if value is None else float(value)
    trades = data.get("trade_list")
    if not isinstance(trades, list):
        raise ValueError("trade_list: expected a list")
    try:
        fields["trade_list"] = tuple(HistoryTrade(**t) for t in trades)
    except TypeError as exc:
        raise ValueError(f"trade_list: {exc}") from None
    return HistoryRecord(**fields, path=path)


@dataclass(slots=True)
class HistoryListing:
    """Every readable record (newest first) and every file that could not be read, with why."""

    records: list[HistoryRecord] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def load_history(root: Path) -> HistoryListing:
    """Read ``<root>/history``; a missing folder is an empty history."""
    listing = HistoryListing()
    folder = root / FOLDER
    if not folder.is_dir():
        return listing
    for path in sorted(folder.rglob("*.json")):
        if path.name.startswith("."):  # an atomic write's temp file (engine.write_atomic)
            continue
        try:
            listing.records.append(_record(json.loads(path.read_text(encoding="utf-8")), path))
        except (OSError, ValueError) as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            listing.unreadable.append((path, str(exc) or type(exc).__name__))
    listing.records.sort(key=lambda r: (r.finished, r.key), reverse=True)
    return listing


def best_of(records: Iterable[HistoryRecord], name: str, better: int) -> float | None:
    """The best value of metric ``name`` among ``records`` (None when none has one or no side is better)."""
    values = [v for r in records if (v := getattr(r, name)) is not None]
    if not values or better == 0:
        return None
    return max(values) if better > 0 else min(values)
