"""btk's vectorised signals against vectorbt on the peers' rule and the same candles (issue 13,
benchmark scenario 4): a benchmark, not a test; it asserts nothing.

The rule: long at every full hour while flat, take-profit +1 %, stop-loss -1 %, on 365 days of the
synthetic 1m market of seed 42, asked every minute, written with btk's vectorised signals
(``signals=``, the rule of ``full-hour-vec-1m`` in tests/bench/bench_strategies.py).

vectorbt is not a btk dependency (it pins numba and its own numpy): install it in its own venv,
``python -m venv /tmp/vbt && /tmp/vbt/bin/pip install vectorbt``. The candles go to it as one
``.npz`` file written from btk's synthetic feed, so both read the very same numbers. vectorbt's
``Portfolio.from_signals`` checks stop-loss and take-profit against each candle's high and low but
has no lifetime stop, and an exit signal 240 minutes after each entry would fall on a full hour
too, where vectorbt's entry and exit signals cancel: so the comparison drops the issue's 240-minute
lifetime on both sides (btk's signals live ``LIFETIME`` minutes, one day, the default cap; at
+-1 % almost every trade ends at its TP or SL well before). The trade counts are close, not equal:
vectorbt enters at the candle's close, btk at its VWAP (SPEC 4.2), and each charges its own fees.
It is the speed that is compared: each side's warm run is the second one in its process
(vectorbt's first includes numba's compilation, btk's first generates the candles; btk's includes
rendering its report of every trade, vectorbt's its trade count and total return), best of
``--repeat`` fresh processes alternating, CPU seconds.

Run:  python -m tests.bench.compare_vectorbt [--days 365] [--repeat 5] [--vbt-python /tmp/vbt/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

START = datetime(2024, 1, 1, tzinfo=UTC)
LIFETIME = 1440

VECTORBT_RUN = r"""
import json, sys, time
import numpy as np
import pandas as pd
import vectorbt as vbt

data = np.load(sys.argv[1])
index = pd.to_datetime(data["timestamp"], unit="ms", utc=True)
close = pd.Series(data["close"], index=index)
entries = pd.Series(data["entries"], index=index)
exits = pd.Series(data["exits"], index=index)
high, low, open_ = (pd.Series(data[k], index=index) for k in ("high", "low", "open"))


def run():
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, open=open_, high=high, low=low,
        sl_stop=0.01, tp_stop=0.01, fees=0.001, freq="1min",
    )
    return int(pf.trades.count()), float(pf.total_return())


out = {}
for label in ("cold", "warm"):
    c0, w0 = time.process_time(), time.perf_counter()
    trades, total = run()
    out[label] = {"cpu": time.process_time() - c0, "wall": time.perf_counter() - w0, "results": trades}
out["total_return"] = total
out["vectorbt"] = vbt.__version__
print(json.dumps(out))
"""


def full_hours(timestamp: np.ndarray) -> np.ndarray:
    """The rule's entries: every full hour."""
    return (timestamp // 60_000) % 60 == 0


def btk_rule(c) -> dict:
    """The rule as btk's vectorised signal function (TP/SL +-1 % around the close)."""
    side = full_hours(c.timestamp).astype(np.int8)
    up, down = c.close * 1.01, c.close * 0.99
    return {"side": side, "price_take_profit": up, "price_stop_loss": down, "minute_estimated_time": LIFETIME}


def write_candles(path: Path, days: int) -> int:
    """The benchmark's candles (and the rule's signals) as one ``.npz`` file; how many candles."""
    import engine

    t0 = int(START.timestamp() * 1000)
    cols = engine.SyntheticFeed(42).columns("BTCUSDT", "1m", t0, t0 + days * 86_400_000)
    entries = full_hours(cols.timestamp)
    np.savez(
        path,
        timestamp=cols.timestamp,
        open=cols.open,
        high=cols.high,
        low=cols.low,
        close=cols.close,
        volume=cols.volume,
        entries=entries,
        exits=np.zeros_like(entries),
    )
    return len(cols.timestamp)


def _vectorbt(python: str, data: Path) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(VECTORBT_RUN)
    proc = subprocess.run([python, f.name, str(data)], capture_output=True, text=True, check=False)
    Path(f.name).unlink()
    if proc.returncode != 0:
        raise SystemExit(f"vectorbt run failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def btk_child(days: int) -> dict:
    """btk's side in this (fresh) process: the cold run, then the warm one."""
    import engine as e
    from tests.bench.bench_strategies import _backtest, _timed

    e.add_synthetic_exchange("synthetic", seed=42)
    e.add_frame("bench-frame", "1m", START, START + timedelta(days=days) - timedelta(minutes=1))
    e.add_strategy("bench", "1m", signals=e.Signals(btk_rule, history=1))
    run = _backtest(["bench"], "bench-frame", "synthetic")
    cold, warm = _timed(run), _timed(run)
    return {"cold": cold, "warm": warm}


def _btk(days: int) -> dict:
    cmd = [sys.executable, "-m", "tests.bench.compare_vectorbt", "--child", "--days", str(days)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"btk run failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--vbt-python", default="/tmp/vbt/bin/python")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(btk_child(args.days)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "candles.npz"
        n = write_candles(data, args.days)
        runs: dict[str, list[dict]] = {"btk": [], "vectorbt": []}
        for _ in range(args.repeat):  # alternating, each a fresh process
            runs["btk"].append(_btk(args.days))
            runs["vectorbt"].append(_vectorbt(args.vbt_python, data))
    print(f"{args.days} days, {n:,} candles, best of {args.repeat} fresh processes, CPU seconds (wall)")
    print(f"{'':10} {'cold':>8} {'(wall)':>8} {'warm':>8} {'(wall)':>8} {'warm candles/s':>15} {'trades':>7}")
    for name, rs in runs.items():
        cold = min(rs, key=lambda r: r["cold"]["cpu"])["cold"]
        warm = min(rs, key=lambda r: r["warm"]["cpu"])["warm"]
        rate = n / warm["cpu"] if warm["cpu"] else float("inf")
        print(
            f"{name:10} {cold['cpu']:8.3f} {cold['wall']:8.3f} {warm['cpu']:8.3f} {warm['wall']:8.3f} "
            f"{rate:15,.0f} {warm['results']:7}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
