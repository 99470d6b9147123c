"""Which broker a live run started from the console trades through, said before it starts.

A live run on exchange ``X`` trades through the broker registered under the same name ``X`` (the
ccxt broker is named after the exchange whose table it takes, README "Orders and accounts"), and
through the paper account ``paper`` otherwise, as ``Live.run`` does when no broker is named. The
live start dialog shows the choice; a broker that places orders on a real (non-sandbox) venue
asks for one more confirmation, because its orders spend real money.
"""

from __future__ import annotations

from dataclasses import dataclass

import engine

__all__ = ["BrokerChoice", "broker_for"]


@dataclass(frozen=True, slots=True)
class BrokerChoice:
    name: str  # what Live.run is given
    kind: str  # paper, ccxt, or the broker's own kind
    real_money: bool  # orders reach a real (non-sandbox) venue
    text: str  # what the dialog shows


def broker_for(exchange: str) -> BrokerChoice:
    named = next((b for b in engine.list_brokers() if b.name == exchange), None)
    if named is None:
        balance = engine.get_config()["CC_PAPER_BALANCE"]
        return BrokerChoice("paper", "paper", False, f"paper: simulated account (starts at {balance:,.0f})")
    kind = str(getattr(named, "kind", "custom"))
    if kind == "paper":
        return BrokerChoice(named.name, kind, False, f"{named.name}: paper, simulated account")
    feed = getattr(named, "feed", None)
    sandbox = bool(getattr(feed, "sandbox", False))  # unknown: taken as real, the safe side
    venue = getattr(feed, "exchange_id", named.name)
    if sandbox:
        return BrokerChoice(named.name, kind, False, f"{named.name}: {kind} on {venue} SANDBOX (test money)")
    return BrokerChoice(named.name, kind, True, f"{named.name}: {kind} on {venue}, REAL money")
