"""Position sizing (SPEC 13.1): how much to buy, from a balance and a risk rule.

Sizing is a calculator a strategy calls; the engine never applies it to signals by itself.
"""

from __future__ import annotations

from .registry import SizingSchema, regs

__all__ = ["PositionSize", "SizingError"]


class SizingError(ValueError):
    """Inputs a sizing method cannot work with (a zero stop distance, a win rate of 1, ...)."""


def _schema(sizing_name: str, method: str, source: str) -> SizingSchema:
    schema = regs().sizings.get(sizing_name, source)
    if schema.method != method:
        raise SizingError(
            f'Sizing method mismatch: sizing "{sizing_name}" is configured as "{schema.method}" but '
            f'"{method}" was requested; call the PositionSize method that matches it'
        )
    return schema


def _limits(schema: SizingSchema, quantity: float, balance: float, price_open: float, params: dict) -> float:
    """The caps and floors every method shares, in SPEC order; then ``on_calculate``."""
    if schema.max_position_percentage:
        quantity = min(quantity, balance * schema.max_position_percentage / 100 / price_open)
    if schema.min_position_size:
        quantity = max(quantity, schema.min_position_size)
    if schema.max_position_size:
        quantity = min(quantity, schema.max_position_size)
    if schema.callbacks.on_calculate is not None:
        schema.callbacks.on_calculate(quantity, params)
    return quantity


class PositionSizeFacade:
    """``PositionSize.fixed_percentage`` / ``kelly_criterion`` / ``atr_based``."""

    def fixed_percentage(
        self, symbol: str, balance: float, price_open: float, price_stop_loss: float, *, sizing_name: str
    ) -> float:
        """Risk ``risk_percentage`` of the balance between entry and stop."""
        schema = _schema(sizing_name, "fixed-percentage", "PositionSize.fixed_percentage")
        distance = abs(price_open - price_stop_loss)
        if distance == 0:
            raise SizingError("Stop-loss distance cannot be zero")
        quantity = balance * schema.risk_percentage / 100 / distance
        params = {"symbol": symbol, "balance": balance, "price_open": price_open, "price_stop_loss": price_stop_loss}
        return _limits(schema, quantity, balance, price_open, params)

    def kelly_criterion(
        self,
        symbol: str,
        balance: float,
        price_open: float,
        win_rate: float,
        win_loss_ratio: float,
        *,
        sizing_name: str,
    ) -> float:
        """Kelly fraction ``(p·b - (1-p)) / b`` of the balance, scaled by ``kelly_multiplier``."""
        schema = _schema(sizing_name, "kelly-criterion", "PositionSize.kelly_criterion")
        if not 0 < win_rate < 1:
            raise SizingError(f"win_rate must be between 0 and 1 (exclusive), got {win_rate}")
        if not win_loss_ratio > 0:
            raise SizingError(f"win_loss_ratio must be > 0, got {win_loss_ratio}")
        kelly = (win_rate * win_loss_ratio - (1 - win_rate)) / win_loss_ratio
        quantity = balance * max(0.0, kelly) * schema.kelly_multiplier / price_open
        params = {
            "symbol": symbol,
            "balance": balance,
            "price_open": price_open,
            "win_rate": win_rate,
            "win_loss_ratio": win_loss_ratio,
        }
        return _limits(schema, quantity, balance, price_open, params)

    def atr_based(self, symbol: str, balance: float, price_open: float, atr: float, *, sizing_name: str) -> float:
        """Risk ``risk_percentage`` of the balance over ``atr_multiplier`` ATRs."""
        schema = _schema(sizing_name, "atr-based", "PositionSize.atr_based")
        if not atr > 0:
            raise SizingError(f"atr must be > 0, got {atr}")
        quantity = balance * schema.risk_percentage / 100 / (atr * schema.atr_multiplier)
        params = {"symbol": symbol, "balance": balance, "price_open": price_open, "atr": atr}
        return _limits(schema, quantity, balance, price_open, params)


PositionSize = PositionSizeFacade()
