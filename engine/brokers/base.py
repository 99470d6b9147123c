"""What every broker promises: the shapes of an order's life and the calls the live runner makes.

A broker turns the live runner's decisions (a signal opened, a signal closed) into orders on an
account. Backtests never touch one. The runner never talks to a venue directly: it writes an
``OrderIntent`` to the state folder, then asks the broker to ``place`` it; after a crash it asks
``fetch`` about every intent that has no final answer yet and never places one twice. That is why
an intent carries its ``client_order_id``: it is derived from the signal and the action alone
(``client_order_id``), so the same intent always carries the same id, and the venue itself can say
whether it has seen it.

Two kinds of failure are told apart because the runner must act differently on them:

* ``OrderRejected``: the venue (or the broker's own checks) said no. Nothing was placed; the
  signal's state is put back as if the order had never been asked for.
* ``OrderOutcomeUnknown``: the request may or may not have reached the venue (a dropped
  connection, a 5xx after sending). The runner must not send it again; it reconciles with
  ``fetch`` by the client order id, now or after a restart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "AccountSnapshot",
    "Broker",
    "BrokerError",
    "Fill",
    "OrderAction",
    "OrderIntent",
    "OrderNotSent",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "OrderReport",
    "OrderStatus",
    "client_order_id",
]

OrderAction = Literal["entry", "exit", "stop"]
"""``entry`` opens the position, ``exit`` closes it, ``stop`` is the optional exchange-side
reduce-only stop at the stop-loss that protects a position while btk is down."""

OrderStatus = Literal["intent", "open", "partially_filled", "filled", "cancelled", "rejected"]
"""``intent``: written to the state folder, not known to be at the venue yet. The last three are
final: an intent in any other status is reconciled after a restart."""

FINAL_STATUSES: frozenset[str] = frozenset(("filled", "cancelled", "rejected"))


def client_order_id(signal_id: str, action: OrderAction, version: int = 0) -> str:
    """The id the venue keeps for this intent: the same signal and action give the same id, in any
    process, so a restarted run can ask the venue whether it already holds the order.

    It fits every venue's limit (Binance: 36 characters of ``[.A-Z:/a-z0-9_-]``): a short prefix
    and 32 hex characters of a hash, since a signal id (a UUID) with a suffix would not fit. The
    letter after ``btk`` says the action at a glance in a venue's order list: n entry, x exit,
    s stop. ``version`` numbers the protective stops of one signal (a stop replaced after its
    stop-loss moved, or after one that never reached the venue): each is its own order."""
    key = f"{signal_id}:{action}" if version == 0 else f"{signal_id}:{action}:{version}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"btk{_ACTION_LETTER[action]}{digest}"


_ACTION_LETTER = {"entry": "n", "exit": "x", "stop": "s"}


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order btk means to place, written to the state folder before it is sent.

    ``amount`` is in the base currency (BTC in BTC/USDT). ``price`` is the limit price of a limit
    order, the trigger price of a stop, ``None`` for a market order. ``reference_price`` is the
    price the engine used for the event (what a paper fill uses, and what a preview shows)."""

    client_order_id: str
    signal_id: str
    symbol: str
    strategy_name: str
    exchange_name: str
    action: OrderAction
    side: Literal["buy", "sell"]
    type: Literal["market", "limit", "stop_market"]
    amount: float
    price: float | None
    reference_price: float
    reduce_only: bool
    created_at: int  # ms, engine clock


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of (part of) an order; ``fee`` is in ``fee_currency``."""

    client_order_id: str
    signal_id: str
    symbol: str
    side: Literal["buy", "sell"]
    amount: float
    price: float
    fee: float
    fee_currency: str
    timestamp: int  # ms
    trade_id: str


@dataclass(frozen=True, slots=True)
class OrderReport:
    """What a venue says about an order now: how much filled, at what average, and why it ended
    if it ended without filling (``reason``, the venue's words)."""

    intent: OrderIntent
    status: OrderStatus
    filled: float = 0.0
    average: float | None = None
    exchange_order_id: str | None = None
    reason: str = ""
    fills: tuple[Fill, ...] = ()
    timestamp: int = 0

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The account in its quote currency after a change: ``equity`` counts open positions at the
    last price; ``breaker`` names a tripped circuit breaker (``None`` while trading is allowed)."""

    broker: str
    currency: str
    balance: float
    equity: float
    realised_pnl: float
    fees_paid: float
    day_pnl: float
    open_orders: int
    positions: dict[str, float] = field(default_factory=dict)  # symbol -> base amount held
    breaker: str | None = None
    timestamp: int = 0


class BrokerError(Exception):
    """A broker could not do what was asked."""


class OrderRejected(BrokerError):
    """The order was refused and nothing was placed (the venue's reason, or the broker's own check
    such as an amount below the market's minimum)."""

    def __init__(self, intent: OrderIntent, reason: str) -> None:
        super().__init__(
            f"{intent.action} order {intent.client_order_id} for signal {intent.signal_id} "
            f"({intent.side} {intent.amount:g} {intent.symbol}) was refused: {reason}"
        )
        self.intent = intent
        self.reason = reason


class OrderNotSent(BrokerError):
    """Nothing was placed, for a reason of this side (the paper account could not be saved): the
    same intent may be sent again later. Not the venue's refusal (``OrderRejected``)."""

    def __init__(self, intent: OrderIntent, cause: str) -> None:
        super().__init__(
            f"{intent.action} order {intent.client_order_id} for signal {intent.signal_id} was not sent: {cause}"
        )
        self.intent = intent
        self.cause = cause


class OrderOutcomeUnknown(BrokerError):
    """The request may have reached the venue: never send it again, reconcile by client order id."""

    def __init__(self, intent: OrderIntent, cause: str) -> None:
        super().__init__(
            f"{intent.action} order {intent.client_order_id} for signal {intent.signal_id}: no answer "
            f"from the venue ({cause}); it is reconciled by its client order id, never sent twice"
        )
        self.intent = intent
        self.cause = cause


@runtime_checkable
class Broker(Protocol):
    """The calls the live runner makes. Every call is async and may be retried by the caller only
    through ``fetch`` (never by placing again)."""

    name: str
    currency: str

    async def start(self) -> None:
        """Connect and load what the broker needs (markets, the saved paper account)."""
        ...

    async def place(self, intent: OrderIntent) -> OrderReport:
        """Send the order. Raises ``OrderRejected`` or ``OrderOutcomeUnknown``."""
        ...

    async def fetch(self, intent: OrderIntent) -> OrderReport | None:
        """What the venue knows of this intent by its client order id; ``None`` when it never saw it."""
        ...

    async def cancel(self, intent: OrderIntent) -> OrderReport:
        """Cancel an open order (a limit entry that was cancelled, a protective stop)."""
        ...

    async def position(self, symbol: str) -> float:
        """The base amount the account holds in ``symbol`` (what reconciliation compares with btk's)."""
        ...

    async def account(self) -> AccountSnapshot: ...

    async def close(self) -> None:
        """Release connections; the broker may be started again."""
        ...
