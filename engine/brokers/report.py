"""The live account report (dump/live/account_<broker>.md): balance, equity, fees, the equity curve
and every fill, from the broker's account and its book (book.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from .base import AccountSnapshot, Broker
from .book import book_for

__all__ = ["account_report", "account_snapshot"]


async def account_snapshot(broker: Broker) -> AccountSnapshot:
    """The account now, with the day's PnL and the breaker of its book."""
    await broker.start()
    book = book_for(broker.name)
    await book.load()
    snap = await broker.account()
    day_pnl = snap.equity - book.day_start_equity if book.day == snap.timestamp // 86_400_000 else 0.0
    return dataclasses.replace(snap, day_pnl=day_pnl, breaker=book.breaker)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


async def account_report(broker: Broker) -> str:
    snap = await account_snapshot(broker)
    book = book_for(broker.name)
    cur = snap.currency
    lines = [
        f"# Account {snap.broker}",
        "",
        f"- Balance: {snap.balance:.2f} {cur}",
        f"- Equity: {snap.equity:.2f} {cur}",
        f"- Closed PnL: {snap.realised_pnl:.2f} {cur}",
        f"- Fees paid: {snap.fees_paid:.2f} {cur}",
        f"- Today's PnL: {snap.day_pnl:.2f} {cur}",
        f"- Open orders: {snap.open_orders}",
        f"- Circuit breaker: {f'{book.breaker} tripped ({book.reason})' if book.breaker else 'none, trading allowed'}",
        "",
        "## Positions",
        "",
    ]
    if snap.positions:
        lines += ["| Symbol | Amount |", "| --- | --- |"]
        lines += [f"| {sym} | {amount:g} |" for sym, amount in sorted(snap.positions.items())]
    else:
        lines.append("No open position.")
    lines += ["", "## Equity curve", ""]
    if book.curve:
        lines += ["| Time (UTC) | Equity |", "| --- | --- |"]
        lines += [f"| {_when(t)} | {v:.2f} |" for t, v in book.curve]
    else:
        lines.append("No account change yet.")
    lines += ["", "## Fills", ""]
    if book.fills:
        lines += ["| Time (UTC) | Symbol | Side | Amount | Price | Fee | Order | Signal |", "| --- " * 8 + "|"]
        for f in book.fills:
            lines.append(
                f"| {_when(f['timestamp'])} | {f['symbol']} | {f['side']} | {f['amount']:g} | {f['price']:g} | "
                f"{f['fee']:.4f} {f['fee_currency']} | {f['client_order_id']} | {f['signal_id']} |"
            )
    else:
        lines.append("No fill yet.")
    return "\n".join(lines) + "\n"
