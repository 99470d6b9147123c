"""Backtest speed and memory benchmark (a benchmark, not a test: it asserts nothing).

Each size runs in a fresh process twice: "cold" includes generating and loading the synthetic
candles, "warm" repeats the run with the candles already in memory (what a walker or any
repeated run sees). Peak RSS is the largest over the repeats.

Scenario (fixed by the engine-core issue): BTCUSDT, synthetic 1m candles, strategy interval 15m,
a long market entry on every get_signal call with TP +1 %, SL -0.8 % of the current price and
minute_estimated_time 120; frames of 1, 30 and 365 days. Each size runs in a fresh process so
its peak RSS is its own. Run:  python -m tests.bench.bench_backtest  [--sizes 1,30,365] [--repeat 3]

The risk/partial issue asks to keep "a risk profile and partial tracking" within 2x of the plain
run. Two ways to read that, both measured:

- ``--risk-report``: the strategy gets a risk profile (a plain validation plus
  ``max_concurrent_positions``, both consulted on every signal) and the timed run ends by
  producing the Partial and Risk reports, so every milestone of every trade is computed (the
  engine tracks them lazily when nobody listens, and the report forces them);
- ``--risk-partial``: the same risk profile, plus listeners on both partial-milestone streams,
  which makes the engine compute and publish every milestone as it happens (what the console's
  Partial pane does).
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


def run_one(days: int, listen: str, risk_partial: str | None = None) -> dict:
    import engine as e

    e.add_synthetic_exchange("synthetic", seed=42)
    extra: dict[str, int] = {}
    risk: dict[str, str] = {}
    if risk_partial:
        checked = {"risk_checks": 0, "partial_events": 0}

        def count_check(args) -> None:
            checked["risk_checks"] += 1

        def count_partial(_event) -> None:
            checked["partial_events"] += 1

        e.add_risk("bench-risk", validations=[count_check], max_concurrent_positions=1)
        if risk_partial == "listeners":
            e.listen_partial_profit(count_partial)
            e.listen_partial_loss(count_partial)
        risk = {"risk_name": "bench-risk"}
        extra = checked

    from tests.bench.strategies import always_long

    get_signal = always_long()
    e.add_strategy("bench", "15m", get_signal, **risk)
    e.add_frame("bench-frame", "1m", START, START + timedelta(days=days) - timedelta(minutes=1))
    if listen == "signals":
        counts = {"opened": 0, "closed": 0}
        e.listen_signal(lambda r: counts.__setitem__(r.action, counts[r.action] + 1), actions=("opened", "closed"))
        extra = counts

    async def main() -> tuple[int, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        trades = 0
        async for _ in e.Backtest.run(
            "BTCUSDT", strategy_name="bench", exchange_name="synthetic", frame_name="bench-frame"
        ):
            trades += 1
        e.Backtest.get_report("BTCUSDT", "bench")
        if risk_partial == "report":
            checked["partial_events"] = e.Partial.get_data("BTCUSDT", "bench", backtest=True).seen_events
            e.Partial.get_report("BTCUSDT", "bench", backtest=True)
            e.Risk.get_report("BTCUSDT", "bench", backtest=True)
        cpu_seconds.append(time.process_time() - c0)
        return trades, time.perf_counter() - t0

    cpu_seconds: list[float] = []  # CPU time of each run: what a shared, noisy machine distorts least
    trades, elapsed = asyncio.run(main())  # cold: the synthetic candles are generated and loaded
    warm_trades, warm = asyncio.run(main())  # warm: the same run again, candles already in memory
    assert warm_trades == trades
    stats = e.Backtest.get_data("BTCUSDT", "bench")
    candles = days * 1440
    return {
        "days": days,
        "candles": candles,
        "seconds": round(elapsed, 4),
        "candles_per_second": round(candles / elapsed),
        "warm_seconds": round(warm, 4),
        "warm_candles_per_second": round(candles / warm),
        "cpu_seconds": round(cpu_seconds[0], 4),
        "warm_cpu_seconds": round(cpu_seconds[1], 4),
        "trades": trades,
        "total_pnl_stored": stats.total_pnl,
        "scenario": f"risk+partial {risk_partial}" if risk_partial else "plain",
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
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--risk-partial", action="store_true", help="add a risk profile and partial-milestone listeners")
    mode.add_argument("--risk-report", action="store_true", help="add a risk profile and build the partial report")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    scenario = "listeners" if args.risk_partial else "report" if args.risk_report else None
    if args.child is not None:
        print(json.dumps(run_one(args.child, args.listen, scenario)))
        return
    print(
        f"{'days':>5} {'candles':>9} {'cold s':>8} {'cold candles/s':>15} {'warm s':>8} "
        f"{'warm candles/s':>15} {'trades':>7} {'peak RSS MB':>12}"
    )
    for days in (int(x) for x in args.sizes.split(",")):
        runs = []
        for _ in range(args.repeat):
            cmd = [sys.executable, "-m", "tests.bench.bench_backtest", "--child", str(days), "--listen", args.listen]
            if scenario is not None:
                cmd.append("--risk-partial" if scenario == "listeners" else "--risk-report")
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        cold = min(runs, key=lambda r: r["seconds"])
        warm = min(runs, key=lambda r: r["warm_seconds"])
        print(
            f"{days:>5} {cold['candles']:>9} {cold['seconds']:>8.3f} {cold['candles_per_second']:>15,} "
            f"{warm['warm_seconds']:>8.3f} {warm['warm_candles_per_second']:>15,} {cold['trades']:>7} "
            f"{max(r['peak_rss_mb'] for r in runs):>12}"
        )


if __name__ == "__main__":
    main()
