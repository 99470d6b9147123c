"""Brokers: the execution side of live trading (orders, fills, an account). One module per broker."""

from .base import (
    AccountSnapshot,
    Broker,
    BrokerError,
    Fill,
    OrderIntent,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderReport,
    client_order_id,
)

__all__ = [
    "AccountSnapshot",
    "Broker",
    "BrokerError",
    "Fill",
    "OrderIntent",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "OrderReport",
    "client_order_id",
]
