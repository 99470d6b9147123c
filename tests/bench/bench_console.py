"""Backtests inside btk-console (a headless App) against the bare engine, and key latency.

Two scenarios, each 365 days of synthetic 1m candles:
- ``benchmark``: the engine benchmark's strategy (15m, always long, ~5,300 trades);
- ``busy``: an RSI strategy over an indicator column that trades about three times a day, so the
  Signals log, the equity and the partial/risk panes have work all the way (issue 14 item 2).
And one to ask for (``--scenario raising``): a strategy that raises on every call, ~35,000 errors.

The console listens to the engine through its bridge, redraws about four times a second, and
shares the event loop with the run. Each side runs in a fresh process, cold (the synthetic candles
are generated inside the timing), best of N. A third process runs the console again while a key
press is sent every 100 ms, and records the time until the app handles each: mean, p95 and max
are printed (kept apart from the throughput run, which the presses would slow).
Run:  python -m tests.bench.bench_console [--scenario benchmark,busy] [--repeat 3] [--trees ../main,.]
      [--no-probe] (throughput only; with --repeat 8 or more the lower quartiles are printed too)
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
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DAYS = 365


def register(scenario: str = "benchmark") -> None:
    import engine as e

    e.add_synthetic_exchange("synthetic", seed=42)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    e.add_frame("bench-frame", "1m", start, start + timedelta(days=DAYS) - timedelta(minutes=1))
    if scenario == "busy":
        register_busy()
        return
    if scenario == "raising":
        register_raising()
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


def register_raising() -> None:
    """A strategy with a bug: every call raises (a misspelt name, say): ~35,000 errors a year at
    15m, each with its traceback, which the console's log book keeps and headless logs."""
    import engine as e

    async def get_signal(symbol, when, price):
        return {"rsi": 50}["rsi14"]  # the misspelt key raises KeyError

    e.add_strategy("bench", "15m", get_signal)


def run_engine(scenario: str) -> dict:
    import engine as e

    register(scenario)
    e.settle_heap()  # as ``btk-console backtest`` does once its project is loaded (the console does too)
    e.reuse_freed_memory()  # and this, as ``btk-console backtest`` does (the console's worker too)

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
            DONE.watch(app, run.id)
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
            await DONE.painted.wait()
            out["seconds"] = DONE.painted_at - t0
            out["cpu"] = time.process_time() - cpu0
            await app.workers.wait_for_complete()
            for thread in threading.enumerate():  # the worker is reaped aside (console/host/remote.py)
                if thread.name.startswith("btk-reap"):
                    await asyncio.to_thread(thread.join)
            # the worker's CPU (it was reaped when its run ended); the spare's is not in it
            out["worker_cpu"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
            out["trades"] = run.trades
            out["latencies"] = latencies

    asyncio.run(main())
    return out


class _Done:
    """When the screen first showed the watched run done: the end of the first paint that began
    after a redraw of the dashboard that found the run no longer active. That redraw changed the
    run's row in the Runs pane (its status), so a paint follows it; the console marks a run done
    once its last events are folded (``BtkApp._run_finished``). An earlier rule (a callback after
    the next refresh, then the paints until the bridge's next tick) counted, on a quiet machine,
    a paint after the one that showed it done, or stopped before that paint when a tick's redraw
    came first: up to 35 ms either way."""

    def __init__(self) -> None:
        self.app: Any = None
        self.run_id = ""
        self.drawn_at: float | None = None  # the end of the first redraw that drew the run done
        self.painted_at = 0.0
        self.painted = asyncio.Event()

    def watch(self, app: Any, run_id: str) -> None:
        self.app, self.run_id = app, run_id

    def redrew(self, end: float) -> None:
        run = self.app.state.runs.get(self.run_id) if self.app is not None else None
        if self.drawn_at is None and run is not None and not run.is_active:
            self.drawn_at = end

    def painted_screen(self, start: float, end: float) -> None:
        if self.drawn_at is not None and start >= self.drawn_at and not self.painted.is_set():
            self.painted_at = end
            self.painted.set()


DONE = _Done()


def _note_paints() -> None:
    """Tell ``DONE`` of each redraw of the dashboard and each paint of a screen. Textual has no
    public event for a paint: the bench wraps its compositor's refresh (a private method; only
    this benchmark does so)."""
    from textual.screen import Screen

    from console.screens.dashboard import DashboardScreen

    paint, redraw = Screen._compositor_refresh, DashboardScreen.redraw

    def painting(self, *args):
        start = time.perf_counter()
        paint(self, *args)
        DONE.painted_screen(start, time.perf_counter())

    def redrawing(self, *args):
        redraw(self, *args)
        DONE.redrew(time.perf_counter())

    Screen._compositor_refresh = painting
    DashboardScreen.redraw = redrawing


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--scenario", default="benchmark,busy", help="comma-separated: benchmark, busy, raising")
    p.add_argument("--child", choices=["engine", "console", "probe"], help=argparse.SUPPRESS)
    p.add_argument("--in-process", action="store_true", help="the console runs the engine on its own loop")
    p.add_argument("--trees", help="comma-separated checkouts to compare in one batch, alternating (e.g. main's, .)")
    p.add_argument(
        "--no-probe",
        action="store_true",
        help="throughput only (no key-latency run): a third less time a round, so more rounds",
    )
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
                for kind in ("engine", "console") if args.no_probe else ("engine", "console", "probe"):
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
    # on a shared machine the best of N is the least disturbed run; the medians say how typical it is
    medians = {kind: statistics.median(r["seconds"] for r in runs[kind]) for kind in ("engine", "console")}
    print(
        f"  medians: engine {medians['engine']:.3f} s, console {medians['console']:.3f} s "
        f"({medians['engine'] / medians['console'] * 100:.0f} %)"
    )
    if len(runs["console"]) >= 8:  # the lower quartile: less luck in it than the best of many
        q25 = {kind: sorted(r["seconds"] for r in runs[kind])[len(runs[kind]) // 4] for kind in ("engine", "console")}
        print(
            f"  lower quartiles: engine {q25['engine']:.3f} s, console {q25['console']:.3f} s "
            f"({q25['engine'] / q25['console'] * 100:.1f} %)"
        )
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
