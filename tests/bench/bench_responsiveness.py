"""Key latency while a 365-day backtest runs inside btk-console (a benchmark, not a test).

The engine shares the event loop with the UI and hands it back every few milliseconds. This
measures how long key presses take to reach the app during such a run: the demo's moving-average
strategy over 365 days of 1m candles (it reads 51 candles at every call). It used to sit in the
default test suite; a latency has no pass mark that holds on a shared machine, so it lives here.
Run:  python -m tests.bench.bench_responsiveness
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from textual.binding import Binding

import engine
from console.app import BtkApp
from console.project import load_project

FIXED_NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class ProbeApp(BtkApp):
    BINDINGS = [*BtkApp.BINDINGS, Binding("f12", "probe", "probe", show=False)]

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.handled: list[tuple[float, bool]] = []  # (when, was a run still going)
        self.seen = asyncio.Event()

    def action_probe(self) -> None:
        running = any(r.is_active for r in self.state.runs.values())
        self.handled.append((time.perf_counter(), running))
        self.seen.set()


async def measure() -> None:
    project = load_project(None, days=365)
    app = ProbeApp(project, clock=lambda: FIXED_NOW, save_settings=False)
    latencies: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        app.start_backtest("BTCUSDT", "demo-trend", project.default_exchange, "demo-365d")
        (run,) = app.state.runs.values()
        while run.is_active and len(latencies) < 200:
            app.seen.clear()
            sent = time.perf_counter()
            await pilot.press("f12")
            await app.seen.wait()
            latencies.append(app.handled[-1][0] - sent)
        while run.is_active:
            await pilot.pause(0.05)
    during = [ok for _, ok in app.handled if ok]
    print(
        f"key presses handled during the run: {len(during)} of {len(app.handled)}; latency mean "
        f"{statistics.mean(latencies) * 1000:.1f} ms, p95 {statistics.quantiles(latencies, n=20)[-1] * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms (run: {run.trades} trades, {run.total:,} frames, status {run.status})"
    )
    print(f"closed signals seen by the engine: {engine.Backtest.get_data('BTCUSDT', 'demo-trend').seen_signals}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BTK_SETTINGS"] = str(Path(tmp) / "settings.toml")
        asyncio.run(measure())


if __name__ == "__main__":
    main()
