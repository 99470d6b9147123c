"""The data the engine hands around: candles, signals, tick results, events and statistics.

Everything here is a frozen, slotted dataclass with snake_case fields, so results can be shared
between listeners, stores and reports without anyone mutating them. Tick results form a
discriminated union on ``action`` (SPEC 1.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields
from types import MemberDescriptorType
from typing import Any, Literal, NamedTuple

import numpy as np

Position = Literal["long", "short"]
CloseReason = Literal["take_profit", "stop_loss", "time_expired", "manual"]  # manual: Live.close_position
CancelReason = Literal["timeout", "price_reject"]
Action = Literal["idle", "scheduled", "opened", "active", "closed", "cancelled"]

MINUTE_MS = 60_000

CANDLE_INTERVALS: dict[str, int] = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
}
"""Intervals ``get_candles`` accepts, in minutes (SPEC 1.1)."""

SIGNAL_INTERVALS: dict[str, int] = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60}
"""How often a strategy may be asked for a new signal (SPEC 3.6)."""

FRAME_INTERVALS: dict[str, int] = {
    **CANDLE_INTERVALS,
    "12h": 720,
    "1d": 1440,
    "3d": 4320,
}
"""Backtest frame steps (SPEC 1.7, 6.1)."""


# --------------------------------------------------------------------------- quick frozen init


def quick_init(cls: type) -> type:
    """Give a frozen, slotted dataclass an ``__init__`` that writes its slots directly.

    Why: a frozen dataclass's generated ``__init__`` assigns each field through
    ``object.__setattr__`` (a name lookup per field), which made building the four objects of
    every backtest trade (row, opened, closed, PNL) ~9 % of the whole backtest. Calling each
    slot's own descriptor is twice as fast and keeps everything else: same signature, defaults,
    errors for missing arguments, and instances stay frozen (``__setattr__`` still refuses).

    It also adds ``cls._positional``: the same object from every init field in declaration order,
    all required, without going through ``type.__call__`` and keyword matching. Only the backtest's
    per-trade objects use it (a row and a closed result of ~10 fields each cost half as much), and
    the candles a window builds when indexed or iterated. ``__init__`` calls ``__post_init__`` when the class
    has one; ``_positional`` never does (its callers pass values that need no fixing). Public
    (``engine.quick_init``): the console's Signals lines use it, hundreds built as a fast run ends.
    """
    ns: dict[str, Any] = {"_object_new": object.__new__, "_cls": cls}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    ordered: list[str] = []
    for f in fields(cls):
        if f.default_factory is not MISSING:
            raise TypeError(f"quick_init: {cls.__name__}.{f.name} has a default_factory")
        slot = next(k.__dict__[f.name] for k in cls.__mro__ if isinstance(k.__dict__.get(f.name), MemberDescriptorType))
        ns[f"_set_{f.name}"] = slot.__set__
        if f.default is not MISSING:
            ns[f"_default_{f.name}"] = f.default
        if not f.init:
            body.append(f"    _set_{f.name}(self, _default_{f.name})")
            continue
        param = f.name if f.default is MISSING else f"{f.name}=_default_{f.name}"
        (keyword if f.kw_only else positional).append(param)
        ordered.append(f.name)
        body.append(f"    _set_{f.name}(self, {f.name})")
    params = ["self", *positional, *(["*", *keyword] if keyword else [])]
    post = ["    self.__post_init__()"] if hasattr(cls, "__post_init__") else []
    src = f"def __init__({', '.join(params)}):\n" + "\n".join(body + post or ["    pass"]) + "\n"
    src += f"def _positional({', '.join(ordered)}):\n    self = _object_new(_cls)\n"
    src += "\n".join(body) + "\n    return self\n"
    exec(src, ns)
    cls._positional = staticmethod(ns["_positional"])
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init
    return cls


# --------------------------------------------------------------------------- candles


@quick_init  # a window iterated the old way builds one per row
@dataclass(frozen=True, slots=True)
class Candle:
    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class CandleColumns:
    """Candles as numpy columns, ascending by ``timestamp`` (int64 UTC ms of the candle's open).

    Feeds that hold their data as arrays (CSV, synthetic) hand these to the engine directly, so a
    year of 1m candles never becomes half a million Python objects. A missing candle is simply
    absent (no row), never a row of NaNs.
    """

    timestamp: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    def to_candles(self) -> list[Candle]:
        return [
            Candle(int(t), float(o), float(h), float(lo), float(c), float(v))
            for t, o, h, lo, c, v in zip(
                self.timestamp.tolist(),
                self.open.tolist(),
                self.high.tolist(),
                self.low.tolist(),
                self.close.tolist(),
                self.volume.tolist(),
            )
        ]

    @staticmethod
    def empty() -> CandleColumns:
        f = np.empty(0, dtype=np.float64)
        return CandleColumns(np.empty(0, dtype=np.int64), f, f, f, f, f)


# --------------------------------------------------------------------------- signals


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalDto:
    """What a strategy's ``get_signal`` may return (a dict with these keys works too)."""

    position: Position
    price_take_profit: float
    price_stop_loss: float
    minute_estimated_time: int
    price_open: float | None = None
    note: str | None = None
    id: str | None = None


SIGNAL_DTO_KEYS = frozenset(
    {"position", "price_take_profit", "price_stop_loss", "minute_estimated_time", "price_open", "note", "id"}
)


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class SignalRow:
    """A signal the engine tracks: open (pending) or waiting for its limit price (scheduled).

    ``pending_at`` may be ``None`` only for a row restored from disk without it (SPEC 5.2 4a).
    """

    id: str
    position: Position
    price_open: float
    price_take_profit: float
    price_stop_loss: float
    minute_estimated_time: int
    symbol: str
    exchange_name: str
    strategy_name: str
    scheduled_at: int
    pending_at: int | None
    is_scheduled: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "position": self.position,
            "price_open": self.price_open,
            "price_take_profit": self.price_take_profit,
            "price_stop_loss": self.price_stop_loss,
            "minute_estimated_time": self.minute_estimated_time,
            "symbol": self.symbol,
            "exchange_name": self.exchange_name,
            "strategy_name": self.strategy_name,
            "scheduled_at": self.scheduled_at,
            "pending_at": self.pending_at,
            "is_scheduled": self.is_scheduled,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignalRow:
        """Rebuild a persisted row; missing optional fields do not crash (SPEC 8.3)."""
        return cls(
            id=str(data["id"]),
            position=data["position"],
            price_open=float(data["price_open"]),
            price_take_profit=float(data["price_take_profit"]),
            price_stop_loss=float(data["price_stop_loss"]),
            minute_estimated_time=data.get("minute_estimated_time"),
            symbol=data.get("symbol", ""),
            exchange_name=data.get("exchange_name", ""),
            strategy_name=data.get("strategy_name", ""),
            scheduled_at=data.get("scheduled_at"),
            pending_at=data.get("pending_at"),
            is_scheduled=bool(data.get("is_scheduled", False)),
            note=data.get("note") or "",
        )


@quick_init
@dataclass(frozen=True, slots=True)
class Pnl:
    """Net PNL in percent; ``price_open``/``price_close`` are the raw prices (SPEC 1.6)."""

    pnl_percentage: float
    price_open: float
    price_close: float


# --------------------------------------------------------------------------- tick results


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class _Result:
    """What every tick result carries; ``action`` tells the six shapes apart."""

    action: Action = field(init=False, default="idle")
    signal: SignalRow | None
    current_price: float
    strategy_name: str
    exchange_name: str
    symbol: str
    backtest: bool


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class IdleResult(_Result):
    action: Literal["idle"] = field(default="idle", init=False)
    signal: None = None


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledResult(_Result):
    action: Literal["scheduled"] = field(default="scheduled", init=False)
    signal: SignalRow


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OpenedResult(_Result):
    action: Literal["opened"] = field(default="opened", init=False)
    signal: SignalRow


def opened_result(row: SignalRow, backtest: bool) -> OpenedResult:
    """What opening ``row`` emits (SPEC 5.2): the ``opened`` result at its entry price, with its
    own names. The backtest's frame paths build it here, and so does a listener that heard of the
    open as the row alone (``Bus.opened_rows``): the same result either way."""
    return OpenedResult._positional(row, row.price_open, row.strategy_name, row.exchange_name, row.symbol, backtest)


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveResult(_Result):
    action: Literal["active"] = field(default="active", init=False)
    signal: SignalRow
    percent_tp: float
    percent_sl: float


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ClosedResult(_Result):
    action: Literal["closed"] = field(default="closed", init=False)
    signal: SignalRow
    close_reason: CloseReason
    close_timestamp: int
    pnl: Pnl


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CancelledResult(_Result):
    """A scheduled entry that never opened. ``cancel_reason`` is derived as SPEC 1.4 explains:
    ``timeout`` when it waited CC_SCHEDULE_AWAIT_MINUTES, else ``price_reject`` (the price crossed
    the stop-loss before reaching the entry)."""

    action: Literal["cancelled"] = field(default="cancelled", init=False)
    signal: SignalRow
    close_timestamp: int
    cancel_reason: CancelReason


TickResult = IdleResult | ScheduledResult | OpenedResult | ActiveResult | ClosedResult | CancelledResult
BacktestResult = ClosedResult | CancelledResult | ActiveResult


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgressEvent:
    exchange_name: str
    strategy_name: str
    symbol: str
    total_frames: int
    processed_frames: int
    progress: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DoneEvent:
    """End of a background run; for a walker ``strategy_name`` holds the walker's name."""

    exchange_name: str
    strategy_name: str
    backtest: bool
    symbol: str


MetricType = Literal["backtest_total", "backtest_timeframe", "backtest_signal", "live_tick"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceEvent:
    """One timing sample. ``count`` > 1 stands for that many consecutive samples of
    ``duration`` ms each, spaced evenly from ``previous_timestamp`` to ``timestamp``: the fast
    backtest path skips idle frames arithmetically and reports them in one bulk event when no
    user listens to this stream (users always receive single samples)."""

    timestamp: int
    previous_timestamp: int | None
    metric_type: MetricType
    duration: float
    strategy_name: str
    exchange_name: str
    symbol: str
    backtest: bool
    count: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskEvent:
    symbol: str
    pending_signal: Any
    strategy_name: str
    exchange_name: str
    current_price: float
    active_position_count: int
    comment: str
    timestamp: int  # wall-clock ms, even in a backtest (SPEC 9.2)
    backtest: bool
    when: int = 0  # btk: the moment the check was about (the candle's time in a backtest)


class PartialEvent(NamedTuple):
    """A profit or loss milestone (SPEC 10.1). A NamedTuple rather than a frozen dataclass: it is
    just as immutable, and a backtest with milestone listeners builds one per level crossed
    (tens of thousands a year), where a frozen dataclass costs five times as much to construct."""

    symbol: str
    strategy_name: str
    exchange_name: str
    data: SignalRow
    current_price: float
    level: int
    backtest: bool
    timestamp: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkerProgressEvent:
    walker_name: str
    exchange_name: str
    frame_name: str
    symbol: str
    total_strategies: int
    processed_strategies: int
    progress: float


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkerContract:
    """What the walker emits after each tested strategy (SPEC 11.3); best values are as of
    after that strategy."""

    walker_name: str
    exchange_name: str
    frame_name: str
    symbol: str
    strategy_name: str
    stats: BacktestStatistics
    metric_value: float | None
    metric: str
    best_metric: float | None
    best_strategy: str | None
    strategies_tested: int
    total_strategies: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkerCompleteEvent:
    """The end of a walker (SPEC 1.8 walkerComplete)."""

    walker_name: str
    symbol: str
    exchange_name: str
    frame_name: str
    metric: str
    total_strategies: int
    best_strategy: str | None
    best_metric: float | None
    best_stats: BacktestStatistics | None


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeMetrics:
    """The trade metrics of SPEC 12.2/12.3, shared by backtest and live statistics; a metric that
    is not a finite number is None."""

    win_count: int
    loss_count: int
    win_rate: float | None
    avg_pnl: float | None
    total_pnl: float | None
    std_dev: float | None
    sharpe_ratio: float | None
    annualized_sharpe_ratio: float | None
    certainty_ratio: float | None
    expected_yearly_returns: float | None
    # btk's own (not in the original): the account view of the same trades. ``total_pnl`` is the
    # SUM of per-trade percentages; these compound them, oldest first, as an account that puts its
    # whole equity into each trade in turn would: its return and the largest peak-to-trough fall.
    compounded_return: float | None = None
    max_drawdown: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestStatistics(TradeMetrics):
    """SPEC 12.2 over the stored closed signals (newest first).

    ``total_signals`` counts the stored signals (at most CC_MAX_REPORT_EVENTS); ``seen_signals``
    counts every closed signal the run produced, so a cut window can say so.
    """

    signal_list: Sequence[ClosedResult]  # a tuple, or the report store's packed view (equal to one)
    total_signals: int
    seen_signals: int

    @property
    def is_truncated(self) -> bool:
        return self.seen_signals > self.total_signals

    @property
    def coverage_note(self) -> str:
        """One line a report or screen can print when the window was cut ("" otherwise)."""
        if not self.is_truncated:
            return ""
        return f"statistics over the newest {self.total_signals:,} of {self.seen_signals:,} closed signals"


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricStats:
    metric_type: MetricType
    count: int
    total_duration: float
    avg_duration: float
    min_duration: float
    max_duration: float
    std_dev: float
    median: float
    p95: float
    p99: float
    avg_wait_time: float
    min_wait_time: float
    max_wait_time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceStatistics:
    """SPEC 12.8. ``events`` holds the stored samples newest first (bulk samples expanded lazily
    by the store); ``seen_events`` counts every sample recorded."""

    strategy_name: str
    total_events: int
    total_duration: float
    metric_stats: dict[str, MetricStats]
    events: tuple[PerformanceEvent, ...]
    seen_events: int
