"""Speed of real strategies (issue 13): a benchmark, not a test; it asserts nothing.

Every scenario runs on 365 days of synthetic 1m candles (BTCUSDT, seed 42) in a fresh process:
"cold" includes generating and loading the candles, "warm" repeats the same run with them in
memory. Each is timed in CPU seconds (``time.process_time``: what a shared, noisy machine distorts
least) and wall seconds; the best of ``--repeat`` processes is reported, with the largest peak RSS.

Scenarios (the strategies are in tests/bench/strategies.py):

- ``benchmark``: the existing benchmark's run (tests/bench/bench_backtest.py, 15m, always long);
- ``sma-rsi-15m`` / ``sma-rsi-1m``: SMA(20)/SMA(100) + RSI(14) over ``get_candles(symbol, "1m", 100)``,
  closes read one ``Candle`` at a time (how strategies were written so far);
- ``sma-rsi-cols-15m`` / ``sma-rsi-cols-1m``: the same rule reading the window's ``close`` column
  (skipped on an engine without candle windows);
- ``sma-rsi-ind-15m`` / ``sma-rsi-ind-1m``: the same rule over indicator columns (TA-Lib's SMA and
  the same RSI computed once over the candle store, read with ``btk.indicator``; skipped on an
  engine without them);
- ``sma-rsi-vec-1m``: the same rule written with the vectorised signal API (``signals=``; skipped
  on an engine without it); brackets around the close instead of the VWAP, so trades differ slightly;
- ``full-hour-1m``: the peers' rule (long on the full hour, TP +1 %, SL -1 %, 240 minutes), asked every minute;
- ``full-hour-vec-1m``: the same rule with the vectorised signal API;
- ``idle-1m``: a strategy that returns None, asked every minute; reports microseconds per call;
- ``demo``: the console demo's three strategies one after the other, headless;
- ``walker-100``: one walker over 100 variants of the benchmark's strategy (TP +0.5 % .. +1.49 %),
  for peak memory (issue 13 asks under 300 MB);
- ``symbols-20``: the benchmark's strategy on 20 symbols one after the other, each its own candle
  store (peak memory likewise).

Run:  python -m tests.bench.bench_strategies [--scenario sma-rsi-15m,demo] [--repeat 5] [--days 365]
Before/after in one batch:  --trees /tmp/before,.  runs each repeat in every tree in turn (each tree
needs this file; the child reports which engine it imported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

START = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOL = "BTCUSDT"
SINGLE = {  # scenario -> (strategy factory name in tests.bench.strategies, signal interval)
    "sma-rsi-15m": ("sma_rsi_objects", "15m"),
    "sma-rsi-1m": ("sma_rsi_objects", "1m"),
    "sma-rsi-cols-15m": ("sma_rsi_columns", "15m"),
    "sma-rsi-cols-1m": ("sma_rsi_columns", "1m"),
    "sma-rsi-ind-15m": ("sma_rsi_indicators", "15m"),
    "sma-rsi-ind-1m": ("sma_rsi_indicators", "1m"),
    "sma-rsi-vec-1m": ("sma_rsi_vectorised", "1m"),
    "full-hour-1m": ("full_hour", "1m"),
    "full-hour-vec-1m": ("full_hour_vectorised", "1m"),
    "idle-1m": ("Idle", "1m"),
}
SCENARIOS = ("benchmark", *SINGLE, "demo", "walker-100", "symbols-20")
VARIANTS, SYMBOLS = 100, 20


def _timed(run: Callable[[], int]) -> dict:
    """One backtest pass: its CPU and wall seconds and the number of results it yielded."""
    w0, c0 = time.perf_counter(), time.process_time()
    results = run()
    return {"cpu": time.process_time() - c0, "wall": time.perf_counter() - w0, "results": results}


def _backtest(strategies: list[str], frame: str, exchange: str) -> Callable[[], int]:
    import engine as e

    async def main() -> int:
        n = 0
        for name in strategies:
            async for _ in e.Backtest.run(SYMBOL, strategy_name=name, exchange_name=exchange, frame_name=frame):
                n += 1
            e.Backtest.get_report(SYMBOL, name)
        return n

    return lambda: asyncio.run(main())


def _many(scenario: str, days: int) -> tuple[Callable[[], int], int]:
    """The memory scenarios: a 100-strategy walker, or one strategy on 20 symbols."""
    import engine as e
    from tests.bench.strategies import always_long

    e.add_synthetic_exchange("synthetic", seed=42)
    e.add_frame("bench-frame", "1m", START, START + timedelta(days=days) - timedelta(minutes=1))
    if scenario == "walker-100":
        names = [f"v{i:03d}" for i in range(VARIANTS)]
        for i, name in enumerate(names):
            e.add_strategy(name, "15m", always_long(1.005 + i / 10_000))
        e.add_walker("bench-walker", "synthetic", "bench-frame", names, metric="sharpe_ratio")

        async def walk() -> int:
            n = 0
            async for _ in e.Walker.run(SYMBOL, walker_name="bench-walker"):
                n += 1
            return n

        return (lambda: asyncio.run(walk())), days * 1440 * VARIANTS
    e.add_strategy("bench", "15m", always_long(1.01))
    symbols = [f"SYM{i:02d}USDT" for i in range(SYMBOLS)]

    async def each() -> int:
        n = 0
        for symbol in symbols:
            async for _ in e.Backtest.run(
                symbol, strategy_name="bench", exchange_name="synthetic", frame_name="bench-frame"
            ):
                n += 1
        return n

    return (lambda: asyncio.run(each())), days * 1440 * SYMBOLS


def run_child(scenario: str, days: int) -> dict:
    import engine as e

    out: dict = {"scenario": scenario, "engine": os.path.dirname(e.__file__), "candles": days * 1440}
    if scenario == "benchmark":
        from tests.bench.bench_backtest import run_one

        r = run_one(days, "none")
        cold = {"cpu": r["cpu_seconds"], "wall": r["seconds"], "results": r["trades"]}
        warm = {"cpu": r["warm_cpu_seconds"], "wall": r["warm_seconds"], "results": r["trades"]}
    elif scenario == "demo":
        from console import demo

        names = list(demo.register()["strategies"])
        run = _backtest(names, demo.ensure_frame(days), demo.EXCHANGE)
        cold, warm = _timed(run), _timed(run)
        out["candles"] *= len(names)  # each strategy walks the whole frame
    elif scenario in ("walker-100", "symbols-20"):
        run, out["candles"] = _many(scenario, days)
        cold, warm = _timed(run), _timed(run)
    else:
        from tests.bench import strategies

        if scenario.startswith("sma-rsi-cols") and not hasattr(e, "CandleWindow"):
            return {**out, "skipped": "this engine has no candle windows"}
        if scenario.startswith("sma-rsi-ind") and not hasattr(e, "indicator"):
            return {**out, "skipped": "this engine has no indicator columns"}
        if "-vec-" in scenario and not hasattr(e, "vectorised"):
            return {**out, "skipped": "this engine has no vectorised signals"}
        factory, interval = SINGLE[scenario]
        extra = {"indicators": strategies.SMA_RSI_INDICATORS} if factory == "sma_rsi_indicators" else {}
        fn = getattr(strategies, factory)
        if isinstance(fn, type):
            fn = fn()
        e.add_synthetic_exchange("synthetic", seed=42)
        e.add_frame("bench-frame", "1m", START, START + timedelta(days=days) - timedelta(minutes=1))
        if factory.endswith("_vectorised"):
            e.add_strategy("bench", interval, signals=fn)
        else:
            e.add_strategy("bench", interval, fn, **extra)
        run = _backtest(["bench"], "bench-frame", "synthetic")
        cold = _timed(run)
        calls_before = getattr(fn, "calls", 0)
        warm = _timed(run)
        if hasattr(fn, "calls"):
            out["warm_calls"] = fn.calls - calls_before
    out["cold"], out["warm"] = cold, warm
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _child(tree: str, scenario: str, days: int) -> dict:
    cmd = [sys.executable, "-m", "tests.bench.bench_strategies", "--child", scenario, "--days", str(days)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tree, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"scenario": scenario, "skipped": f"failed ({proc.returncode}): {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _row(label: str, runs: list[dict]) -> str:
    done = [r for r in runs if "skipped" not in r]
    if not done:
        return f"{label:<34} skipped: {runs[0]['skipped']}"
    cold = min(done, key=lambda r: r["cold"]["cpu"])["cold"]
    warm = min(done, key=lambda r: r["warm"]["cpu"])["warm"]
    candles = done[0]["candles"]
    calls = done[0].get("warm_calls")
    per_call = f"{warm['cpu'] / calls * 1e6:8.2f}" if calls else f"{'':>8}"
    return (
        f"{label:<34} {cold['cpu']:>7.2f} {cold['wall']:>7.2f} {warm['cpu']:>7.2f} {warm['wall']:>7.2f} "
        f"{candles / warm['cpu']:>12,.0f} {per_call} {warm['results']:>7} "
        f"{max(r['peak_rss_mb'] for r in done):>7}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default=",".join(SCENARIOS), help=f"comma-separated, of: {', '.join(SCENARIOS)}")
    p.add_argument("--repeat", type=int, default=5, help="fresh processes per scenario; the best is reported")
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--trees", default=".", help="comma-separated source trees, measured in turn in each repeat")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        print(json.dumps(run_child(args.child, args.days)))
        return
    scenarios = args.scenario.split(",")
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        p.error(f"unknown scenario(s) {', '.join(unknown)}; expected some of {', '.join(SCENARIOS)}")
    trees = [os.path.abspath(t) for t in args.trees.split(",")]
    print(f"{args.days} days of 1m candles, best of {args.repeat} fresh processes; CPU and wall seconds")
    print(
        f"{'scenario':<34} {'cold':>7} {'(wall)':>7} {'warm':>7} {'(wall)':>7} {'candles/s':>12} "
        f"{'µs/call':>8} {'results':>7} {'RSS MB':>7}"
    )
    for scenario in scenarios:
        runs: dict[str, list[dict]] = {t: [] for t in trees}
        for _ in range(args.repeat):
            for tree in trees:  # alternate, so that load changes hit every tree alike
                runs[tree].append(_child(tree, scenario, args.days))
        for tree in trees:
            label = scenario if len(trees) == 1 else f"{scenario} @{os.path.basename(tree)}"
            print(_row(label, runs[tree]), flush=True)


if __name__ == "__main__":
    main()
