"""Sweep benchmark (a benchmark, not a test: it asserts nothing).

The engine benchmark's scenario (tests/bench/bench_backtest.py: BTCUSDT, synthetic 1m candles,
strategy interval 15m, a long entry on every get_signal call, minute_estimated_time 120) with TP
and SL as parameters (every set valid: both from 0.55 %, above the 0.5 % minimum distances): a grid of
``--sets`` parameter sets (default 1,000: 40 TP x 25 SL values) over
``--days`` days. Each worker count runs in a fresh process; the peak RSS is the largest sum of the
resident sizes of that process and all its children, sampled every 50 ms (pages of the shared
candle file are counted once per process that maps them, so this over-counts).

Run:  python -m tests.bench.bench_sweep  [--sets 1000] [--days 365] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta

START = datetime(2024, 1, 1, tzinfo=UTC)


async def get_signal(symbol, when, price, params):
    return {
        "position": "long",
        "price_take_profit": price * (1 + params["tp"] / 100),
        "price_stop_loss": price * (1 - params["sl"] / 100),
        "minute_estimated_time": 120,
    }


def setup() -> None:
    import engine as e

    e.add_synthetic_exchange("synthetic", seed=42)
    e.add_strategy(
        "bench",
        "15m",
        get_signal,
        params={"tp": e.FloatParam(0.55, 2.5, step=0.05, default=1.0), "sl": e.FloatParam(0.55, 1.75, step=0.05)},
    )


def child(sets: int, days: int, workers: int, table: str) -> dict:
    from engine.research.sweep import Sweep, run_sweep

    setup()
    sweep = Sweep.over(
        "bench", "synthetic", "BTCUSDT", START, START + timedelta(days=days) - timedelta(minutes=1), trials=sets
    )
    t0, c0 = time.perf_counter(), time.process_time()
    res = run_sweep(sweep, table, setup=setup, workers=workers)
    return {"sets": res.trials, "rows": res.rows, "wall_s": round(time.perf_counter() - t0, 2),
            "parent_cpu_s": round(time.process_time() - c0, 2), "best": res.best_params}  # fmt: skip


def _tree_rss(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total * 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sets", type=int, default=1000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.sets, args.days, int(args.child[0]), args.child[1])))
        return
    print(f"{'workers':>7} {'sets':>5} {'days':>4} {'wall s':>8} {'sets/s':>7} {'peak RSS MB (all)':>18}")
    for n in (int(x) for x in args.workers.split(",")):
        with tempfile.TemporaryDirectory() as d:
            cmd = [sys.executable, "-m", "tests.bench.bench_sweep", "--sets", str(args.sets), "--days", str(args.days)]
            proc = subprocess.Popen([*cmd, "--child", str(n), f"{d}/t.sqlite"], stdout=subprocess.PIPE, text=True)
            peak = 0
            done = threading.Event()

            def sample(pid: int = proc.pid, done: threading.Event = done) -> None:
                nonlocal peak
                while not done.wait(0.05):
                    peak = max(peak, _tree_rss(pid))

            th = threading.Thread(target=sample)
            th.start()
            out, _ = proc.communicate()
            done.set()
            th.join()
            r = json.loads(out.strip().splitlines()[-1])
            rate, mb = r["sets"] / r["wall_s"], peak / 2**20
            print(f"{n:>7} {r['sets']:>5} {args.days:>4} {r['wall_s']:>8} {rate:>7.2f} {mb:>18.0f}")


if __name__ == "__main__":
    main()
