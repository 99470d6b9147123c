"""Download benchmark (a benchmark, not a test): candles per second from the loopback Binance
server into the catalog, through the real ccxt client and ``download_symbol``.

The server runs in its own process, so this process's CPU time (``process_time``) is the download
path alone: ccxt's requests and JSON parsing, the engine's paging and checks, the part files and
the final merge. The server has no rate limit (ccxt's limiter is set to 1 ms), so the wall time is
bounded by the two processes sharing the machine, not by a venue's rules: a real exchange's
weight limits (Binance: 1000 candles per request, about 20 requests a second) dominate in practice.

Run:  python -m tests.bench.bench_download  [--days 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
DAY = 86_400_000

_SERVER = """
import sys, time
from tests.exchanges.binance_server import BinanceServer
with BinanceServer(now_ms=int(sys.argv[1])) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the parent closes stdin
"""


async def _download(base_url: str, folder: Path, days: int) -> tuple[float, float, int]:
    from engine import Catalog, CcxtFeed, download_symbol
    from tests.exchanges.binance_server import ccxt_options

    options = ccxt_options(base_url)
    exchange_id = options.pop("exchange_id")
    sandbox = options.pop("sandbox")
    feed = CcxtFeed(exchange_id, sandbox=sandbox, config=options, max_retries=3)
    try:
        await feed.market("BTCUSDT")  # markets loaded outside the timing, as the CLI's first request
        wall, cpu = time.perf_counter(), time.process_time()
        cov = await download_symbol(Catalog(folder), "bench", feed, "BTCUSDT", DAY0, DAY0 + days * DAY)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await feed.close()
    return wall, cpu, cov.rows if cov is not None else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    now = DAY0 + (args.days + 1) * DAY
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(now)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        base_url = server.stdout.readline().strip()
        best: tuple[float, float, int] | None = None
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                wall, cpu, rows = asyncio.run(_download(base_url, Path(tmp), args.days))
            if best is None or cpu < best[1]:
                best = (wall, cpu, rows)
        wall, cpu, rows = best
        print(
            f"download {args.days} days of 1m BTCUSDT ({rows:,} candles, {rows // 1000 + 1} requests), "
            f"best of {args.repeat}:"
        )
        print(
            f"  wall {wall:.2f} s = {rows / wall:,.0f} candles/s;  client CPU {cpu:.2f} s = {rows / cpu:,.0f} candles/s"
        )
    finally:
        server.stdin.close()
        server.wait(30)


if __name__ == "__main__":
    main()
