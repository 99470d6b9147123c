"""The demo strategies: small, readable examples of the three ways to enter a trade.

- ``demo-breakout``: market entries when the price leaves its recent 15m range (trend following);
- ``demo-meanrev``: limit entries below/above a stretched price (waits, may be cancelled);
- ``demo-trend``: market entries on a fast/slow moving-average cross of 5m closes.

Each sizes its take-profit and stop-loss from the recent range (a cheap volatility estimate), so
they behave sensibly on any symbol and price level. They read the candle window's numpy columns
(``candles.close``): no Python object per candle. Sums stay Python's ``sum`` over the column (the
same additions in the same order as a loop over candles); numpy's pairwise ``mean`` rounds
differently in the last bit and would move a few decisions.
"""

from __future__ import annotations

from datetime import datetime

from engine import add_strategy, get_candles


def _avg_range(high, low) -> float:
    """Mean high-low range of matching column slices (a plain sum, in order: see the module doc)."""
    return sum((high - low).tolist()) / len(high)


async def breakout(symbol: str, when: datetime, price: float) -> dict | None:
    # Ask for one candle more than needed: off the 15m grid (after a trade closed mid-interval)
    # the window holds one candle fewer, and the newest candle is still forming either way.
    candles = await get_candles(symbol, "15m", 14)
    if len(candles) < 13:
        return None
    high, low = candles.high[-13:-1], candles.low[-13:-1]  # the last three completed hours
    top, bottom = max(high.tolist()), min(low.tolist())  # a dozen values: cheaper than numpy's reductions
    if bottom <= price <= top:  # inside the range: no trade (most calls end here)
        return None
    rng = max(_avg_range(high, low), price * 0.003)
    if price > top:
        return {
            "position": "long",
            "price_take_profit": price + 3.5 * rng,
            "price_stop_loss": price - 2 * rng,
            "minute_estimated_time": 240,
            "note": f"breakout above {top:.2f}",
        }
    if price < bottom:
        return {
            "position": "short",
            "price_take_profit": price - 3.5 * rng,
            "price_stop_loss": price + 2 * rng,
            "minute_estimated_time": 240,
            "note": f"breakdown below {bottom:.2f}",
        }
    return None


async def meanrev(symbol: str, when: datetime, price: float) -> dict | None:
    if when.hour >= 22:  # a limit placed now could fill in demo-risk's quiet hours (00-02 UTC), where it is refused
        return None
    candles = await get_candles(symbol, "15m", 26)
    if len(candles) < 25:
        return None
    high, low, close = candles.high[-25:-1], candles.low[-25:-1], candles.close[-25:-1]  # the last six completed hours
    mean = sum(close.tolist()) / len(close)
    rng = max(_avg_range(high, low), price * 0.004)
    stretch = (price - mean) / rng
    if stretch < -2.0:  # stretched down: buy a bit lower, aim back at the mean
        entry = price - 0.3 * rng
        return {
            "position": "long",
            "price_open": entry,
            "price_take_profit": entry + 2 * rng,
            "price_stop_loss": entry - 1.5 * rng,
            "minute_estimated_time": 360,
            "note": "mean reversion long",
        }
    if stretch > 2.0:
        entry = price + 0.3 * rng
        return {
            "position": "short",
            "price_open": entry,
            "price_take_profit": entry - 2 * rng,
            "price_stop_loss": entry + 1.5 * rng,
            "minute_estimated_time": 360,
            "note": "mean reversion short",
        }
    return None


async def trend(symbol: str, when: datetime, price: float) -> dict | None:
    candles = await get_candles(symbol, "5m", 51)
    if len(candles) < 50:
        return None
    closes = candles.close[-50:-1].tolist()  # 49 completed candles
    fast_now, slow_now = sum(closes[-12:]) / 12, sum(closes[-48:]) / 48
    fast_before, slow_before = sum(closes[-13:-1]) / 12, sum(closes[-49:-1]) / 48
    crossed_up = fast_before <= slow_before and fast_now > slow_now
    crossed_down = fast_before >= slow_before and fast_now < slow_now
    if not (crossed_up or crossed_down):  # no cross: no trade (most calls end here)
        return None
    rng = max(_avg_range(candles.high[-12:], candles.low[-12:]), price * 0.003)
    if crossed_up:
        return {
            "position": "long",
            "price_take_profit": price + 4 * rng,
            "price_stop_loss": price - 2 * rng,
            "minute_estimated_time": 480,
            "note": "fast MA crossed above slow MA",
        }
    return {
        "position": "short",
        "price_take_profit": price - 4 * rng,
        "price_stop_loss": price + 2 * rng,
        "minute_estimated_time": 480,
        "note": "fast MA crossed below slow MA",
    }


def register(risk_name: str | None = None) -> list[str]:
    risk = {"risk_name": risk_name} if risk_name else {}
    add_strategy("demo-breakout", "15m", breakout, note="range breakout, market entries", **risk)
    add_strategy("demo-meanrev", "15m", meanrev, note="mean reversion, limit entries", **risk)
    add_strategy("demo-trend", "5m", trend, note="moving-average cross, market entries", **risk)
    return ["demo-breakout", "demo-meanrev", "demo-trend"]
