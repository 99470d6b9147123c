"""The ccxt adapter with the real ccxt ``binance`` client against the loopback Binance server.

No test touches the network or sleeps on the wall clock: the server is on 127.0.0.1, every URL
ccxt knows for Binance is pointed at it (``ccxt_options``), and the engine runs on a frozen
simulated clock (retry backoff and live ticks advance it instead of waiting).
"""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import numpy as np
import pytest

import engine as e
from engine.candles import CandleError
from engine.exchanges.ccxt_feed import CcxtFeed
from engine.exchanges.synthetic import SyntheticFeed
from engine.model import MINUTE_MS
from engine.registry import ExchangeSchema
from engine.settlement import vwap_of
from tests.engine.spec_helpers import use_test_profile
from tests.exchanges.binance_server import BinanceServer, ccxt_options, simulated_now

ROOT = Path(__file__).resolve().parents[2]
DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
DAY = 1440 * MINUTE_MS
NOW = DAY0 + 10 * DAY
SYMBOL = "BTCUSDT"
KEY, SECRET = "k3y-AbCdEfGh-0123456789", "s3cr3t-ZyXwVuT-9876543210"


class RecordingClock(e.SimulatedClock):
    """A frozen simulated clock that remembers every sleep."""

    def __init__(self, start_ms: int) -> None:
        super().__init__(start_ms, speed=0)
        self.sleeps: list[float] = []

    async def sleep(self, ms: float) -> None:
        self.sleeps.append(ms)
        await super().sleep(ms)


class ListLogger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, msg: str, *a: Any) -> None:
        self.lines.append(str(msg))

    debug = info = warning = log


@pytest.fixture
def server() -> Iterator[BinanceServer]:
    with BinanceServer(now_ms=NOW) as srv:
        yield srv


@pytest.fixture(autouse=True)
async def close_exchanges() -> AsyncIterator[None]:
    yield
    await e.close_ccxt_exchanges()


@pytest.fixture
def clock() -> RecordingClock:
    c = RecordingClock(NOW)
    e.set_clock(c)
    return c


def feed_of(schema: ExchangeSchema) -> CcxtFeed:
    return schema.get_candles.__self__


def register(server: BinanceServer, name: str = "binance", **extra: Any) -> CcxtFeed:
    return feed_of(e.add_ccxt_exchange(name, **ccxt_options(server.base_url, **extra)))


def since(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# --------------------------------------------------------------------------- markets, candles, formatting


async def test_markets_load_lazily_once_and_both_symbol_styles_work(server: BinanceServer) -> None:
    schema = e.add_ccxt_exchange("binance", **ccxt_options(server.base_url), note="loopback")
    feed = feed_of(schema)
    assert schema.note == "loopback" and schema.columns is None and schema.symbols == ()
    assert feed._exchange is None and server.requests == []  # registration fetches nothing
    for symbol in ("BTCUSDT", "BTC/USDT", "btc-usdt", "btcusdt"):
        assert (await feed.market(symbol))["symbol"] == "BTC/USDT"
    assert (await feed.market("ETHUSDT"))["id"] == "ETHUSDT"
    assert [r.path for r in server.requests] == ["/api/v3/exchangeInfo"]


async def test_a_week_of_1m_candles_pages_in_requests_of_1000(server: BinanceServer) -> None:
    feed = register(server)
    rows = await feed.get_candles(SYMBOL, "1m", since(DAY0), 7 * 1440)
    pages = [(int(p["startTime"]), int(p["limit"])) for p in server.klines_requests()]
    assert pages == [(DAY0 + i * 1000 * MINUTE_MS, 1000) for i in range(10)] + [(DAY0 + 10_000 * MINUTE_MS, 80)]
    assert all(p["symbol"] == SYMBOL and p["interval"] == "1m" for p in server.klines_requests())
    assert rows == server.ohlcv(SYMBOL, "1m", DAY0, 7 * 1440)
    cols = SyntheticFeed(42).columns(SYMBOL, "1m", DAY0, DAY0 + 7 * DAY)  # the synthetic market, exactly
    assert np.array_equal(np.array(rows, dtype=np.float64)[:, 4], cols.close)
    assert [r[0] for r in rows] == cols.timestamp.tolist()


async def test_max_per_call_and_a_since_between_boundaries(server: BinanceServer) -> None:
    feed = register(server, max_per_call=300)
    rows = await feed.get_candles(SYMBOL, "5m", since(DAY0 + 1), 700)  # the first boundary after since
    assert [(int(p["startTime"]), int(p["limit"])) for p in server.klines_requests()] == [
        (DAY0 + 5 * MINUTE_MS * k, n) for k, n in ((1, 300), (301, 300), (601, 100))
    ]
    assert rows == server.ohlcv(SYMBOL, "5m", DAY0 + 5 * MINUTE_MS, 700)


async def test_candles_stop_at_the_servers_now_with_the_forming_one_partial(server: BinanceServer) -> None:
    now = NOW + 45_000  # three quarters into a minute
    server.set_now(now)
    feed = register(server)
    rows = await feed.get_candles(SYMBOL, "1m", since(now - 10 * MINUTE_MS), 50)
    assert len(rows) == 10 and rows[-1][0] == NOW  # from the first boundary after since; none after now
    final = SyntheticFeed(42).columns(SYMBOL, "1m", NOW, NOW + MINUTE_MS)
    o, c = float(final.open[0]), float(final.close[0])
    assert rows[-1][1] == o and rows[-1][4] == round(o + (c - o) * 0.75, 2)
    assert rows[-1][5] == pytest.approx(float(final.volume[0]) * 0.75)
    # the page after the forming candle came back empty: the loop stopped there
    assert [int(p["limit"]) for p in server.klines_requests()] == [50, 40]


async def test_price_and_amount_follow_the_servers_tick_and_step(server: BinanceServer) -> None:
    feed = register(server)
    assert await feed.format_price("BTCUSDT", 42000.126) == "42000.13"
    assert await feed.format_quantity("BTCUSDT", 0.1234567) == "0.12345"  # step 0.00001, truncated
    assert await feed.format_quantity("ETH/USDT", 0.1234567) == "0.1234"  # step 0.0001


async def test_an_unknown_symbol_fails_at_once_naming_close_matches(server: BinanceServer, clock) -> None:
    feed = register(server)
    with pytest.raises(e.CcxtFeedError, match=r"binance has no market 'XBTUSDT'; close matches: .*BTCUSDT"):
        await feed.get_candles("XBTUSDT", "1m", since(DAY0), 10)
    with pytest.raises(e.CcxtFeedError, match=r"binance has no '7m' candles; it offers .*1m, 3m"):
        await feed.get_candles("BTCUSDT", "7m", since(DAY0), 10)
    assert clock.sleeps == [] and server.klines_requests() == []


async def test_an_unknown_exchange_id_and_options_are_refused_at_registration() -> None:
    with pytest.raises(e.CcxtFeedError, match=r"unknown ccxt exchange id 'binanse'; close ids: binance"):
        e.add_ccxt_exchange("x", "binanse")
    with pytest.raises(e.CcxtFeedError, match=r"unknown option 'timout' \(did you mean timeout"):
        e.add_ccxt_exchange("x", "binance", timout=5)
    with pytest.raises(e.CcxtFeedError, match="kraken has no sandbox"):
        e.add_ccxt_exchange("x", "kraken", sandbox=True)
    with pytest.raises(e.CcxtFeedError, match="max_per_call must be a positive integer"):
        e.add_ccxt_exchange("x", "binance", max_per_call=0)
    assert e.list_exchanges() == []
    e.add_synthetic_exchange("dup")
    with pytest.raises(e.DuplicateError, match="exchange dup already exist"):
        e.add_ccxt_exchange("dup", "binance")


# --------------------------------------------------------------------------- retries


async def test_429_is_retried_with_backoff_on_the_engines_clock(server: BinanceServer, clock) -> None:
    log = ListLogger()
    e.set_logger(log)
    feed = register(server)
    server.fail_next(2, 429, retry_after=1, path="klines")
    rows = await feed.get_candles(SYMBOL, "1m", since(DAY0), 10)
    assert rows == server.ohlcv(SYMBOL, "1m", DAY0, 10)
    assert clock.sleeps == [1000, 2000]
    assert clock.now() == NOW + 3000
    assert [r.status for r in server.requests if r.path.endswith("klines")] == [429, 429, 200]
    assert len(log.lines) == 2 and "attempt 1/4 failed (DDoSProtection" in log.lines[0]
    assert "retrying in 2000 ms" in log.lines[1]
    server.fail_next(1, 429, retry_after=7, path="klines")  # a longer Retry-After wins over the backoff
    await feed.get_candles(SYMBOL, "1m", since(DAY0), 10)
    assert clock.sleeps[2:] == [7000]


async def test_5xx_is_retried_then_recovers(server: BinanceServer, clock) -> None:
    feed = register(server, backoff_ms=250)
    server.fail_next(1, 503, path="klines")
    server.fail_next(1, 500, path="klines")
    server.fail_next(1, 504, path="klines")
    rows = await feed.get_candles(SYMBOL, "1m", since(DAY0), 10)
    assert rows == server.ohlcv(SYMBOL, "1m", DAY0, 10)
    assert clock.sleeps == [250, 500, 1000]


async def test_load_markets_is_retried_too(server: BinanceServer, clock) -> None:
    feed = register(server)
    server.fail_next(1, 502)
    assert (await feed.market(SYMBOL))["symbol"] == "BTC/USDT"
    assert [r.status for r in server.requests] == [502, 200] and clock.sleeps == [1000]


async def test_exhausted_retries_raise_a_clear_error(server: BinanceServer, clock) -> None:
    feed = register(server, max_retries=2, backoff_ms=10)
    await feed.market(SYMBOL)
    server.fail_next(3, 503, path="klines")
    with pytest.raises(e.CcxtFeedError, match=r"fetch_ohlcv BTC/USDT 1m since 2024-01-01T00:00:00Z .*3 attempts"):
        await feed.get_candles(SYMBOL, "1m", since(DAY0), 10)
    assert clock.sleeps == [10, 20]


async def test_a_backtest_reports_candle_errors_and_finishes_when_the_exchange_is_down(
    server: BinanceServer, clock
) -> None:
    use_test_profile()
    errors: list[BaseException] = []
    e.listen_error(errors.append)
    register(server, "bn", max_retries=1, backoff_ms=10)
    e.add_strategy("s", "1m", lambda symbol, when, price: None)
    e.add_frame("f", "1m", DAY0, DAY0 + 4 * MINUTE_MS)
    server.fail_next(1000, 503, path="klines")
    results = [r async for r in e.Backtest.run(SYMBOL, strategy_name="s", exchange_name="bn", frame_name="f")]
    assert results == []
    frames = [DAY0 + k * MINUTE_MS for k in range(5)]
    # every frame reports its failed get_signal pipeline (SPEC 3.3) and its failed tick; the run goes on
    assert [(e.context_of(x).when, e.context_of(x).stage) for x in errors] == [
        (when, stage) for when in frames for stage in ("get_signal", "tick")
    ]
    assert all(isinstance(x, CandleError) for x in errors)
    assert "candles BTCUSDT 1m 2023-12-31T23:56:00Z.." in str(errors[0])
    assert "could not be fetched (1 attempt): binance fetch_ohlcv" in str(errors[0])
    assert "ExchangeNotAvailable" in str(errors[0])


# --------------------------------------------------------------------------- runs


def _strategy(log: list) -> Any:
    async def get_signal(symbol: str, when: datetime, price: float) -> dict:
        log.append((price * 1.01, await e.format_price(symbol, price * 1.01), await e.format_quantity(symbol, 1 / 3)))
        return dict(
            position="long",
            price_take_profit=price * 1.01,
            price_stop_loss=price * 0.992,
            minute_estimated_time=120,
        )

    return get_signal


async def test_a_backtest_on_ccxt_equals_the_same_backtest_on_the_synthetic_exchange(
    server: BinanceServer, clock
) -> None:
    register(server, "bn")
    e.add_synthetic_exchange("syn", seed=42)
    formatted: list = []
    e.add_strategy("s", "15m", _strategy(formatted))
    e.add_frame("day", "1m", DAY0, DAY0 + DAY - MINUTE_MS)

    async def run(exchange: str) -> list:
        out = [r async for r in e.Backtest.run(SYMBOL, strategy_name="s", exchange_name=exchange, frame_name="day")]
        return [
            (r.action, r.close_reason, r.close_timestamp, r.current_price, r.pnl.pnl_percentage,
             r.signal.price_open, r.signal.pending_at)
            for r in out
        ]  # fmt: skip

    on_ccxt = await run("bn")
    ccxt_formatted, formatted[:] = list(formatted), []
    on_synthetic = await run("syn")
    assert len(on_ccxt) > 10 and on_ccxt == on_synthetic
    for raw, text, _ in ccxt_formatted:  # rounded to the 0.01 tick (ccxt drops trailing zeros: "54589.3")
        assert abs(float(text) - raw) <= 0.005 + 1e-9 and len(text.partition(".")[2]) <= 2
    assert {qty for _, _, qty in ccxt_formatted} == {"0.33333"}
    # the store fetched in chunks of CC_MAX_CANDLES_PER_REQUEST, never past the clock's now
    assert all(int(p["startTime"]) <= NOW for p in server.klines_requests())


def _vwap(rows: list[list]) -> float:
    a = np.array(rows, dtype=np.float64)
    return vwap_of(a[:, 2], a[:, 3], a[:, 4], a[:, 5])


def _window(server: BinanceServer, when: int, now_ms: int | None = None) -> list[list]:
    """The candles of the live VWAP at ``when`` (opening in ``[when - 4 min, when]``, SPEC 8.2) as the
    exchange served them at ``now_ms`` (default: at ``when``)."""
    first = -(-(when - 4 * MINUTE_MS) // MINUTE_MS) * MINUTE_MS
    count = (when // MINUTE_MS * MINUTE_MS - first) // MINUTE_MS + 1
    return server.ohlcv(SYMBOL, "1m", first, count, now_ms=when if now_ms is None else now_ms)


async def test_live_re_fetches_the_candle_that_was_forming(server: BinanceServer) -> None:
    start = NOW + 30_000  # half-way into a minute
    clock = RecordingClock(start)
    e.set_clock(clock)
    server.set_now(clock.now)  # the exchange and the engine share "now"
    register(server, "bn")
    e.add_strategy("s", "1m", lambda symbol, when, price: None)
    ticks: list = []

    def on_tick(result: Any) -> None:
        ticks.append((clock.now(), result.current_price))
        if len(ticks) == 3:
            e.Live.stop(SYMBOL, "s")

    e.listen_signal_live(on_tick)
    async for _ in e.Live.run(SYMBOL, strategy_name="s", exchange_name="bn"):
        pass
    assert [t for t, _ in ticks] == [start + k * e.TICK_TTL for k in range(3)]
    for when, price in ticks:  # the VWAP of the window as the exchange had it at that tick
        assert price == _vwap(_window(server, when))
    # at the second tick the minute of the first one is complete; its half-formed version is gone
    when = ticks[1][0]
    stale = _window(server, when)
    stale[-2] = server.ohlcv(SYMBOL, "1m", NOW, 1, now_ms=start)[0]
    assert stale[-2] != _window(server, when)[-2] and ticks[1][1] != _vwap(stale)
    pages = [(int(p["startTime"]), int(p["limit"])) for p in server.klines_requests()]
    assert pages == [(NOW - 3 * MINUTE_MS, 4), (NOW, 2), (NOW + MINUTE_MS, 2)]  # each tick: from the last forming one


async def test_live_retries_a_failed_fetch_on_the_next_tick(server: BinanceServer) -> None:
    use_test_profile()
    clock = RecordingClock(NOW)
    e.set_clock(clock)
    server.set_now(clock.now)
    register(server, "bn", max_retries=1, backoff_ms=10)
    e.add_strategy("s", "1m", lambda symbol, when, price: None)
    errors: list = []
    e.listen_error(errors.append)
    ticks: list = []

    def on_tick(result: Any) -> None:
        ticks.append(result.current_price)
        e.Live.stop(SYMBOL, "s")

    e.listen_signal_live(on_tick)
    server.fail_next(2, 503, path="klines")  # both attempts of the first tick's only fetch
    async for _ in e.Live.run(SYMBOL, strategy_name="s", exchange_name="bn"):
        pass
    assert [(e.context_of(x).when, e.context_of(x).stage) for x in errors] == [(NOW, "get_signal"), (NOW, "tick")]
    assert all(isinstance(x, CandleError) for x in errors)
    assert "candles BTCUSDT 1m 2024-01-10T23:56:00Z..2024-01-11T00:00:00Z could not be fetched" in str(errors[0])
    assert clock.sleeps[:3] == [10, 100, e.TICK_TTL]  # backoff, SPEC 4.1 delay, then the next tick
    assert ticks == [_vwap(_window(server, NOW + e.TICK_TTL + 110))]


async def test_a_backtest_reaching_the_present_re_reads_the_forming_candle_on_its_next_run(
    server: BinanceServer,
) -> None:
    clock = RecordingClock(NOW + 30_000)
    e.set_clock(clock)
    server.set_now(clock.now)
    register(server, "bn")
    prices: dict[int, float] = {}

    def get_signal(symbol: str, when: datetime, price: float) -> None:
        prices[int(when.timestamp() * 1000)] = price

    e.add_strategy("s", "1m", get_signal)
    e.add_frame("recent", "1m", NOW - 10 * MINUTE_MS, NOW)

    async def run() -> float:
        async for _ in e.Backtest.run(SYMBOL, strategy_name="s", exchange_name="bn", frame_name="recent"):
            pass
        return prices[NOW]

    first = await run()
    assert first == _vwap(server.ohlcv(SYMBOL, "1m", NOW - 4 * MINUTE_MS, 5, now_ms=NOW + 30_000))
    clock.advance(120_000)
    second = await run()  # the same frame two minutes later: the candle at NOW is complete now
    assert second == _vwap(server.ohlcv(SYMBOL, "1m", NOW - 4 * MINUTE_MS, 5, now_ms=NOW + 150_000)) != first
    assert [int(p["startTime"]) for p in server.klines_requests()][-1] == NOW


# --------------------------------------------------------------------------- sandbox and secrets


async def test_sandbox_switches_binance_to_its_testnet_urls() -> None:
    feed = feed_of(e.add_ccxt_exchange("tb", "binance", sandbox=True))
    ex = await feed.exchange()  # builds the client; no request is made
    assert ex.urls["api"]["public"] == "https://testnet.binance.vision/api/v3"
    assert e.list_exchanges()[0].note == "ccxt binance testnet"
    live = feed_of(e.add_ccxt_exchange("lb", "binance"))
    assert (await live.exchange()).urls["api"]["public"] == "https://api.binance.com/api/v3"


async def test_sandbox_requests_go_to_the_test_urls(server: BinanceServer) -> None:
    options = ccxt_options(server.base_url, sandbox=True)
    options["urls"]["api"] = {k: server.base_url + "/not-the-testnet" + v[len(server.base_url) :]
                              for k, v in options["urls"]["api"].items()}  # fmt: skip
    feed = feed_of(e.add_ccxt_exchange("tb", **options))
    assert await feed.get_candles(SYMBOL, "1m", since(DAY0), 3) == server.ohlcv(SYMBOL, "1m", DAY0, 3)
    assert {r.path for r in server.requests} == {"/api/v3/exchangeInfo", "/api/v3/klines"}


async def test_keys_come_from_the_environment_and_never_leak(server: BinanceServer, clock, monkeypatch) -> None:
    monkeypatch.setenv("BTK_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BTK_BINANCE_SECRET", SECRET)
    log = ListLogger()
    e.set_logger(log)
    schema = e.add_ccxt_exchange("bn", **ccxt_options(server.base_url), max_retries=1, backoff_ms=5)
    feed = feed_of(schema)
    ex = await feed.exchange()
    assert (ex.apiKey, ex.secret) == (None, None)  # market data is public: its client carries no keys
    server.fail_next(2, 503, path="klines", body=f"upstream said apiKey={KEY} secret={SECRET}")
    with pytest.raises(e.CcxtFeedError) as failed:
        await feed.get_candles(SYMBOL, "1m", since(DAY0), 5)
    with pytest.raises(e.CcxtFeedError) as bad:
        await feed.get_candles("NOPE", "1m", since(DAY0), 5)
    texts = [*log.lines, str(failed.value), str(bad.value), repr(feed), repr(schema), repr(e.list_exchanges())]
    assert "apiKey=*** secret=***" in log.lines[0] and "apiKey=***" in str(failed.value)
    assert repr(feed) == "CcxtFeed('binance', sandbox=False, credentials=env)"
    for text in texts:
        assert KEY not in text and SECRET not in text


def test_keys_in_the_options_are_refused() -> None:
    for key in ("apiKey", "secret", "password", "api_key", "token", "privateKey"):
        with pytest.raises(e.CcxtFeedError, match=r"BTK_BINANCE_API_KEY and BTK_BINANCE_SECRET") as info:
            e.add_ccxt_exchange("bn", "binance", **{key: "hunter2-value"})
        assert "hunter2" not in str(info.value)
        assert isinstance(info.value, ValueError)  # as the registry's errors: btk.toml names the table
    side_doors = {
        "options": {"options": {"defaultType": "spot", "api_secret": "hunter2-value"}},
        "headers": {"headers": {"X-MBX-APIKEY": "hunter2-value"}},
        "urls": {"urls": {"api": {"public": "https://me:hunter2-value@example.com/api"}}},
    }
    for where, options in side_doors.items():
        with pytest.raises(e.CcxtFeedError, match=rf"{where}\..* keys never go in the options") as info:
            e.add_ccxt_exchange("bn", "binance", **options)
        assert "hunter2" not in str(info.value)
    with pytest.raises(e.CcxtFeedError, match=r"timeout: expected a number > 0, got str 'abc'"):
        e.add_ccxt_exchange("bn", "binance", timeout="abc")
    assert e.list_exchanges() == []


async def test_close_releases_the_session(server: BinanceServer) -> None:
    feed = register(server)
    await feed.get_candles(SYMBOL, "1m", since(DAY0), 3)
    assert feed._exchange.session is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await feed.close()
        await feed.close()  # twice is harmless
        gc.collect()
    assert feed._exchange is None
    assert not [w for w in caught if "nclosed" in str(w.message)]


# --------------------------------------------------------------------------- the server as a process


def test_simulated_now_agrees_across_processes_given_the_same_numbers() -> None:
    wall = iter([1_000_000, 1_001_000, 1_002_000]).__next__  # a fake wall clock: two processes' readings
    now = simulated_now(NOW, 600, anchor_ms=999_000, wall=wall)
    assert [now(), now(), now()] == [NOW + 600_000, NOW + 1_200_000, NOW + 1_800_000]


def test_the_server_runs_as_a_module_printing_its_url_first() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.exchanges.binance_server", "--port", "0", "--now-ms", str(NOW)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        with urlopen(base + "/api/v3/time", timeout=5) as reply:
            assert reply.read() == f'{{"serverTime":{NOW}}}'.encode()
        urlopen(base + "/_btk/fail?count=1&status=503", timeout=5).close()
        with pytest.raises(HTTPError, match="503"):
            urlopen(base + "/api/v3/ping", timeout=5)
        with urlopen(base + "/_btk/requests", timeout=5) as reply:
            assert b'"status":503' in reply.read()
        with urlopen(base + f"/_btk/now?ms={NOW + 5}", timeout=5) as reply:
            assert reply.read() == f'{{"now":{NOW + 5}}}'.encode()
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        proc.stdout.close()
