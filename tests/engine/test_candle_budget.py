"""The candle cache has a budget (CC_CANDLE_CACHE_MB, issue 13): past it, the least recently used
stores a feed can give back cheaply are dropped, never one a run is reading, and a run on a dropped
symbol fetches it again and gets the same results. A backtest allocates its columns once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

import engine as e
from engine import active_engine as e_active
from engine.candles import PRESENT, CandleStore
from engine.runners.backtest import HISTORY_RESERVE

START = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")


def _register(exchange: str = "sim") -> None:
    e.add_synthetic_exchange("sim", seed=5)
    e.add_frame("f", "1m", START, START + timedelta(days=3))

    async def get_signal(symbol, when, price):
        window = await e.get_candles(symbol, "1m", 100)  # history from before the frame's start
        up = window.close[-1] >= window.close[0]
        return {
            "position": "long" if up else "short",
            "price_take_profit": price * (1.01 if up else 0.99),
            "price_stop_loss": price * (0.992 if up else 1.008),
            "minute_estimated_time": 120,
        }

    e.add_strategy("s", "15m", get_signal)


async def _run(symbol: str) -> list:
    return [r async for r in e.Backtest.run(symbol, strategy_name="s", exchange_name="sim", frame_name="f")]


def _cached() -> set[str]:
    """Symbols with candles in the cache."""
    return {
        sym
        for client in e_active().candle_clients.clients.values()
        for (sym, _), st in client._stores.items()
        if (st.status == PRESENT).any()
    }


def test_past_the_budget_the_oldest_symbols_go_and_come_back_the_same() -> None:
    _register()

    async def main() -> None:
        first = {s: await _run(s) for s in SYMBOLS}
        assert _cached() == set(SYMBOLS)  # 3 days each: well within the default budget
        e.set_config(CC_CANDLE_CACHE_MB=0)  # every store but the growing one is over budget
        again = await _run("AAAUSDT")
        assert _cached() == {"AAAUSDT"}  # the others were dropped when it grew ...
        assert again == first["AAAUSDT"]
        for s in SYMBOLS[1:]:  # ... and are fetched again, identical, when asked for
            assert await _run(s) == first[s]
            assert _cached() == {s}

    asyncio.run(main())


def test_a_store_a_run_is_reading_is_never_dropped(monkeypatch) -> None:
    """Interleaved runs, each growing its own store while the others read theirs: nothing a run
    reads is dropped under it (it would be fetched again: more fetches than running alone)."""
    _register()
    e.set_config(CC_CANDLE_CACHE_MB=0)
    fetched: list[str] = []
    fetch = CandleStore._fetch_run

    async def counted(self, lo, hi, cfg):
        fetched.append(self.symbol)
        await fetch(self, lo, hi, cfg)

    monkeypatch.setattr(CandleStore, "_fetch_run", counted)

    async def main() -> None:
        alone = {}
        for s in SYMBOLS:
            e.clear_candle_cache()
            alone[s] = await _run(s)
        fetches_alone = sorted(fetched)
        fetched.clear()
        e.clear_candle_cache()
        together = await asyncio.gather(*(_run(s) for s in SYMBOLS))  # interleaved runs, each growing its store
        assert dict(zip(SYMBOLS, together)) == alone
        assert sorted(fetched) == fetches_alone

    asyncio.run(main())


def test_stores_a_feed_cannot_give_back_cheaply_are_kept() -> None:
    """An exchange without a columns source (a ccxt exchange, a user's get_candles) is asked again
    only at a price: its candles stay, whatever the budget."""
    from engine.exchanges.synthetic import SyntheticFeed

    feed = SyntheticFeed(seed=5)

    async def get_candles(symbol, interval, since, limit):
        start = int(since.timestamp() * 1000)
        c = feed._minutes(symbol, start, start + limit * 60_000)
        return np.column_stack([c.timestamp, c.open, c.high, c.low, c.close, c.volume]).tolist()

    e.add_exchange("plain", get_candles)
    e.add_frame("f", "1m", START, START + timedelta(days=1))
    e.add_strategy("s", "15m", lambda symbol, when, price: None)
    e.set_config(CC_CANDLE_CACHE_MB=0)

    async def main() -> None:
        for s in SYMBOLS:
            async for _ in e.Backtest.run(s, strategy_name="s", exchange_name="plain", frame_name="f"):
                pass

    asyncio.run(main())
    assert _cached() == set(SYMBOLS)


def test_a_backtest_allocates_its_columns_once() -> None:
    """The run reserves its range (a day of history before the first frame, the frames, the
    look-ahead) before fetching: reading 100 candles of history at the start does not grow it."""
    _register()
    asyncio.run(_run("AAAUSDT"))
    (st,) = [st for client in e_active().candle_clients.clients.values() for st in client._stores.values()]
    first_frame = int(START.timestamp() * 1000) // 60_000
    w = e.get_config()["CC_AVG_PRICE_CANDLES_COUNT"]
    assert st.base == first_frame - (w - 1) - HISTORY_RESERVE


@pytest.mark.parametrize("value", [-1, 1.5])
def test_the_budget_is_checked(value) -> None:
    with pytest.raises(e.ConfigError, match="CC_CANDLE_CACHE_MB"):
        e.set_config(CC_CANDLE_CACHE_MB=value)
