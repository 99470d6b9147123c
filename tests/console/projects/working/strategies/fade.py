"""Fade weakness: short after a strong 5m candle down, the mirror of momentum."""

from __future__ import annotations

from datetime import datetime

from levels import bracket

import engine


async def get_signal(symbol: str, when: datetime, price: float) -> dict | None:
    candles = await engine.get_candles(symbol, "5m", 3)
    if len(candles) < 2:
        return None
    last = candles[-2]
    if last.close < last.open * 0.999:
        return {**bracket(price, "short"), "note": "fade"}
    return None


engine.add_strategy("fade", "5m", get_signal)
