"""A sweep in its own process for the kill-and-resume test.

Prints ``row N`` after each row is written; after ``--hold`` rows it blocks reading stdin, so the
test kills it at a known point (no sleeps, no races)."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from strategies import START, setup

from engine.research.sweep import Sweep, run_sweep


def make_sweep(method: str) -> Sweep:
    return Sweep.over(
        "tpsl", "synthetic", "BTCUSDT", START, START + timedelta(days=4), metric="total_pnl", method=method,
        trials=None if method == "grid" else 12, seed=7, batch=4,
    )  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("table")
    p.add_argument("--method", default="grid")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--hold", type=int, default=-1)
    args = p.parse_args()

    def progress(ev) -> None:
        print(f"row {ev.computed}", flush=True)
        if ev.computed == args.hold:
            sys.stdin.readline()  # blocks until the test kills this process

    res = run_sweep(make_sweep(args.method), args.table, setup=setup, workers=args.workers, progress=progress)
    print(f"done {res.computed}", flush=True)


if __name__ == "__main__":
    main()
