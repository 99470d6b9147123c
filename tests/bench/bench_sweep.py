"""Sweep benchmark (a benchmark, not a test: it asserts nothing; tests/bench/test_bench_sweep.py
runs a tiny one to keep it working).

The engine benchmark's scenario (tests/bench/bench_backtest.py: BTCUSDT, synthetic 1m candles,
strategy interval 15m, a long entry on every get_signal call, minute_estimated_time 120) with TP
and SL as parameters (every set valid: both from 0.55 %, above the 0.5 % minimum distances): a grid of
``--sets`` parameter sets (default 1,000: 40 TP x 25 SL values) over ``--days`` days (default 365),
the issue 18 scenario. Its targets: the 1,000 sets in under 60 s on 2 cores, peak memory of all
processes under 1 GB, >= 1.8x from 1 to 2 cores.

Each worker count (``--workers 1,2``; ``--backend ray`` for Ray actors) runs in a fresh process, so
one run's caches never help the next. For each it reports:

- wall time (the sweep call, in the child; the child's start-up and project setup excluded) and sets/s;
- CPU time of the whole process tree: user + system of the child, the forkserver and every worker
  read from /proc every 50 ms (a process's last < 50 ms can be missed), or the reaped children's
  ``RUSAGE_CHILDREN`` when that is larger (exact for one process);
- CPU s per set, and the CPU time of the sweep process alone (its set-up, the candle file, the pool,
  the results table; with 1 worker it runs the backtests too);
- speed-up: the wall time of the first worker count in the list over this one's (on a machine
  shared with other jobs, compare CPU s per set instead: the wall time measures the neighbours);
- peak RSS: the largest sum of the resident sizes of the tree at one sample (pages of the shared
  candle file are counted once per process that maps them, so this over-counts).

Run:  python -m tests.bench.bench_sweep  [--sets 1000] [--days 365] [--workers 1,2] [--backend local|ray]
      (``--sets 40 --days 30`` is a two-minute check of the whole path on a loaded machine)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2024, 1, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
"""The repository: the child runs ``-m tests.bench.bench_sweep`` from there, whatever the cwd."""


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


def child(sets: int, days: int, workers: int, table: str, backend: str = "local") -> dict:
    from engine.research.sweep import Sweep, run_sweep

    setup()
    sweep = Sweep.over(
        "bench", "synthetic", "BTCUSDT", START, START + timedelta(days=days) - timedelta(minutes=1), trials=sets
    )
    t0 = time.perf_counter()
    res = run_sweep(sweep, table, setup=setup, workers=workers, backend=backend)
    return {"sets": res.trials, "rows": res.rows, "wall_s": round(time.perf_counter() - t0, 3), "best": res.best_params}


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _tree(pid: int) -> dict[int, tuple[int, float]]:
    """Every live process of the tree under ``pid`` (itself included): pid -> (RSS bytes, CPU s of
    the process itself: a reaped child's CPU is counted from its own samples, not its parent's cutime)."""
    out: dict[int, tuple[int, float]] = {}
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                rss = next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")) * 1024
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # fields[11:13] are utime and stime (man 5 proc, counting from state = 0)
            cpu = sum(int(x) for x in fields[11:13]) / TICK
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except (OSError, StopIteration, ValueError):
            continue
        out[p] = (rss, cpu)
    return out


class TreeSampler:
    """Samples a process tree every ``every`` seconds on a thread: the peak of the summed RSS and
    the last CPU time seen of every process (a process's CPU only grows, so the last is the most)."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid, self.every = pid, every
        self.peak_rss = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            tree = _tree(self.pid)
            self.peak_rss = max(self.peak_rss, sum(rss for rss, _ in tree.values()))
            for p, (_, cpu) in tree.items():
                self.cpu[p] = max(self.cpu.get(p, 0.0), cpu)
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu.values())


def measure(sets: int, days: int, workers: int, backend: str = "local") -> dict:
    """One fresh process running the sweep with ``workers``; its numbers and the tree's."""
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, "-m", "tests.bench.bench_sweep", "--sets", str(sets), "--days", str(days)]
        cmd += ["--backend", backend, "--child", str(workers), f"{d}/t.sqlite"]
        before = _reaped_cpu()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        with TreeSampler(proc.pid) as tree:
            out, _ = proc.communicate()
        reaped = _reaped_cpu() - before
        if proc.returncode != 0:
            raise RuntimeError(f"the benchmark child with {workers} worker(s) exited {proc.returncode}")
        r = json.loads(out.strip().splitlines()[-1])
    cpu = max(tree.cpu_s, reaped)  # both can only miss CPU: the larger is the closer
    parent = tree.cpu.get(proc.pid, 0.0)  # the sweep process itself: set-up, pool, results table
    return {
        **r,
        "workers": workers,
        "cpu_s": round(cpu, 2),
        "parent_cpu_s": round(parent, 2),
        "peak_rss_mb": round(tree.peak_rss / 2**20),
    }


def _reaped_cpu() -> float:
    """User + system CPU of this process's reaped children and what they reaped in turn: exact
    for the child, short of workers nobody in the tree waited for (the samples count those)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


HEADER = (
    " ".join(
        f"{h:>{w}}" for h, w in (("workers", 7), ("sets", 5), ("days", 4), ("wall s", 8), ("sets/s", 7), ("CPU s", 8))
    )
    + f" {'CPU s/set':>9} {'parent CPU s':>12} {'speed-up':>8} {'peak RSS MB':>11}"
)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", type=int, default=1000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated; the first is the base")
    p.add_argument("--backend", default="local", choices=("local", "ray"))
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.sets, args.days, int(args.child[0]), args.child[1], args.backend)))
        return []
    counts = [int(x) for x in args.workers.split(",")]
    print(f"sweep benchmark: {args.sets} sets x {args.days} days of 1m candles, backend {args.backend}")
    print(HEADER)
    results = []
    for n in counts:
        r = measure(args.sets, args.days, n, args.backend)
        r["speed_up"] = round(results[0]["wall_s"] / r["wall_s"], 2) if results else 1.0
        results.append(r)
        print(
            f"{n:>7} {r['sets']:>5} {args.days:>4} {r['wall_s']:>8.2f} {r['sets'] / r['wall_s']:>7.2f} "
            f"{r['cpu_s']:>8.2f} {r['cpu_s'] / r['sets']:>9.3f} {r['parent_cpu_s']:>12.2f} "
            f"{r['speed_up']:>7.2f}x {r['peak_rss_mb']:>11}",
            flush=True,
        )
    return results


if __name__ == "__main__":
    main()
