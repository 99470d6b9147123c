"""The 365-day benchmark scenario inside btk-console (a headless App) against the bare engine.

The console listens to the engine through its bridge (opened/closed events), redraws about four
times a second (progress bar, tables, equity), and shares the event loop with the run. Each side
runs in a fresh process, cold (the synthetic candles are generated inside the timing), best of N.
Run:  python -m tests.bench.bench_console [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

DAYS = 365


def register() -> None:
    import engine as e

    e.add_synthetic_exchange("synthetic", seed=42)

    async def get_signal(symbol, when, price):
        return {
            "position": "long",
            "price_take_profit": price * 1.01,
            "price_stop_loss": price * 0.992,
            "minute_estimated_time": 120,
        }

    e.add_strategy("bench", "15m", get_signal)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    e.add_frame("bench-frame", "1m", start, start + timedelta(days=DAYS) - timedelta(minutes=1))


def run_engine() -> dict:
    import engine as e

    register()

    async def main() -> float:
        t0 = time.perf_counter()
        async for _ in e.Backtest.run(
            "BTCUSDT", strategy_name="bench", exchange_name="synthetic", frame_name="bench-frame"
        ):
            pass
        return time.perf_counter() - t0

    seconds = asyncio.run(main())
    return {"seconds": seconds, "trades": e.Backtest.get_data("BTCUSDT", "bench").seen_signals}


def bench_project(exchange: str, strategies: list[str], frame: str, symbols: list[str]):
    """A console project over registered names, rooted in the working folder (no btk.toml)."""
    from console.project import Project

    root = Path.cwd()
    return Project(
        name="bench",
        source=None,
        root=root,
        dump_dir=root / "dump",
        exchanges=[exchange],
        strategies=strategies,
        frames=[frame],
        walkers=[],
        symbols=symbols,
        default_exchange=exchange,
        default_frame=frame,
        settings_path=root / "s.toml",
        symbol_list_is_strict=False,
    )


def run_console() -> dict:
    from console.app import BtkApp

    register()
    app = BtkApp(bench_project("synthetic", ["bench"], "bench-frame", ["BTCUSDT"]), save_settings=False)
    out: dict = {}

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            t0 = time.perf_counter()
            app.start_backtest("BTCUSDT", "bench", "synthetic", "bench-frame")
            (run,) = app.state.runs.values()
            await app.workers.wait_for_complete()  # the run's worker ends when the run does
            out["seconds"] = time.perf_counter() - t0
            out["trades"] = run.trades

    asyncio.run(main())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--child", choices=["engine", "console"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_engine() if args.child == "engine" else run_console()))
        return
    best = {}
    for kind in ("engine", "console"):
        runs = []
        for _ in range(args.repeat):
            cmd = [sys.executable, "-m", "tests.bench.bench_console", "--child", kind]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        best[kind] = min(runs, key=lambda r: r["seconds"])
    candles = DAYS * 1440
    for kind, r in best.items():
        print(f"{kind:8} {r['seconds']:.3f} s  {candles / r['seconds']:>12,.0f} candles/s  {r['trades']} trades")
    print(f"console throughput = {best['engine']['seconds'] / best['console']['seconds'] * 100:.0f} % of the engine's")


if __name__ == "__main__":
    main()
