"""Brokers: the execution side of live trading (orders, fills, an account). One module per broker."""

from .base import (
    AccountSnapshot,
    Broker,
    BrokerError,
    Fill,
    OrderIntent,
    OrderNotSent,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderReport,
    client_order_id,
)
from .book import AccountBook, BreakerEvent
from .ccxt_broker import CcxtBroker
from .desk import OrderDesk, PositionMismatchError, add_broker, default_broker, list_brokers, resolve_broker
from .paper import PaperBroker

__all__ = [
    "AccountBook",
    "AccountSnapshot",
    "BreakerEvent",
    "Broker",
    "BrokerError",
    "CcxtBroker",
    "Fill",
    "OrderDesk",
    "OrderIntent",
    "OrderNotSent",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "OrderReport",
    "PaperBroker",
    "PositionMismatchError",
    "add_broker",
    "client_order_id",
    "default_broker",
    "list_brokers",
    "resolve_broker",
]
