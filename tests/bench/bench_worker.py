"""The console's worker against the bare engine, on the engine benchmark's run, without a console.

``bench_console`` times what a trader sees: the worker's run, the pipe, the console's fold, redraw
and paint. This one isolates the worker: the same run served as a worker serves it
(``console.host.child._serve``: its hooks, its batches, its columns, its pickling and writing),
its pipe drained by a separate process that reads and drops the bytes (``cat``), against the
same run headless. What the worker costs over headless is what the console's worker adds to the
critical path of every backtest. Both reuse freed memory as their processes do
(``engine.reuse_freed_memory``), and the worker starts on its heap reserve as a spare does, so its
CPU time can be below headless's (fewer page faults: 2026-12-05, 0.161 s against 0.171 s best,
0.164 against 0.220 s median); its instruction count, which page faults do not change, is its cost.

Two measures, each child in a fresh process, alternating:
- CPU time of the run (``time.process_time``: every thread of the process), best and median of N;
- with ``--callgrind``, instructions of the run (valgrind's callgrind, counting only from the run's
  start to its end): exact where this shared machine's timings are not. The worker's tick (a
  batch every 0.1 s) is set out of reach for both measures: under callgrind the run is fifty times
  slower, and its ticks then added ~100 flushes and ~40M instructions of noise to each count.

Run:  python -m tests.bench.bench_worker [--repeat 5] [--callgrind] [--trees ../main,.]
(an older checkout given in ``--trees`` needs this file copied into its tests/bench/)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICK_S = 1_000.0  # no tick during the run: batches go as they fill, and once at the end


def _counting(on: bool) -> None:
    """Switch callgrind's counting for this process (no-op outside valgrind)."""
    if os.environ.get("BTK_CALLGRIND"):
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], capture_output=True)


def run_child(kind: str) -> dict:
    import engine as e
    from console.host import child, fast_pickle
    from console.host.spec import RunSpec
    from tests.bench.bench_console import register

    register("benchmark")
    fast_pickle.register()  # as a worker does once its project is loaded
    e.settle_heap()
    # a headless run reuses freed blocks (``btk-console backtest``); a worker also starts on its
    # heap reserve, touched while it waited for the run
    e.reuse_freed_memory(child.HEAP_RESERVE if kind == "worker" else 0)
    if kind == "engine":

        async def run() -> None:
            async for _ in e.Backtest.run(
                "BTCUSDT", strategy_name="bench", exchange_name="synthetic", frame_name="bench-frame"
            ):
                pass

        reader = None
    else:
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        reader = subprocess.Popen(["cat"], stdin=theirs, stdout=subprocess.DEVNULL)
        theirs.close()
        out = child.Outbox(Connection(ours.detach()))
        out.start_writer()
        spec = RunSpec("backtest", "BTCUSDT", "bench", "synthetic", "bench-frame", results=False, interval=TICK_S)

        async def run() -> None:
            await child._serve(out, spec)
            out.close()

    async def timed() -> tuple[float, float]:
        _counting(True)
        cpu0, t0 = time.process_time(), time.perf_counter()
        await run()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        _counting(False)
        return cpu, wall

    cpu, wall = asyncio.run(timed())
    if reader is not None:
        reader.kill()
        reader.wait()
    return {"cpu": cpu, "wall": wall}


def child(kind: str, tree: Path | None, callgrind: bool) -> dict:
    cmd = [sys.executable, "-m", "tests.bench.bench_worker", "--child", kind]
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])
    if not callgrind:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=tree, env=env)
        return json.loads(proc.stdout.strip().splitlines()[-1])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        env["BTK_CALLGRIND"] = "1"
        grind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", *cmd]
        proc = subprocess.run(grind, capture_output=True, text=True, check=True, cwd=tree, env=env)
        refs = next(line for line in proc.stderr.splitlines() if "I   refs" in line or "I refs" in line)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["instructions"] = int(refs.split(":")[-1].strip().replace(",", ""))
        return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--callgrind", action="store_true", help="count instructions (needs valgrind)")
    p.add_argument("--trees", help="comma-separated checkouts to compare in one batch, alternating")
    p.add_argument("--child", choices=["engine", "worker"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child)))
        return
    if args.callgrind and shutil.which("valgrind") is None:
        p.error("--callgrind needs valgrind (apt install valgrind)")
    trees = [Path(t).resolve() for t in args.trees.split(",")] if args.trees else [None]
    runs: dict[tuple, list[dict]] = {(tree, kind): [] for tree in trees for kind in ("engine", "worker")}
    for _ in range(args.repeat):
        for tree in trees:
            for kind in ("engine", "worker"):
                runs[tree, kind].append(child(kind, tree, args.callgrind))
    for tree in trees:
        print(f"[engine benchmark, the worker apart]{f' {tree}' if tree else ''}")
        best = {}
        for kind in ("engine", "worker"):
            if args.callgrind:  # times under valgrind say nothing: the counts only
                counts = sorted(r["instructions"] for r in runs[tree, kind])
                best[kind] = counts[0]
                least, most = counts[0] / 1e6, counts[-1] / 1e6
                print(f"  {kind:7} {least:,.0f}M instructions (least of {len(counts)}, most {most:,.0f}M)")
            else:
                cpu = sorted(r["cpu"] for r in runs[tree, kind])
                best[kind] = cpu[0]
                print(f"  {kind:7} CPU best {cpu[0]:.3f} s, median {statistics.median(cpu):.3f} s")
        what = "instructions" if args.callgrind else "CPU"
        print(f"  the worker over headless: {(best['worker'] / best['engine'] - 1) * 100:+.1f} % {what}", flush=True)


if __name__ == "__main__":
    main()
