"""Backtests inside btk-console (a headless App) against the bare engine, and key latency.

Two scenarios, each 365 days of synthetic 1m candles:
- ``benchmark``: the engine benchmark's strategy (15m, always long, ~5,300 trades);
- ``busy``: an RSI strategy over an indicator column that trades about three times a day, so the
  Signals log, the equity and the partial/risk panes have work all the way (issue 14 item 2).

The console listens to the engine through its bridge, redraws about four times a second, and
shares the event loop with the run. Each side runs in a fresh process, cold (the synthetic candles
are generated inside the timing), best of N. A third process runs the console again while a key
press is sent every 100 ms, and records the time until the app handles each: mean, p95 and max
are printed (kept apart from the throughput run, which the presses would slow).
Run:  python -m tests.bench.bench_console [--scenario benchmark,busy] [--repeat 3] [--trees ../main,.]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

DAYS = 365


def register(scenario: str = "benchmark") -> None:
    import engine as e

    e.add_synthetic_exchange("synthetic", seed=42)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    e.add_frame("bench-frame", "1m", start, start + timedelta(days=DAYS) - timedelta(minutes=1))
    if scenario == "busy":
        register_busy()
        return

    from tests.bench.strategies import always_long

    get_signal = always_long()
    e.add_strategy("bench", "15m", get_signal)


def register_busy() -> None:
    """RSI(14) of 5m closes: long under 25, short over 75, brackets of 0.6 %, 4 hours at most."""
    import talib

    import engine as e

    async def get_signal(symbol, when, price):
        rsi = await e.indicator("rsi")
        if rsi < 25:
            side, up, down = "long", price * 1.006, price * 0.994
        elif rsi > 75:
            side, up, down = "short", price * 0.994, price * 1.006
        else:
            return None
        return {"position": side, "price_take_profit": up, "price_stop_loss": down, "minute_estimated_time": 240}

    rsi = e.Indicator(lambda c: talib.RSI(c.close, 14), interval="5m", history=200)
    e.add_strategy("bench", "5m", get_signal, indicators={"rsi": rsi})


def run_engine(scenario: str) -> dict:
    import engine as e

    register(scenario)
    e.settle_heap()  # as ``btk-console backtest`` does once its project is loaded (the console does too)

    async def main() -> tuple[float, float]:
        t0, cpu0 = time.perf_counter(), time.process_time()
        async for _ in e.Backtest.run(
            "BTCUSDT", strategy_name="bench", exchange_name="synthetic", frame_name="bench-frame"
        ):
            pass
        return time.perf_counter() - t0, time.process_time() - cpu0

    seconds, cpu = asyncio.run(main())
    return {"seconds": seconds, "cpu": cpu, "trades": e.Backtest.get_data("BTCUSDT", "bench").seen_signals}


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


def run_console(scenario: str, probe: bool = False, here: bool = False) -> dict:
    import resource

    from textual.binding import Binding

    from console.app import BtkApp
    from console.host import Loader

    class ProbeApp(BtkApp):
        """The console with one more key, whose handler notes when it ran."""

        BINDINGS = [*BtkApp.BINDINGS, Binding("f12", "probe", "probe", show=False)]

        def __init__(self, *args, **kw) -> None:
            super().__init__(*args, **kw)
            self.handled: list[float] = []
            self.seen = asyncio.Event()
            self.finished = asyncio.Event()
            self.done_at: float | None = None
            self.finished_at = 0.0

        def on_run_finished(self, message) -> None:
            """Runs before the console's own handler of the message (the class comes first in the
            MRO): the run counts as done once the screen was painted with it done
            (``_finished_if_done``)."""
            self.call_after_refresh(self._finished_if_done, message.run_id)

        def _finished_if_done(self, run_id: str) -> None:
            """Done when the run shows done and the paints its last redraw asked for are over. A
            callback after the next refresh alone could come before them (a widget's refresh
            reaches the screen on its own idle turn), so a version that laid out less looked
            faster than it drew. It waits until nothing is left to paint, or until the bridge's
            next tick redraws (what that tick changes is not the run's)."""
            run = self.state.runs.get(run_id)
            if run is not None and run.is_active:
                return  # the run's last events are still being folded: its next RunFinished asks again
            if self.done_at is None:
                self.done_at = time.perf_counter()
            shown = max((end for start, end in REDRAWS if end <= self.done_at), default=0.0)
            tick = min((start for start, end in REDRAWS if start > self.done_at), default=None)
            if tick is None and not _screen_clean(self.screen):
                self.call_after_refresh(self._finished_if_done, run_id)
                return
            ends = [end for start, end in PAINTS if start >= shown and (tick is None or start < tick)]
            self.finished_at = max([self.done_at, *ends])
            self.finished.set()

        def action_probe(self) -> None:
            self.handled.append(time.perf_counter())
            self.seen.set()

    _note_paints()
    register(scenario)
    # the run goes to a worker process that registers the same scenario (console/host/), unless
    # ``here``: the console's own event loop, as before issue 14 item 2
    worker = None if here else Loader("tests.bench.bench_console", "register", (scenario,))
    project = bench_project("synthetic", ["bench"], "bench-frame", ["BTCUSDT"])
    app = ProbeApp(project, save_settings=False, engine_process=worker)
    out: dict = {}

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            if app.host is not None:  # its start-up is paid while a user picks the run: timed apart
                t0 = time.perf_counter()
                assert app.host.wait_ready(120)
                out["startup"] = time.perf_counter() - t0
            t0, cpu0 = time.perf_counter(), time.process_time()
            app.start_backtest("BTCUSDT", "bench", "synthetic", "bench-frame")
            (run,) = app.state.runs.values()
            latencies: list[float] = []
            while probe and run.is_active:
                app.seen.clear()
                sent = time.perf_counter()
                await pilot.press("f12")
                await app.seen.wait()
                latencies.append(app.handled[-1] - sent)
                await asyncio.sleep(0.1)
            # the run counts as done once the console shows it so (its status, its last events
            # folded, drawn and painted); what follows off the loop (the history file) is not in
            # the time
            await app.finished.wait()
            out["seconds"] = app.finished_at - t0
            out["cpu"] = time.process_time() - cpu0
            await app.workers.wait_for_complete()
            # the worker's CPU (it was reaped when its run ended); the spare's is not in it
            out["worker_cpu"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
            out["trades"] = run.trades
            out["latencies"] = latencies

    asyncio.run(main())
    return out


PAINTS: list[tuple[float, float]] = []
"""When each paint of the screen started and ended (``_note_paints``)."""
REDRAWS: list[tuple[float, float]] = []
"""When each redraw of the dashboard's panes started and ended."""


def _note_paints() -> None:
    """Note each paint of a screen and each redraw of the dashboard. Textual has no public event
    for a paint: the bench wraps its compositor's refresh (a private method; only this benchmark
    does so)."""
    from textual.screen import Screen

    from console.screens.dashboard import DashboardScreen

    def noting(method, into):
        def noted(self, *args):
            start = time.perf_counter()
            method(self, *args)
            into.append((start, time.perf_counter()))

        return noted

    Screen._compositor_refresh = noting(Screen._compositor_refresh, PAINTS)
    DashboardScreen.redraw = noting(DashboardScreen.redraw, REDRAWS)


def _screen_clean(screen) -> bool:
    """Nothing left to lay out or paint on ``screen``: its own flags, the updates its widgets
    posted to it, and each widget's own flags (a refresh reaches the screen on the widget's idle
    turn)."""
    if screen._layout_required or screen._scroll_required or screen._repaint_required or screen._dirty_widgets:
        return False
    if screen.message_queue_size:
        return False
    return not any(
        w._repaint_required or w._layout_required or w._scroll_required for w in screen.walk_children(with_self=False)
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--scenario", default="benchmark,busy", help="comma-separated: benchmark, busy")
    p.add_argument("--child", choices=["engine", "console", "probe"], help=argparse.SUPPRESS)
    p.add_argument("--in-process", action="store_true", help="the console runs the engine on its own loop")
    p.add_argument("--trees", help="comma-separated checkouts to compare in one batch, alternating (e.g. main's, .)")
    args = p.parse_args()
    if args.child:
        if args.child == "engine":
            print(json.dumps(run_engine(args.scenario)))
        else:
            print(json.dumps(run_console(args.scenario, probe=args.child == "probe", here=args.in_process)))
        return
    candles = DAYS * 1440
    trees = [Path(t).resolve() for t in args.trees.split(",")] if args.trees else [None]
    for scenario in args.scenario.split(","):
        runs = {tree: {"engine": [], "console": [], "probe": []} for tree in trees}
        for _ in range(args.repeat):
            for tree in trees:  # alternating, so a noisy spell hits each tree and each kind
                for kind in ("engine", "console", "probe"):
                    runs[tree][kind].append(child(kind, scenario, args.in_process, tree))
        for tree in trees:
            report(f"[{scenario}]" + (f" {tree}" if tree else ""), runs[tree], candles)


def child(kind: str, scenario: str, in_process: bool, tree: Path | None) -> dict:
    """One measurement in a fresh process; ``tree``: a checkout whose code it runs (its folder
    first on the path, before this environment's install)."""
    cmd = [sys.executable, "-m", "tests.bench.bench_console", "--child", kind, "--scenario", scenario]
    cmd += ["--in-process"] if in_process else []
    env = None
    if tree is not None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=tree, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(title: str, runs: dict[str, list[dict]], candles: int) -> None:
    best = {kind: min(rs, key=lambda r: r["seconds"]) for kind, rs in runs.items() if kind != "probe"}
    print(title)
    for kind, r in best.items():
        worker = f" + {r['worker_cpu']:.3f} s worker CPU" if "worker_cpu" in r and "startup" in r else ""
        print(
            f"  {kind:8} {r['seconds']:.3f} s wall {r['cpu']:.3f} s CPU{worker}  "
            f"{candles / r['seconds']:>12,.0f} candles/s  {r['trades']} trades"
        )
        if "startup" in r:
            print(f"  worker start-up (imports and the project's load, before the run): {r['startup']:.3f} s")
    share = best["engine"]["seconds"] / best["console"]["seconds"] * 100
    cpu_share = min(r["cpu"] for r in runs["engine"]) / min(r["cpu"] for r in runs["console"]) * 100
    print(f"  console throughput = {share:.0f} % of the engine's by wall time, {cpu_share:.0f} % by CPU time")
    lat = sorted(x for r in runs["probe"] for x in r["latencies"])
    if len(lat) >= 5:
        print(
            f"  key latency during the runs: mean {statistics.mean(lat) * 1000:.0f} ms, "
            f"p95 {lat[math.ceil(0.95 * len(lat)) - 1] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms "
            f"({len(lat)} presses)"
        )
    print(flush=True)


if __name__ == "__main__":
    main()
