"""The console keeps answering keys while a 365-day backtest runs in it.

The engine shares the event loop with the UI and hands it back every few milliseconds. This test
measures how long key presses take to reach the app during such a run and prints the numbers.
It fails only if the UI was blocked for the whole run (no key handled before the run ended):
wall-clock thresholds do not belong in tests on shared machines.
"""

from __future__ import annotations

import statistics
import time

from conftest import fixed_clock, wait_until
from textual.binding import Binding

import engine
from console.app import BtkApp
from console.project import load_project


class ProbeApp(BtkApp):
    BINDINGS = [*BtkApp.BINDINGS, Binding("f12", "probe", "probe", show=False)]

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.handled: list[tuple[float, bool]] = []  # (when, was a run still going)

    def action_probe(self) -> None:
        running = any(r.is_active for r in self.state.runs.values())
        self.handled.append((time.perf_counter(), running))


async def test_keys_are_handled_while_a_year_long_backtest_runs(no_settings) -> None:
    """The demo's moving-average strategy over 365 days of 1m candles (it reads 51 candles at every
    call): a realistic run of several seconds."""
    project = load_project(None, days=365)
    app = ProbeApp(project, clock=fixed_clock, save_settings=False)
    latencies: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        assert "demo-365d" in project.frames
        app.start_backtest("BTCUSDT", "demo-trend", project.default_exchange, "demo-365d")
        (run,) = app.state.runs.values()
        while run.is_active and len(latencies) < 200:
            sent = time.perf_counter()
            count = len(app.handled)
            await pilot.press("f12")
            await wait_until(pilot, lambda n=count: len(app.handled) > n, limit=60)
            latencies.append(app.handled[-1][0] - sent)
        await wait_until(pilot, lambda: not run.is_active, limit=120)
    during = [ok for _, ok in app.handled if ok]
    print(
        f"\nkey presses handled during the run: {len(during)} of {len(app.handled)}; latency mean "
        f"{statistics.mean(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms "
        f"(run: {run.trades} trades, {run.total:,} frames)"
    )
    assert during, "the UI handled no key while the backtest ran: it was blocked for the whole run"
    assert run.status == "done" and run.processed == run.total == 525_600
    assert run.trades == engine.Backtest.get_data("BTCUSDT", "demo-trend").seen_signals  # nothing lost
