"""What one sweep set costs in CPU time (a benchmark, not a test: it asserts nothing).

The sweep benchmark's scenario (tests/bench/bench_sweep.py) in this one process, without a pool:
one ``Worker`` backtests ``--sets`` parameter sets of the grid over ``--days`` days, after one
warm-up set that builds the candle cache. Each set's CPU time (``time.process_time``: every thread
of this process, which is the whole tree here) is printed as one JSON line at the end, with the
best and the median.

It reads the engine it is run against, so the same script measures two versions of the code side
by side: ``PYTHONPATH=<other checkout> python -m tests.bench.bench_sweep_set`` (run them
alternately on a shared machine and compare the best of several runs).

Run:  python -m tests.bench.bench_sweep_set [--sets 7] [--days 365]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import timedelta

from tests.bench.bench_sweep import START, setup


def measure(sets: int, days: int) -> dict:
    import engine
    from engine.research.evaluate import Constraints, Task, Worker

    setup()
    start_ms = int(START.timestamp() * 1000)
    end_ms = int((START + timedelta(days=days) - timedelta(minutes=1)).timestamp() * 1000)
    worker = Worker("bench", "synthetic", "15m", Constraints(), 0)
    grid = [(round(0.6 + 0.15 * i, 2), round(0.6 + 0.1 * (i % 5), 2)) for i in range(sets + 1)]
    cpu: list[float] = []
    trades: list[int] = []
    for i, (tp, sl) in enumerate(grid):
        t0 = time.process_time()
        row = worker.run(Task(i, "BTCUSDT", 0, start_ms, end_ms, {"tp": tp, "sl": sl}))
        spent = time.process_time() - t0
        if row.error is not None:
            raise RuntimeError(row.error)
        if i:  # the first set is the warm-up: it builds the candle cache
            cpu.append(round(spent, 4))
            trades.append(row.stats["trades"])
    return {
        "engine": os.path.dirname(engine.__file__),
        "days": days,
        "sets": sets,
        "cpu_s": cpu,
        "best_s": min(cpu),
        "median_s": round(statistics.median(cpu), 4),
        "trades": trades,
        "load": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", type=int, default=7)
    p.add_argument("--days", type=int, default=365)
    args = p.parse_args(argv)
    r = measure(args.sets, args.days)
    print(json.dumps(r))
    return r


if __name__ == "__main__":
    main()
