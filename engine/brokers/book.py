"""The account book of one broker: circuit breakers, the equity curve and the fills the live
account report shows.

Two breakers (engine/config.py): ``CC_DAILY_LOSS_LIMIT_PERCENT``, a day's loss (UTC day, engine
clock) against the equity at the start of that day, and ``CC_MAX_DRAWDOWN_PERCENT``, the drop of
equity from its highest point. When one trips the account goes close-only: the order desks of
every run on this broker place no new entries, exits still run. It stays tripped, across restarts
(the book is saved in ``account/<broker>/book.json``), until ``clear`` (``Live.clear_breaker``):
a person decides to trade on, and the day's start and the peak are taken again from the equity
of that moment, or the same loss would trip it again at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .. import config, events
from ..clock import get_clock
from ..log import get_logger
from .base import AccountSnapshot, Fill
from .store import account_docs

__all__ = ["AccountBook", "BreakerEvent", "book_for", "books"]

DAY_MS = 86_400_000
CURVE_LIMIT = 100_000  # equity points kept (one per account change)


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """``breaker`` names the tripped breaker (``daily_loss``, ``max_drawdown``); None: cleared."""

    broker: str
    breaker: str | None
    reason: str
    equity: float
    timestamp: int

    def __str__(self) -> str:
        if self.breaker is None:
            return f"{self.broker}: circuit breaker cleared, new entries allowed ({self.reason})"
        return f"{self.broker}: CLOSE-ONLY, circuit breaker {self.breaker} tripped: {self.reason}"


class AccountBook:
    """Breaker state, equity curve and fills of one broker's account, saved after each change."""

    def __init__(self, broker_name: str) -> None:
        self.broker_name = broker_name
        self.breaker: str | None = None
        self.reason = ""
        self.day = -1
        self.day_start_equity = 0.0
        self.peak_equity = 0.0
        self.curve: list[tuple[int, float]] = []
        self.fills: list[dict[str, Any]] = []
        self.last: AccountSnapshot | None = None
        self._loaded = False

    async def load(self) -> None:
        if self._loaded:
            return
        saved = await account_docs.read(self.broker_name, "book", None)
        if saved is not None:
            self.breaker = saved.get("breaker")
            self.reason = str(saved.get("reason") or "")
            self.day = int(saved.get("day", -1))
            self.day_start_equity = float(saved.get("day_start_equity", 0.0))
            self.peak_equity = float(saved.get("peak_equity", 0.0))
            self.curve = [(int(t), float(v)) for t, v in saved.get("curve", [])]
            self.fills = list(saved.get("fills", []))
        self._loaded = True

    async def save(self) -> None:
        await account_docs.write(
            self.broker_name,
            "book",
            {
                "breaker": self.breaker,
                "reason": self.reason,
                "day": self.day,
                "day_start_equity": self.day_start_equity,
                "peak_equity": self.peak_equity,
                "curve": [list(p) for p in self.curve[-CURVE_LIMIT:]],
                "fills": self.fills,
            },
        )

    def _evaluate(self, snap: AccountSnapshot) -> tuple[AccountSnapshot, BreakerEvent | None]:
        """The day's PnL and the peak follow ``snap``; a limit crossed trips a breaker."""
        day = snap.timestamp // DAY_MS
        if day != self.day:
            self.day, self.day_start_equity = day, snap.equity
        self.peak_equity = max(self.peak_equity, snap.equity)
        day_pnl = snap.equity - self.day_start_equity
        tripped: BreakerEvent | None = None
        if self.breaker is None:
            cfg = config.current()
            limit, max_dd = cfg.CC_DAILY_LOSS_LIMIT_PERCENT, cfg.CC_MAX_DRAWDOWN_PERCENT
            drawdown = self.peak_equity - snap.equity
            if limit and self.day_start_equity > 0 and -day_pnl >= self.day_start_equity * limit / 100:
                self.breaker = "daily_loss"
                self.reason = (
                    f"the day's loss {-day_pnl:.2f} {snap.currency} reached {limit:g}% of the day's starting "
                    f"equity {self.day_start_equity:.2f}"
                )
            elif max_dd and self.peak_equity > 0 and drawdown >= self.peak_equity * max_dd / 100:
                self.breaker = "max_drawdown"
                self.reason = (
                    f"equity {snap.equity:.2f} is {drawdown:.2f} {snap.currency} below its peak "
                    f"{self.peak_equity:.2f} ({max_dd:g}% allowed)"
                )
            if self.breaker is not None:
                tripped = BreakerEvent(self.broker_name, self.breaker, self.reason, snap.equity, snap.timestamp)
        return dataclasses.replace(snap, day_pnl=day_pnl, breaker=self.breaker), tripped

    async def record(self, snap: AccountSnapshot, fills: tuple[Fill, ...] = ()) -> AccountSnapshot:
        """After an account change: new fills and an equity point, breakers checked, saved, then
        published (the snapshot, and a trip if there was one)."""
        snap, tripped = self._evaluate(snap)
        self.fills.extend(dataclasses.asdict(f) for f in fills)
        self.curve.append((snap.timestamp, snap.equity))
        self.last = snap
        await self.save()
        await self._announce(snap, tripped)
        return snap

    async def watch(self, snap: AccountSnapshot) -> None:
        """A tick's mark-to-market: breakers checked; saved and published only when one trips."""
        snap, tripped = self._evaluate(snap)
        self.last = snap
        if tripped is not None:
            self.curve.append((snap.timestamp, snap.equity))
            await self.save()
            await self._announce(snap, tripped)

    async def _announce(self, snap: AccountSnapshot, tripped: BreakerEvent | None) -> None:
        try:
            await events.account.emit(snap)
        except Exception as exc:
            await events.report_error(exc)
        if tripped is not None:
            get_logger().warning(str(tripped))
            try:
                await events.breaker.emit(tripped)
            except Exception as exc:
                await events.report_error(exc)

    async def clear(self, equity: float | None = None) -> BreakerEvent | None:
        """Allow new entries again; the day's start and the peak restart from ``equity``."""
        await self.load()
        if self.breaker is None:
            return None
        now = get_clock().now()
        equity = equity if equity is not None else (self.last.equity if self.last is not None else 0.0)
        was = self.breaker
        self.breaker, self.reason = None, ""
        self.day, self.day_start_equity, self.peak_equity = now // DAY_MS, equity, equity
        await self.save()
        event = BreakerEvent(self.broker_name, None, f"{was} cleared by request", equity, now)
        get_logger().info(str(event))
        try:
            await events.breaker.emit(event)
        except Exception as exc:
            await events.report_error(exc)
        return event


books: dict[str, AccountBook] = {}


def book_for(broker_name: str) -> AccountBook:
    book = books.get(broker_name)
    if book is None:
        book = books[broker_name] = AccountBook(broker_name)
    return book
