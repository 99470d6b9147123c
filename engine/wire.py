"""The wire form of engine events: plain JSON with a type tag, and back.

Why: the daemon (console/daemon/) runs the engine in its own process and streams its events to
consoles and scripts over a socket. A console may only use ``engine``'s public API
(tests/console/test_console_imports.py), so the codec lives here, beside the types it knows.

Shape: a dataclass or named tuple the engine publishes becomes ``{"$type": "ClosedResult", field:
value, ...}`` (fields a constructor does not take, such as a result's ``action``, are written for
readers and ignored when decoding); lists and tuples become JSON arrays and come back as tuples (the
engine's objects are frozen); an exception becomes ``{"$type": "Error", "error_type", "message",
"context"}`` and decodes to ``RemoteError`` carrying the same ``ErrorContext``, so
``engine.context_of`` attributes it as it would the original. A float that is not finite is written
as ``{"$float": "nan" | "inf" | "-inf"}`` so the text stays strict JSON any language can read.

Only the types registered here are ever built when decoding (a peer cannot make this process
construct anything else); ``register`` adds one, which is all a new engine stream needs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any

from .brokers.base import AccountSnapshot, Fill, OrderIntent, OrderReport
from .brokers.book import BreakerEvent
from .errors import ErrorContext, context_of
from .model import (
    ActiveResult,
    BacktestStatistics,
    CancelledResult,
    ClosedResult,
    DoneEvent,
    IdleResult,
    OpenedResult,
    PartialEvent,
    PerformanceEvent,
    Pnl,
    ProgressEvent,
    RiskEvent,
    ScheduledResult,
    SignalDto,
    SignalRow,
    TradeMetrics,
    WalkerCompleteEvent,
    WalkerContract,
    WalkerProgressEvent,
)
from .persist.adapters import StateWriteStatus
from .reports.live import LiveEvent, LiveStatistics
from .reports.walker import WalkerPnlRow, WalkerStatistics, WalkerStrategyResult

__all__ = ["RemoteError", "WireError", "decode", "dumps", "encode", "loads", "register"]

TYPE_KEY = "$type"
FLOAT_KEY = "$float"


class WireError(ValueError):
    """A message that is not a valid wire value (names what and where)."""


class RemoteError(Exception):
    """An error raised in another process, as its stream reported it: the original type's name,
    its message, and the same ``btk_context`` (``engine.context_of`` works on it)."""

    def __init__(self, error_type: str, message: str, context: ErrorContext | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        if context is not None:
            self.btk_context = context

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RemoteError):
            return NotImplemented
        return (self.error_type, self.message, context_of(self)) == (other.error_type, other.message, context_of(other))

    __hash__ = Exception.__hash__


_TYPES: dict[str, type] = {}


def register(cls: type) -> type:
    """Let ``cls`` (a dataclass or a named tuple) cross the wire under its class name."""
    if not (is_dataclass(cls) or hasattr(cls, "_fields")):
        raise TypeError(f"wire.register: {cls.__name__} is neither a dataclass nor a named tuple")
    known = _TYPES.get(cls.__name__)
    if known is not None and known is not cls:
        raise TypeError(f"wire.register: another type is already registered as {cls.__name__}")
    _TYPES[cls.__name__] = cls
    return cls


for _cls in (
    SignalRow,
    SignalDto,
    Pnl,
    IdleResult,
    ScheduledResult,
    OpenedResult,
    ActiveResult,
    ClosedResult,
    CancelledResult,
    ProgressEvent,
    DoneEvent,
    PerformanceEvent,
    RiskEvent,
    PartialEvent,
    WalkerProgressEvent,
    WalkerContract,
    WalkerCompleteEvent,
    TradeMetrics,
    BacktestStatistics,
    StateWriteStatus,
    ErrorContext,
    # what the statistics of a run are (Live/Walker.get_data), for the daemon's statistics endpoint
    LiveEvent,
    LiveStatistics,
    WalkerStrategyResult,
    WalkerPnlRow,
    WalkerStatistics,
    # the execution side of live runs (engine/brokers): orders, fills, the account, breakers
    OrderIntent,
    Fill,
    OrderReport,
    AccountSnapshot,
    BreakerEvent,
):
    register(_cls)


def _names(cls: type) -> list[str]:
    if is_dataclass(cls):
        return [f.name for f in fields(cls)]
    return list(cls._fields)  # type: ignore[attr-defined]


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data (dicts, lists, str, numbers, bool, None)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {FLOAT_KEY: "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, BaseException):
        ctx = context_of(value)
        return {
            TYPE_KEY: "Error",
            "error_type": getattr(value, "error_type", type(value).__name__),
            "message": str(value),
            "context": encode(ctx) if isinstance(ctx, ErrorContext) else None,
        }
    cls = type(value)
    if _TYPES.get(cls.__name__) is cls:
        out: dict[str, Any] = {TYPE_KEY: cls.__name__}
        for name in _names(cls):
            out[name] = encode(getattr(value, name))
        return out
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or (hasattr(value, "__len__") and hasattr(value, "__iter__")):
        return [encode(v) for v in value]  # a report store's packed view reads as the tuple it equals
    if hasattr(value, "item"):  # a numpy scalar
        return encode(value.item())
    raise WireError(f"cannot send a {cls.__module__}.{cls.__qualname__} over the wire (not a registered type)")


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    kwargs: dict[str, Any] = {}
    if is_dataclass(cls):
        for f in fields(cls):
            if f.init and f.name in data:
                kwargs[f.name] = decode(data[f.name], f"{where}.{f.name}")
    else:
        for name in cls._fields:  # type: ignore[attr-defined]
            if name in data:
                kwargs[name] = decode(data[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise WireError(f"{where}: bad {cls.__name__}: {exc}") from None


def decode(data: Any, where: str = "$") -> Any:
    """The object ``encode`` made ``data`` from; ``WireError`` naming the place of anything else."""
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return tuple(decode(v, f"{where}[{i}]") for i, v in enumerate(data))
    if not isinstance(data, dict):
        raise WireError(f"{where}: unexpected {type(data).__name__}")
    if FLOAT_KEY in data:
        text = data[FLOAT_KEY]
        if text not in ("nan", "inf", "-inf"):
            raise WireError(f"{where}: bad non-finite float {text!r}")
        return float(text)
    name = data.get(TYPE_KEY)
    if name is None:
        return {k: decode(v, f"{where}.{k}") for k, v in data.items()}
    if name == "Error":
        ctx = data.get("context")
        context = decode(ctx, f"{where}.context") if ctx is not None else None
        if context is not None and not isinstance(context, ErrorContext):
            raise WireError(f"{where}.context: not an ErrorContext")
        return RemoteError(str(data.get("error_type", "Exception")), str(data.get("message", "")), context)
    cls = _TYPES.get(name)
    if cls is None:
        raise WireError(f"{where}: unknown type {name!r}")
    return _build(cls, data, where)


def dumps(value: Any) -> str:
    """``encode`` then compact, strict JSON text."""
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes) -> Any:
    """The object ``dumps`` wrote; ``WireError`` for text that is not JSON or not a wire value."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise WireError(f"not JSON: {exc}") from None
    return decode(data)
