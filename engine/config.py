"""Global configuration (SPEC section 2) and its validation (SPEC 3.4, plus a sane range per key).

Runs take a frozen snapshot of the configuration when they start, so a run is consistent with
itself even if someone calls ``set_config`` while it is going; reports read the live values.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .scope import active

__all__ = [
    "GLOBAL_CONFIG",
    "RANGES",
    "Config",
    "ConfigError",
    "Range",
    "current",
    "get_config",
    "get_default_config",
    "set_config",
]


@dataclass(frozen=True, slots=True)
class Config:
    """One consistent set of engine settings. Field names are the original's keys."""

    CC_SCHEDULE_AWAIT_MINUTES: int = 120
    CC_AVG_PRICE_CANDLES_COUNT: int = 5
    CC_PERCENT_SLIPPAGE: float = 0.1
    CC_PERCENT_FEE: float = 0.1
    CC_MIN_TAKEPROFIT_DISTANCE_PERCENT: float = 0.5
    CC_MIN_STOPLOSS_DISTANCE_PERCENT: float = 0.5
    CC_MAX_STOPLOSS_DISTANCE_PERCENT: float = 20
    CC_MAX_SIGNAL_LIFETIME_MINUTES: int = 1440
    CC_MAX_SIGNAL_GENERATION_SECONDS: int = 180
    CC_GET_CANDLES_RETRY_COUNT: int = 3
    CC_GET_CANDLES_RETRY_DELAY_MS: int = 5000
    CC_GET_CANDLES_PRICE_ANOMALY_THRESHOLD_FACTOR: int = 1000
    CC_GET_CANDLES_MIN_CANDLES_FOR_MEDIAN: int = 5
    CC_REPORT_SHOW_SIGNAL_NOTE: bool = False
    # Keys that are new in btk (not in the original):
    # how many events each report store keeps; 0 (the default) keeps every one, so statistics,
    # reports and walker rankings count every closed signal. 250 gives the original's numbers
    # (it hard-codes 250: statistics over the newest 250 signals only).
    CC_MAX_REPORT_EVENTS: int = 0
    # how many candles one call of an exchange's get_candles is asked for when the engine prefetches.
    CC_MAX_CANDLES_PER_REQUEST: int = 1000
    # the most candles one history request of a strategy (``get_candles``) may ask for.
    CC_MAX_GET_CANDLES_LIMIT: int = 10_000
    # megabytes of candles a backtest keeps cached between runs, over all symbols (a year of 1m
    # candles is ~34 MB; ~5 MB from the catalog, whose mapped columns are not copied); beyond it the
    # least recently used symbols a feed can give back cheaply (synthetic, CSV, catalog) are
    # dropped. Stores a run is using are never dropped. 64: README "How fast" (symbols-20).
    CC_CANDLE_CACHE_MB: int = 64
    # live accounts (README "Orders and accounts"): the starting balance of a new paper account, in
    # its quote currency; the circuit breakers, in percent (0: off): a day's loss against the
    # equity at the start of the (UTC) day, and the drop of equity from its highest point. A
    # tripped breaker makes the account close-only until ``Live.clear_breaker``.
    CC_PAPER_BALANCE: float = 10_000
    CC_DAILY_LOSS_LIMIT_PERCENT: float = 0
    CC_MAX_DRAWDOWN_PERCENT: float = 0


DEFAULTS = Config()
_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Config))
_BOOL_KEYS = frozenset({"CC_REPORT_SHOW_SIGNAL_NOTE"})


@dataclass(frozen=True, slots=True)
class Range:
    """The values of one numeric key that keep a run sane (``set_config`` without ``unsafe``).

    A value outside is refused rather than trusted: a VWAP window of 10**9 candles allocates
    gigabytes, a retry delay of a day stalls a run, an anomaly factor of 1 flags half of every
    market as anomalous. ``low_open`` excludes ``low`` itself (a percentage that must be > 0)."""

    low: float
    high: float
    integer: bool = True
    low_open: bool = False

    def holds(self, value: float) -> bool:
        if not math.isfinite(value) or (self.integer and not float(value).is_integer()):
            return False
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        return f"{kind} in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"


RANGES: dict[str, Range] = {
    "CC_SCHEDULE_AWAIT_MINUTES": Range(1, 43_200),  # up to 30 days
    "CC_AVG_PRICE_CANDLES_COUNT": Range(2, 1_440),  # a VWAP needs 2 candles; at most a day of them
    "CC_PERCENT_SLIPPAGE": Range(0, 10, integer=False),
    "CC_PERCENT_FEE": Range(0, 10, integer=False),
    "CC_MIN_TAKEPROFIT_DISTANCE_PERCENT": Range(0, 100, integer=False, low_open=True),
    "CC_MIN_STOPLOSS_DISTANCE_PERCENT": Range(0, 100, integer=False, low_open=True),
    "CC_MAX_STOPLOSS_DISTANCE_PERCENT": Range(0, 100, integer=False, low_open=True),
    "CC_MAX_SIGNAL_LIFETIME_MINUTES": Range(1, 525_600),  # up to a year
    "CC_MAX_SIGNAL_GENERATION_SECONDS": Range(1, 3_600),
    "CC_GET_CANDLES_RETRY_COUNT": Range(0, 10),
    "CC_GET_CANDLES_RETRY_DELAY_MS": Range(0, 300_000),  # up to 5 minutes
    "CC_GET_CANDLES_PRICE_ANOMALY_THRESHOLD_FACTOR": Range(10, 1_000_000),
    "CC_GET_CANDLES_MIN_CANDLES_FOR_MEDIAN": Range(1, 10_000),
    "CC_MAX_REPORT_EVENTS": Range(0, 100_000_000),  # 0: no cap
    "CC_MAX_CANDLES_PER_REQUEST": Range(10, 100_000),
    "CC_MAX_GET_CANDLES_LIMIT": Range(2, 100_000),
    "CC_CANDLE_CACHE_MB": Range(0, 1_000_000),
    "CC_PAPER_BALANCE": Range(0, 1e9, integer=False, low_open=True),
    "CC_DAILY_LOSS_LIMIT_PERCENT": Range(0, 100, integer=False),
    "CC_MAX_DRAWDOWN_PERCENT": Range(0, 100, integer=False),
}


class ConfigError(ValueError):
    """A rejected ``set_config`` call; ``problems`` lists every failed rule."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  {n}. {p}" for n, p in enumerate(self.problems, 1))
        super().__init__(f"GLOBAL_CONFIG validation failed:\n{lines}")


class _GlobalConfig:
    """The active engine's configuration (docs/architecture.md 8). Read it with attribute or item access."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(active().config, name)

    def __getitem__(self, name: str) -> Any:
        if name not in _KEYS:
            raise KeyError(name)
        return getattr(active().config, name)

    def __repr__(self) -> str:
        return f"GLOBAL_CONFIG({dataclasses.asdict(active().config)})"


GLOBAL_CONFIG = _GlobalConfig()


def current() -> Config:
    """The frozen configuration in force right now (runs keep this for their whole life)."""
    return active().config


def get_config() -> dict[str, Any]:
    """A copy of the live configuration as a plain dict."""
    return dataclasses.asdict(active().config)


def get_default_config() -> dict[str, Any]:
    return dataclasses.asdict(DEFAULTS)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _type_problems(overrides: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, value in overrides.items():
        if key not in _KEYS:
            close = [k for k in _KEYS if key.upper() in k or k.endswith(key.upper())]
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"unknown key {key!r}{hint}; known keys: {', '.join(_KEYS)}")
        elif key in _BOOL_KEYS:
            if not isinstance(value, bool):
                problems.append(f"{key} must be true or false, got {value!r}")
        elif not _is_number(value):
            problems.append(f"{key} must be a number, got {type(value).__name__} {value!r}")
    return problems


def _value_problems(c: Config) -> list[str]:
    """Every key in its ``RANGES``, plus SPEC 3.4's rules between keys. Every failure is one line."""
    p = [
        f"{key} must be {r.describe()}, got {getattr(c, key)!r}"
        for key, r in RANGES.items()
        if not r.holds(getattr(c, key))
    ]
    slip, fee, min_tp = c.CC_PERCENT_SLIPPAGE, c.CC_PERCENT_FEE, c.CC_MIN_TAKEPROFIT_DISTANCE_PERCENT
    cost = slip * 2 + fee * 2
    if min_tp > 0 and math.isfinite(cost) and min_tp < cost:
        p.append(
            f"CC_MIN_TAKEPROFIT_DISTANCE_PERCENT ({min_tp}) must cover slippage and fees "
            f"(2 x {slip} + 2 x {fee} = {cost:.3f}); a smaller take-profit loses money even when it is hit"
        )
    min_sl, max_sl = c.CC_MIN_STOPLOSS_DISTANCE_PERCENT, c.CC_MAX_STOPLOSS_DISTANCE_PERCENT
    if math.isfinite(min_sl) and math.isfinite(max_sl) and min_sl >= max_sl:
        p.append(
            f"CC_MIN_STOPLOSS_DISTANCE_PERCENT ({min_sl}) must be below CC_MAX_STOPLOSS_DISTANCE_PERCENT ({max_sl})"
        )
    return p


def _normalise(key: str, value: Any) -> Any:
    default = getattr(DEFAULTS, key)
    wants_int = isinstance(default, int) and not isinstance(default, bool)
    if wants_int and _is_number(value) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return value


def set_config(overrides: Mapping[str, Any] | None = None, /, *, unsafe: bool = False, **kwargs: Any) -> None:
    """Merge ``overrides`` (a mapping and/or keyword arguments) into the live configuration.

    Unknown keys and values of the wrong type are always rejected. Unless ``unsafe`` is true the
    merged result must also satisfy SPEC 3.4; otherwise nothing changes and ``ConfigError`` lists
    every problem. ``unsafe=True`` is how the 0 = off switches (and the original's test profile)
    are reached.
    """
    merged: dict[str, Any] = dict(overrides or {})
    merged.update(kwargs)
    problems = _type_problems(merged)
    if problems:
        raise ConfigError(problems)
    candidate = dataclasses.replace(active().config, **{k: _normalise(k, v) for k, v in merged.items()})
    if not unsafe:
        problems = _value_problems(candidate)
        if problems:
            raise ConfigError(problems)
    active().config = candidate


def report_cap() -> int | None:
    """How many events a report store keeps: None for every one (CC_MAX_REPORT_EVENTS = 0)."""
    return active().config.CC_MAX_REPORT_EVENTS or None  # not via __getattr__: asked once per trade


def reset_config() -> None:
    """Back to the defaults (handy in tests and notebooks)."""
    active().config = DEFAULTS
