"""Backtest speed and memory benchmark (a benchmark, not a test: it asserts nothing).

Scenario (fixed by the engine-core issue): BTCUSDT, synthetic 1m candles, strategy interval 15m,
a long market entry on every get_signal call with TP +1 %, SL -0.8 % of the current price and
minute_estimated_time 120; frames of 1, 30 and 365 days. Each size runs in a fresh process so
its peak RSS is its own. Run:  python -m tests.bench.bench_backtest  [--sizes 1,30,365] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

START = datetime(2024, 1, 1, tzinfo=UTC)


def run_one(days: int, listen: str) -> dict:
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
    e.add_frame("bench-frame", "1m", START, START + timedelta(days=days) - timedelta(minutes=1))
    extra = {}
    if listen == "signals":
        counts = {"opened": 0, "closed": 0}
        e.listen_signal(lambda r: counts.__setitem__(r.action, counts[r.action] + 1), actions=("opened", "closed"))
        extra = counts

    async def main() -> tuple[int, float]:
        t0 = time.perf_counter()
        trades = 0
        async for _ in e.Backtest.run(
            "BTCUSDT", strategy_name="bench", exchange_name="synthetic", frame_name="bench-frame"
        ):
            trades += 1
        elapsed = time.perf_counter() - t0
        e.Backtest.get_report("BTCUSDT", "bench")
        return trades, elapsed

    trades, elapsed = asyncio.run(main())
    stats = e.Backtest.get_data("BTCUSDT", "bench")
    candles = days * 1440
    return {
        "days": days,
        "candles": candles,
        "seconds": round(elapsed, 4),
        "candles_per_second": round(candles / elapsed),
        "trades": trades,
        "total_pnl_stored": stats.total_pnl,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **{f"listened_{k}": v for k, v in extra.items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", default="1,30,365")
    p.add_argument("--repeat", type=int, default=3, help="runs per size; the best is reported")
    p.add_argument(
        "--listen",
        choices=["none", "signals"],
        default="none",
        help="attach a listener to opened/closed signals (measures event cost)",
    )
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        print(json.dumps(run_one(args.child, args.listen)))
        return
    print(f"{'days':>5} {'candles':>9} {'seconds':>8} {'candles/s':>11} {'trades':>7} {'peak RSS MB':>12}")
    for days in (int(x) for x in args.sizes.split(",")):
        best = None
        for _ in range(args.repeat):
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.bench.bench_backtest",
                    "--child",
                    str(days),
                    "--listen",
                    args.listen,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if best is None or r["seconds"] < best["seconds"]:
                best = r
        print(
            f"{best['days']:>5} {best['candles']:>9} {best['seconds']:>8.3f} {best['candles_per_second']:>11,} "
            f"{best['trades']:>7} {best['peak_rss_mb']:>12}"
        )


if __name__ == "__main__":
    main()
