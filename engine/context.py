"""Ambient context: which symbol and moment the engine is evaluating, and which schemas it uses.

A strategy's ``get_signal`` calls helpers such as ``get_candles(symbol, "1h", 24)`` without saying
when "now" is; the helpers read it from here. ``contextvars`` make this safe across concurrent runs:
each run (and each task it spawns) sees its own values.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, NamedTuple

__all__ = ["ExecutionContext", "FrameContext", "MethodContext", "execution_context", "method_context"]


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


class FrameContext:
    """``ExecutionContext``'s fields in a mutable object, reused from call to call.

    A backtest asks a strategy hundreds of thousands of times; building a context per call was a
    measurable part of that cost (issue 13). A strategy instance keeps one of these, moves its
    ``when`` before each call, and hands it over for good (making itself a new one) when a call
    suspends: the task that finishes the call copied the context and must keep seeing its moment.
    Read it as you would an ``ExecutionContext``; do not keep it past the call.
    """

    __slots__ = ("backtest", "client", "config", "method", "symbol", "when")

    def __init__(
        self,
        symbol: str,
        when: int,
        backtest: bool,
        method: MethodContext | None = None,
        client: Any = None,
        config: Any = None,
    ) -> None:
        self.symbol = symbol
        self.when = when  # UTC ms
        self.backtest = backtest
        self.method = method
        # The run's exchange client and configuration, when a strategy instance made the context:
        # a history request then needs no look-up of the engine, the registry and the client memo
        # (``helpers.get_candles``: once per call of a strategy that reads candles).
        self.client = client
        self.config = config

    def __repr__(self) -> str:
        return f"FrameContext(symbol={self.symbol!r}, when={self.when}, backtest={self.backtest}, method={self.method})"


_execution: ContextVar[ExecutionContext | FrameContext | None] = ContextVar("btk_execution", default=None)
_method: ContextVar[MethodContext | None] = ContextVar("btk_method", default=None)


execution_or_none = _execution.get
"""The execution context, or None outside a run: the bare ``ContextVar.get`` for the hot paths
(``get_candles`` is called once per strategy call) that handle None themselves."""


class OutsideRunError(RuntimeError):
    """A context helper was called outside a running backtest or live tick."""


def execution_context() -> ExecutionContext | FrameContext:
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


# ``set_execution(ctx) -> token`` and ``reset_execution(token)``: the variable's own methods, not
# wrappers (a backtest sets and resets it around every trade it settles in a stretch)
set_execution = _execution.set
reset_execution = _execution.reset


def set_method(ctx: MethodContext | None):
    return _method.set(ctx)


def reset_method(token) -> None:
    _method.reset(token)
