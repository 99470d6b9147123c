"""Helpers a strategy calls inside ``get_signal``: they read "now" and the exchange from the context.

They are the only way a strategy should look at the market, because they cannot see the future:
``get_candles`` returns candles opening at or before the context's moment (SPEC 4.1).
"""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import Any, Literal

from . import registry
from .candles import ExchangeClient, exchange_client
from .config import Config
from .context import FrameContext, execution_context, execution_or_none, method_context
from .scope import active
from .window import CandleWindow

__all__ = ["format_price", "format_quantity", "get_average_price", "get_candles", "get_date", "get_mode"]


def _client() -> tuple[Any, ExchangeClient, Config]:
    """The call's context, the exchange client of its run and the configuration in force. A
    strategy instance's context carries the last two (``FrameContext``); any other is looked up
    on the active engine, once for all three."""
    ctx = execution_context()
    if type(ctx) is FrameContext and ctx.client is not None:
        return ctx, ctx.client, ctx.config
    eng = active()
    method = ctx.method if ctx.method is not None else method_context()
    schema = eng.registries.exchanges.get(method.exchange_name, "get_candles")
    return ctx, exchange_client(schema, ctx.backtest, eng.candle_clients), eng.config


async def get_candles(symbol: str, interval: str, limit: int) -> CandleWindow:
    """The ``limit`` candles of ``interval`` opening in ``[now - (limit-1) intervals, now]``.

    As in the original, the candle opening exactly at "now" is included (SPEC 4.1, case 16).
    The answer is a read-only window: numpy columns (``candles.close``) for vector maths, and
    ``Candle`` objects when indexed or iterated (``candles[-1].close``), as the old list gave.
    """
    ctx = execution_or_none()
    if type(ctx) is FrameContext and ctx.client is not None:  # ``_client``, inlined: once per call
        client, cfg = ctx.client, ctx.config
    else:
        ctx, client, cfg = _client()
    out = client.window_ready(symbol, interval, limit, ctx.when, cfg)  # the store knows them: no waiting
    return out if out is not None else await client.get_candles(symbol, interval, limit, ctx.when, cfg)


async def get_average_price(symbol: str) -> float:
    """VWAP of the last CC_AVG_PRICE_CANDLES_COUNT 1m candles at "now" (SPEC 4.2)."""
    ctx, client, cfg = _client()
    return await client.vwap(symbol, ctx.when, cfg)


async def _format(kind: str, symbol: str, value: float) -> str:
    schema = registry.regs().exchanges.get(method_context().exchange_name, kind)
    fn = schema.format_price if kind == "format_price" else schema.format_quantity
    out = fn(symbol, value)
    if inspect.isawaitable(out):
        out = await out
    return str(out)


async def format_price(symbol: str, price: float) -> str:
    return await _format("format_price", symbol, price)


async def format_quantity(symbol: str, quantity: float) -> str:
    return await _format("format_quantity", symbol, quantity)


def get_date() -> datetime:
    """The moment being evaluated: the frame time in a backtest, the tick time live."""
    return registry.to_datetime(execution_context().when)


def get_mode() -> Literal["backtest", "live"]:
    return "backtest" if execution_context().backtest else "live"
