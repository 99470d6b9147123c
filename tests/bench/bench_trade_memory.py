"""What a finished backtest keeps per trade (issue 13: under 250 bytes when nobody listens).

A benchmark, not a test (tests/engine/test_trade_memory.py holds the bound on a shorter run). The
engine benchmark's strategy (15m, always long) runs over ``--days`` days of synthetic 1m candles
after another strategy has run on the same candles, so the candle store and its derived columns
already exist and are not counted. ``tracemalloc`` compares the heap before and after the measured
run (garbage collected both times): what is left is what the run keeps for its reports (packed
closed signals, lazy milestone batches, timing samples), divided by its trades. Allocation sizes do
not depend on the machine's load, so one run is the answer.

Run:  python -m tests.bench.bench_trade_memory  [--days 365] [--top 8]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Kept:
    trades: int
    bytes: int
    by_line: list[tuple[str, int]]

    @property
    def per_trade(self) -> float:
        return self.bytes / self.trades


def measure(days: int, top: int = 0) -> Kept:
    """Register the benchmark's strategy twice, warm the candles with one, measure the other."""
    import engine as e
    from tests.bench.strategies import always_long

    e.add_synthetic_exchange("trade-memory", seed=42)
    e.add_strategy("trade-memory-warm", "15m", always_long())
    e.add_strategy("trade-memory", "15m", always_long())
    e.add_frame("trade-memory", "1m", START, START + timedelta(days=days) - timedelta(minutes=1))

    async def run(name: str) -> int:
        n = 0
        async for _ in e.Backtest.run(
            "BTCUSDT", strategy_name=name, exchange_name="trade-memory", frame_name="trade-memory"
        ):
            n += 1
        return n

    asyncio.run(run("trade-memory-warm"))
    gc.collect()
    started = tracemalloc.is_tracing()
    if not started:
        tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.take_snapshot()
        trades = asyncio.run(run("trade-memory"))
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        if not started:
            tracemalloc.stop()
    diff = after.compare_to(before, "lineno")
    by_line = [(str(d.traceback), d.size_diff) for d in diff[:top]]
    return Kept(trades, sum(d.size_diff for d in diff), by_line)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--top", type=int, default=8, help="the lines that allocated most of it")
    args = p.parse_args()
    kept = measure(args.days, args.top)
    print(f"{args.days} days, {kept.trades:,} trades: {kept.bytes:,} bytes kept, {kept.per_trade:.1f} bytes a trade")
    for where, size in kept.by_line:
        print(f"  {size:>10,}  {where}")


if __name__ == "__main__":
    main()
