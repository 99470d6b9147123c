"""The account book's circuit breakers (engine/brokers/book.py): the day's loss against the day's
starting equity, the drawdown from the peak, close-only until cleared, saved across restarts."""

from __future__ import annotations

import engine as e
from engine.brokers.book import DAY_MS, AccountBook

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def snap(equity: float, at: int) -> e.AccountSnapshot:
    return e.AccountSnapshot(
        broker="paper",
        currency="USDT",
        balance=equity,
        equity=equity,
        realised_pnl=0.0,
        fees_paid=0.0,
        day_pnl=0.0,
        open_orders=0,
        timestamp=at,
    )


async def test_the_daily_loss_limit_trips_on_the_days_loss_and_stays_tripped_across_days_and_restarts() -> None:
    e.set_config({"CC_DAILY_LOSS_LIMIT_PERCENT": 2})
    heard: list[e.BreakerEvent] = []
    e.listen_breaker(heard.append)
    book = AccountBook("paper")
    await book.load()
    assert (await book.record(snap(10_000, T0))).day_pnl == 0
    assert (await book.record(snap(9_850, T0 + 60_000))).breaker is None  # -1.5 %
    late = await book.record(snap(10_100, T0 + DAY_MS + 1))  # a new day starts from 10,100
    assert late.day_pnl == 0 and late.breaker is None
    tripped = await book.record(snap(9_898, T0 + DAY_MS + 2))  # -2 % of 10,100
    assert tripped.breaker == "daily_loss" and round(tripped.day_pnl, 2) == -202.0
    assert [ev.breaker for ev in heard] == ["daily_loss"] and "2% of the day's starting equity" in heard[0].reason
    assert (await book.record(snap(10_500, T0 + 2 * DAY_MS))).breaker == "daily_loss"  # until cleared

    again = AccountBook("paper")  # a restart reads it back
    await again.load()
    assert again.breaker == "daily_loss" and len(again.curve) == 5
    cleared = await again.clear(10_500)
    assert cleared is not None and cleared.breaker is None and heard[-1] is cleared
    assert (await again.record(snap(10_400, T0 + 2 * DAY_MS + 5))).breaker is None  # -0.95 % from the clear


async def test_the_drawdown_limit_counts_from_the_peak_and_off_means_off() -> None:
    book = AccountBook("paper")
    await book.load()
    for i, equity in enumerate((10_000, 12_000, 10_900)):  # -9.2 % from the peak, no limit set
        assert (await book.record(snap(equity, T0 + i))).breaker is None
    e.set_config({"CC_MAX_DRAWDOWN_PERCENT": 10})
    assert (await book.record(snap(10_801, T0 + 5))).breaker is None
    hit = await book.record(snap(10_800, T0 + 6))  # exactly 10 % below 12,000
    assert hit.breaker == "max_drawdown" and "below its peak 12000.00" in book.reason
