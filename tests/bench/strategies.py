"""The strategies the speed benchmark runs, each written once (issue 13).

They are "real" strategies in the sense of the issue: they read history with ``get_candles`` and do
their maths with numpy, as traders write them. Each rule is a plain function of the closes (or of
the moment), so the column-window and (later) vectorised versions of the same rule sit next to the
object-reading one and provably compute the same thing.

- ``sma_rsi``: SMA(20) against SMA(100) for the trend, RSI(14) for a pullback entry; TP +1 %,
  SL -1 %, 240-minute lifetime. ``sma_rsi_objects`` reads the closes the old way (one ``Candle``
  per row), ``sma_rsi_columns`` reads the window's ``close`` column (no object per candle);
- ``full_hour``: the peers' rule: long on the full hour, TP +1 %, SL -1 %, 240-minute lifetime;
- ``idle``: returns None; what is left is the engine's own cost of asking a strategy.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from engine import get_candles

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


async def full_hour(symbol: str, when: datetime, price: float) -> dict | None:
    return bracket("long", price) if when.minute == 0 else None


class Idle:
    """A strategy that never trades; counts how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, symbol: str, when: datetime, price: float) -> None:
        self.calls += 1
