"""A ccxt exchange with ``cache = true``: backtests read the catalog first and download only the
minutes it lacks, through the real ccxt client against the loopback Binance server; live runs keep
asking the exchange."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w

import engine as e
from console.project import ProjectError, load_project
from engine.candles import SourceError
from engine.data.catalog import Catalog, read_file
from engine.model import MINUTE_MS
from engine.testing import reset_engine
from tests.exchanges.binance_server import BinanceServer, ccxt_options

DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
DAY = 1440 * MINUTE_MS
NOW = DAY0 + 10 * DAY
SYMBOL = "BTCUSDT"


@pytest.fixture
def server() -> Iterator[BinanceServer]:
    with BinanceServer(now_ms=NOW) as srv:
        yield srv


@pytest.fixture(autouse=True)
async def close_exchanges() -> AsyncIterator[None]:
    e.set_clock(e.SimulatedClock(NOW, speed=0))
    yield
    await e.close_ccxt_exchanges()


async def _signal(symbol: str, when: Any, price: float) -> dict:
    return dict(
        position="long", price_take_profit=price * 1.01, price_stop_loss=price * 0.992, minute_estimated_time=120
    )


async def _run(exchange: str, frame: str) -> list[tuple]:
    out = [r async for r in e.Backtest.run(SYMBOL, strategy_name="s", exchange_name=exchange, frame_name=frame)]
    return [(r.action, r.close_reason, r.close_timestamp, r.current_price, r.pnl.pnl_percentage) for r in out]


def _klines(server: BinanceServer) -> list[tuple[int, int]]:
    return [(int(p["startTime"]), int(p["limit"])) for p in server.klines_requests()]


async def test_the_second_backtest_asks_the_exchange_nothing_and_equals_the_uncached_one(
    server: BinanceServer, tmp_path: Path
) -> None:
    e.add_ccxt_exchange("bn", **ccxt_options(server.base_url), cache=tmp_path / "data")
    e.add_ccxt_exchange("plain", **ccxt_options(server.base_url))
    e.add_strategy("s", "15m", _signal)
    e.add_frame("day", "1m", DAY0 + DAY, DAY0 + 2 * DAY - MINUTE_MS)
    uncached = await _run("plain", "day")
    server.clear_requests()

    first = await _run("bn", "day")
    assert len(first) > 10 and first == uncached
    fetched = _klines(server)
    assert fetched and all(DAY0 <= start < NOW for start, _ in fetched)
    cov = read_file(Catalog(tmp_path / "data").path("bn", SYMBOL)).coverage
    assert cov.spans and cov.spans[0][0] <= DAY0 + DAY and cov.spans[-1][1] >= DAY0 + 2 * DAY

    server.clear_requests()
    e.clear_candle_cache()  # a new process, as far as the candles are concerned
    assert await _run("bn", "day") == uncached
    assert _klines(server) == []  # all of it from the catalog


async def test_a_longer_range_downloads_only_the_minutes_the_catalog_lacks(
    server: BinanceServer, tmp_path: Path
) -> None:
    e.add_ccxt_exchange("bn", **ccxt_options(server.base_url), cache=tmp_path / "data")
    e.add_ccxt_exchange("plain", **ccxt_options(server.base_url))
    e.add_strategy("s", "15m", _signal)
    e.add_frame("one", "1m", DAY0 + DAY, DAY0 + 2 * DAY - MINUTE_MS)
    e.add_frame("two", "1m", DAY0 + DAY, DAY0 + 3 * DAY - MINUTE_MS)
    await _run("bn", "one")
    covered_to = read_file(Catalog(tmp_path / "data").path("bn", SYMBOL)).coverage.spans[-1][1]
    server.clear_requests()
    e.clear_candle_cache()
    cached = await _run("bn", "two")
    assert min(start for start, _ in _klines(server)) >= covered_to  # nothing it had was fetched again
    server.clear_requests()
    assert cached == await _run("plain", "two")


async def test_a_download_that_cannot_finish_fails_the_run_at_once_with_the_reason(
    server: BinanceServer, tmp_path: Path
) -> None:
    e.add_ccxt_exchange("bn", **ccxt_options(server.base_url), cache=tmp_path / "data", max_retries=0)
    e.add_strategy("s", "15m", _signal)
    e.add_frame("day", "1m", DAY0 + DAY, DAY0 + 2 * DAY - MINUTE_MS)
    server.fail_next(50, status=500)
    with pytest.raises(SourceError, match=r"could not fill the catalog .*/data/bn for 2024-01-0"):
        await _run("bn", "day")


async def test_live_runs_ask_the_exchange_not_the_catalog(server: BinanceServer, tmp_path: Path) -> None:
    clock = e.SimulatedClock(NOW + 30_000, speed=0)
    e.set_clock(clock)
    server.set_now(clock.now)
    e.add_ccxt_exchange("bn", **ccxt_options(server.base_url), cache=tmp_path / "data")
    e.add_strategy("s", "1m", lambda symbol, when, price: None)
    ticks: list = []

    def on_tick(result: Any) -> None:
        ticks.append(result.current_price)
        e.Live.stop(SYMBOL, "s")

    errors: list = []

    def on_error(exc: Any) -> None:  # a tick that failed would otherwise retry forever
        errors.append(exc)
        e.Live.stop(SYMBOL, "s")

    e.listen_signal_live(on_tick)
    e.listen_error(on_error)
    async for _ in e.Live.run(SYMBOL, strategy_name="s", exchange_name="bn"):
        pass
    assert errors == [] and len(ticks) == 1
    assert _klines(server) == [(NOW - 3 * MINUTE_MS, 4)]  # the live window, from the exchange
    assert not (tmp_path / "data").exists()  # and nothing written to the catalog


def _project(tmp_path: Path, server: BinanceServer, cache: Any) -> Path:
    (tmp_path / "s.py").write_text(
        "import engine\n\nasync def sig(symbol, when, price):\n    return None\n\nengine.add_strategy('s', '5m', sig)\n"
    )
    path = tmp_path / "btk.toml"
    table = {"kind": "ccxt", **ccxt_options(server.base_url), "cache": cache}
    frames = {
        "f": {"interval": "1m", "start": datetime(2024, 1, 2, tzinfo=UTC), "end": datetime(2024, 1, 3, tzinfo=UTC)}
    }
    path.write_text(tomli_w.dumps({"project": {"modules": ["s.py"]}, "exchanges": {"bn": table}, "frames": frames}))
    return path


def test_btk_toml_cache_is_a_folder_beside_it_and_a_bad_value_names_its_line(
    server: BinanceServer, tmp_path: Path
) -> None:
    load_project(_project(tmp_path, server, "market-data"))
    source = e.list_exchanges()[0].columns
    assert source is not None and source.catalog.root == tmp_path / "market-data"
    reset_engine()
    with pytest.raises(
        ProjectError, match=r"btk\.toml line \d+: \[exchanges\.bn\] cache: expected true/false or a catalog"
    ):
        load_project(_project(tmp_path, server, 3))
