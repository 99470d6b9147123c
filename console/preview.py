"""What closing a live position by hand will do, worked out before the close order is sent.

The ``c`` (close) and ``F`` (flatten) confirmations show this, so a person sees the side of the
exit order, its quantity, the price and fee it is expected to book and the PnL after fees before
saying yes. The numbers follow the paper broker's rules (README "Orders and accounts"): the exit
fills at the current price moved by the slippage against the position, the fee is
``CC_PERCENT_FEE`` of the entry's cost, and the closed trade changes the balance by the entry's
cost times the net PnL percentage (SPEC 7). A real venue's fill can differ: it is an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import engine

from .state import PositionView

__all__ = ["ClosePreview", "preview_close"]


@dataclass(frozen=True, slots=True)
class ClosePreview:
    """One position's exit as it is expected to book. ``quantity`` None: the console has not
    heard of a fill for the entry (money figures are then unknown, the percentage is not)."""

    run: str
    symbol: str
    strategy: str
    side: str  # the exit order's side: sell closes a long, buy closes a short
    quantity: float | None
    price: float  # estimated exit price (slippage included)
    fee: float | None  # estimated exit fee in the quote currency
    pnl: float | None  # the trade's PnL after both fees, in the quote currency
    pnl_percent: float


def preview_close(pos: PositionView, slippage: float, fee: float) -> ClosePreview:
    """The exit of ``pos`` at its last price, as the paper broker would book it."""
    long = pos.side == "long"
    price = pos.last_price * (1 - slippage / 100) if long else pos.last_price * (1 + slippage / 100)
    percent = engine.pnl_percentage(pos.side, pos.entry, pos.last_price, slippage, fee)
    qty = pos.quantity
    cost = qty * pos.entry if qty is not None else None
    return ClosePreview(
        run=pos.run,
        symbol=pos.symbol,
        strategy=pos.strategy,
        side="sell" if long else "buy",
        quantity=qty,
        price=price,
        fee=cost * fee / 100 if cost is not None else None,
        pnl=cost * percent / 100 if cost is not None else None,
        pnl_percent=percent,
    )
