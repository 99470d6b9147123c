"""Ambient context: which symbol and moment the engine is evaluating, and which schemas it uses.

A strategy's ``get_signal`` calls helpers such as ``get_candles(symbol, "1h", 24)`` without saying
when "now" is; the helpers read it from here. ``contextvars`` make this safe across concurrent runs:
each run (and each task it spawns) sees its own values.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import NamedTuple

__all__ = ["ExecutionContext", "MethodContext", "execution_context", "method_context"]


class MethodContext(NamedTuple):
    """Which schemas the run uses."""

    strategy_name: str
    exchange_name: str
    frame_name: str = ""


class ExecutionContext(NamedTuple):
    """Where and when the engine is evaluating. Made for every call into a strategy, hence a
    NamedTuple (immutable, and about half the cost of a frozen dataclass to build)."""

    symbol: str
    when: int  # UTC ms
    backtest: bool
    method: MethodContext | None = None  # set together, so a call into user code costs one set/reset


_execution: ContextVar[ExecutionContext | None] = ContextVar("btk_execution", default=None)
_method: ContextVar[MethodContext | None] = ContextVar("btk_method", default=None)


class OutsideRunError(RuntimeError):
    """A context helper was called outside a running backtest or live tick."""


def execution_context() -> ExecutionContext:
    ctx = _execution.get()
    if ctx is None:
        raise OutsideRunError(
            "no execution context: get_candles/get_average_price/get_date/get_mode only work "
            "inside a strategy's get_signal (or a callback) during a run"
        )
    return ctx


def method_context() -> MethodContext:
    exe = _execution.get()
    ctx = exe.method if exe is not None and exe.method is not None else _method.get()
    if ctx is None:
        raise OutsideRunError("no method context: this helper only works during a run")
    return ctx


def set_execution(ctx: ExecutionContext | None):  # -> Token
    return _execution.set(ctx)


def reset_execution(token) -> None:
    _execution.reset(token)


def set_method(ctx: MethodContext | None):
    return _method.set(ctx)


def reset_method(token) -> None:
    _method.reset(token)
