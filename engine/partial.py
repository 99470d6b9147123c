"""Profit/loss milestones (SPEC 10): 10 %, 20 %, ... 100 % of the way to TP or SL, once per signal."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import events
from .model import PartialEvent, SignalRow
from .settlement import PARTIAL_LEVELS, Lane, milestones

__all__ = ["LazyMilestones", "PartialService", "partials"]


@dataclass(slots=True)
class _Levels:
    signal_id: str
    symbol: str
    strategy_name: str
    profit: set[int] = field(default_factory=set)
    loss: set[int] = field(default_factory=set)


class LazyMilestones:
    """The milestones one fast-forwarded signal reached, computed on first read.

    Holds the signal and the stretch of candles ``[k0, k1)`` it was evaluated on; a fresh signal
    has no levels yet, so the result depends on nothing else.
    """

    __slots__ = ("_events", "backtest", "k0", "k1", "lane", "row")

    def __init__(self, row: SignalRow, lane: Lane, k0: int, k1: int, backtest: bool) -> None:
        self.row, self.lane, self.k0, self.k1, self.backtest = row, lane, k0, k1, backtest
        self._events: list[tuple[str, PartialEvent]] | None = None

    def events(self) -> list[tuple[str, PartialEvent]]:
        """``("profit"|"loss", event)`` in emission order (oldest first)."""
        if self._events is None:
            row, lane = self.row, self.lane
            self._events = [
                (
                    kind,
                    PartialEvent(
                        symbol=row.symbol,
                        strategy_name=row.strategy_name,
                        exchange_name=row.exchange_name,
                        data=row,
                        current_price=price,
                        level=level,
                        backtest=self.backtest,
                        timestamp=lane.time(k),
                    ),
                )
                for k, kind, level, price in milestones(
                    lane.vw,
                    self.k0,
                    self.k1,
                    position=row.position,
                    price_open=row.price_open,
                    take_profit=row.price_take_profit,
                    stop_loss=row.price_stop_loss,
                )
            ]
            self.lane = None  # type: ignore[assignment]  # free the candles
        return self._events


class PartialService:
    """Trackers per (signal id, mode); a tracker lives from the first milestone to the close."""

    def __init__(self) -> None:
        self.trackers: dict[tuple[str, bool], _Levels] = {}
        self.lazy_sink: object = None  # set by the report stores
        self._wants_version = -1
        self._wants = False

    def wants_events(self) -> bool:
        """Does a user listen to milestones (so they must be computed and emitted now)?"""
        version = events.subscription_version()
        if version != self._wants_version:
            self._wants_version = version
            self._wants = events.partial_profit.has_subscribers() or events.partial_loss.has_subscribers()
        return self._wants

    def tracking(self, row: SignalRow, backtest: bool) -> bool:
        """Has this signal reached any milestone already?"""
        return (row.id, backtest) in self.trackers

    def levels(self, row: SignalRow, backtest: bool) -> tuple[set[int], set[int]]:
        t = self.trackers.get((row.id, backtest))
        if t is None:
            return set(), set()
        return t.profit, t.loss

    async def record(self, row: SignalRow, kind: str, level: int, price: float, when: int, backtest: bool) -> None:
        """Mark one level reached and publish it (the caller knows it is new)."""
        key = (row.id, backtest)
        t = self.trackers.get(key)
        if t is None:
            t = self.trackers[key] = _Levels(row.id, row.symbol, row.strategy_name)
        (t.profit if kind == "profit" else t.loss).add(level)
        stream = events.partial_profit if kind == "profit" else events.partial_loss
        if stream.wants():
            await stream.emit(
                PartialEvent(
                    symbol=row.symbol,
                    strategy_name=row.strategy_name,
                    exchange_name=row.exchange_name,
                    data=row,
                    current_price=price,
                    level=level,
                    backtest=backtest,
                    timestamp=when,
                )
            )

    async def progress(
        self, row: SignalRow, kind: str, percent: float, price: float, when: int, backtest: bool
    ) -> None:
        """One evaluation (SPEC 10.1): publish every level up to ``percent`` not yet reached."""
        done = self.levels(row, backtest)[0 if kind == "profit" else 1]
        for level in PARTIAL_LEVELS:
            if percent >= level and level not in done:
                await self.record(row, kind, level, price, when, backtest)

    def clear(self, row: SignalRow, backtest: bool) -> None:
        self.trackers.pop((row.id, backtest), None)

    def reset_for(self, symbol: str, strategy_name: str, backtest: bool) -> None:
        """Forget the trackers of one (symbol, strategy, mode), e.g. when a new backtest starts."""
        for key in [
            k
            for k, t in self.trackers.items()
            if k[1] == backtest and t.symbol == symbol and t.strategy_name == strategy_name
        ]:
            del self.trackers[key]

    def reset(self) -> None:
        self.trackers.clear()


partials = PartialService()
