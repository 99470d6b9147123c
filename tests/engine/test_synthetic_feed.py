"""The synthetic feed: purity, validity, realism, aggregation and the get_candles contract."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from engine.exchanges.aggregate import aggregate_minutes
from engine.exchanges.synthetic import (
    BLOCK_MINUTES,
    SYNTHETIC_END_MS,
    SYNTHETIC_START_MS,
    SyntheticFeed,
)
from engine.model import CANDLE_INTERVALS, MINUTE_MS, CandleColumns

HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
JAN_2024 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
# A block boundary (blocks are 16-day units counted from 2000-01-01): chunking across it must not show.
BOUNDARY = SYNTHETIC_START_MS + 530 * BLOCK_MINUTES * MINUTE_MS
REPO = Path(__file__).resolve().parents[2]


def as_tuples(cols: CandleColumns) -> list[tuple[float, ...]]:
    return list(
        zip(
            cols.timestamp.tolist(), cols.open.tolist(), cols.high.tolist(),
            cols.low.tolist(), cols.close.tolist(), cols.volume.tolist(),
        )
    )  # fmt: skip


def concat(parts: list[CandleColumns]) -> CandleColumns:
    fields = ("timestamp", "open", "high", "low", "close", "volume")
    return CandleColumns(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


def digest(cols: CandleColumns) -> str:
    h = hashlib.sha256()
    for a in (cols.timestamp, cols.open, cols.high, cols.low, cols.close, cols.volume):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def month() -> dict[str, CandleColumns]:
    """30 days of 1m candles for a few symbols, shared by the read-only checks below."""
    feed = SyntheticFeed(7)
    return {
        s: feed.columns(s, "1m", JAN_2024, JAN_2024 + 30 * DAY_MS) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "ZZTOP1")
    }


# --------------------------------------------------------------------------- purity


def test_same_candles_however_requested() -> None:
    start, end = BOUNDARY - 2 * DAY_MS, BOUNDARY + DAY_MS
    whole = SyntheticFeed(42).columns("BTCUSDT", "1m", start, end)
    assert len(whole) == 3 * 1440

    rng = np.random.default_rng(0)
    cuts = np.sort(rng.choice(np.arange(start + MINUTE_MS, end, MINUTE_MS), 25, replace=False))
    edges = [start, *cuts.tolist(), end]
    chunked = SyntheticFeed(42)
    parts = [chunked.columns("BTCUSDT", "1m", a, b) for a, b in pairwise(edges)]
    assert as_tuples(concat(parts)) == as_tuples(whole)

    # Reverse order, a tiny cache that keeps evicting, and single minutes: still the same.
    backwards = SyntheticFeed(42, cache_days=1)
    parts = [backwards.columns("BTCUSDT", "1m", a, b) for a, b in pairwise(edges)][::-1]
    assert as_tuples(concat(parts[::-1])) == as_tuples(whole)
    for t in (start, BOUNDARY - MINUTE_MS, BOUNDARY, end - MINUTE_MS):
        one = SyntheticFeed(42).columns("BTCUSDT", "1m", t, t + MINUTE_MS)
        assert as_tuples(one) == as_tuples(whole)[(t - start) // MINUTE_MS : (t - start) // MINUTE_MS + 1]


def test_unaligned_request_bounds_select_whole_minutes() -> None:
    feed = SyntheticFeed(42)
    exact = feed.columns("BTCUSDT", "1m", JAN_2024 + MINUTE_MS, JAN_2024 + 4 * MINUTE_MS)
    fuzzy = feed.columns("BTCUSDT", "1m", JAN_2024 + 1, JAN_2024 + 3 * MINUTE_MS + 1)
    assert as_tuples(fuzzy) == as_tuples(exact)


def test_seeds_and_symbols_give_different_markets() -> None:
    def day(seed: int, symbol: str) -> np.ndarray:
        return SyntheticFeed(seed).columns(symbol, "1m", JAN_2024, JAN_2024 + DAY_MS).close

    base = day(42, "BTCUSDT")
    assert not np.array_equal(base, day(43, "BTCUSDT"))
    assert not np.array_equal(day(42, "AAA"), day(42, "AAB"))
    returns = [np.diff(np.log(day(42, s))) for s in ("BTCUSDT", "ETHUSDT", "AAA")]
    assert abs(np.corrcoef(returns[0], returns[1])[0, 1]) < 0.1  # independent paths
    # Symbol spelling does not matter: letters and digits, case-insensitive.
    assert np.array_equal(base, day(42, "btc/usdt"))


def test_same_candles_in_another_process() -> None:
    """No salted hash(), no global state: a fresh interpreter with another hash seed agrees."""
    code = (
        "import hashlib, numpy as np\n"
        "from engine.exchanges.synthetic import SyntheticFeed\n"
        f"c = SyntheticFeed(42).columns('ETHUSDT', '1m', {JAN_2024}, {JAN_2024 + DAY_MS})\n"
        "h = hashlib.sha256()\n"
        "for a in (c.timestamp, c.open, c.high, c.low, c.close, c.volume):\n"
        "    h.update(np.ascontiguousarray(a).tobytes())\n"
        "print(h.hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    here = SyntheticFeed(42).columns("ETHUSDT", "1m", JAN_2024, JAN_2024 + DAY_MS)
    assert out.stdout.strip() == digest(here)


def test_pinned_candles() -> None:
    """The demo market is part of the product: results of every demo and benchmark depend on it.
    If the model is changed on purpose, update these values in the same commit."""
    feed = SyntheticFeed(42)
    first = feed.columns("BTCUSDT", "1m", JAN_2024, JAN_2024 + MINUTE_MS).to_candles()[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == PINNED_FIRST
    assert digest(feed.columns("BTCUSDT", "1m", JAN_2024, JAN_2024 + DAY_MS)) == PINNED_DAY_SHA256


PINNED_FIRST = (53988.05, 54000.73, 53963.26, 53963.26, 11.4118)
PINNED_DAY_SHA256 = "34bfcc5028a8048b62e2bbc9d86c6c3fb57322dcab080c2a0d1ea859c42f926f"


# --------------------------------------------------------------------------- validity


def test_candles_are_valid(month: dict[str, CandleColumns]) -> None:
    feed = SyntheticFeed(7)
    for symbol, c in month.items():
        assert len(c) == 30 * 1440
        assert c.timestamp.dtype == np.int64 and c.open.dtype == np.float64
        assert np.all(np.diff(c.timestamp) == MINUTE_MS) and c.timestamp[0] == JAN_2024
        assert np.all(c.low <= np.minimum(c.open, c.close)), symbol
        assert np.all(np.maximum(c.open, c.close) <= c.high), symbol
        assert np.all(c.low > 0) and np.all(c.volume > 0), symbol
        tick = feed.tick_size(symbol)
        for prices in (c.open, c.high, c.low, c.close):
            ticks = prices / tick
            assert np.all(np.abs(ticks - np.rint(ticks)) < 1e-6), symbol
            assert np.all(np.isfinite(prices))


def test_open_is_previous_close(month: dict[str, CandleColumns]) -> None:
    for c in month.values():
        assert np.array_equal(c.open[1:], c.close[:-1])
    # Also between separate requests and across a block boundary.
    feed = SyntheticFeed(3)
    left = feed.columns("SOLUSDT", "1m", BOUNDARY - HOUR_MS, BOUNDARY)
    right = SyntheticFeed(3).columns("SOLUSDT", "1m", BOUNDARY, BOUNDARY + HOUR_MS)
    assert left.close[-1] == right.open[0]


def test_price_levels() -> None:
    feed = SyntheticFeed(42)
    levels = {s: float(feed.columns(s, "1h", JAN_2024, JAN_2024 + HOUR_MS).open[0]) for s in feed.symbols()}
    assert feed.symbols() == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert 15_000 < levels["BTCUSDT"] < 120_000
    assert 800 < levels["ETHUSDT"] < 7_000
    assert 30 < levels["SOLUSDT"] < 300
    for symbol in ("FOO", "BARBAZ", "X1"):
        first = feed.columns(symbol, "1m", SYNTHETIC_START_MS, SYNTHETIC_START_MS + MINUTE_MS).open[0]
        assert 1.0 <= first < 1000.0  # the base price, where the walk starts


def test_whole_range_and_outside() -> None:
    feed = SyntheticFeed(42)
    first = feed.columns("BTCUSDT", "1m", SYNTHETIC_START_MS, SYNTHETIC_START_MS + 10 * MINUTE_MS)
    last = feed.columns("BTCUSDT", "8h", SYNTHETIC_END_MS - DAY_MS, SYNTHETIC_END_MS)
    assert len(first) == 10 and len(last) == 3
    with pytest.raises(ValueError, match=r"2000-01-01T00:00:00\.000Z to 2100-01-01"):
        feed.columns("BTCUSDT", "1m", SYNTHETIC_START_MS - MINUTE_MS, SYNTHETIC_START_MS + MINUTE_MS)
    with pytest.raises(ValueError, match="synthetic feed covers"):
        feed.columns("BTCUSDT", "1h", SYNTHETIC_END_MS - HOUR_MS, SYNTHETIC_END_MS + HOUR_MS)
    with pytest.raises(ValueError, match="unknown candle interval '1d'"):
        feed.columns("BTCUSDT", "1d", JAN_2024, JAN_2024 + DAY_MS)
    with pytest.raises(ValueError, match="no letters or digits"):
        feed.columns("/", "1m", JAN_2024, JAN_2024 + DAY_MS)
    assert len(feed.columns("BTCUSDT", "1m", JAN_2024, JAN_2024)) == 0


def test_cached_arrays_are_read_only() -> None:
    c = SyntheticFeed(42).columns("BTCUSDT", "1m", JAN_2024, JAN_2024 + HOUR_MS)
    with pytest.raises(ValueError, match="read-only"):
        c.close[0] = 1.0


# --------------------------------------------------------------------------- realism


def test_minute_and_daily_moves_look_like_btc(month: dict[str, CandleColumns]) -> None:
    c = month["BTCUSDT"]
    r = np.diff(np.log(c.close))
    assert 0.0002 < np.mean(np.abs(r)) < 0.001  # typical 1m move 0.02-0.1 %
    kurtosis = np.mean((r - r.mean()) ** 4) / np.var(r) ** 2
    assert kurtosis > 5  # fat tails
    days = lambda a: a.reshape(30, 1440)  # noqa: E731
    daily_range = (days(c.high).max(axis=1) - days(c.low).min(axis=1)) / days(c.open)[:, 0]
    daily_move = np.abs(days(c.close)[:, -1] / days(c.open)[:, 0] - 1)
    assert 0.01 < np.median(daily_range) < 0.08
    assert daily_range.min() > 0.003 and daily_range.max() < 0.3
    assert 0.002 < np.median(daily_move) < 0.04


def test_volatility_clusters(month: dict[str, CandleColumns]) -> None:
    for symbol in ("BTCUSDT", "ZZTOP1"):
        r = np.diff(np.log(month[symbol].close))
        a = np.abs(r) - np.abs(r).mean()
        for lag in (1, 5, 15, 30, 60):
            acf = float(np.dot(a[:-lag], a[lag:]) / np.dot(a, a))
            assert acf > 0.05, (symbol, lag, acf)
        raw_acf = float(np.corrcoef(r[:-1], r[1:])[0, 1])
        assert abs(raw_acf) < 0.05  # but returns themselves are not predictable


def test_intraday_pattern_and_volume(month: dict[str, CandleColumns]) -> None:
    c = month["ETHUSDT"]
    r = np.abs(np.diff(np.log(c.close), prepend=np.log(c.open[0])))
    hour = (c.timestamp // HOUR_MS) % 24
    us_session = r[(hour >= 14) & (hour < 16)].mean()
    asia_night = r[(hour >= 4) & (hour < 6)].mean()
    assert us_session > 1.2 * asia_night
    assert np.corrcoef(r, c.volume)[0, 1] > 0.2  # volume rises with the move
    wick = c.high - np.maximum(c.open, c.close)
    assert 0.02 < np.mean(wick == 0) < 0.5  # some candles without an upper wick, most with


def test_trends_persist_over_days() -> None:
    """Variance ratio of daily log returns over several years: > 1 means moves continue."""
    feed = SyntheticFeed(11)
    start = int(datetime(2004, 1, 1, tzinfo=UTC).timestamp() * 1000)
    ratios = []
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "AAA"):
        closes = feed.columns(symbol, "8h", start, start + 6 * 365 * DAY_MS).open[::3]
        log_p = np.log(closes)
        daily = np.diff(log_p)
        ratios.append((log_p[20:] - log_p[:-20]).var() / (20 * daily.var()))
    assert np.mean(ratios) > 1.05, ratios


# --------------------------------------------------------------------------- aggregation


def per_bucket(cols: CandleColumns, minutes: int) -> list[tuple[float, ...]]:
    """The obvious, slow definition of aggregation, to check the vectorised one against."""
    buckets: dict[int, list[tuple[float, ...]]] = {}
    for row in as_tuples(cols):
        buckets.setdefault(row[0] // (minutes * MINUTE_MS), []).append(row)
    out = []
    for key in sorted(buckets):
        rows = buckets[key]
        out.append(
            (
                key * minutes * MINUTE_MS, rows[0][1], max(r[2] for r in rows),
                min(r[3] for r in rows), rows[-1][4], sum(r[5] for r in rows),
            )
        )  # fmt: skip
    return out


def approx_rows(got: list[tuple[float, ...]], want: list[tuple[float, ...]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g[:5] == w[:5]
        assert g[5] == pytest.approx(w[5], rel=1e-12)


@pytest.mark.parametrize("interval", ["3m", "15m", "1h", "8h"])
def test_aggregation_matches_per_bucket(interval: str) -> None:
    minutes = CANDLE_INTERVALS[interval]
    feed = SyntheticFeed(5)
    start, end = BOUNDARY - DAY_MS, BOUNDARY + DAY_MS
    ones = feed.columns("ETHUSDT", "1m", start, end)
    approx_rows(as_tuples(feed.columns("ETHUSDT", interval, start, end)), per_bucket(ones, minutes))


def test_aggregation_with_gaps_and_partial_buckets() -> None:
    ones = SyntheticFeed(5).columns("BTCUSDT", "1m", JAN_2024 + 7 * MINUTE_MS, JAN_2024 + 3 * DAY_MS)
    keep = np.random.default_rng(1).random(len(ones)) > 0.3
    keep[120:240] = False  # a whole empty hour: that 1h candle must be absent
    sparse = CandleColumns(*(getattr(ones, f)[keep] for f in ("timestamp", "open", "high", "low", "close", "volume")))
    for minutes in (5, 15, 60, 240):
        approx_rows(as_tuples(aggregate_minutes(sparse, minutes)), per_bucket(sparse, minutes))
    hourly = aggregate_minutes(sparse, 60)
    assert JAN_2024 + 3 * HOUR_MS not in hourly.timestamp.tolist()


def test_interval_columns_bounds() -> None:
    """A candle is included when its open time is in [start, end); it is always whole."""
    feed = SyntheticFeed(5)
    got = feed.columns("BTCUSDT", "1h", JAN_2024 + 1, JAN_2024 + 3 * HOUR_MS + 1)
    assert got.timestamp.tolist() == [JAN_2024 + HOUR_MS, JAN_2024 + 2 * HOUR_MS, JAN_2024 + 3 * HOUR_MS]
    last_hour = feed.columns("BTCUSDT", "1m", JAN_2024 + 3 * HOUR_MS, JAN_2024 + 4 * HOUR_MS)
    assert got.close[-1] == last_hour.close[-1]
    assert got.volume[-1] == pytest.approx(last_hour.volume.sum())


# --------------------------------------------------------------------------- get_candles


async def test_get_candles_on_a_boundary() -> None:
    feed = SyntheticFeed(42)
    since = datetime(2024, 1, 1, 1, tzinfo=UTC)
    candles = await feed.get_candles("BTCUSDT", "15m", since, 10)
    assert len(candles) == 10
    assert candles[0].timestamp == JAN_2024 + HOUR_MS
    assert [b.timestamp - a.timestamp for a, b in pairwise(candles)] == [15 * MINUTE_MS] * 9
    cols = feed.columns("BTCUSDT", "15m", JAN_2024 + HOUR_MS, JAN_2024 + HOUR_MS + 150 * MINUTE_MS)
    assert candles == cols.to_candles()


async def test_get_candles_off_a_boundary() -> None:
    feed = SyntheticFeed(42)
    since = datetime(2024, 1, 1, 1, 0, 0, 1, tzinfo=UTC)  # one microsecond past 01:00
    candles = await feed.get_candles("BTCUSDT", "1h", since, 3)
    assert [c.timestamp for c in candles] == [JAN_2024 + k * HOUR_MS for k in (2, 3, 4)]
    naive = await feed.get_candles("BTCUSDT", "1m", datetime(2024, 1, 1, 0, 0, 30), 2)
    assert [c.timestamp for c in naive] == [JAN_2024 + MINUTE_MS, JAN_2024 + 2 * MINUTE_MS]
    other_zone = datetime(2024, 1, 1, 2, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    assert (await feed.get_candles("BTCUSDT", "1h", other_zone, 1))[0].timestamp == JAN_2024 + 2 * HOUR_MS
    assert await feed.get_candles("BTCUSDT", "1m", since, 0) == []


async def test_get_candles_matches_columns_for_every_interval() -> None:
    feed = SyntheticFeed(9)
    since = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=7)
    for interval, minutes in CANDLE_INTERVALS.items():
        candles = await feed.get_candles("SOLUSDT", interval, since, 4)
        step = minutes * MINUTE_MS
        first = -(-int(since.timestamp() * 1000) // step) * step
        assert [c.timestamp for c in candles] == [first + k * step for k in range(4)], interval


def test_formatting() -> None:
    feed = SyntheticFeed()
    assert feed.format_price("BTCUSDT", 42123.456) == "42123.46"
    assert feed.format_price("ETHUSDT", 0.012346) == "0.01235"
    assert feed.format_quantity("BTCUSDT", 0.1234567) == "0.123457"
    assert feed.tick_size("BTCUSDT") == 0.01


# --------------------------------------------------------------------------- live: the present


def test_a_live_request_stops_at_the_present_and_cuts_the_forming_minute() -> None:
    """``until_ms``: no minute after it; the minute under way has moved ``share`` of the way from
    its open to its close, with the same share of its volume; a 15m candle holds what happened so far."""
    feed = SyntheticFeed(7)
    now = JAN_2024 + 37 * MINUTE_MS + 45_000  # 00:37:45
    full = feed.columns("BTCUSDT", "1m", JAN_2024, JAN_2024 + HOUR_MS)
    live = feed.columns("BTCUSDT", "1m", JAN_2024, JAN_2024 + HOUR_MS, until_ms=now)
    assert len(live) == 38 and int(live.timestamp[-1]) == JAN_2024 + 37 * MINUTE_MS
    assert as_tuples(live)[:-1] == as_tuples(full)[:37]  # finished minutes are untouched
    _, o, h, lo, c, v = as_tuples(live)[-1]
    _, fo, _, _, fc, fv = as_tuples(full)[37]
    assert (o, c, v) == (fo, fo + (fc - fo) * 0.75, fv * 0.75)
    assert (h, lo) == (max(o, c), min(o, c))
    quarter = feed.columns("BTCUSDT", "15m", JAN_2024, JAN_2024 + HOUR_MS, until_ms=now)
    assert as_tuples(quarter) == as_tuples(aggregate_minutes(live, 15))  # 00:00, 00:15, 00:30 so far
    assert int(quarter.timestamp[-1]) == JAN_2024 + 30 * MINUTE_MS
    assert len(feed.columns("BTCUSDT", "1m", now + MINUTE_MS, now + HOUR_MS, until_ms=now)) == 0


async def test_a_live_client_reads_the_forming_minute_again_at_the_next_tick() -> None:
    import engine as e
    from engine.candles import exchange_client
    from engine.config import current

    e.add_synthetic_exchange("sim", seed=7)
    (schema,) = [x for x in e.list_exchanges() if x.exchange_name == "sim"]
    clock = e.SimulatedClock(JAN_2024 + 10 * MINUTE_MS + 30_000, speed=0)  # 00:10:30
    e.set_clock(clock)
    client = exchange_client(schema, backtest=False)
    store = client.store("BTCUSDT", "1m")
    await store.ensure(JAN_2024 // MINUTE_MS, JAN_2024 // MINUTE_MS + 11, current())
    slot = JAN_2024 // MINUTE_MS + 10 - store.base
    full = SyntheticFeed(7).columns("BTCUSDT", "1m", JAN_2024 + 10 * MINUTE_MS, JAN_2024 + 11 * MINUTE_MS)
    assert store.close[slot] == full.open[0] + (full.close[0] - full.open[0]) * 0.5  # half-way through 00:10
    clock.advance(60_001)  # the next tick, 00:11:30
    client.refresh(clock.now())
    await store.ensure(JAN_2024 // MINUTE_MS, JAN_2024 // MINUTE_MS + 12, current())
    assert (store.close[slot], store.volume[slot]) == (full.close[0], full.volume[0])  # 00:10 is finished now
    backtest = exchange_client(schema, backtest=True).store("BTCUSDT", "1m")
    await backtest.ensure(JAN_2024 // MINUTE_MS, JAN_2024 // MINUTE_MS + 11, current())
    assert backtest.close[JAN_2024 // MINUTE_MS + 10 - backtest.base] == full.close[0]  # backtests: whole candles
