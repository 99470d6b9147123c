"""PNL with slippage and fees (SPEC 7).

The operation order is the original's, so results match it bit for bit.
"""

from __future__ import annotations

from .model import Pnl


def pnl_percentage(position: str, price_open: float, price_close: float, slippage: float, fee: float) -> float:
    """Net PNL in percent: slippage applied once on each side, fees as 2 flat percentage points."""
    if position == "long":
        open_adj = price_open * (1 + slippage / 100)
        close_adj = price_close * (1 - slippage / 100)
        return (close_adj - open_adj) / open_adj * 100 - 2 * fee
    open_adj = price_open * (1 - slippage / 100)
    close_adj = price_close * (1 + slippage / 100)
    return (open_adj - close_adj) / open_adj * 100 - 2 * fee


def compute_pnl(position: str, price_open: float, price_close: float, slippage: float, fee: float) -> Pnl:
    return Pnl._positional(pnl_percentage(position, price_open, price_close, slippage, fee), price_open, price_close)
