"""Catalog benchmark (a benchmark, not a test: it asserts only that the sources agree).

A year of synthetic 1m BTCUSDT candles (525,600) is written once as a catalog file and as a CSV
file (two decimals, as ccxt writes them). Then:

1. **ready**: the year as engine columns, from a fresh ``CatalogFeed`` (map + views) versus
   ``load_csv`` (parse + checks); alternating, best of ``--repeat`` CPU times (``process_time``).
   "touched" adds one pass over every column (the catalog's pages are read in from the page cache).
2. **backtest**: bench_backtest's 365-day scenario (15m long entries, TP +1 %, SL -0.8 %, 120 min)
   on the catalog (the store keeps the mapped columns), on the catalog with the store copying them
   (``catalog-copy``: ``lends_columns`` off, the path before issue 15's last step) and on the CSV,
   each in a fresh process, with the private memory (smaps) the cold run added: cold (first run) and warm (second run),
   and the process's CPU before the first run (interpreter, imports, registration). ``--repeat``
   fresh processes of each, alternating the three; best of each figure, and the best cold /
   warm ratio of one process (the two runs of one process share the machine's load of the moment).
3. **memory**: two processes map the same catalog file at once and touch every column; their RSS
   growth, split into anonymous (private memory: a copy would show here) and file-backed (the
   mapped pages, shared through the page cache, and the library code first run), and their PSS
   (proportional set size: shared pages split between the sharers), against the file's size and
   against two processes loading the CSV.

Run:  python -m tests.bench.bench_catalog  [--days 365] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from tests.bench.bench_csv import START_MS, write_year

KB_PER_MB = 1e6 / 1024  # /proc counts kB of 1024 bytes; the file's size is in MB of 10**6 bytes, as here


def _proc_kb(field: str, path: str) -> int:
    with open(path) as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _memory() -> tuple[float, float]:
    """(RSS, PSS) of this process in MB (10**6 bytes, as the file size)."""
    return _proc_kb("VmRSS", "/proc/self/status") / KB_PER_MB, _proc_kb("Pss", "/proc/self/smaps_rollup") / KB_PER_MB


def _private_mb() -> float:
    """Private memory of this process in MB (smaps Private_Clean + Private_Dirty): a copy of the
    columns shows here; the mapped file's pages, shared through the page cache, do not."""
    path = "/proc/self/smaps_rollup"
    return (_proc_kb("Private_Clean", path) + _proc_kb("Private_Dirty", path)) / KB_PER_MB


def _rss_split() -> tuple[float, float]:
    """(anonymous, file-backed) RSS of this process in MB."""
    return _proc_kb("RssAnon", "/proc/self/status") / KB_PER_MB, _proc_kb("RssFile", "/proc/self/status") / KB_PER_MB


def _load(kind: str, folder: Path):
    from engine.data.feed import CatalogFeed
    from engine.exchanges.csv_feed import load_csv

    if kind == "catalog":
        feed = CatalogFeed(folder / "data", "bench")
        return feed.file("BTCUSDT").columns
    return load_csv(folder / "BTCUSDT.csv")


def child_memory(kind: str, folder: Path) -> None:
    """Load, touch every column, print the growth, then wait for the parent (both alive at once)."""
    import numpy as np

    import engine.data.feed
    import engine.exchanges.csv_feed  # noqa: F401  (every import done before the baseline)

    rss0, pss0 = _memory()
    anon0, file0 = _rss_split()
    cols = _load(kind, folder)
    total = sum(float(np.sum(getattr(cols, f))) for f in cols.__slots__)
    rss1, pss1 = _memory()
    anon1, file1 = _rss_split()
    growth = {"rss_growth_mb": round(rss1 - rss0, 1), "pss_growth_mb": round(pss1 - pss0, 1)}
    growth |= {"anon_growth_mb": round(anon1 - anon0, 2), "file_growth_mb": round(file1 - file0, 1)}
    print(json.dumps(growth | {"sum": total}))
    sys.stdout.flush()
    sys.stdin.readline()


def child_backtest(kind: str, folder: Path, days: int) -> None:
    startup = time.process_time()  # the interpreter and the imports so far
    import engine as e
    from tests.bench.bench_backtest import START

    if kind.startswith("catalog"):
        schema = e.add_catalog_exchange("x", folder / "data", exchange="bench")
        schema.columns.lends_columns = kind == "catalog"  # "catalog-copy": the store copies the columns
    else:
        e.add_csv_exchange("x", folder / "BTCUSDT.csv")

    async def get_signal(symbol, when, price):  # bench_backtest's scenario
        tp, sl = price * 1.01, price * 0.992
        return dict(position="long", price_take_profit=tp, price_stop_loss=sl, minute_estimated_time=120)

    e.add_strategy("bench", "15m", get_signal)
    e.add_frame("f", "1m", START, START + timedelta(days=days) - timedelta(minutes=1))

    first: list[float] = []  # CPU to the first result: opening, placing and deriving the candles

    async def once() -> tuple[int, float]:
        c0 = time.process_time()
        n = 0
        async for _ in e.Backtest.run("BTCUSDT", strategy_name="bench", exchange_name="x", frame_name="f"):
            n += 1
            if n == 1:
                first.append(time.process_time() - c0)
        return n, time.process_time() - c0

    startup = time.process_time() - startup  # import engine, the feed's first open, registration
    private0 = _private_mb()
    trades, cold = asyncio.run(once())
    private1 = _private_mb()
    warm_trades, warm = asyncio.run(once())
    assert trades == warm_trades
    out = {"trades": trades, "cold_cpu_s": cold, "warm_cpu_s": warm, "startup_cpu_s": startup}
    out["private_growth_mb"] = round(private1 - private0, 1)  # what the run keeps of its own (the store)
    print(json.dumps(out | {"cold_first_result_cpu_s": first[0], "warm_first_result_cpu_s": first[1]}))


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.bench.bench_catalog", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        what, kind, folder = args.child
        if what == "memory":
            child_memory(kind, Path(folder))
        else:
            child_backtest(kind, Path(folder), args.days)
        return

    from engine.data.catalog import Catalog
    from engine.data.imports import import_csv
    from engine.exchanges.csv_feed import load_csv

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = write_year(folder / "BTCUSDT.csv", args.days)
        import_csv(Catalog(folder / "data"), "bench", folder / "BTCUSDT.csv", "BTCUSDT")
        file_mb = Catalog(folder / "data").path("bench", "BTCUSDT").stat().st_size / 1e6
        import numpy as np

        best: dict[str, float] = {}
        for _ in range(args.repeat):
            for kind in ("catalog", "csv"):
                for touched in (False, True):
                    c0 = time.process_time()
                    cols = _load(kind, folder)
                    if touched:
                        sum(float(np.sum(getattr(cols, f))) for f in cols.__slots__)
                    dt = time.process_time() - c0
                    key = f"{kind}{' touched' if touched else ''}"
                    best[key] = min(best.get(key, dt), dt)
        a, b = _load("catalog", folder), load_csv(folder / "BTCUSDT.csv")
        assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in a.__slots__)
        ready = {k: round(v * 1000, 2) for k, v in best.items()}

        runs: dict[str, list[dict]] = {"catalog": [], "catalog-copy": [], "csv": []}
        for _ in range(args.repeat):
            for kind in runs:
                proc = _spawn("--days", str(args.days), "--child", "backtest", kind, str(folder))
                out, _ = proc.communicate()
                runs[kind].append(json.loads(out.strip().splitlines()[-1]))
        backtests = {}
        for kind, got in runs.items():
            keys = ("cold_cpu_s", "warm_cpu_s", "startup_cpu_s", "cold_first_result_cpu_s", "warm_first_result_cpu_s")
            best = {k: round(min(r[k] for r in got), 4) for k in keys}
            best["private_growth_mb"] = sorted(r["private_growth_mb"] for r in got)
            ratios = sorted(r["cold_cpu_s"] / r["warm_cpu_s"] for r in got)
            best["cold_over_warm_best"] = round(best["cold_cpu_s"] / best["warm_cpu_s"], 2)
            best["cold_over_warm_per_process"] = [round(x, 2) for x in ratios]
            backtests[kind] = {"trades": got[0]["trades"]} | best
        assert {r["trades"] for got in runs.values() for r in got} == {backtests["csv"]["trades"]}

        memory = {}
        for kind in ("catalog", "csv"):
            procs = [_spawn("--child", "memory", kind, str(folder)) for _ in range(2)]
            lines = [json.loads(proc.stdout.readline()) for proc in procs]  # both hold their columns now
            for proc in procs:
                proc.communicate("\n")
            memory[kind] = [{k: v for k, v in line.items() if k != "sum"} for line in lines]

    print(
        json.dumps(
            {
                "candles": rows,
                "start_ms": START_MS,
                "file_mb": round(file_mb, 1),
                "ready_best_cpu_ms": ready,
                "backtest_cpu_s": backtests,
                "two_processes_memory_mb": memory,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
