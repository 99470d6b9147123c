"""The console trading live on a real ccxt exchange: a btk.toml with ``kind = "ccxt"`` pointed at
the loopback Binance server (real HTTP on 127.0.0.1, the real ccxt ``binance`` client), live time
on a SteppedClock shared with the server, so both agree on which candle is forming."""

from __future__ import annotations

from datetime import UTC, datetime

import tomli_w
from conftest import LIVE_T0, SteppedClock, fixed_clock, live_tick, start_live

import engine
from console.app import BtkApp
from console.project import load_project
from tests.exchanges.binance_server import BinanceServer, ccxt_options

PROBE = """
import engine

def probe(symbol, when, price):
    if int(when.timestamp() * 1000) % 3_600_000 == 0:  # only at the top of the hour
        return {"position": "long", "price_take_profit": price * 1.02, "price_stop_loss": price * 0.98,
                "minute_estimated_time": 600}
    return None

engine.add_strategy("probe", "1m", probe)
"""


def _project(root, base_url):
    (root / "probe.py").write_text(PROBE)
    exchange = {"kind": "ccxt", **ccxt_options(base_url), "symbols": ["BTCUSDT"]}
    document = {
        "project": {"name": "desk", "modules": ["probe.py"], "symbols": ["BTCUSDT"], "dump_dir": "dump"},
        "exchanges": {"binance": exchange},
        "frames": {
            "jan": {
                "interval": "1m",
                "start": datetime(2024, 1, 1, tzinfo=UTC),
                "end": datetime(2024, 1, 2, tzinfo=UTC),
            }
        },
    }
    (root / "btk.toml").write_text(tomli_w.dumps(document))
    project = load_project(root / "btk.toml")
    project.ui["last_live"] = {"symbol": "BTCUSDT", "strategy": "probe", "exchange": "binance"}
    return project


async def test_live_on_a_ccxt_exchange_from_btk_toml_prices_positions_with_the_forming_candle(
    tmp_path, no_settings
) -> None:
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    with BinanceServer(now_ms=clock.now) as server:
        project = _project(tmp_path, server.base_url)
        app = BtkApp(project, clock=fixed_clock, save_settings=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await start_live(pilot, clock)
            run = app.state.runs["live:BTCUSDT:probe"]
            assert (run.exchange, run.status) == ("binance", "running")
            (pos,) = app.state.positions_of(run.id)
            # the entry is the VWAP of the five candles the server served up to 12:00, the forming one included
            rows = server.ohlcv("BTCUSDT", "1m", LIVE_T0 - 4 * 60_000, 5, now_ms=LIVE_T0)
            typical = [(h + low + c) / 3 for _, _, h, low, c, _ in rows]
            volume = [v for *_, v in rows]
            assert pos.entry == sum(p * v for p, v in zip(typical, volume)) / sum(volume)
            before = len(server.klines_requests())
            await live_tick(pilot, clock, 2)
            after = server.klines_requests()[before:]
            assert after, "each tick reads the candle that was forming again"
            assert all(int(r["startTime"]) <= clock.now() for r in after)  # never a candle from the future
            assert pos.now == clock.now() and pos.last_price != pos.entry
        assert (tmp_path / "dump" / "data" / "signal" / "BTCUSDT_probe" / "BTCUSDT.json").exists()
