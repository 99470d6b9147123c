"""``CandleStore.ensure`` remembers which slots it checked hold no unknown candle, so a strategy's
next ``get_candles`` costs no scan. Whatever makes a slot unknown again must make it forget: a live
refresh (the forming candle), a live hole asked again, a new run retrying what failed."""

from __future__ import annotations

import pytest

import engine as e
from engine.candles import LIVE_HOLE_FIRST_DELAY_MS, ExchangeClient
from engine.clock import SimulatedClock, set_clock

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
M = 60_000


class Feed:
    """A feed whose candles can change (the forming one grows) and which can fail on demand."""

    def __init__(self) -> None:
        self.close = 100.0
        self.failing = False
        self.missing: set[int] = set()  # minutes (after T0) the exchange leaves out
        self.asked: list[int] = []

    async def get_candles(self, symbol, interval, since, limit):
        if self.failing:
            raise ConnectionError("exchange down")
        t0 = int(since.timestamp() * 1000)
        self.asked.append(t0)
        return [
            {"timestamp": t, "open": 100.0, "high": 200.0, "low": 50.0, "close": self.close, "volume": 1.0}
            for t in range(t0, t0 + limit * M, M)
            if (t - T0) // M not in self.missing
        ]


def _client(feed: Feed, backtest: bool) -> ExchangeClient:
    schema = e.add_exchange("x", feed.get_candles)
    return ExchangeClient(schema, backtest)


@pytest.fixture
def clock() -> SimulatedClock:
    c = SimulatedClock(T0 + 100 * M + 30_000, speed=0)  # half way through minute 100
    set_clock(c)
    return c


async def test_a_live_refresh_reads_the_forming_candle_again(clock) -> None:
    feed = Feed()
    client = _client(feed, backtest=False)
    cfg = e.config.GLOBAL_CONFIG
    w = await client.get_candles("BTCUSDT", "1m", 5, T0 + 100 * M, cfg)
    assert w.close[-1] == 100.0
    await client.get_candles("BTCUSDT", "1m", 5, T0 + 100 * M, cfg)  # remembered: nothing asked
    asked = len(feed.asked)
    feed.close = 101.0  # the forming candle moved on
    clock.advance(10_000)
    client.refresh(clock.now())
    w = await client.get_candles("BTCUSDT", "1m", 5, T0 + 100 * M, cfg)
    assert len(feed.asked) > asked
    assert w.close[-1] == 101.0


async def test_a_live_hole_is_asked_for_again(clock) -> None:
    feed = Feed()
    feed.missing = {97}
    client = _client(feed, backtest=False)
    cfg = e.config.GLOBAL_CONFIG
    w = await client.get_candles("BTCUSDT", "1m", 5, T0 + 100 * M, cfg)
    assert len(w) == 4  # minute 97 is not there (yet)
    feed.missing = set()  # the exchange publishes it late
    clock.advance(LIVE_HOLE_FIRST_DELAY_MS)
    client.refresh(clock.now())
    w = await client.get_candles("BTCUSDT", "1m", 5, T0 + 100 * M, cfg)
    assert len(w) == 5


async def test_a_new_run_retries_what_failed(clock) -> None:
    feed = Feed()
    client = _client(feed, backtest=True)
    cfg = e.config.GLOBAL_CONFIG
    e.set_config(CC_GET_CANDLES_RETRY_COUNT=1, CC_GET_CANDLES_RETRY_DELAY_MS=0)
    cfg = e.config.GLOBAL_CONFIG
    feed.failing = True
    with pytest.raises(e.CandleError, match="exchange down"):
        await client.get_candles("BTCUSDT", "1m", 5, T0 + 50 * M, cfg)
    with pytest.raises(e.CandleError, match="exchange down"):  # the failure is remembered within a run ...
        await client.get_candles("BTCUSDT", "1m", 5, T0 + 50 * M, cfg)
    feed.failing = False
    client.forget_failures()  # ... and a new run asks again
    w = await client.get_candles("BTCUSDT", "1m", 5, T0 + 50 * M, cfg)
    assert len(w) == 5 and w.close[-1] == 100.0
