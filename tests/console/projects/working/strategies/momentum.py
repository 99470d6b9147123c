"""Buy strength: long when the last completed 5m candle closed well above its open."""

from __future__ import annotations

from datetime import datetime

from levels import bracket

import engine

LOADS: list[str] = []  # module state: must start empty on every project load
LOADS.append("loaded")


async def get_signal(symbol: str, when: datetime, price: float) -> dict | None:
    candles = await engine.get_candles(symbol, "5m", 3)
    if len(candles) < 2:
        return None
    last = candles[-2]
    if last.close > last.open * 1.001:
        return {**bracket(price, "long"), "note": "momentum"}
    return None


engine.add_strategy("momentum", "5m", get_signal, note="long after a strong 5m candle")
