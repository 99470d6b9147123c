"""Strategies and setup functions for the research tests (importable by spawned workers)."""

from __future__ import annotations

from datetime import UTC, datetime

import engine as e

START = datetime(2024, 1, 1, tzinfo=UTC)


async def tp_sl_signal(symbol, when, price, params):
    """The engine benchmark's strategy with TP and SL as parameters (percent of the price)."""
    if params["side"] == "short":
        return {
            "position": "short",
            "price_take_profit": price * (1 - params["tp"] / 100),
            "price_stop_loss": price * (1 + params["sl"] / 100),
            "minute_estimated_time": params["minutes"],
        }
    return {
        "position": "long",
        "price_take_profit": price * (1 + params["tp"] / 100),
        "price_stop_loss": price * (1 - params["sl"] / 100),
        "minute_estimated_time": params["minutes"],
    }


SPACE = {
    "tp": e.FloatParam(0.6, 1.6, step=0.5, default=1.1),
    "sl": e.FloatParam(0.6, 1.2, step=0.3),
    "minutes": e.IntParam(60, 1440, step=1380),
    "side": e.Choice("long", "short"),
}


def setup() -> None:
    """What a worker runs first: the same registrations as the parent."""
    e.add_synthetic_exchange("synthetic", seed=42)
    e.add_strategy("tpsl", "15m", tp_sl_signal, params=SPACE)


JUMP_MS = int((START.timestamp() + 2 * 86_400) * 1000)
"""Where the "jumpy" market's prices leap up by half: a trade open there profits only by look-ahead."""


def jumpy_feed():
    """The synthetic market (seed 42) with every price from JUMP_MS on multiplied by 1.5."""
    import numpy as np

    from engine.exchanges.synthetic import SyntheticFeed
    from engine.model import CandleColumns

    class Jumpy(SyntheticFeed):
        def _minutes(self, symbol, start_ms, end_ms):
            c = super()._minutes(symbol, start_ms, end_ms)
            k = np.where(c.timestamp >= JUMP_MS, 1.5, 1.0)
            return CandleColumns(c.timestamp, c.open * k, c.high * k, c.low * k, c.close * k, c.volume)

    return Jumpy(42)


def setup_jumpy() -> None:
    setup()
    feed = jumpy_feed()
    e.add_exchange("jumpy", feed.get_candles, feed.format_price, feed.format_quantity, columns=feed)
