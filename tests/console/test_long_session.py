"""A long session costs nothing once its runs are over (issue 20, item 12).

- idle: what a bridge flush does while nothing runs must not grow with the runs that finished
  (each flush used to rebuild a progress cell per run, each cell regenerating the theme's colours);
- key repeats: Down pressed 200 times while the keys queue up moves the selection at once but
  redraws the run's panes once for the last selection, not once per key;
- memory: once its runs ended, the console holds none of their candle stores, so
  ``clear_candle_cache()`` gives the memory back.

No wall-clock assertion: the idle work is counted over a fixed number of flushes, called directly.
"""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import finish_runs, fixed_clock, sim_project, wait_until
from textual import events

import engine
from console.app import BtkApp
from console.project import Project
from console.widgets import panes
from console.widgets.panes import ProgressPane, RunsPane, SignalsPane
from engine import active_engine as e_active
from engine.testing import reset_engine

START = datetime(2024, 1, 1, tzinfo=UTC)


def _strategy(k: int):
    def get_signal(symbol, when, price):
        return {
            "position": "long" if k % 2 else "short",
            "price_take_profit": price * (1.01 if k % 2 else 0.99),
            "price_stop_loss": price * (0.992 if k % 2 else 1.008),
            "minute_estimated_time": 120,
        }

    return get_signal


def many_runs_project(root: Path, symbols: int, strategies: int) -> Project:
    """``symbols`` x ``strategies`` one-day backtests on the synthetic feed."""
    engine.add_synthetic_exchange("sim", seed=5)
    engine.add_frame("day", "1m", START, START + timedelta(days=1))
    names = [f"s{k}" for k in range(strategies)]
    for k, name in enumerate(names):
        engine.add_strategy(name, "15m", _strategy(k))
    return sim_project(root, "many", names, "day", [f"S{i}USDT" for i in range(symbols)])


async def _run_all(pilot) -> None:
    app = pilot.app
    for symbol in app.project.symbols:
        for strategy in app.project.strategies:
            assert app.start_backtest(symbol, strategy, "sim", "day")
    await finish_runs(pilot)


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def wrap(self, fn):
        def counted(*args, **kw):
            self.n += 1
            return fn(*args, **kw)

        return counted


def _timers(app) -> int:
    """Timers that are alive on the app and on every node of its screens."""
    nodes = [app, *app.screen_stack]
    for screen in app.screen_stack:
        nodes.extend(screen.walk_children(with_self=False))
    return sum(1 for node in nodes for t in list(node._timers) if t._task is not None and not t._task.done())


async def _idle_work(tmp_path: Path, symbols: int, strategies: int, monkeypatch) -> tuple[int, int, int, int]:
    """(progress cells built, theme colour systems generated, redraws) over 20 idle flushes, and
    live timers, after ``symbols`` x ``strategies`` finished runs."""
    app = BtkApp(many_runs_project(tmp_path, symbols, strategies), clock=fixed_clock, save_settings=False)
    cells, palettes, redraws = Counter(), Counter(), Counter()
    monkeypatch.setattr(ProgressPane, "_cell", cells.wrap(ProgressPane._cell))
    monkeypatch.setattr(BtkApp, "get_css_variables", palettes.wrap(BtkApp.get_css_variables))
    monkeypatch.setattr(panes.TablePane, "sync", redraws.wrap(panes.TablePane.sync))
    async with app.run_test(size=(120, 40)) as pilot:
        await _run_all(pilot)
        assert len(app.state.runs) == symbols * strategies
        assert all(r.status == "done" for r in app.state.runs.values())
        cells.n = palettes.n = redraws.n = 0
        for _ in range(20):  # what the bridge's flushes do, without waiting for them
            app.dashboard.fold([])
        timers = _timers(app)
    return cells.n, palettes.n, redraws.n, timers


async def test_idle_flushes_cost_the_same_after_many_runs(tmp_path, no_settings, monkeypatch) -> None:
    few = await _idle_work(tmp_path / "few", 1, 1, monkeypatch)
    reset_engine()
    many = await _idle_work(tmp_path / "many", 6, 5, monkeypatch)
    print(f"\nidle work over 20 flushes (cells, palettes, table syncs, timers): 1 run {few}, 30 runs {many}")
    assert many == few
    assert many[:3] == (0, 0, 0)  # nothing but the header's clock is looked at while idle


async def test_queued_arrow_keys_redraw_the_panes_once(tmp_path, no_settings, monkeypatch) -> None:
    """200 Down presses arrive faster than the panes can be redrawn (as when a slow redraw let
    them queue up): the Runs cursor takes every one, the run's panes are redrawn a few times at
    most, and what they finally show is the last run."""
    app = BtkApp(many_runs_project(tmp_path, 6, 5), clock=fixed_clock, save_settings=False)
    rebuilds = Counter()
    monkeypatch.setattr(SignalsPane, "refresh_from", rebuilds.wrap(SignalsPane.refresh_from))
    async with app.run_test(size=(120, 40)) as pilot:
        await _run_all(pilot)
        table = app.screen.query_one("#runs-table")
        assert table.has_focus and table.cursor_row == 0
        await pilot.pause()
        rebuilds.n = 0
        for _ in range(200):  # queued together, as a terminal delivers held-down repeats
            key = events.Key("down", None)
            key.set_sender(app)
            app._driver.send_message(key)
        last = list(app.state.runs)[-1]
        await wait_until(pilot, lambda: table.cursor_row == len(app.state.runs) - 1, limit=120)
        # settled: the last selection reached the dashboard (its messages may still be queued
        # when the cursor is already there) and its timer has fired
        settled = lambda: app.session.selected == last and app.dashboard._selection_timer is None  # noqa: E731
        await wait_until(pilot, settled, limit=120)
        await pilot.pause()
        print(f"\n200 queued Down presses over {len(app.state.runs)} runs: {rebuilds.n} redraws of the run's panes")
        assert app.session.selected == last == app.screen.query_one(RunsPane).selected
        run = app.state.runs[last]
        assert app.screen.query_one(SignalsPane).border_title == f"Signals · {run.symbol} {run.name}"
        assert 1 <= rebuilds.n <= 10, f"{rebuilds.n} redraws of the run's panes for one burst of keys"


async def test_finished_runs_release_their_candles(tmp_path, no_settings) -> None:
    app = BtkApp(many_runs_project(tmp_path, 3, 2), clock=fixed_clock, save_settings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await _run_all(pilot)
        stores = [st for client in e_active().candle_clients.clients.values() for st in client._stores.values()]
        refs = [weakref.ref(x) for st in stores for x in (st, st.open, st.close)]
        assert len(stores) == 3  # one 1m store per symbol
        del stores
        engine.clear_candle_cache()
        gc.collect()
        alive = sum(r() is not None for r in refs)
        assert alive == 0, f"{alive} candle stores or columns outlived clear_candle_cache()"
        assert not app.session.handles  # nor does it keep polling finished runs
        trades = sum(r.trades for r in app.state.runs.values())
        assert trades > 0  # what the runs did stays on screen
        assert trades == sum(
            engine.Backtest.get_data(s, n).total_signals for s in app.project.symbols for n in ("s0", "s1")
        )


async def test_the_console_freezes_its_start_up_heap_once_its_screen_is_up(tmp_path: Path) -> None:
    """A pass of the collector over everything the console loaded took 102-121 ms during the
    engine benchmark's run (a key waited behind it): once the first screen is up, what start-up
    made is frozen (``engine.settle_heap``). And a run's events, which the report stores keep,
    are walked by the collector every ``YOUNG_GENERATION`` allocations, not every 700 (35-54 ms of
    the console's time on the engine benchmark's run, 6-12 ms after)."""
    from console.app import YOUNG_GENERATION

    project = many_runs_project(tmp_path, 1, 1)
    gc.unfreeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(700, *thresholds[1:])
    try:
        app = BtkApp(project, clock=fixed_clock, save_settings=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: gc.get_freeze_count() > 0, limit=60)
            assert app.dashboard is not None and app.dashboard.is_mounted
            assert gc.get_threshold() == (YOUNG_GENERATION, *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
