"""Schema registries: ``add_*`` validates and stores, ``list_*`` returns, ``get_*`` looks up.

Registration fails fast with a message that names the schema, the field and what was expected
(SPEC 3.1), and an unknown name names the registered ones, so a typo in a strategy name is a
one-line fix rather than a hunt.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

from .model import FRAME_INTERVALS, SIGNAL_INTERVALS, CandleColumns
from .scope import activated, active, forward

__all__ = [
    "DuplicateError",
    "ExchangeSchema",
    "FrameSchema",
    "NotFoundError",
    "Registrations",
    "RiskSchema",
    "SchemaError",
    "SizingSchema",
    "StrategyCallbacks",
    "StrategySchema",
    "WalkerSchema",
    "registrations",
    "restore_registrations",
]


class SchemaError(ValueError):
    """A schema passed to ``add_*`` has a wrong or missing field."""


class DuplicateError(ValueError):
    """A schema with that name is already registered."""


class NotFoundError(LookupError):
    """A run or report referenced a name nobody registered."""


# --------------------------------------------------------------------------- callbacks

_T = TypeVar("_T")


def _callbacks(kind: str, name: str, cls: type[_T], value: Any) -> _T:
    """Accept ``None``, a dataclass of ``cls``, a mapping or any object with callback attributes."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    allowed = [f.name for f in fields(cls)]
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise SchemaError(
                f"{kind} {name}: unknown callback(s) {', '.join(unknown)}; expected any of {', '.join(allowed)}"
            )
        items = dict(value)
    else:
        items = {k: getattr(value, k) for k in allowed if getattr(value, k, None) is not None}
    for key, fn in items.items():
        if fn is not None and not callable(fn):
            raise SchemaError(f"{kind} {name}: callback {key} must be callable, got {type(fn).__name__}")
    return cls(**items)


@dataclass(frozen=True, slots=True)
class StrategyCallbacks:
    """Optional strategy hooks (SPEC 1.7). Called synchronously; an async hook is scheduled, not awaited."""

    on_tick: Callable[..., Any] | None = None
    on_open: Callable[..., Any] | None = None
    on_active: Callable[..., Any] | None = None
    on_idle: Callable[..., Any] | None = None
    on_close: Callable[..., Any] | None = None
    on_schedule: Callable[..., Any] | None = None
    on_cancel: Callable[..., Any] | None = None
    on_write: Callable[..., Any] | None = None
    on_partial_profit: Callable[..., Any] | None = None
    on_partial_loss: Callable[..., Any] | None = None


@dataclass(frozen=True, slots=True)
class ExchangeCallbacks:
    on_candle_data: Callable[..., Any] | None = None


@dataclass(frozen=True, slots=True)
class FrameCallbacks:
    on_timeframe: Callable[..., Any] | None = None


@dataclass(frozen=True, slots=True)
class RiskCallbacks:
    on_rejected: Callable[..., Any] | None = None
    on_allowed: Callable[..., Any] | None = None


@dataclass(frozen=True, slots=True)
class SizingCallbacks:
    on_calculate: Callable[..., Any] | None = None


@dataclass(frozen=True, slots=True)
class WalkerCallbacks:
    on_strategy_start: Callable[..., Any] | None = None
    on_strategy_complete: Callable[..., Any] | None = None
    on_strategy_error: Callable[..., Any] | None = None
    on_complete: Callable[..., Any] | None = None


# --------------------------------------------------------------------------- schemas


class ColumnSource(Protocol):
    """A feed that can hand the engine numpy columns directly (the CSV and synthetic feeds)."""

    def columns(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> CandleColumns: ...


@dataclass(frozen=True, slots=True)
class StrategySchema:
    strategy_name: str
    interval: str
    get_signal: Callable[..., Any]
    risk_name: str | None = None
    risk_list: tuple[str, ...] = ()
    callbacks: StrategyCallbacks = field(default_factory=StrategyCallbacks)
    note: str | None = None
    passes_price: bool = True  # get_signal(symbol, when, current_price) vs get_signal(symbol, when)
    indicators: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Indicator columns by name (``engine.indicators.Indicator``), read with ``btk.indicator(name)``."""
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Declared parameters (``IntParam``/``FloatParam``/``Choice`` by name); empty for a plain strategy."""
    param_values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """The parameter set ``get_signal`` receives as ``params`` (the defaults unless bound otherwise)."""
    signal_fn: Callable[..., Any] | None = None
    """The user's own get_signal of a parameterised strategy (``get_signal`` is it with ``params``
    bound), or its own ``signals`` function when it is vectorised (``signals.fn`` is it bound)."""
    signals: Any = None
    """The vectorised signal function (``engine.indicators.Signals``) of a strategy registered with
    ``signals=``; ``get_signal`` is then the generated one that reads its rows."""

    @property
    def interval_minutes(self) -> int:
        return SIGNAL_INTERVALS[self.interval]

    @property
    def risk_names(self) -> tuple[str, ...]:
        """``risk_name`` first, then ``risk_list`` (SPEC 9.1)."""
        return ((self.risk_name,) if self.risk_name else ()) + self.risk_list


@dataclass(frozen=True, slots=True)
class ExchangeSchema:
    exchange_name: str
    get_candles: Callable[..., Any]
    format_price: Callable[[str, float], Any]
    format_quantity: Callable[[str, float], Any]
    callbacks: ExchangeCallbacks = field(default_factory=ExchangeCallbacks)
    note: str | None = None
    columns: ColumnSource | None = None
    symbols: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FrameSchema:
    frame_name: str
    interval: str
    start_date: datetime
    end_date: datetime
    callbacks: FrameCallbacks = field(default_factory=FrameCallbacks)
    note: str | None = None

    @property
    def start_ms(self) -> int:
        return to_ms(self.start_date)

    @property
    def end_ms(self) -> int:
        return to_ms(self.end_date)

    @property
    def step_minutes(self) -> int:
        return FRAME_INTERVALS[self.interval]


@dataclass(frozen=True, slots=True)
class RiskSchema:
    risk_name: str
    validations: tuple[Any, ...] = ()
    callbacks: RiskCallbacks = field(default_factory=RiskCallbacks)
    note: str | None = None
    max_concurrent_positions: int | None = None


@dataclass(frozen=True, slots=True)
class SizingSchema:
    sizing_name: str
    method: str
    risk_percentage: float | None = None
    kelly_multiplier: float = 0.25
    atr_multiplier: float = 2.0
    max_position_percentage: float | None = None
    min_position_size: float | None = None
    max_position_size: float | None = None
    callbacks: SizingCallbacks = field(default_factory=SizingCallbacks)
    note: str | None = None


WALKER_METRICS = (
    "sharpe_ratio",
    "annualized_sharpe_ratio",
    "win_rate",
    "total_pnl",
    "certainty_ratio",
    "avg_pnl",
    "expected_yearly_returns",
)


@dataclass(frozen=True, slots=True)
class WalkerSchema:
    walker_name: str
    exchange_name: str
    frame_name: str
    strategies: tuple[str, ...]
    metric: str = "sharpe_ratio"
    callbacks: WalkerCallbacks = field(default_factory=WalkerCallbacks)
    note: str | None = None


# --------------------------------------------------------------------------- the registry

S = TypeVar("S")


class Registry(Generic[S]):
    """Schemas of one kind, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, S] = {}

    def add(self, name: str, schema: S) -> None:
        if name in self._items:
            raise DuplicateError(f"{self.kind} {name} already exist")
        self._items[name] = schema

    def get(self, name: str, source: str) -> S:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            known = ", ".join(self._items) or "none"
            raise NotFoundError(f"{self.kind} {name} not found source={source} (registered: {known})") from None

    def has(self, name: str) -> bool:
        return name in self._items

    def replace(self, name: str, schema: S) -> None:
        """Swap a registered schema for another of the same name (a strategy bound to new parameters)."""
        self.get(name, "replace")
        self._items[name] = schema

    def remove(self, name: str) -> None:
        """Forget one schema (a sweep's own windows when it ends); an unknown name is ignored."""
        self._items.pop(name, None)

    def list(self) -> list[S]:
        return list(self._items.values())

    def names(self) -> list[str]:
        return list(self._items)

    def clear(self) -> None:
        self._items.clear()


REGISTRY_NAMES = ("strategies", "exchanges", "frames", "risks", "sizings", "walkers", "optimizers")


class Registries:
    """One engine's schemas by kind: what ``add_*`` registered and runs look up by name."""

    __slots__ = REGISTRY_NAMES

    def __init__(self) -> None:
        self.strategies: Registry[StrategySchema] = Registry("strategy")
        self.exchanges: Registry[ExchangeSchema] = Registry("exchange")
        self.frames: Registry[FrameSchema] = Registry("frame")
        self.risks: Registry[RiskSchema] = Registry("risk")
        self.sizings: Registry[SizingSchema] = Registry("sizing")
        self.walkers: Registry[WalkerSchema] = Registry("walker")
        self.optimizers: Registry[Any] = Registry("optimizer")  # engine/optimizer/schema.py

    def clear(self) -> None:
        for name in REGISTRY_NAMES:
            getattr(self, name).clear()


def regs() -> Registries:
    """The active engine's registries (asked on every indicator read: one call, not two)."""
    eng = activated()
    return (eng if eng is not None else active()).registries


# ``registry.strategies`` and the others mean the active engine's registry (docs/architecture.md 8)
__getattr__ = forward(__name__, "registries", REGISTRY_NAMES)


def reset_registries() -> None:
    """Forget every registered schema of the active engine (tests and notebooks)."""
    regs().clear()


@dataclass(frozen=True, slots=True)
class Registrations:
    """A copy of what the active engine has registered, kind by kind in registration order
    (``registrations()``).

    Why: a console reloading an edited project must not be left with half of it registered when
    the edit is broken, so it keeps this copy, loads, and on a failure puts the copy back
    (``restore_registrations``). The schemas themselves are immutable, so sharing them is safe."""

    kinds: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]

    def names(self, kind: str) -> list[str]:
        """The names of one kind (``strategy``, ``exchange``, ``frame``, ``walker``, ...)."""
        return [name for k, items in self.kinds if k == kind for name, _ in items]


def _all_registries() -> tuple[Registry[Any], ...]:
    """The active engine's registries (docs/architecture.md 8)."""
    active_regs = regs()
    return tuple(getattr(active_regs, name) for name in REGISTRY_NAMES)


def registrations() -> Registrations:
    """What is registered now (see ``Registrations``)."""
    return Registrations(
        tuple((reg.kind, tuple(zip(reg.names(), reg.list(), strict=True))) for reg in _all_registries())
    )


def restore_registrations(saved: Registrations, only: Mapping[str, Iterable[str]] | None = None) -> None:
    """Put ``saved`` back. Without ``only``, everything registered now is forgotten first, so the
    registries are exactly as they were when ``saved`` was taken. With ``only`` (kind -> names),
    just those schemas of ``saved`` that are not registered now are added again (what a run still
    going uses after a reload dropped it), nothing else changes."""
    by_kind = dict(saved.kinds)
    for reg in _all_registries():
        items = by_kind.get(reg.kind, ())
        if only is None:
            reg.clear()
            for name, schema in items:
                reg.add(name, schema)
            continue
        wanted = set(only.get(reg.kind, ()))
        for name, schema in items:
            if name in wanted and not reg.has(name):
                reg.add(name, schema)


# --------------------------------------------------------------------------- helpers

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(value: datetime | date | str | int | float) -> int:
    """A point in time as UTC ms. Naive datetimes are taken as UTC; ISO strings are accepted."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a date")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite timestamp: {value!r}")
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        value = datetime.fromisoformat(text)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - _EPOCH) // timedelta(milliseconds=1)  # exact integer arithmetic
    if isinstance(value, date):
        return (datetime(value.year, value.month, value.day, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)
    raise TypeError(f"expected a datetime, date, ISO string or ms integer, got {type(value).__name__}")


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _require_name(kind: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SchemaError(f"{kind} schema: {key} must be a non-empty string, got {value!r}")
    return value


def _require_callable(kind: str, name: str, key: str, value: Any) -> None:
    if not callable(value):
        raise SchemaError(f"{kind} {name}: {key} must be callable, got {type(value).__name__}")


def _choice(kind: str, name: str, key: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    if value not in allowed:
        raise SchemaError(f"{kind} {name}: {key} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _signal_passes_price(name: str, fn: Callable[..., Any]) -> bool:
    """get_signal may take (symbol, when) as in the original, or (symbol, when, current_price)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if len(positional) >= 3:
        return True
    if len(positional) == 2 and len(required) <= 2:
        return False
    raise SchemaError(
        f"strategy {name}: get_signal must accept (symbol, when) or (symbol, when, current_price); "
        f"its signature is {inspect.signature(fn)}"
    )


# --------------------------------------------------------------------------- add_* / list_*


def add_strategy(
    strategy_name: str,
    interval: str,
    get_signal: Callable[..., Any] | None = None,
    risk_name: str | None = None,
    risk_list: Iterable[str] = (),
    callbacks: Any = None,
    note: str | None = None,
    indicators: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    signals: Any = None,
) -> StrategySchema:
    """Register a strategy. ``get_signal`` is ``async (symbol, when, current_price) -> dict | None``.

    ``indicators`` maps names to functions of the candles (or ``btk.Indicator``s) that
    ``get_signal`` reads with ``await btk.indicator(name)`` (see ``engine.indicators``).

    ``params`` declares tunable parameters (``btk.IntParam``, ``btk.FloatParam``, ``btk.Choice``);
    ``get_signal`` then takes a ``params`` argument, a read-only dict of the values of the run (the
    declared defaults in a normal backtest, each parameter set in a sweep).

    ``signals`` (instead of ``get_signal``) is a vectorised signal function of the candle columns
    returning entry signals for every candle at once, or a ``btk.Signals``/``btk.vectorised(fn)``
    saying its interval and history (see ``engine.indicators``, "vectorised signals")."""
    name = _require_name("strategy", "strategy_name", strategy_name)
    if regs().strategies.has(name):
        raise DuplicateError(f"strategy {name} already exist")
    if risk_name is not None and risk_name != "" and not isinstance(risk_name, str):
        raise SchemaError(f"strategy {name}: risk_name must be a string, got {risk_name!r}")
    if isinstance(risk_list, str) or not isinstance(risk_list, Iterable):
        raise SchemaError(f"strategy {name}: risk_list must be a list of risk names, got {risk_list!r}")
    risk_list = tuple(risk_list)
    bad = [r for r in risk_list if not isinstance(r, str)]
    if bad:
        raise SchemaError(f"strategy {name}: risk_list must contain strings only, got {bad!r}")
    dupes = sorted({r for r in risk_list if risk_list.count(r) > 1})
    if dupes:
        raise SchemaError(f"strategy {name}: risk_list has duplicates: {', '.join(dupes)}")
    if not isinstance(interval, str):
        raise SchemaError(f"strategy {name}: interval must be a string such as '5m', got {interval!r}")
    _choice("strategy", name, "interval", interval, SIGNAL_INTERVALS)
    from .indicators import declare, declare_signals  # it reads the registries at run time

    spec = None
    if signals is not None:
        if get_signal is not None:
            raise SchemaError(
                f"strategy {name}: give either get_signal or signals (a vectorised signal function), not both"
            )
        spec, get_signal = declare_signals(name, signals)
    elif get_signal is None:
        raise SchemaError(f"strategy {name}: give get_signal (or signals, a vectorised signal function)")
    _require_callable("strategy", name, "get_signal", get_signal)
    declared = declare(name, indicators)
    signal_fn, space, values = None, MappingProxyType({}), MappingProxyType({})
    if params and spec is not None:  # a vectorised signal function takes the parameter set
        signal_fn, bound, space, values = _declare_params(name, spec.fn, params, "signals")
        spec = dataclasses.replace(spec, fn=bound)
        get_signal = _vectorised_get_signal(name, spec)
    elif params:
        signal_fn, get_signal, space, values = _declare_params(name, get_signal, params)
    schema = StrategySchema(
        strategy_name=name,
        interval=interval,
        get_signal=get_signal,
        risk_name=risk_name or None,
        risk_list=risk_list,
        callbacks=_callbacks("strategy", name, StrategyCallbacks, callbacks),
        note=note,
        passes_price=_signal_passes_price(name, get_signal),
        indicators=declared,
        params=space,
        param_values=values,
        signal_fn=signal_fn,
        signals=spec,
    )
    regs().strategies.add(name, schema)
    return schema


def _vectorised_get_signal(name: str, spec: Any) -> Callable[..., Any]:
    from .indicators import signal_function

    return signal_function(name, spec)


def _declare_params(name: str, fn: Callable[..., Any], params: Mapping[str, Any], what: str = "get_signal"):
    """Check the declared ranges and that ``fn`` (``get_signal``, or the ``signals`` function of a
    vectorised strategy) takes ``params``; bind the defaults."""
    from .research.params import ParamError, check_declared, check_params

    try:
        space = check_declared(name, params)
        values = check_params(name, space, {})
    except ParamError as exc:
        raise SchemaError(str(exc)) from None
    try:
        accepts = inspect.signature(fn).parameters.get("params")
    except (TypeError, ValueError):
        accepts = None
    if accepts is None or accepts.kind in (accepts.POSITIONAL_ONLY, accepts.VAR_POSITIONAL):
        example = (
            "def signals(candles, params)"
            if what == "signals"
            else "async def get_signal(symbol, when, current_price, params)"
        )
        raise SchemaError(
            f"strategy {name}: declares params ({', '.join(space)}), so {what} must take a `params` "
            f"argument, e.g. {example}; its signature is {_signature(fn)}"
        )
    frozen = MappingProxyType(values)
    return fn, functools.partial(fn, params=frozen), MappingProxyType(space), frozen


def _signature(fn: Callable[..., Any]) -> str:
    try:
        return str(inspect.signature(fn))
    except (TypeError, ValueError):
        return "unknown"


def bind_params(strategy_name: str, values: Mapping[str, Any]) -> StrategySchema:
    """The registered strategy with ``get_signal`` bound to the parameter set ``values`` (checked
    against the declared ranges; missing keys take their defaults). Returns a new schema; the
    registry is not changed (``use_params`` does that)."""
    schema = regs().strategies.get(strategy_name, "bind_params")
    if not schema.params:
        if values:
            raise SchemaError(f"strategy {strategy_name}: declares no params, got a parameter set {dict(values)!r}")
        return schema
    from .research.params import ParamError, check_params

    try:
        checked = check_params(strategy_name, schema.params, values)
    except ParamError as exc:
        raise SchemaError(str(exc)) from None
    frozen = MappingProxyType(checked)
    assert schema.signal_fn is not None
    bound = functools.partial(schema.signal_fn, params=frozen)
    if schema.signals is not None:  # vectorised: a new spec, so its computed columns are its own
        spec = dataclasses.replace(schema.signals, fn=bound)
        return dataclasses.replace(
            schema, get_signal=_vectorised_get_signal(strategy_name, spec), signals=spec, param_values=frozen
        )
    return dataclasses.replace(schema, get_signal=bound, param_values=frozen)


def use_params(strategy_name: str, values: Mapping[str, Any]) -> StrategySchema:
    """Run ``strategy_name`` with the parameter set ``values`` from now on (its registered schema is
    replaced by ``bind_params``'s); ``use_params(name, {})`` goes back to the defaults."""
    schema = bind_params(strategy_name, values)
    regs().strategies.replace(strategy_name, schema)
    return schema


def _default_format_price(symbol: str, price: float) -> str:
    return f"{price:.8f}".rstrip("0").rstrip(".")


def add_exchange(
    exchange_name: str,
    get_candles: Callable[..., Any],
    format_price: Callable[[str, float], Any] | None = None,
    format_quantity: Callable[[str, float], Any] | None = None,
    callbacks: Any = None,
    note: str | None = None,
    *,
    columns: ColumnSource | None = None,
    symbols: Iterable[str] = (),
) -> ExchangeSchema:
    """Register an exchange. ``get_candles`` is ``async (symbol, interval, since, limit) -> candles``.

    ``columns`` is the fast path for feeds that already hold numpy arrays (see ``add_csv_exchange``);
    ``symbols`` lists what the exchange trades, for pickers in the console.
    """
    name = _require_name("exchange", "exchange_name", exchange_name)
    if regs().exchanges.has(name):
        raise DuplicateError(f"exchange {name} already exist")
    _require_callable("exchange", name, "get_candles", get_candles)
    if format_price is not None:
        _require_callable("exchange", name, "format_price", format_price)
    if format_quantity is not None:
        _require_callable("exchange", name, "format_quantity", format_quantity)
    if columns is not None and not callable(getattr(columns, "columns", None)):
        raise SchemaError(f"exchange {name}: columns must have a columns(symbol, interval, start_ms, end_ms) method")
    schema = ExchangeSchema(
        exchange_name=name,
        get_candles=get_candles,
        format_price=format_price or _default_format_price,
        format_quantity=format_quantity or _default_format_price,
        callbacks=_callbacks("exchange", name, ExchangeCallbacks, callbacks),
        note=note,
        columns=columns,
        symbols=tuple(symbols),
    )
    regs().exchanges.add(name, schema)
    return schema


def add_frame(
    frame_name: str,
    interval: str,
    start_date: datetime | date | str | int,
    end_date: datetime | date | str | int,
    callbacks: Any = None,
    note: str | None = None,
) -> FrameSchema:
    """Register a backtest period. Dates may be datetimes (naive = UTC), dates, ISO strings or ms."""
    name = _require_name("frame", "frame_name", frame_name)
    if regs().frames.has(name):
        raise DuplicateError(f"frame {name} already exist")
    if not isinstance(interval, str):
        raise SchemaError(f"frame {name}: interval must be a string such as '1m', got {interval!r}")
    _choice("frame", name, "interval", interval, FRAME_INTERVALS)
    try:
        start, end = to_datetime(to_ms(start_date)), to_datetime(to_ms(end_date))
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"frame {name}: start_date/end_date must be datetimes: {exc}") from None
    if end < start:
        raise SchemaError(f"frame {name}: end_date {end.isoformat()} is before start_date {start.isoformat()}")
    schema = FrameSchema(
        frame_name=name,
        interval=interval,
        start_date=start,
        end_date=end,
        callbacks=_callbacks("frame", name, FrameCallbacks, callbacks),
        note=note,
    )
    regs().frames.add(name, schema)
    return schema


def add_risk(
    risk_name: str,
    validations: Iterable[Any] = (),
    callbacks: Any = None,
    note: str | None = None,
    max_concurrent_positions: int | None = None,
) -> RiskSchema:
    """Register a risk profile: validations run in order and reject by raising (SPEC 9.2).

    ``max_concurrent_positions=N`` is a shorthand for a last validation that rejects when
    ``active_position_count >= N`` with the note "max concurrent positions (N) reached".
    """
    name = _require_name("risk", "risk_name", risk_name)
    if regs().risks.has(name):
        raise DuplicateError(f"risk {name} already exist")
    if isinstance(validations, str | bytes) or not isinstance(validations, Iterable):
        raise SchemaError(f"risk {name}: validations must be a list, got {validations!r}")
    items = tuple(validations)
    for n, item in enumerate(items):
        validate = item.get("validate") if isinstance(item, Mapping) else getattr(item, "validate", item)
        if not callable(validate):
            raise SchemaError(
                f"risk {name}: validations[{n}] must be a callable or have a callable 'validate', got {item!r}"
            )
    if max_concurrent_positions is not None and (
        isinstance(max_concurrent_positions, bool)
        or not isinstance(max_concurrent_positions, int)
        or max_concurrent_positions < 0
    ):
        raise SchemaError(f"risk {name}: max_concurrent_positions must be an integer >= 0")
    schema = RiskSchema(
        risk_name=name,
        validations=items,
        callbacks=_callbacks("risk", name, RiskCallbacks, callbacks),
        note=note,
        max_concurrent_positions=max_concurrent_positions,
    )
    regs().risks.add(name, schema)
    return schema


SIZING_METHODS = ("fixed-percentage", "kelly-criterion", "atr-based")


def add_sizing(
    sizing_name: str,
    method: str,
    risk_percentage: float | None = None,
    kelly_multiplier: float = 0.25,
    atr_multiplier: float = 2.0,
    max_position_percentage: float | None = None,
    min_position_size: float | None = None,
    max_position_size: float | None = None,
    callbacks: Any = None,
    note: str | None = None,
) -> SizingSchema:
    name = _require_name("sizing", "sizing_name", sizing_name)
    if regs().sizings.has(name):
        raise DuplicateError(f"sizing {name} already exist")
    if not isinstance(method, str):
        raise SchemaError(f"sizing {name}: method must be a string, got {method!r}")
    _choice("sizing", name, "method", method, SIZING_METHODS)
    if method in ("fixed-percentage", "atr-based") and (
        isinstance(risk_percentage, bool) or not isinstance(risk_percentage, int | float)
    ):
        raise SchemaError(f"sizing {name}: method {method} needs a numeric risk_percentage, got {risk_percentage!r}")
    schema = SizingSchema(
        sizing_name=name,
        method=method,
        risk_percentage=risk_percentage,
        kelly_multiplier=kelly_multiplier,
        atr_multiplier=atr_multiplier,
        max_position_percentage=max_position_percentage,
        min_position_size=min_position_size,
        max_position_size=max_position_size,
        callbacks=_callbacks("sizing", name, SizingCallbacks, callbacks),
        note=note,
    )
    regs().sizings.add(name, schema)
    return schema


def add_walker(
    walker_name: str,
    exchange_name: str,
    frame_name: str,
    strategies: Iterable[str],
    metric: str = "sharpe_ratio",
    callbacks: Any = None,
    note: str | None = None,
) -> WalkerSchema:
    name = _require_name("walker", "walker_name", walker_name)
    if regs().walkers.has(name):
        raise DuplicateError(f"walker {name} already exist")
    _require_name("walker", "exchange_name", exchange_name)
    _require_name("walker", "frame_name", frame_name)
    if isinstance(strategies, str) or not isinstance(strategies, Iterable):
        raise SchemaError(f"walker {name}: strategies must be a list of strategy names, got {strategies!r}")
    names = tuple(strategies)
    if not names:
        raise SchemaError(f"walker {name}: strategies must not be empty")
    if any(not isinstance(s, str) for s in names):
        raise SchemaError(f"walker {name}: strategies must contain strings only")
    dupes = sorted({s for s in names if names.count(s) > 1})
    if dupes:
        raise SchemaError(f"walker {name}: strategies has duplicates: {', '.join(dupes)}")
    _choice("walker", name, "metric", metric, WALKER_METRICS)
    schema = WalkerSchema(
        walker_name=name,
        exchange_name=exchange_name,
        frame_name=frame_name,
        strategies=names,
        metric=metric,
        callbacks=_callbacks("walker", name, WalkerCallbacks, callbacks),
        note=note,
    )
    regs().walkers.add(name, schema)
    return schema


def list_strategies() -> list[StrategySchema]:
    return regs().strategies.list()


def list_exchanges() -> list[ExchangeSchema]:
    return regs().exchanges.list()


def list_frames() -> list[FrameSchema]:
    return regs().frames.list()


def list_risks() -> list[RiskSchema]:
    return regs().risks.list()


def list_sizings() -> list[SizingSchema]:
    return regs().sizings.list()


def list_walkers() -> list[WalkerSchema]:
    return regs().walkers.list()


def validate_run(strategy_name: str, exchange_name: str, frame_name: str | None, source: str) -> StrategySchema:
    """Check every name a run refers to before anything starts (SPEC 3.1)."""
    strategy = regs().strategies.get(strategy_name, source)
    regs().exchanges.get(exchange_name, source)
    if frame_name is not None:
        regs().frames.get(frame_name, source)
    for risk_name in strategy.risk_names:
        regs().risks.get(risk_name, source)
    return strategy
