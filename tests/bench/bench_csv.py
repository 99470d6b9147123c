"""CSV reading benchmark (a benchmark, not a test: it asserts nothing but that both readers agree).

A year of synthetic 1m candles (525,600 rows, prices with two decimals, as ccxt writes them) is
written to a temporary file once; then the reader before pyarrow (``load_csv(parser="numpy")``:
numpy's ``loadtxt``) and the current one (``parser="arrow"``: pyarrow's CSV reader) read it in
turns, alternating, and the best of 5 CPU times (``time.process_time``, all threads) of each is
reported. Both include everything ``load_csv`` does: the header, parsing and every check.

Run:  python -m tests.bench.bench_csv  [--days 365] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

START_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)


def write_year(path: Path, days: int) -> int:
    """``days`` of 1m candles from the synthetic feed, written as a ccxt-style CSV file."""
    from engine.exchanges.synthetic import SyntheticFeed
    from engine.model import MINUTE_MS

    cols = SyntheticFeed(seed=42).columns("BTCUSDT", "1m", START_MS, START_MS + days * 1440 * MINUTE_MS)
    table = np.column_stack([cols.timestamp, cols.open, cols.high, cols.low, cols.close, cols.volume])
    header = "timestamp_ms,open,high,low,close,volume"
    fmt = ["%d", "%.2f", "%.2f", "%.2f", "%.2f", "%.4f"]
    np.savetxt(path, table, fmt=fmt, delimiter=",", header=header, comments="")
    return len(cols)


def cpu_time(fn) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def main() -> None:
    from engine.exchanges.csv_feed import load_csv

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "BTCUSDT.csv"
        rows = write_year(path, args.days)
        old, new = load_csv(path, parser="numpy"), load_csv(path, parser="arrow")
        for name in ("timestamp", "open", "high", "low", "close", "volume"):
            if not np.array_equal(getattr(old, name), getattr(new, name)):
                raise SystemExit(f"the two readers disagree on column {name}")
        times: dict[str, list[float]] = {"numpy": [], "arrow": []}
        for _ in range(args.repeat):
            for which in ("numpy", "arrow"):  # alternating, so machine load hits both alike
                times[which].append(cpu_time(lambda which=which: load_csv(path, parser=which)))
        best = {k: min(v) for k, v in times.items()}
        print(
            json.dumps(
                {
                    "rows": rows,
                    "file_mb": round(path.stat().st_size / 1e6, 1),
                    "numpy_cpu_s": round(best["numpy"], 3),
                    "arrow_cpu_s": round(best["arrow"], 3),
                    "speedup": round(best["numpy"] / best["arrow"], 1),
                }
            )
        )


if __name__ == "__main__":
    main()
