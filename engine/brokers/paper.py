"""The paper broker: a simulated account in the quote currency, the default of every live run that
names no broker.

It fills an order at the price the engine used for the event that asked for it
(``OrderIntent.reference_price``; a limit entry at its limit when the engine says the price
reached it, ``touch``), moved by the slippage of SPEC 7, and charges fees the way SPEC 7 counts
them: ``CC_PERCENT_FEE`` of the entry's cost on the way in and again on the way out (SPEC 7 takes
two flat fee points off the entry price's return). So a closed position changes the balance by
exactly ``entry cost x pnl_percentage / 100`` of the engine's own PnL (engine/pnl.py), and the
paper account's closed PnL equals the live report's.

The account (balance, positions, open orders, every order record and fill) is one document in the
state folder (``paper/<name>/account.json``), written atomically before ``place`` returns: an
order the broker accepted is on disk before the desk hears of it, and ``fetch`` finds it after a
crash that came in between. Placing a client order id the account already holds returns the
record it has: the paper venue never fills one intent twice.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import math
from typing import Any

from .. import config
from ..clock import get_clock
from .base import AccountSnapshot, Fill, OrderIntent, OrderNotSent, OrderRejected, OrderReport
from .store import fill_from_dict, paper_docs, report_from_dict, report_to_dict

__all__ = ["DEFAULT_QUOTE_AMOUNT", "DEFAULT_START_BALANCE", "PaperBroker"]

DEFAULT_START_BALANCE = 10_000.0
DEFAULT_QUOTE_AMOUNT = 100.0


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"paper broker: {name} must be a finite number > 0, got {value!r}")
    return float(value)


class PaperBroker:
    """``PaperBroker(name="paper", balance=10000, quote_amount=100, currency="USDT")``.

    ``balance`` is the starting balance of a new account (a saved one keeps its own);
    ``quote_amount`` is what one entry costs when the run has no sizing (``Live.run(sizing_name=)``)."""

    kind = "paper"

    def __init__(
        self,
        name: str = "paper",
        *,
        balance: float = DEFAULT_START_BALANCE,
        quote_amount: float = DEFAULT_QUOTE_AMOUNT,
        currency: str = "USDT",
    ) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"paper broker: name must be a non-empty string without '/', got {name!r}")
        self.name = name
        self.currency = currency
        self.start_balance = _positive("balance", balance)
        self.quote_amount = _positive("quote_amount", quote_amount)
        self._state: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"PaperBroker({self.name!r})"

    # ------------------------------------------------------------------ the saved account
    def _new_state(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "start_balance": self.start_balance,
            "balance": self.start_balance,
            "positions": {},  # symbol -> signed base amount
            "costs": {},  # symbol -> quote cost of the open position's entries
            "entry_fees": {},  # symbol -> fees paid on the open position's entries
            "last_prices": {},
            "orders": {},  # client order id -> order record
            "fills": [],
            "realised": 0.0,
            "fees": 0.0,
            "seq": 0,
        }

    async def start(self) -> None:
        """Load the saved account (once; a new one starts at ``balance``)."""
        if self._state is not None:
            return
        saved = await paper_docs.read(self.name, "account", None)
        state = self._new_state()
        if saved is not None:
            for key in ("balance", "realised", "fees", "start_balance"):
                if isinstance(saved.get(key), bool) or not isinstance(saved.get(key), int | float):
                    raise ValueError(f"paper account {self.name}: {key} must be a number, found {saved.get(key)!r}")
            for record in saved.get("orders", {}).values():
                report_from_dict(record)  # every record reads back, or the account is not used
            state.update(saved)
        self._state = state

    async def _save(self, before: dict[str, Any], intent: OrderIntent) -> None:
        """Write the account; when the disk refuses, the change is undone and the order refused
        (what is not on disk did not happen: a restart would not know it); the intent may be
        sent again."""
        try:
            await paper_docs.write(self.name, "account", self._state)
        except Exception as exc:
            self._state = before
            raise OrderNotSent(intent, f"the paper account could not be saved ({exc})") from exc

    @property
    def state(self) -> dict[str, Any]:
        if self._state is None:
            raise RuntimeError(f"paper broker {self.name} is not started (await broker.start())")
        return self._state

    # ------------------------------------------------------------------ orders
    async def place(self, intent: OrderIntent) -> OrderReport:
        async with self._lock:
            st = self.state
            known = st["orders"].get(intent.client_order_id)
            if known is not None:  # the same intent again: the venue answers with what it holds
                return report_from_dict(known)
            self._check(intent)
            before = copy.deepcopy(st)
            now = get_clock().now()
            if intent.type == "market":
                report = self._fill(intent, intent.reference_price, now)
            else:
                report = OrderReport(intent=intent, status="open", exchange_order_id=self._next_id(), timestamp=now)
            st["orders"][intent.client_order_id] = report_to_dict(report)
            await self._save(before, intent)
            return report

    def _check(self, intent: OrderIntent) -> None:
        st = self.state
        held = st["positions"].get(intent.symbol, 0.0)
        if intent.action == "entry":
            cost = intent.amount * (intent.price or intent.reference_price)
            fee = cost * config.current().CC_PERCENT_FEE / 100
            if cost + fee > st["balance"] + 1e-9:
                raise OrderRejected(
                    intent,
                    f"insufficient balance: {cost + fee:.2f} {self.currency} needed, {st['balance']:.2f} available",
                )
        elif intent.action == "exit":
            reduces = (intent.side == "sell" and held > 0) or (intent.side == "buy" and held < 0)
            if not reduces or intent.amount > abs(held) * (1 + 1e-9):
                raise OrderRejected(intent, f"nothing to close: the account holds {held:g} {intent.symbol}")
        else:
            raise OrderRejected(intent, "the paper broker keeps no exchange-side stop orders")

    def _next_id(self) -> str:
        st = self.state
        st["seq"] += 1
        return f"paper-{st['seq']}"

    def _fill(self, intent: OrderIntent, price: float, now: int, order_id: str | None = None) -> OrderReport:
        """Execute the whole order at ``price`` moved by slippage; book cash, position and fees."""
        cfg = config.current()
        st = self.state
        sym, amount = intent.symbol, intent.amount
        slip = cfg.CC_PERCENT_SLIPPAGE / 100
        fill_price = price * (1 + slip) if intent.side == "buy" else price * (1 - slip)
        held = st["positions"].get(sym, 0.0)
        if intent.action == "entry":
            notional = amount * fill_price
            fee = notional * cfg.CC_PERCENT_FEE / 100
            st["costs"][sym] = st["costs"].get(sym, 0.0) + notional
            st["entry_fees"][sym] = st["entry_fees"].get(sym, 0.0) + fee
        else:  # SPEC 7: the exit pays the fee on the entry's cost, so PnL matches the engine's
            share = min(1.0, amount / abs(held))
            cost = st["costs"].get(sym, 0.0) * share
            entry_fee = st["entry_fees"].get(sym, 0.0) * share
            fee = cost * cfg.CC_PERCENT_FEE / 100
            gross = amount * fill_price - cost if held > 0 else cost - amount * fill_price
            st["realised"] += gross - entry_fee - fee
            st["costs"][sym] = st["costs"].get(sym, 0.0) - cost
            st["entry_fees"][sym] = st["entry_fees"].get(sym, 0.0) - entry_fee
        signed = amount if intent.side == "buy" else -amount
        st["balance"] += -amount * fill_price - fee if intent.side == "buy" else amount * fill_price - fee
        left = held + signed
        if abs(left) <= 1e-12 * max(1.0, abs(held)):
            st["positions"].pop(sym, None)
            st["costs"].pop(sym, None)
            st["entry_fees"].pop(sym, None)
        else:
            st["positions"][sym] = left
        st["fees"] += fee
        st["last_prices"][sym] = price
        oid = order_id or self._next_id()
        fill = Fill(
            client_order_id=intent.client_order_id,
            signal_id=intent.signal_id,
            symbol=sym,
            side=intent.side,
            amount=amount,
            price=fill_price,
            fee=fee,
            fee_currency=self.currency,
            timestamp=now,
            trade_id=f"{oid}-1",
        )
        st["fills"].append(dataclasses.asdict(fill))
        return OrderReport(
            intent=intent,
            status="filled",
            filled=amount,
            average=fill_price,
            exchange_order_id=oid,
            fills=(fill,),
            timestamp=now,
        )

    async def touch(self, intent: OrderIntent, price: float) -> OrderReport | None:
        """The engine saw the price reach this open limit order (a scheduled entry activated):
        fill it at ``price``, the price the engine used. None when the account has no such order."""
        async with self._lock:
            known = self.state["orders"].get(intent.client_order_id)
            if known is None:
                return None
            report = report_from_dict(known)
            if report.status != "open":
                return report
            before = copy.deepcopy(self.state)
            report = self._fill(report.intent, price, get_clock().now(), report.exchange_order_id)
            self.state["orders"][intent.client_order_id] = report_to_dict(report)
            try:
                await self._save(before, intent)
            except OrderNotSent:  # still open: filled when the account can be saved (asked again by fetch)
                return OrderReport(intent=report.intent, status="open", exchange_order_id=report.exchange_order_id)
            return report

    async def fetch(self, intent: OrderIntent) -> OrderReport | None:
        known = self.state["orders"].get(intent.client_order_id)
        return None if known is None else report_from_dict(known)

    async def cancel(self, intent: OrderIntent) -> OrderReport:
        async with self._lock:
            known = self.state["orders"].get(intent.client_order_id)
            if known is None:
                return OrderReport(intent=intent, status="cancelled", reason="unknown to the paper account")
            report = report_from_dict(known)
            if report.status != "open":
                return report
            before = copy.deepcopy(self.state)
            report = OrderReport(
                intent=report.intent,
                status="cancelled",
                exchange_order_id=report.exchange_order_id,
                reason="cancelled",
                timestamp=get_clock().now(),
            )
            self.state["orders"][intent.client_order_id] = report_to_dict(report)
            await self._save(before, intent)
            return report

    async def position(self, symbol: str) -> float:
        return float(self.state["positions"].get(symbol, 0.0))

    def mark(self, symbol: str, price: float) -> None:
        """The last price of ``symbol`` (what equity counts an open position at); not saved."""
        self.state["last_prices"][symbol] = price

    async def account(self) -> AccountSnapshot:
        st = self.state
        held = {s: float(a) for s, a in st["positions"].items()}
        equity = st["balance"] + sum(a * st["last_prices"].get(s, 0.0) for s, a in held.items())
        open_orders = sum(1 for r in st["orders"].values() if r["status"] in ("open", "partially_filled"))
        return AccountSnapshot(
            broker=self.name,
            currency=self.currency,
            balance=st["balance"],
            equity=equity,
            realised_pnl=st["realised"],
            fees_paid=st["fees"],
            day_pnl=0.0,
            open_orders=open_orders,
            positions=held,
            timestamp=get_clock().now(),
        )

    def fills(self) -> list[Fill]:
        """Every fill of the account, oldest first."""
        return [fill_from_dict(f) for f in self.state["fills"]]

    async def close(self) -> None:
        """Nothing to release: the account is on disk after every change."""
