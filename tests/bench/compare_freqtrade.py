"""btk's sweep against freqtrade's hyperopt on the same candles, by CPU time per parameter set
(tests/bench/compare_freqtrade.md says how it was run and what came out).

The scenario is the sweep benchmark's (tests/bench/bench_sweep.py): BTCUSDT, the synthetic market
of seed 42 from 2024-01-01, a long entry whenever flat, take-profit ``tp`` % and stop-loss ``sl`` %
as the parameters, out after 120 minutes. For freqtrade the same 1m candles (and their 15m
aggregation, the strategy's timeframe) are written as freqtrade JSON data files; its strategy
enters on every 15m candle while flat, exits at ``tp`` (``custom_exit``), at ``sl`` from the open
(``custom_stoploss``) or after 120 minutes, and is backtested with ``--timeframe-detail 1m`` so exits
are checked minute by minute as btk does. Its hyperopt runs ``--epochs N -j 1`` (one process).

freqtrade is not a btk dependency: install it in its own venv (``python -m venv /tmp/ft-venv &&
/tmp/ft-venv/bin/pip install freqtrade``). It loads the exchange's markets over the network before a
backtest; this machine has none, so ``ft_offline.py`` (written beside the data) gives ccxt's binance
one static BTC/USDT spot market and no currencies before it starts freqtrade's own ``main``. Nothing
else of freqtrade is changed.

Run:  python -m tests.bench.compare_freqtrade [--days 30] [--sets 40] [--ft-python /tmp/ft-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.bench import bench_sweep

START = bench_sweep.START

STRATEGY = '''
from datetime import timedelta

from freqtrade.strategy import DecimalParameter, IStrategy, stoploss_from_open


class BtkTpSl(IStrategy):
    """btk's sweep benchmark strategy: long whenever flat, out at tp %, at sl % or after 120 min."""

    INTERFACE_VERSION = 3
    timeframe = "15m"
    minimal_roi = {"0": 100.0}
    stoploss = -0.99
    use_custom_stoploss = True
    startup_candle_count = 0
    tp = DecimalParameter(0.55, 2.5, decimals=2, default=1.0, space="sell")
    sl = DecimalParameter(0.55, 1.75, decimals=2, default=1.0, space="sell")

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe["exit_long"] = 0
        return dataframe

    def custom_stoploss(self, pair, trade, current_time, current_rate, current_profit, after_fill, **kwargs):
        lev = trade.leverage
        return stoploss_from_open(-self.sl.value / 100, current_profit, is_short=trade.is_short, leverage=lev)

    def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
        if current_profit >= self.tp.value / 100:
            return "tp"
        if current_time - trade.open_date_utc >= timedelta(minutes=120):
            return "time"
        return None
'''

OFFLINE = '''
"""freqtrade with a static BTC/USDT market for ccxt's binance (this machine has no network)."""
import sys

import ccxt
import ccxt.async_support

MARKET = {
    "id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "baseId": "BTC", "quoteId": "USDT",
    "settle": None, "settleId": None, "type": "spot", "spot": True, "margin": False, "swap": False,
    "future": False, "option": False, "active": True, "contract": False, "linear": None, "inverse": None,
    "contractSize": None, "expiry": None, "expiryDatetime": None, "strike": None, "optionType": None,
    "taker": 0.001, "maker": 0.001, "percentage": True, "tierBased": False, "feeSide": "get",
    "precision": {"amount": 0.00001, "price": 0.01},
    "limits": {"amount": {"min": 0.00001, "max": 9000.0}, "price": {"min": 0.01, "max": 1000000.0},
               "cost": {"min": 5.0, "max": 9000000.0}, "leverage": {"min": None, "max": None}},
    "created": None, "info": {},
}


def _markets(self, params={}):
    return [dict(MARKET)]


async def _markets_async(self, params={}):
    return [dict(MARKET)]


def _currencies(self, params={}):
    return {}


async def _currencies_async(self, params={}):
    return {}


ccxt.binance.fetch_markets = _markets
ccxt.binance.fetch_currencies = _currencies
ccxt.async_support.binance.fetch_markets = _markets_async
ccxt.async_support.binance.fetch_currencies = _currencies_async

if __name__ == "__main__":  # hyperopt's spawned helpers import this file again: only the patches then
    from freqtrade.main import main

    sys.exit(main(sys.argv[1:]))
'''


def _config(days: int) -> dict:
    pricing = {"price_side": "same", "use_order_book": False, "order_book_top": 1}
    return {
        "max_open_trades": 1,
        "stake_currency": "USDT",
        "stake_amount": 100,
        "tradable_balance_ratio": 1.0,
        "dry_run": True,
        "dry_run_wallet": 1000,
        "timeframe": "15m",
        "dataformat_ohlcv": "json",
        "trading_mode": "spot",
        "fee": 0.001,
        "exchange": {"name": "binance", "key": "", "secret": "", "pair_whitelist": ["BTC/USDT"], "pair_blacklist": []},
        "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {**pricing, "price_last_balance": 0.0, "check_depth_of_market": {"enabled": False}},
        "exit_pricing": pricing,
        "internals": {},
        "bot_name": "btk-compare",
        "initial_state": "running",
    }


def write_freqtrade_folder(folder: Path, days: int) -> str:
    """The candles, config, strategy and offline launcher; returns freqtrade's --timerange."""
    import engine

    feed = engine.SyntheticFeed(42)
    start = int(START.timestamp() * 1000)
    end = int((START + timedelta(days=days)).timestamp() * 1000)  # exclusive: the last minute opens before it
    data = folder / "user_data" / "data" / "binance"
    data.mkdir(parents=True, exist_ok=True)
    (folder / "user_data" / "strategies").mkdir(parents=True, exist_ok=True)
    for interval in ("1m", "15m"):
        c = feed.columns("BTCUSDT", interval, start, end)
        rows = [
            [int(t), float(o), float(h), float(lo), float(cl), float(v)]
            for t, o, h, lo, cl, v in zip(c.timestamp, c.open, c.high, c.low, c.close, c.volume)
        ]
        (data / f"BTC_USDT-{interval}.json").write_text(json.dumps(rows))
    (folder / "config.json").write_text(json.dumps(_config(days), indent=1))
    (folder / "user_data" / "strategies" / "btk_tpsl.py").write_text(STRATEGY.lstrip())
    (folder / "ft_offline.py").write_text(OFFLINE.lstrip())
    until = (START + timedelta(days=days)).strftime("%Y%m%d")
    return f"{START.strftime('%Y%m%d')}-{until}"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_freqtrade(ft_python: str, folder: Path, timerange: str, epochs: int, *, hyperopt: bool = True) -> dict:
    """One freqtrade hyperopt (or backtest) in its own process: wall, CPU of it and its reaped
    children (``RUSAGE_CHILDREN``; -j 1 runs the epochs in that process) and the tree's peak RSS."""
    common = ["--config", "config.json", "--userdir", "user_data", "--strategy", "BtkTpSl"]
    common += ["--timerange", timerange, "--timeframe-detail", "1m"]
    if hyperopt:
        cmd = ["hyperopt", *common, "--hyperopt-loss", "SharpeHyperOptLoss", "--spaces", "sell"]
        cmd += ["--epochs", str(epochs), "-j", "1", "--random-state", "42", "--disable-param-export"]
    else:
        cmd = ["backtesting", *common, "--export", "none"]
    before, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.Popen(
        [ft_python, "ft_offline.py", *cmd], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    with bench_sweep.TreeSampler(proc.pid) as tree:
        out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"freqtrade {cmd[0]} exited {proc.returncode}:\n{out[-4000:]}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(_children_cpu() - before, 2),
        "peak_rss_mb": round(tree.peak_rss / 2**20),
        "tail": out.strip().splitlines()[-25:],
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--sets", type=int, default=40, help="btk grid sets and freqtrade hyperopt epochs")
    p.add_argument("--ft-python", default="/tmp/ft-venv/bin/python")
    p.add_argument("--folder", default="/tmp/btk-freqtrade-compare")
    args = p.parse_args(argv)
    folder = Path(args.folder)
    timerange = write_freqtrade_folder(folder, args.days)
    print(f"{args.sets} parameter sets on {args.days} days of 1m BTCUSDT (synthetic, seed 42), one process each")
    ft_one = run_freqtrade(args.ft_python, folder, timerange, 1, hyperopt=False)
    ft = run_freqtrade(args.ft_python, folder, timerange, args.sets)
    btk = bench_sweep.measure(args.sets, args.days, 1)
    print("\n".join(ft["tail"]))
    print(f"{'':24} {'wall s':>8} {'CPU s':>8} {'CPU s/set':>10} {'peak RSS MB':>12}")
    print(f"{'freqtrade backtesting x1':24} {ft_one['wall_s']:>8} {ft_one['cpu_s']:>8} {ft_one['cpu_s']:>10} "
          f"{ft_one['peak_rss_mb']:>12}")  # fmt: skip
    print(f"{'freqtrade hyperopt':24} {ft['wall_s']:>8} {ft['cpu_s']:>8} {ft['cpu_s'] / args.sets:>10.3f} "
          f"{ft['peak_rss_mb']:>12}")  # fmt: skip
    print(f"{'btk sweep, 1 worker':24} {btk['wall_s']:>8} {btk['cpu_s']:>8} {btk['cpu_s'] / args.sets:>10.3f} "
          f"{btk['peak_rss_mb']:>12}")  # fmt: skip
    return {"freqtrade_backtest": ft_one, "freqtrade_hyperopt": ft, "btk": btk, "when": datetime.now(UTC).isoformat()}


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
    sys.exit(0)
