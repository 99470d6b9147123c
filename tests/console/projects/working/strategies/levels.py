"""A helper next to the strategies: imported by them through the strategy folder on sys.path."""

from __future__ import annotations

IMPORTS = 0  # how often this file was executed: a fresh project load must execute it again
IMPORTS += 1


def bracket(price: float, side: str, width: float = 0.006) -> dict:
    """Take-profit twice the stop distance, both a fraction of the price."""
    sign = 1 if side == "long" else -1
    return {
        "position": side,
        "price_take_profit": price * (1 + sign * 2 * width),
        "price_stop_loss": price * (1 - sign * width),
        "minute_estimated_time": 120,
    }
