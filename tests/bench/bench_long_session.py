"""What a long console session costs once its runs are over (a benchmark: it asserts nothing).

Two measures, each in a fresh process:

- ``idle``: btk-console (headless) runs ``--runs`` one-day backtests (symbols x strategies, as the
  start dialog's "all symbols x all strategies" does), waits for them to end, then sits idle for
  ``--idle`` seconds of its event loop; the CPU the process used over that period (process_time
  delta), as a share of one core, for 1, 5 and ``--runs`` finished runs.
- ``memory``: ``--symbols`` backtests of ``--days`` days each on synthetic 1m candles; resident
  memory before, after the runs, and after ``clear_candle_cache()`` and a collection (with and
  without handing glibc's free heap back to the system, ``malloc_trim``).

Run:  python -m tests.bench.bench_long_session [--runs 100] [--idle 10] [--symbols 20] [--days 365]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2024, 1, 1, tzinfo=UTC)


def _register(symbols: int, strategies: int, days: int) -> tuple[list[str], list[str]]:
    import engine as e

    e.add_synthetic_exchange("sim", seed=11)
    e.add_frame("frame", "1m", START, START + timedelta(days=days) - timedelta(minutes=1))

    def strategy(k: int):
        def get_signal(symbol, when, price):
            up = k % 2 == 0
            return {
                "position": "long" if up else "short",
                "price_take_profit": price * (1.01 if up else 0.99),
                "price_stop_loss": price * (0.992 if up else 1.008),
                "minute_estimated_time": 120,
            }

        return get_signal

    names = [f"s{k}" for k in range(strategies)]
    for k, name in enumerate(names):
        e.add_strategy(name, "15m", strategy(k))
    return [f"SYM{i}USDT" for i in range(symbols)], names


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def idle_child(runs: int, idle: float) -> dict:
    from console.app import BtkApp

    from .bench_console import bench_project

    strategies = min(runs, 10)
    symbols, names = _register(-(-runs // strategies), strategies, 1)
    pairs = [(s, n) for s in symbols for n in names][:runs]
    app = BtkApp(bench_project("sim", names, "frame", symbols), save_settings=False)
    out: dict = {}

    async def main() -> None:
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            for symbol, name in pairs:
                app.start_backtest(symbol, name, "sim", "frame")
            while any(r.is_active for r in app.state.runs.values()):
                await pilot.pause(0.1)
            await app.workers.wait_for_complete()
            await pilot.pause(1.0)  # let the last redraws land
            cpu = time.process_time()
            await asyncio.sleep(idle)  # the idle period, on the app's own event loop
            out["cpu_share"] = (time.process_time() - cpu) / idle
            out["runs"] = len(app.state.runs)

    asyncio.run(main())
    return out


def memory_child(symbols: int, days: int) -> dict:
    import engine as e

    out = {"start_mb": rss_mb()}
    syms, (name,) = _register(symbols, 1, days)

    async def main() -> None:
        for symbol in syms:
            async for _ in e.Backtest.run(symbol, strategy_name=name, exchange_name="sim", frame_name="frame"):
                pass

    asyncio.run(main())
    gc.collect()
    out["after_runs_mb"] = rss_mb()
    e.clear_candle_cache()
    gc.collect()
    out["after_clear_mb"] = rss_mb()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        out["after_trim_mb"] = rss_mb()
    except OSError:  # not glibc
        out["after_trim_mb"] = None
    out["trades"] = sum(e.Backtest.get_data(s, name).total_signals for s in syms)
    return out


def _child(*args: str) -> dict:
    cmd = [sys.executable, "-m", "tests.bench.bench_long_session", "--child", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--idle", type=float, default=10.0)
    p.add_argument("--symbols", type=int, default=20)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--only", choices=["idle", "memory"])
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        kind, *rest = args.child
        result = (
            idle_child(int(rest[0]), float(rest[1])) if kind == "idle" else memory_child(int(rest[0]), int(rest[1]))
        )
        print(json.dumps(result))
        return
    if args.only in (None, "idle"):
        for runs in sorted({1, 5, args.runs}):
            r = _child("idle", str(runs), str(args.idle))
            print(f"idle console after {r['runs']:4} finished runs: {r['cpu_share'] * 100:5.1f} % of a core")
    if args.only in (None, "memory"):
        r = _child("memory", str(args.symbols), str(args.days))
        trim = f", {r['after_trim_mb']:,.0f} MB after malloc_trim" if r["after_trim_mb"] is not None else ""
        print(
            f"{args.symbols} symbols x {args.days} days ({r['trades']:,} trades): RSS {r['start_mb']:,.0f} MB at "
            f"start, {r['after_runs_mb']:,.0f} MB after the runs, {r['after_clear_mb']:,.0f} MB after "
            f"clear_candle_cache(){trim}"
        )


if __name__ == "__main__":
    main()
