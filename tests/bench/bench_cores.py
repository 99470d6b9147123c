"""What this machine gives a second process: the ceiling of any speed-up from 1 to 2 workers.

A benchmark, not a test. Issue 18 asks a sweep for >= 1.8x from 1 to 2 cores. Whether a machine
can give that at all is a property of the machine, not of btk: two virtual CPUs may be two threads
of one physical core, or a host may be shared with other guests, and then two processes each run
slower than one alone. This measures it with work that shares nothing: the same pure-Python loop
(no memory traffic, no I/O, no locks) in 1 process and in 2 processes at once, ``--repeat`` times,
alternating. The speed-up is units of work per second with 2 processes over units per second with
1; CPU seconds per unit show the same from inside (a unit that costs more CPU time when its
neighbour runs is a core that is not fully its own).

Run:  python -m tests.bench.bench_cores  [--repeat 5] [--units 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

LOOP = 10_000_000
"""Additions a unit of work makes: ~0.5 s of one core."""


def unit(_: int) -> float:
    """One unit of work; returns its CPU seconds."""
    t0 = time.process_time()
    total = 0
    for i in range(LOOP):
        total += i
    assert total == LOOP * (LOOP - 1) // 2
    return time.process_time() - t0


def batch(workers: int, units: int) -> tuple[float, float]:
    """``units`` units on ``workers`` processes: (wall seconds, mean CPU seconds a unit)."""
    ctx = mp.get_context("forkserver")
    with ctx.Pool(workers) as pool:
        pool.map(unit, range(workers))  # the workers exist and have run once before the clock starts
        t0 = time.perf_counter()
        cpu = pool.map(unit, range(units), chunksize=1)
        wall = time.perf_counter() - t0
    return wall, sum(cpu) / len(cpu)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--units", type=int, default=4, help="units of work per batch (even, so 2 workers share it)")
    args = p.parse_args()
    runs: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    for _ in range(args.repeat):
        for workers in (1, 2):  # alternating: a noisy spell hits both
            runs[workers].append(batch(workers, args.units))
    best = {w: min(rs) for w, rs in runs.items()}
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.units} units a batch, best of {args.repeat}")
    for w, (wall, cpu) in best.items():
        print(f"  {w} process(es): {wall:.2f} s wall, {args.units / wall:.2f} units/s, {cpu:.3f} CPU s a unit")
    speedup = best[1][0] / best[2][0]
    each = [r1[0] / r2[0] for r1, r2 in zip(runs[1], runs[2], strict=True)]
    print(f"  speed-up 1 -> 2 processes: {speedup:.2f}x best to best (batch by batch {min(each):.2f}-{max(each):.2f}x)")
    print(f"  CPU s a unit, 2 processes over 1: {best[2][1] / best[1][1]:.2f}x")


if __name__ == "__main__":
    main()
