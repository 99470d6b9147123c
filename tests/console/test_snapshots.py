"""Screens of btk-console as SVG snapshots (pytest-textual-snapshot).

Deterministic by construction: the demo's candles are a pure function of time, signal ids are
seeded by the run, the wall clock is frozen, elapsed times come from that clock, dumps go to a
relative folder and report files get fixed modification times. Update after an intended change
with ``pytest tests/console/test_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import os
from pathlib import Path

from conftest import (
    LIVE_T0,
    Gate,
    SteppedClock,
    demo_app,
    finish_runs,
    fixed_clock,
    flush_bridge,
    gated_project,
    live_app,
    live_tick,
    save_a_short_position,
    start_live,
    wait_until,
)

from console.app import BtkApp
from console.project import ProjectError, load_project


async def _backtest_all(pilot) -> None:
    await pilot.press("b", "enter")
    await finish_runs(pilot)


def test_dashboard_on_start(snap_compare, no_settings) -> None:
    assert snap_compare(demo_app(), terminal_size=(120, 40))


def test_dashboard_after_the_demo_backtest(snap_compare, no_settings) -> None:
    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=_backtest_all)


def test_dashboard_at_80x24(snap_compare, no_settings) -> None:
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=_backtest_all)


def test_dashboard_at_160x50(snap_compare, no_settings) -> None:
    assert snap_compare(demo_app(), terminal_size=(160, 50), run_before=_backtest_all)


def test_start_dialog(snap_compare, no_settings) -> None:
    assert snap_compare(demo_app(), press=["b"], terminal_size=(120, 40))


def test_help_screen(snap_compare, no_settings) -> None:
    assert snap_compare(demo_app(), press=["question_mark"], terminal_size=(120, 40))


def test_reports_browser_with_a_report_open(snap_compare, no_settings) -> None:
    async def run_before(pilot) -> None:
        await _backtest_all(pilot)
        await pilot.press("d")
        await pilot.pause()
        # fixed times, a stable order: the backtest reports (sorted first) come out newest
        for n, path in enumerate(sorted(Path("dump").rglob("*.md"), reverse=True)):
            os.utime(path, (1_700_000_000 + n * 60, 1_700_000_000 + n * 60))
        pilot.app.clear_notifications()
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(demo_app(dump_dir=Path("dump")), terminal_size=(120, 40), run_before=run_before)


def test_stop_confirmation(snap_compare, tmp_path) -> None:
    gate = Gate()
    app = BtkApp(gated_project(tmp_path, gate), clock=fixed_clock, save_settings=False)

    async def run_before(pilot) -> None:
        await pilot.press("b", "enter")
        await wait_until(pilot, lambda: gate.calls >= 1)
        pilot.app.dashboard.fold([])
        await pilot.press("s")

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_error_screen_for_a_broken_btk_toml(snap_compare, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("btk.toml").write_text('[project]\nname = "broken"\n\n[frames.jan]\ninterval = "1m"\nstart = "2024-13-01"\n')
    try:
        load_project("btk.toml")
    except ProjectError as exc:
        message = str(exc)
    else:  # pragma: no cover - the file is broken on purpose
        raise AssertionError("the broken btk.toml loaded")
    app = BtkApp(None, project_error=message, clock=fixed_clock, save_settings=False)
    assert snap_compare(app, terminal_size=(100, 24))


# --------------------------------------------------------------------------- walker, risk, partial, heatmap


def _held_walker_app() -> BtkApp:
    """The demo plus a walker whose third strategy waits on a gate: the leaderboard mid-run."""
    import engine

    gate = Gate()
    project = load_project(None)
    engine.add_strategy("held", "1m", gate.get_signal)
    engine.add_walker("held-walker", "demo-synthetic", "demo-30d", ["demo-breakout", "demo-meanrev", "held"])
    project.walkers.append("held-walker")
    project.ui["last_walker"] = {"symbol": "BTCUSDT", "strategy": "held-walker"}
    app = BtkApp(project, clock=fixed_clock, save_settings=False)
    app.gate = gate  # type: ignore[attr-defined]
    return app


def test_walker_leaderboard_mid_run(snap_compare, no_settings) -> None:
    app = _held_walker_app()

    async def run_before(pilot) -> None:
        await pilot.press("w", "enter")
        await wait_until(pilot, lambda: app.gate.calls >= 1)
        await flush_bridge(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_walker_leaderboard_finished(snap_compare, no_settings) -> None:
    async def run_before(pilot) -> None:
        await pilot.press("w", "enter")
        await finish_runs(pilot)

    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=run_before)


def _after_backtest_of(strategy: str, symbol: str, keys: list[str]):
    async def run_before(pilot) -> None:
        pilot.app.project.ui["last_backtest"] = {"symbol": symbol, "strategy": strategy}
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        await pilot.press(*keys)
        await pilot.pause()

    return run_before


def test_risk_pane_with_rejections(snap_compare, no_settings) -> None:
    run_before = _after_backtest_of("demo-breakout", "BTCUSDT", ["right_square_bracket"])
    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=run_before)


def test_partial_pane_with_milestones(snap_compare, no_settings) -> None:
    run_before = _after_backtest_of("demo-trend", "BTCUSDT", ["right_square_bracket", "right_square_bracket"])
    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=run_before)


def test_heatmap_of_a_strategy_on_every_symbol(snap_compare, no_settings) -> None:
    run_before = _after_backtest_of("demo-trend", "*", ["left_square_bracket"])
    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=run_before)


# --------------------------------------------------------------------------- live


def _live(before=None):
    """A live run of the probe on a SteppedClock: first tick shown, then ``before(pilot)``."""
    import engine

    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)

    async def run_before(pilot) -> None:
        await start_live(pilot, clock)
        if before is not None:
            await before(pilot, clock)

    return run_before


def test_live_dashboard_with_an_open_position(snap_compare, no_settings) -> None:
    async def later(pilot, clock) -> None:
        await live_tick(pilot, clock, 3)

    assert snap_compare(live_app(Path("dump")), terminal_size=(120, 40), run_before=_live(later))


def test_live_restored_positions_notice(snap_compare, no_settings) -> None:
    run_before = _live()

    async def restore_then_start(pilot) -> None:
        await save_a_short_position(Path("dump") / "data")
        await run_before(pilot)

    assert snap_compare(live_app(Path("dump")), terminal_size=(120, 40), run_before=restore_then_start)


def test_live_stop_confirmation(snap_compare, no_settings) -> None:
    async def ask(pilot, clock) -> None:
        await pilot.press("s")

    assert snap_compare(live_app(Path("dump")), terminal_size=(120, 40), run_before=_live(ask))


def test_live_dashboard_at_80x24(snap_compare, no_settings) -> None:
    """Issue 14 items 4 and 11: at 80x24 an open live position keeps PnL %, to TP and to SL, and
    the Progress pane shows the symbol's price and its last and next tick."""

    async def later(pilot, clock) -> None:
        await live_tick(pilot, clock, 3)

    assert snap_compare(live_app(Path("dump")), terminal_size=(80, 24), run_before=_live(later))


def test_live_account_pane_at_80x24(snap_compare, no_settings) -> None:
    async def later(pilot, clock) -> None:
        await live_tick(pilot, clock, 2)

    assert snap_compare(live_app(Path("dump")), terminal_size=(80, 24), run_before=_live(later))


def test_live_account_pane_at_160x50(snap_compare, no_settings) -> None:
    async def later(pilot, clock) -> None:
        await live_tick(pilot, clock, 2)

    assert snap_compare(live_app(Path("dump")), terminal_size=(160, 50), run_before=_live(later))


def test_close_preview_at_80x24(snap_compare, no_settings) -> None:
    async def ask(pilot, clock) -> None:
        await live_tick(pilot, clock, 2)
        await pilot.press("c")
        await pilot.pause()

    assert snap_compare(live_app(Path("dump")), terminal_size=(80, 24), run_before=_live(ask))


# --------------------------------------------------------------------------- trade inspector


async def _inspect_a_trade(pilot) -> None:
    """The demo backtest, the trade inspector (i), the third trade shown (Enter) and charted."""
    await _backtest_all(pilot)
    await pilot.press("i")
    await pilot.pause()
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.charted is not None and screen.charted == screen.window)
    await pilot.press("down", "down", "enter")
    await wait_until(pilot, lambda: screen.selected is not None and screen.charted == screen.window)
    await pilot.pause()


def test_trade_inspector_at_80x24(snap_compare, no_settings) -> None:
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=_inspect_a_trade)


def test_trade_inspector_at_160x50(snap_compare, no_settings) -> None:
    assert snap_compare(demo_app(), terminal_size=(160, 50), run_before=_inspect_a_trade)


async def _candles_of_a_picked_trade(pilot) -> None:
    """The demo's backtests, ``v`` (the candles), the Signals log's second newest line picked."""
    from console.widgets.charts import CandleChart
    from console.widgets.panes import EquityPane, SignalsPane

    await _backtest_all(pilot)
    app = pilot.app
    pane = app.dashboard.query_one(EquityPane)
    await pilot.press("v")
    await wait_until(pilot, lambda: pane.reads == 1 and not app.workers._workers)
    signals = app.dashboard.query_one(SignalsPane)
    signals.table.focus()
    await pilot.press("up")
    await pilot.pause()
    wanted = signals._lines[signals.table.cursor_row].signal_id
    chart = pane.query_one(CandleChart)
    await wait_until(pilot, lambda: chart.selected is not None and chart.selected.signal_id == wanted)
    await wait_until(pilot, lambda: not app.workers._workers)
    await pilot.pause()


def test_dashboard_candles_at_80x24(snap_compare, no_settings) -> None:
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=_candles_of_a_picked_trade)


def test_dashboard_candles_at_160x50(snap_compare, no_settings) -> None:
    assert snap_compare(demo_app(), terminal_size=(160, 50), run_before=_candles_of_a_picked_trade)
