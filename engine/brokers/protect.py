"""Exchange-side protective stops: the order that protects a position while btk is down.

After an entry fills, the order desk places a stop-market order at the signal's stop-loss for
what the account holds (``action = "stop"``, client id ``btks...``), on a broker that wants them
(``protective_stop``) and a market that takes them (``supports_stop``). Why each rule:

* **One stop at a time, each its own order.** A stop is replaced (cancelled, then the next
  *version* placed, ``client_order_id(signal, "stop", n)``) when the signal's stop-loss moves, or
  when the last one ended without filling (it never reached the venue, the venue let it expire).
  ``n`` counts the signal's stop records, which are written before anything is sent, so a
  restarted run derives the same ids and never places a second stop beside a resting one.
* **The exit cancels the stop first** (``send_exit``): on a spot account the stop holds the base
  amount the exit sells, and a stop left resting could sell it a second time. When the stop
  cannot be cancelled yet, the exit waits (recorded refused, sent again at the next tick by the
  desk's retry) rather than risk two sells. What a stop already sold is not sold again.
* **A stop that filled closed the position at the venue** (``stopped_out``): the live runner
  closes btk's signal at the stop's price (reason ``stop_loss``) and no exit is sent. That holds
  after a restart too: the restore asks the venue about the stop like any unfinished order.
* A refused stop is not sent again (the market takes none, the stop-loss is already crossed): the
  engine still closes the position itself at its stop-loss. It does not block the pair.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..log import get_logger
from ..model import SignalRow
from ..persist.adapters import writer
from .base import OrderIntent, OrderReport, client_order_id

__all__ = ["keep_stop", "left_after_stops", "send_exit", "stopped_out", "stops_of", "wants_stops"]


def wants_stops(broker: Any) -> bool:
    return bool(getattr(broker, "protective_stop", False)) and callable(getattr(broker, "supports_stop", None))


def stops_of(desk: Any, signal_id: str) -> list[OrderReport]:
    """The protective stops of a signal, oldest first (the records keep the order they were made)."""
    return [r for r in desk.orders.values() if r.intent.action == "stop" and r.intent.signal_id == signal_id]


def left_after_stops(desk: Any, entry: OrderReport) -> float:
    """The base amount the entry left in the account that no stop has sold yet."""
    held = desk.held_change(entry)
    left = held + sum(desk.held_change(s) for s in stops_of(desk, entry.intent.signal_id))
    return abs(left) if left * held > 0 else 0.0


def stopped_out(desk: Any, row: SignalRow | None) -> float | None:
    """The price at which the signal's protective stop closed its position at the venue, or None
    (no stop filled, or only part of one: btk's own exit sells the rest)."""
    return None if row is None else _stop_fill_price(desk, row.id)


def _stop_fill_price(desk: Any, signal_id: str) -> float | None:
    stops = stops_of(desk, signal_id)
    if not stops or stops[-1].status != "filled":
        return None
    last = stops[-1]
    return float(last.average or last.intent.price or 0.0) or None


async def _cancel(desk: Any, report: OrderReport, why: str) -> OrderReport | None:
    """Cancel one stop; None when the venue could not be asked (tried again later)."""
    coid = report.intent.client_order_id
    if coid in desk._unsent:  # written, never sent: nothing at the venue to cancel
        desk._unsent.discard(coid)
        return await desk._record(dataclasses.replace(report, status="cancelled", reason=f"not sent: {why}"))
    try:
        return await desk._record(await desk.broker.cancel(report.intent))
    except Exception as exc:
        get_logger().warning(f"protective stop {coid} of signal {report.intent.signal_id} not cancelled ({exc})")
        return None


async def _cancel_stops(desk: Any, signal_id: str, why: str) -> bool:
    """Cancel the signal's stops that may rest at the venue; True when none may any more."""
    done = True
    for report in stops_of(desk, signal_id):
        if report.final:
            continue
        answer = await _cancel(desk, report, why)
        done = done and answer is not None and answer.final
    return done


async def send_exit(desk: Any, intent: OrderIntent, *, flush: bool = False) -> OrderReport | None:
    """Send an exit after the signal's stops are cancelled, for what they did not sell; nothing
    when a stop closed the position. None when nothing was sent."""
    coid = intent.client_order_id
    if _stop_fill_price(desk, intent.signal_id) is not None and coid not in desk.orders:
        return None  # the venue's stop closed the position already: nothing to sell
    if stops_of(desk, intent.signal_id):
        # the exit's intent is on disk before the stop's cancel goes out: that round trip lets
        # another pair's flush write this pair's closed slot, and a crash then must still find
        # the exit to send (the restart sends it, its stop cancelled first)
        desk._unsent.add(coid)
        try:
            pending = OrderReport(intent=intent, status="intent", timestamp=intent.created_at)
            await desk._record(pending, strict=True)
        except Exception:  # not on disk: sent later, once it is (the desk's refresh)
            return desk.orders.get(coid)
    if not await _cancel_stops(desk, intent.signal_id, "its position is closing"):
        desk._unsent.discard(coid)
        why = "its protective stop could not be cancelled yet; sent again at the next tick"
        get_logger().warning(f"exit order {coid} of signal {intent.signal_id} waits: {why}")
        desk.blocked = f"exit order {coid} waits for its protective stop to be cancelled"
        return await desk._record(OrderReport(intent=intent, status="rejected", reason=why))
    entry = desk.entry_of(intent.signal_id)
    if entry is not None and stops_of(desk, intent.signal_id):
        left = left_after_stops(desk, entry)
        if _stop_fill_price(desk, intent.signal_id) is not None or left <= 0:
            if coid in desk.orders and not desk.orders[coid].final:  # an intent written before a restart
                desk._unsent.discard(coid)
                reason = "not sent: the protective stop closed the position"
                await desk._record(dataclasses.replace(desk.orders[coid], status="cancelled", reason=reason))
            return None
        if left < intent.amount:
            intent = dataclasses.replace(intent, amount=left)
    return await desk._send(intent, flush=flush)


async def keep_stop(desk: Any, when: int) -> None:
    """Each tick: cancel stops of signals btk no longer holds, and keep the open position's stop
    at its stop-loss for what the account holds."""
    if not wants_stops(desk.broker):
        return
    row = desk.inst.pending
    for report in [r for r in desk.orders.values() if r.intent.action == "stop" and not r.final]:
        if (row is None or report.intent.signal_id != row.id) and report.status != "intent":
            await _cancel(desk, report, "its signal is closed")
    if row is None or writer.failure is not None or desk._dirty:
        return
    entry = desk.entry_of(row.id)
    if entry is None or not entry.final or entry.filled <= 0:
        return  # no entry yet, one still filling, or one that bought nothing: nothing held to protect
    stops = stops_of(desk, row.id)
    if stops:
        latest = stops[-1]
        if latest.status in ("filled", "rejected", "intent"):
            return  # closed by it / the venue takes none / waiting for the venue's answer
        if not latest.final:
            if latest.intent.price == row.price_stop_loss:
                return  # resting where it should
            answer = await _cancel(desk, latest, "its stop-loss moved")
            if answer is None or not answer.final or answer.filled > 0:
                return  # asked again next tick; a stop that (partly) filled is what the venue did
    try:
        supported = desk.broker.supports_stop(row.symbol)
    except Exception as exc:
        get_logger().warning(f"protective stop of signal {row.id}: the market's order types unknown ({exc})")
        return
    amount = left_after_stops(desk, entry)
    if not supported or amount <= 0:
        return
    long = entry.intent.side == "buy"
    intent = OrderIntent(
        client_order_id=client_order_id(row.id, "stop", len(stops)),
        signal_id=row.id,
        symbol=desk.symbol,
        strategy_name=desk.strategy_name,
        exchange_name=desk.inst.exchange_name,
        action="stop",
        side="sell" if long else "buy",
        type="stop_market",
        amount=amount,
        price=row.price_stop_loss,
        reference_price=row.price_stop_loss,
        reduce_only=True,
        created_at=when,
    )
    await desk._send(intent)
