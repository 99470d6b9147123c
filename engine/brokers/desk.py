"""The order desk: one per live run, between the live runner and its broker.

It turns what a tick decided into orders and keeps the pair's order records
(``order/<symbol>_<strategy>/orders.json``) so that no order is lost or placed twice:

* **Intent first.** An order is written to the records as an ``intent`` and the tick's signal
  state is flushed (``writer.flush``) before ``broker.place`` is called; then the venue's answer
  is recorded, and only then does the runner announce the tick (live.py's rule: whatever is
  announced is on disk first). A crash anywhere leaves an intent the restart can ask about.
* **Entry** (``OpenedResult``): a market order for the quantity of the run's sizing (SPEC 13.1,
  ``fixed-percentage`` on the account's equity) or the broker's fixed ``quote_amount``. A
  scheduled signal (``ScheduledResult``) gets a limit order at ``price_open``; it is cancelled
  when the signal goes without opening, and filled (``touch`` on the paper broker, ``fetch`` on a
  venue) when the engine activates it.
* **Refused entry** (``OrderRejected``): the record says ``rejected`` with the venue's reason, the
  signal is taken back (no position in btk's state, the result becomes idle, the flush that
  follows writes the empty slot) and the error stream names signal, order and reason.
* **Outcome unknown** (``OrderOutcomeUnknown``, or any other failure of ``place``): never sent
  again. The record stays unfinished and every tick asks ``broker.fetch``; a venue that still
  knows nothing of it after ``UNSEEN_TICKS`` asks is taken at its word (``cancelled``).
* **Partial fills**: an entry that ended with only part of it filled (a market order the venue
  expired for want of liquidity) keeps its position for what filled; its stop and exit are for
  that amount.
* **Exit** (``ClosedResult``): a market order for the amount the entry actually filled (an entry
  limit still open is cancelled first); nothing to send when nothing filled. A refused exit is
  sent again at every tick until placed, and its refusal is an error once per reason.
* **Restart** (``restore``): every unfinished record is reconciled by ``fetch``, never placed
  blindly. An order the venue never saw is sent now, once, when the state on disk still asks for
  it (an entry whose position or limit entry was saved before the crash, an exit whose close
  was), and cancelled when it does not (the crash came before that state was written: the
  signal never opened, or the position is still open and the engine closes it again). A saved
  position whose entry was refused is dropped. Then the symbol's net filled amount is compared
  with ``broker.position``: a difference means btk and the account disagree and the run refuses
  to trade the symbol (``PositionMismatchError``) until a person looks.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .. import events, registry
from ..log import get_logger
from ..model import ClosedResult, IdleResult, OpenedResult, ScheduledResult, SignalRow, TickResult
from ..persist.adapters import base_dir, writer
from ..persist.quarantine import PairQuarantinedError
from ..scope import active
from ..sizing import PositionSize, SizingError
from .base import (
    Broker,
    BrokerError,
    OrderIntent,
    OrderNotSent,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderReport,
    client_order_id,
)
from .book import book_for
from .paper import PaperBroker
from .protect import keep_stop, send_exit, stopped_out
from .store import held_orders, order_docs, report_from_dict, report_to_dict

__all__ = [
    "UNSEEN_TICKS",
    "OrderDesk",
    "PositionMismatchError",
    "add_broker",
    "brokers",
    "check_sizing",
    "default_broker",
    "resolve_broker",
]

UNSEEN_TICKS = 3  # asks of a venue that knows nothing of an unanswered order before it is cancelled
_TOLERANCE = 1e-9


class PositionMismatchError(BrokerError):
    """btk's order records and the broker's account disagree about a symbol's position."""

    def __init__(self, symbol: str, strategy_name: str, broker: str, ours: float, theirs: float) -> None:
        super().__init__(
            f"live {symbol} {strategy_name}: btk's orders hold {ours:g} {symbol}, broker {broker} holds "
            f"{theirs:g}: the pair refuses to trade until a person reconciles the account"
        )
        self.symbol, self.strategy_name, self.ours, self.theirs = symbol, strategy_name, ours, theirs


# --------------------------------------------------------------------------- brokers by name

brokers: dict[str, Broker] = {}


def add_broker(broker: Broker, *, replace: bool = False) -> Broker:
    """Register ``broker`` under its ``name`` so live runs can name it (``Live.run(broker="x")``);
    ``replace`` lets it take the place of a broker of that name (a project loaded again)."""
    for attr in ("name", "currency", "place", "fetch", "cancel", "position", "account", "start", "close"):
        if not hasattr(broker, attr):
            raise TypeError(f"add_broker: {broker!r} has no {attr} (see engine.brokers.base.Broker)")
    if broker.name in brokers and brokers[broker.name] is not broker and not replace:
        raise ValueError(f"broker {broker.name} already exists")
    brokers[broker.name] = broker
    return broker


def list_brokers() -> list[Broker]:
    """The brokers registered with ``add_broker`` (the console shows which one a live run uses)."""
    return list(brokers.values())


def default_broker() -> Broker:
    """The paper broker ``paper`` (created on first use with ``CC_PAPER_BALANCE``)."""
    from .. import config

    if "paper" not in brokers:
        add_broker(PaperBroker("paper", balance=config.current().CC_PAPER_BALANCE))
    return brokers["paper"]


def resolve_broker(broker: Broker | str | None) -> Broker:
    if broker is None:
        return default_broker()
    if isinstance(broker, str):
        if broker == "paper":
            return default_broker()
        if broker not in brokers:
            known = ", ".join(sorted(brokers)) or "none"
            raise ValueError(f"broker {broker} is not registered (add_broker); registered: {known}")
        return brokers[broker]
    return add_broker(broker)


def check_sizing(sizing_name: str | None) -> None:
    """A live run sizes entries with ``fixed-percentage`` only: the other methods need inputs
    (a win rate, an ATR) a signal does not carry."""
    if sizing_name is None:
        return
    schema = registry.sizings.get(sizing_name, "Live.run")
    if schema.method != "fixed-percentage":
        raise SizingError(
            f'sizing "{sizing_name}" is {schema.method}: a live run sizes its entries with a fixed-percentage '
            "sizing (the others need a win rate or an ATR that a signal does not carry)"
        )


# --------------------------------------------------------------------------- the desk


class OrderDesk:
    """Orders of one live (symbol, strategy) on one broker."""

    def __init__(self, instance: Any, broker: Broker, sizing_name: str | None) -> None:
        self.inst = instance
        instance.hold_opens = True  # on_open waits for the entry's answer (release_open)
        self.broker = broker
        self.sizing_name = sizing_name
        self.symbol: str = instance.symbol
        self.strategy_name: str = instance.strategy_name
        self.entity = f"{self.symbol}_{self.strategy_name}"
        self.orders: dict[str, OrderReport] = {}
        self.book = book_for(broker.name)
        self.blocked: str | None = None  # why this pair places no new entries (an exit that failed)
        self._unsent: set[str] = set()  # intents written but not sent yet by this process
        self._unseen: dict[str, int] = {}  # client order id -> asks the venue answered "never seen"
        self._refused: dict[str, str] = {}  # client order id -> the refusal last reported (said once each)
        self._started = False
        self._dirty = False  # records in memory that the disk refused

    # ------------------------------------------------------------------ records
    async def start(self) -> None:
        if self._started:
            return
        held = held_orders(self.symbol, self.strategy_name, self.broker.name)
        if held:
            raise PairQuarantinedError(self.symbol, self.strategy_name, held)
        await self.broker.start()
        await self.book.load()
        saved = await order_docs.read(self.entity, "orders", {"orders": []})
        self.orders = {}
        for record in saved["orders"]:
            report = report_from_dict(record)
            self.orders[report.intent.client_order_id] = report
        self._started = True

    async def _save(self) -> None:
        records = [report_to_dict(r) for r in self.orders.values()]
        await order_docs.write(self.entity, "orders", {"broker": self.broker.name, "orders": records})

    async def _save_marked(self) -> None:
        await self._save()
        self._dirty = False

    async def _record(self, report: OrderReport, *, strict: bool = False) -> OrderReport:
        """Keep the venue's latest word on an order: on disk, then announced (order, its new
        fills, the account after them)."""
        coid = report.intent.client_order_id
        before = self.orders.get(coid)
        if before is not None and before == report and not self._dirty:
            return report
        seen = {f.trade_id for f in before.fills} if before is not None else set()
        self.orders[coid] = report
        try:
            await self._save()
        except Exception as exc:
            # kept in memory; the state writer retries the document at every flush (and reports the
            # folder unwritable, close-only, if it keeps failing); nothing of it is announced meanwhile
            self._dirty = True
            writer.mark(("order", self.entity), self._save_marked)
            get_logger().warning(f"order records of {self.entity} not saved ({exc}); retried at the next flush")
            if strict:
                raise
            return report
        self._dirty = False
        await self._emit(events.order, report)
        new = tuple(f for f in report.fills if f.trade_id not in seen)
        for f in new:
            await self._emit(events.fill, f)
        if new or report.status in ("cancelled", "filled"):
            try:
                await self.book.record(await self.broker.account(), new)
            except Exception as exc:  # the order is recorded; the account view waits for the next change
                get_logger().warning(f"account of broker {self.broker.name} not updated after {coid}: {exc}")
        return report

    @staticmethod
    async def _emit(stream: events.Stream, value: Any) -> None:
        try:
            await stream.emit(value)
        except Exception as exc:  # a broken listener must not break the run
            await events.report_error(exc)

    def entry_of(self, signal_id: str) -> OrderReport | None:
        return self.orders.get(client_order_id(signal_id, "entry"))

    def net_position(self) -> float:
        """Base amount the pair's filled orders hold: buys minus sells, less the fees the venue
        took in the base asset."""
        return sum(self.held_change(r) for r in self.orders.values())

    def held_change(self, report: OrderReport) -> float:
        """What ``report``'s fills changed in the base amount the account holds. A venue that
        takes a buy's fee in the asset bought (Binance without BNB) credits the filled amount
        less that fee: counting ``filled`` alone would make btk's position differ from the
        account's by the fee, a false ``PositionMismatchError``."""
        base = self._base_asset(report.intent.symbol)
        fee = sum(f.fee for f in report.fills if f.fee_currency == base)
        return (report.filled if report.intent.side == "buy" else -report.filled) - fee

    def _base_asset(self, symbol: str) -> str:
        base_of = getattr(self.broker, "base_of", None)
        if base_of is not None:
            return str(base_of(symbol))
        quote = self.broker.currency
        return symbol[: -len(quote)] if quote and symbol.endswith(quote) else symbol

    def close_only(self) -> str | None:
        """Why new entries are refused now (a tripped breaker, a failed exit), or None."""
        if self.book.breaker is not None:
            return f"circuit breaker {self.book.breaker} tripped ({self.book.reason})"
        return self.blocked

    # ------------------------------------------------------------------ restore (SPEC 8.3)
    async def restore(self) -> list[SignalRow]:
        """Reconcile every unfinished order, align the restored slots with the answers, check the
        position. Returns the restored rows that were dropped (entries that never happened)."""
        await self.start()
        inst = self.inst
        for report in [r for r in self.orders.values() if not r.final]:
            intent = report.intent
            try:
                answer = await self.broker.fetch(intent)
            except Exception as exc:
                raise BrokerError(
                    f"live {self.symbol} {self.strategy_name}: order {intent.client_order_id} could not be "
                    f"reconciled with broker {self.broker.name} ({exc}); the pair does not trade until it can be"
                ) from exc
            held = {r.id for r in (inst.pending, inst.scheduled) if r is not None}
            if answer is not None:
                await self._record(answer)
            elif intent.action == "exit" and intent.signal_id not in held:
                await send_exit(self, intent)  # the close was saved: sent now, once, its stop cancelled first
            elif intent.action == "entry" and intent.signal_id in held:
                # the venue never saw it, and the state on disk still asks for it (an entry whose
                # position or limit entry was saved): sent now, once
                await self._send(intent)
            else:
                # a stop the venue never saw is not sent blindly: the first tick places the stop the
                # restored position needs (protect.keep_stop), under the next version's id
                why = "it never reached the venue before the restart"
                saved = {"entry": "; its signal was not saved", "exit": "; the close was not saved"}
                why += saved.get(intent.action, "")
                await self._record(dataclasses.replace(report, status="cancelled", reason=why))
        await self._cancel_orphans()  # limit entries of signals the saved state no longer holds
        dropped: list[SignalRow] = []
        for slot in ("pending", "scheduled"):
            row = getattr(inst, slot)
            entry = None if row is None else self.entry_of(row.id)
            if entry is not None and entry.final and entry.filled <= 0:
                get_logger().warning(
                    f"live {self.symbol} {self.strategy_name}: signal {row.id} dropped at restore: its entry order "
                    f"{entry.intent.client_order_id} was {entry.status} ({entry.reason or 'no reason given'})"
                )
                self._take_back(row, slot)
                dropped.append(row)
        ours, theirs = self.net_position() + await self._others_position(), await self.broker.position(self.symbol)
        if abs(ours - theirs) > _TOLERANCE * max(1.0, abs(ours), abs(theirs)):
            raise PositionMismatchError(self.symbol, self.strategy_name, self.broker.name, ours, theirs)
        return dropped

    async def _others_position(self) -> float:
        """What the other pairs of this symbol on this broker hold by their records (the account
        holds one position per symbol). A record another run has not reconciled yet counts what
        the venue says of it."""
        root = base_dir() / order_docs.domain
        total = 0.0
        if not root.is_dir():
            return total
        for folder in sorted(root.iterdir()):
            if not folder.is_dir() or folder.name == self.entity or not folder.name.startswith(f"{self.symbol}_"):
                continue
            saved = await order_docs.read(folder.name, "orders", None)
            if saved is None or saved.get("broker", self.broker.name) != self.broker.name:
                continue
            for record in saved["orders"]:
                report = report_from_dict(record)
                if report.intent.symbol != self.symbol:
                    continue
                if not report.final:
                    report = await self.broker.fetch(report.intent) or report
                total += self.held_change(report)
        return total

    def _take_back(self, row: SignalRow, slot: str) -> None:
        """Undo a signal whose entry never happened: no open (or waiting) position in btk's state."""
        inst = self.inst
        if slot == "scheduled":
            inst.scheduled = None
            inst.persist.schedule(None)
            return
        inst._set_pending(None)
        if inst.has_risk:
            inst.risk.remove_signal(self.symbol, self.strategy_name)
        active().partials.clear(row, False)

    # ------------------------------------------------------------------ each tick
    async def after_tick(self, result: TickResult, when: int) -> TickResult:
        """Place what ``result`` asks for; returns the result to announce (an entry that was
        refused or not allowed turns into an idle result). The opened tick's ``on_open`` fires
        only after the broker's answer, and never for an entry that was taken back."""
        try:
            result = await self._orders_of(result, when)
        finally:
            self.inst.release_open(result)
        mark = getattr(self.broker, "mark", None)
        if mark is not None:
            try:
                await self.book.watch(await self.broker.account())
            except Exception as exc:
                get_logger().warning(f"account of broker {self.broker.name} not checked this tick: {exc}")
        return result

    async def _orders_of(self, result: TickResult, when: int) -> TickResult:
        await self._refresh(when)
        await self._retry_exits(when)  # refused at an earlier tick
        mark = getattr(self.broker, "mark", None)
        if mark is not None and result.current_price:
            mark(self.symbol, result.current_price)
        if isinstance(result, OpenedResult):
            result = await self._on_opened(result, when)
        elif isinstance(result, ScheduledResult):
            result = await self._on_scheduled(result, when)
        elif isinstance(result, ClosedResult):
            await self._on_closed(result, when)
        await self._cancel_orphans()
        await keep_stop(self, when)
        return result

    def stopped_out(self) -> float | None:
        """The price at which the open position's protective stop closed it at the venue (the
        runner then closes the signal there, reason ``stop_loss``), or None."""
        return stopped_out(self, self.inst.pending)

    async def _retry_exits(self, when: int) -> None:
        """An exit the broker refused placed nothing, and the account still holds the position:
        it is sent again at each tick, under the same client order id (the venue never accepted
        it, so it cannot be doubled), until it is placed; meanwhile the pair opens nothing new
        (``blocked``). The pair is not held until a restart. The refusal is reported on the error
        stream once per reason (``_send``), not at every tick."""
        refused = [
            r
            for r in self.orders.values()
            if r.intent.action == "exit" and r.status == "rejected" and r.intent.signal_id not in self._live_ids()
        ]
        if not refused:
            self.blocked = None
            return
        if writer.failure is not None or self._dirty:
            return  # the intent must be on disk first: sent once the state folder is writable
        for report in refused:
            await send_exit(self, dataclasses.replace(report.intent, created_at=when))
        if all(self.orders[r.intent.client_order_id].status != "rejected" for r in refused):
            self.blocked = None

    async def _refresh(self, when: int) -> None:
        """Ask the venue about orders that have no final answer; send exits that waited for a
        writable state folder."""
        for report in [r for r in self.orders.values() if not r.final]:
            coid = report.intent.client_order_id
            if coid in self._unsent:
                intent = report.intent
                if intent.action != "exit" and intent.signal_id not in self._live_ids():
                    self._unsent.discard(coid)  # its signal ended before the order could be sent
                    await self._record(dataclasses.replace(report, status="cancelled", reason="signal ended, not sent"))
                elif writer.failure is None and not self._dirty:
                    self._unsent.discard(coid)
                    await (send_exit(self, intent) if intent.action == "exit" else self._send(intent))
                continue
            await self._reconcile(report)

    async def _reconcile(self, report: OrderReport) -> None:
        try:
            answer = await self.broker.fetch(report.intent)
        except Exception as exc:
            get_logger().warning(f"order {report.intent.client_order_id}: fetch failed ({exc}); asked again next tick")
            return
        coid = report.intent.client_order_id
        if answer is not None:
            self._unseen.pop(coid, None)
            await self._record(answer)
            await self._close_late_fill(answer)
            return
        self._unseen[coid] = self._unseen.get(coid, 0) + 1
        if self._unseen[coid] >= UNSEEN_TICKS:
            self._unseen.pop(coid, None)
            why = f"broker {self.broker.name} never saw it ({UNSEEN_TICKS} asks)"
            await self._record(dataclasses.replace(report, status="cancelled", reason=why))
            await events.report_error(
                BrokerError(
                    f"{report.intent.action} order {coid} for signal {report.intent.signal_id}: {why}; "
                    "cancelled, not sent again"
                )
            )

    async def _close_late_fill(self, entry: OrderReport) -> None:
        """An entry whose fill became known after its signal had closed (an unanswered order that
        turned out filled): the exit follows at once, for what filled."""
        intent = entry.intent
        pending = self.inst.pending
        if intent.action != "entry" or entry.filled <= 0 or (pending is not None and pending.id == intent.signal_id):
            return
        if self.inst.scheduled is not None and self.inst.scheduled.id == intent.signal_id:
            return
        exit_id = client_order_id(intent.signal_id, "exit")
        if exit_id in self.orders and self.orders[exit_id].status != "cancelled":
            return
        exit_intent = dataclasses.replace(
            intent,
            client_order_id=exit_id,
            action="exit",
            side="sell" if intent.side == "buy" else "buy",
            type="market",
            amount=abs(self.held_change(entry)),
            price=None,
            reference_price=entry.average or intent.reference_price,
            reduce_only=True,
        )
        await send_exit(self, exit_intent)

    def _amount(self, row: SignalRow, price: float, equity: float) -> float:
        if self.sizing_name is not None:
            return PositionSize.fixed_percentage(
                self.symbol, equity, price, row.price_stop_loss, sizing_name=self.sizing_name
            )
        quote = getattr(self.broker, "quote_amount", None)
        if not quote:
            raise SizingError(
                f"broker {self.broker.name} has no quote_amount and the run no sizing_name: no quantity to trade"
            )
        return quote / price

    def _intent(
        self, row: SignalRow, action: str, type_: str, amount: float, price: float | None, ref: float, when: int
    ) -> OrderIntent:
        entry = action == "entry"
        buy = (row.position == "long") == entry
        return OrderIntent(
            client_order_id=client_order_id(row.id, action),  # type: ignore[arg-type]
            signal_id=row.id,
            symbol=self.symbol,
            strategy_name=self.strategy_name,
            exchange_name=self.inst.exchange_name,
            action=action,  # type: ignore[arg-type]
            side="buy" if buy else "sell",
            type=type_,  # type: ignore[arg-type]
            amount=amount,
            price=price,
            reference_price=ref,
            reduce_only=not entry,
            created_at=when,
        )

    async def _refuse(
        self, result: TickResult, row: SignalRow, slot: str, why: str, exc: Exception | None
    ) -> IdleResult:
        self._take_back(row, slot)
        if exc is not None:
            await events.report_error(exc)
        else:
            get_logger().warning(f"live {self.symbol} {self.strategy_name}: entry of signal {row.id} not placed: {why}")
        return IdleResult(
            current_price=result.current_price,
            strategy_name=self.strategy_name,
            exchange_name=self.inst.exchange_name,
            symbol=self.symbol,
            backtest=False,
        )

    async def _new_entry(self, result: TickResult, row: SignalRow, slot: str, limit: bool, when: int) -> TickResult:
        why = self.close_only()
        if why is not None:
            return await self._refuse(result, row, slot, f"close-only: {why}", None)
        try:
            equity = (await self.broker.account()).equity if self.sizing_name is not None else 0.0
            amount = self._amount(row, row.price_open, equity)
            if not (amount > 0 and math.isfinite(amount)):
                raise SizingError(f"sizing gave {amount!r} for signal {row.id}")
        except (SizingError, ValueError) as exc:
            err = BrokerError(f"entry of signal {row.id} ({self.symbol} {self.strategy_name}) not sized: {exc}")
            return await self._refuse(result, row, slot, str(err), err)
        intent = self._intent(
            row,
            "entry",
            "limit" if limit else "market",
            amount,
            row.price_open if limit else None,
            row.price_open,
            when,
        )
        report = await self._send(intent, flush=True)
        # an entry that ended with part of it filled (a market order the book could not fill whole
        # expires, Binance EXPIRED) is a position for what filled: taking it back would leave that
        # amount in the account with no exit ever sent for it
        if report.status == "rejected" or (report.status == "cancelled" and report.filled <= 0):
            error = OrderRejected(intent, report.reason) if report.status == "rejected" else None
            return await self._refuse(result, row, slot, report.reason, error)
        return result

    async def _send(self, intent: OrderIntent, *, flush: bool = False) -> OrderReport:
        """Write ``intent``, flush the signal state, place it, record the answer.

        While the intent or the state cannot be written, or the broker could not take it for a
        reason of this side (``OrderNotSent``), nothing is sent: the intent waits in memory
        (``_unsent``, status ``intent``) and ``_refresh`` sends it at a later tick, once the state
        folder is writable again; the runner meanwhile announces nothing unwritten."""
        coid = intent.client_order_id
        self._unsent.add(coid)
        try:
            await self._record(OrderReport(intent=intent, status="intent", timestamp=intent.created_at), strict=True)
        except Exception:  # the intent is not on disk: nothing is sent yet
            return self.orders[coid]
        written = await writer.flush() if flush else writer.failure is None
        if not written:
            return self.orders[coid]
        self._unsent.discard(coid)
        try:
            report = await self.broker.place(intent)
        except OrderNotSent as exc:  # nothing placed, for a local reason: sent again later
            get_logger().warning(str(exc))
            self._unsent.add(coid)
            return self.orders[coid]
        except OrderRejected as exc:
            report = OrderReport(intent=intent, status="rejected", reason=exc.reason)
            await self._record(report)
            if intent.action == "exit":
                self.blocked = f"{intent.action} order {coid} refused ({exc.reason}); the account may still hold it"
            # a refused exit is sent again at every tick (_retry_exits): its refusal is an error
            # once, and again only when the venue's reason changes, not once a minute until placed
            if intent.action != "entry" and self._refused.get(coid) != exc.reason:
                self._refused[coid] = exc.reason
                await events.report_error(exc)
            return report
        except Exception as exc:  # OrderOutcomeUnknown or anything else: maybe placed, never resent
            self._placed_after_refusals(coid)
            cause = exc if isinstance(exc, OrderOutcomeUnknown) else OrderOutcomeUnknown(intent, repr(exc))
            await events.report_error(cause)
            await self._reconcile(self.orders[coid])
            return self.orders[coid]
        self._placed_after_refusals(coid)
        return await self._record(report)

    def _placed_after_refusals(self, coid: str) -> None:
        """An order refused before reached the venue at last: said in the log, since its refusal
        was said once on the error stream and the retries since were quiet."""
        reason = self._refused.pop(coid, None)
        if reason is not None:
            get_logger().warning(
                f"live {self.symbol} {self.strategy_name}: order {coid} was sent after the broker had refused it "
                f"({reason})"
            )

    async def _on_opened(self, result: OpenedResult, when: int) -> TickResult:
        row = result.signal
        entry = self.entry_of(row.id)
        if entry is None:  # a market entry (or a scheduled one that had no limit order)
            return await self._new_entry(result, row, "pending", False, when)
        if not entry.final:  # the limit entry the engine just activated
            touch = getattr(self.broker, "touch", None)
            answer = (
                await touch(entry.intent, row.price_open)
                if touch is not None
                else await self.broker.fetch(entry.intent)
            )
            if answer is not None:
                await self._record(answer)
        return result

    async def _on_scheduled(self, result: ScheduledResult, when: int) -> TickResult:
        return await self._new_entry(result, result.signal, "scheduled", True, when)

    async def _on_closed(self, result: ClosedResult, when: int) -> None:
        row = result.signal
        entry = self.entry_of(row.id)
        if entry is None:
            return
        if entry.intent.client_order_id in self._unsent:  # closed before its entry could be sent
            self._unsent.discard(entry.intent.client_order_id)
            await self._record(dataclasses.replace(entry, status="cancelled", reason="closed before it was sent"))
            return
        if not entry.final and entry.status != "intent":
            entry = await self._record(await self.broker.cancel(entry.intent))
        if entry.filled <= 0:
            return
        held = abs(self.held_change(entry))  # what the entry left in the account, its base fee taken
        exit_intent = self._intent(row, "exit", "market", held, None, result.current_price, when)
        known = self.orders.get(exit_intent.client_order_id)
        if known is not None and known.status != "cancelled":
            return  # already asked for (a restart that closed it again)
        await send_exit(self, exit_intent, flush=True)

    def _live_ids(self) -> set[str]:
        return {r.id for r in (self.inst.pending, self.inst.scheduled) if r is not None}

    async def _cancel_orphans(self) -> None:
        """A limit entry whose signal neither waits nor opened any more (cancelled, stopped, the
        price went past the stop first) is cancelled at the venue."""
        live_ids = self._live_ids()
        orphans = [
            r
            for r in self.orders.values()
            if not r.final
            and r.status != "intent"  # not at the venue (unsent: _refresh cancels it; unknown: asked by fetch)
            and r.intent.action == "entry"
            and r.intent.type == "limit"
            and r.intent.signal_id not in live_ids
        ]
        # the slot that no longer holds the signal is on disk first: a crash before the cancel
        # leaves an open order of a signal the restart does not hold, which the restart cancels
        if not orphans or not await writer.flush():
            return
        for report in orphans:
            await self._record(await self.broker.cancel(report.intent))
