"""The strategies the speed benchmark runs, each written once (issue 13).

They are "real" strategies in the sense of the issue: they read history with ``get_candles`` and do
their maths with numpy, as traders write them. Each rule is a plain function of the closes (or of
the moment), so the column-window and (later) vectorised versions of the same rule sit next to the
object-reading one and provably compute the same thing.

- ``sma_rsi``: SMA(20) against SMA(100) for the trend, RSI(14) for a pullback entry; TP +1 %,
  SL -1 %, 240-minute lifetime. ``sma_rsi_objects`` reads the closes the old way (one ``Candle``
  per row), ``sma_rsi_columns`` reads the window's ``close`` column (no object per candle);
- ``sma_rsi_indicators``: the same rule over indicator columns (``SMA_RSI_INDICATORS``: TA-Lib's
  SMA and the same RSI as a column, computed once over the candle store) read with
  ``btk.indicator``; the moving averages are TA-Lib's running sums, which may differ from
  ``closes[-20:].mean()`` in the last bits, so a trade could in principle differ at an exact tie;
- ``sma_rsi_vectorised``: the same rule as one function over the columns (``signals=``): every
  entry of the run as arrays, computed once; its brackets are around the candle's close, where the
  other versions bracket the VWAP ``get_signal`` receives, so its trades differ slightly;
- ``full_hour``: the peers' rule: long on the full hour, TP +1 %, SL -1 %, 240-minute lifetime;
  ``full_hour_vectorised`` is the same rule over the columns (brackets around the close);
- ``idle``: returns None; what is left is the engine's own cost of asking a strategy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import talib
from numpy.lib.stride_tricks import sliding_window_view

from engine import Indicator, Signals, get_candles, indicator

FAST, SLOW, RSI = 20, 100, 14
LIFETIME = 240


def rsi(closes: np.ndarray, n: int = RSI) -> float:
    """Cutler's RSI over the last ``n`` changes (simple averages: causal, no state to carry)."""
    diff = np.diff(closes[-(n + 1) :])
    gain = float(diff[diff > 0].sum())
    loss = float(-diff[diff < 0].sum())
    if loss == 0.0:
        return 100.0 if gain > 0 else 50.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


def sma_rsi_signal(closes: np.ndarray, price: float) -> dict | None:
    """Buy a pullback in an uptrend, sell a bounce in a downtrend (the rule both versions share)."""
    if len(closes) < SLOW:
        return None
    fast, slow, strength = float(closes[-FAST:].mean()), float(closes[-SLOW:].mean()), rsi(closes)
    if fast > slow and strength < 30.0:
        return bracket("long", price)
    if fast < slow and strength > 70.0:
        return bracket("short", price)
    return None


def always_long(tp: float = 1.01) -> Callable[..., Any]:
    """The engine benchmark's strategy: long at every call, take-profit ``tp`` times the price,
    stop-loss -0.8 %, 120 minutes (tests/bench/bench_backtest.py runs it every 15 minutes)."""

    async def get_signal(symbol: str, when: datetime, price: float) -> dict:
        return {
            "position": "long",
            "price_take_profit": price * tp,
            "price_stop_loss": price * 0.992,
            "minute_estimated_time": 120,
        }

    return get_signal


def bracket(position: str, price: float) -> dict:
    """The TP +1 % / SL -1 % / 240-minute signal every benchmark strategy opens."""
    up, down = price * 1.01, price * 0.99
    return {
        "position": position,
        "price_take_profit": up if position == "long" else down,
        "price_stop_loss": down if position == "long" else up,
        "minute_estimated_time": LIFETIME,
    }


async def sma_rsi_objects(symbol: str, when: datetime, price: float) -> dict | None:
    candles = await get_candles(symbol, "1m", SLOW)
    return sma_rsi_signal(np.array([c.close for c in candles]), price)


async def sma_rsi_columns(symbol: str, when: datetime, price: float) -> dict | None:
    candles = await get_candles(symbol, "1m", SLOW)
    return sma_rsi_signal(candles.close, price)


def rsi_column(closes: np.ndarray, n: int = RSI) -> np.ndarray:
    """``rsi`` at every candle (NaN for the first ``n``): each value from its own ``n`` changes."""
    out = np.full(len(closes), np.nan)
    if len(closes) > n:
        diff = np.diff(closes)
        gain = sliding_window_view(np.where(diff > 0, diff, 0.0), n).sum(axis=1)
        loss = sliding_window_view(np.where(diff < 0, -diff, 0.0), n).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = 100.0 - 100.0 / (1.0 + gain / loss)
        out[n:] = np.where(loss == 0.0, np.where(gain > 0, 100.0, 50.0), value)
    return out


SMA_RSI_INDICATORS = {  # history=SLOW: the first value sees the candles get_candles(symbol, "1m", SLOW) gives
    "fast": Indicator(lambda c: talib.SMA(c.close, FAST), history=SLOW),
    "slow": Indicator(lambda c: talib.SMA(c.close, SLOW), history=SLOW),
    "rsi": Indicator(lambda c: rsi_column(c.close), history=SLOW),
}


async def sma_rsi_indicators(symbol: str, when: datetime, price: float) -> dict | None:
    slow = await indicator("slow")
    if math.isnan(slow):
        return None
    fast, strength = await indicator("fast"), await indicator("rsi")
    if fast > slow and strength < 30.0:
        return bracket("long", price)
    if fast < slow and strength > 70.0:
        return bracket("short", price)
    return None


async def full_hour(symbol: str, when: datetime, price: float) -> dict | None:
    return bracket("long", price) if when.minute == 0 else None


def brackets(side: np.ndarray, close: np.ndarray) -> dict:
    """``bracket`` for every candle at once: TP +1 % / SL -1 % around the close, 240 minutes."""
    up, down = close * 1.01, close * 0.99
    return {
        "side": side,
        "price_take_profit": np.where(side > 0, up, down),
        "price_stop_loss": np.where(side > 0, down, up),
        "minute_estimated_time": LIFETIME,
    }


def sma_rsi_columns_rule(c) -> dict:
    fast, slow, strength = talib.SMA(c.close, FAST), talib.SMA(c.close, SLOW), rsi_column(c.close)
    with np.errstate(invalid="ignore"):  # NaN while the averages warm up: no entry
        side = np.where((fast > slow) & (strength < 30.0), 1, np.where((fast < slow) & (strength > 70.0), -1, 0))
    return brackets(side, c.close)


def full_hour_columns_rule(c) -> dict:
    return brackets(((c.timestamp // 60_000) % 60 == 0).astype(np.int8), c.close)


sma_rsi_vectorised = Signals(sma_rsi_columns_rule, history=SLOW)
full_hour_vectorised = Signals(full_hour_columns_rule, history=1)


class Idle:
    """A strategy that never trades; counts how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, symbol: str, when: datetime, price: float) -> None:
        self.calls += 1
