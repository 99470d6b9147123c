"""Issue 14 items 4, 9, 11, 15 and 16: what a trader reads is on the screen at 80x24 and 160x50,
every pane takes the focus and zooms, every way out asks while live, live shows signs of life,
and the 16-colour themes keep their colours apart and readable.

The screen is read back as the terminal would show it (``screen_text``); live time is a
SteppedClock, so nothing here depends on the wall clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import (
    LIVE_T0,
    Gate,
    SteppedClock,
    demo_app,
    finish_runs,
    fixed_clock,
    flush_bridge,
    live_app,
    live_tick,
    save_a_short_position,
    start_live,
    wait_until,
)
from screen_text import cell16_of, cells16, screen_lines, screen_text

import engine
from console.app import BtkApp
from console.project import load_project
from console.screens.dialogs import ConfirmScreen
from console.state import Part, RunView
from console.widgets.base import Pane, fit_columns, price
from console.widgets.panes import EquityPane, PositionsPane, ProgressPane, RunsPane, ScheduledPane

SIZES = [(80, 24), (160, 50)]


def pane_lines(app, pane_type) -> list[str]:
    """The lines of the screen inside ``pane_type``'s box, borders excluded."""
    pane = app.screen.query_one(pane_type)
    region = pane.region
    lines = screen_lines(app)[region.y + 1 : region.bottom - 1]
    return [line[region.x + 1 : region.right - 1] for line in lines]


def test_columns_go_by_priority() -> None:
    natural = {"symbol": 7, "strategy": 13, "pnl": 7, "age": 5}
    assert fit_columns(natural, None, 2).keys == ("symbol", "strategy", "pnl", "age")
    assert fit_columns(natural, 40, 2, drop=("strategy", "age")).keys == ("symbol", "strategy", "pnl", "age")
    assert fit_columns(natural, 30, 2, drop=("strategy", "age")).keys == ("symbol", "pnl", "age")
    assert fit_columns(natural, 20, 2, drop=("strategy", "age")).keys == ("symbol", "pnl")
    cut = fit_columns(natural, 34, 2, flex="strategy")  # 6 too many: the flex column gives them
    assert cut.keys == ("symbol", "strategy", "pnl", "age") and cut.widths == (7, 7, 7, 5)
    assert fit_columns(natural, 20, 2, flex="strategy").widths == (7, 4, 7, 5)  # never under 4


@pytest.mark.parametrize("size", SIZES)
async def test_after_a_backtest_states_clock_and_timeouts_are_shown(no_settings, size) -> None:
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        header = screen_lines(app)[0]
        assert header.rstrip().endswith("12:03:41"), header  # the wall clock
        assert "· done" in header
        runs = "\n".join(pane_lines(app, RunsPane))
        # the state column of every run: "done", or how many errors a run that ended met (the demo's
        # meanrev has a limit entry its risk profile refuses: issue 14 item 7)
        assert runs.count("done") + runs.count(" err") == 3, runs
        app.session.selected = "backtest:BTCUSDT:demo-meanrev"  # the Scheduled pane follows the run
        app.dashboard.show(Part.ALL)
        await pilot.pause()
        scheduled = "\n".join(pane_lines(app, ScheduledPane))
        assert "✗ timeout" in scheduled and "Time left" in scheduled, scheduled
        progress = "\n".join(pane_lines(app, ProgressPane))
        assert progress.count("43.2k/43.2k") == 3, progress  # not "43.2k/4"


async def test_a_long_error_is_cut_before_the_state_and_the_clock(no_settings) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.state.add_run(
            RunView(
                id="backtest:BTCUSDT:x",
                mode="backtest",
                symbol="BTCUSDT",
                name="a-rather-long-strategy-name",
                exchange="demo-synthetic",
                status="failed",
                error="ValueError: " + "a very long reason " * 8,
            )
        )
        app.session.selected = "backtest:BTCUSDT:x"
        app.dashboard.show(Part.ALL)
        await pilot.pause()
        header = screen_lines(app)[0]
        assert "failed: ValueError" in header and "…" in header, header
        assert header.rstrip().endswith("12:03:41"), header


def _live(app_kw=None):
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    return clock, live_app(Path("dump"), **(app_kw or {}))


@pytest.mark.parametrize("size", SIZES)
async def test_live_positions_keep_pnl_and_distances_and_show_ticks(tmp_path, monkeypatch, no_settings, size) -> None:
    monkeypatch.chdir(tmp_path)
    clock, app = _live()
    async with app.run_test(size=size) as pilot:
        await start_live(pilot, clock)
        await live_tick(pilot, clock, 2)
        positions = pane_lines(app, PositionsPane)
        header = positions[0]
        for label in ("Symbol", "PnL%", "to TP", "to SL"):
            assert label in header, positions
        row = positions[1]
        assert re.search(r"[+-]\d+\.\d\d%.*[+-]\d+\.\d\d%.*[+-]\d+\.\d\d%", row), positions  # PnL, to TP, to SL
        if size == (160, 50):  # room for everything: nothing dropped
            for label in ("Strategy", "Entry", "TP", "SL", "Age"):
                assert label in header, positions
        run = app.state.runs["live:BTCUSDT:probe"]
        assert run.last_tick == clock.now() and run.price
        progress = "\n".join(pane_lines(app, ProgressPane))
        assert "BTCUSDT probe" in progress
        assert price(run.price) in progress, progress  # the price now
        at = datetime.fromtimestamp(clock.now() / 1000, tz=UTC)
        nxt = datetime.fromtimestamp((clock.now() + engine.TICK_TTL) / 1000, tz=UTC)
        assert at.strftime("%H:%M") in progress and nxt.strftime("%H:%M") in progress, progress
        # an idle tick (nothing opened or closed) moves the last tick on
        before = run.last_tick
        await live_tick(pilot, clock, 1)
        assert run.last_tick > before


@pytest.mark.parametrize("size", SIZES)
async def test_tab_reaches_every_pane_and_z_zooms_it(no_settings, size) -> None:
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        app.session.selected = "backtest:BTCUSDT:demo-meanrev"  # the Scheduled pane follows the run: its timeouts
        app.dashboard.show(Part.ALL)
        await pilot.pause()
        reached = []
        for _ in range(12):
            focused = app.screen.focused
            pane = next((w for w in focused.ancestors_with_self if isinstance(w, Pane)), None) if focused else None
            if pane is not None and pane.id not in reached:
                reached.append(pane.id)
            await pilot.press("tab")
        for wanted in ("runs", "progress", "equity", "positions", "scheduled", "signals", "leaderboard"):
            assert wanted in reached, reached
        scheduled = app.screen.query_one(ScheduledPane)
        while app.screen.focused is None or app.screen.focused.parent is not scheduled:
            await pilot.press("tab")
        await pilot.press("z")
        assert app.screen.maximized is app.screen.query_one(ScheduledPane)
        text = screen_text(app)
        assert text.count("✗ timeout") >= 5 and "Strategy" in text  # every line and column
        await pilot.press("down", "pagedown", "end")  # the focused table scrolls (no error)
        await pilot.press("z")
        assert app.screen.maximized is None
        await pilot.press("shift+tab")
        assert app.screen.focused is not None


async def test_the_equity_pane_zooms_too(no_settings) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one(EquityPane).focus()
        await pilot.press("z")
        assert app.screen.maximized is app.screen.query_one(EquityPane)


def _a_live_run(app) -> None:
    app.state.add_run(
        RunView(
            id="live:BTCUSDT:demo-trend",
            mode="live",
            symbol="BTCUSDT",
            name="demo-trend",
            exchange="demo-synthetic",
            status="running",
        )
    )


@pytest.mark.parametrize("size", SIZES)
async def test_ctrl_q_and_the_palette_ask_while_live(no_settings, size) -> None:
    from test_app_flows import run_from_palette

    app = demo_app()
    async with app.run_test(size=size) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles == ["Screenshot"]  # not Textual's Quit, themes, Keys or Maximize
        _a_live_run(app)
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen), "ctrl+q left at once"
        await pilot.press("ctrl+q")  # asking twice does not stack a second question
        await pilot.press("n")
        assert app.is_running and not isinstance(app.screen, ConfirmScreen)
        await run_from_palette(pilot, "quit")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running
        await run_from_palette(pilot, "zoom")  # btk's own commands are in the palette
        await pilot.press("ctrl+q", "y")
        await pilot.pause()
    assert app.return_value == 0


async def test_ctrl_q_leaves_at_once_when_nothing_is_live(no_settings) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_value == 0


# --------------------------------------------------------------------------- walker start (item 15)


@pytest.mark.parametrize("size", SIZES)
async def test_progress_of_a_starting_walker_is_whole(no_settings, size) -> None:
    """Backtests done, then a walker starts: from its first frame on, every Progress line is
    whole (no name broken over lines, no "43.2k/4")."""
    gate = Gate()
    project = load_project(None)
    engine.add_strategy("held", "1m", gate.get_signal)
    engine.add_walker("held-walker", "demo-synthetic", "demo-30d", ["held", "demo-breakout"])
    project.walkers.append("held-walker")
    project.ui["last_walker"] = {"symbol": "BTCUSDT", "strategy": "held-walker"}
    app = BtkApp(project, clock=fixed_clock, save_settings=False)
    async with app.run_test(size=size) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        await pilot.press("w", "enter")
        await pilot.pause()
        first = pane_lines(app, ProgressPane)  # the first frame after the start
        await wait_until(pilot, lambda: gate.calls >= 1)
        await flush_bridge(pilot)
        later = pane_lines(app, ProgressPane)
        for lines in (first, later):
            body = [line.strip() for line in lines if line.strip()]
            names = body[0::2]
            assert all(n.startswith("BTCUSDT") for n in names), lines  # each run's name on one line
            assert "BTCUSDT held-walker" in names or "BTCUSDT held-wal…" in names, lines
            done = [line for line in body if " done " in line]
            assert done and all("43.2k/43.2k" in line for line in done), lines  # the frames whole
            assert names[0].startswith("BTCUSDT held-wal"), lines  # the running walker comes first
            walker = body[names.index(next(n for n in names if "held" in n)) * 2 + 1]
            assert re.search(r"\d+%", walker) and "/" in walker, lines  # percent and strategies, whole
        gate.open.set()
        await finish_runs(pilot)


# --------------------------------------------------------------------------- 16 colours (item 16)


def _run_on_screen(app, mode: str) -> None:
    app.state.add_run(
        RunView(
            id=f"{mode}:BTCUSDT:x",
            mode=mode,
            symbol="BTCUSDT",
            name="x",
            exchange="demo-synthetic",
            status="running" if mode == "live" else "done",
            progress=1.0 if mode != "live" else 0.0,
            processed=100,
            total=100,
            started=fixed_clock().timestamp(),
            finished=fixed_clock().timestamp(),
        )
    )


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("theme", ["btk-dark", "btk-light"])
async def test_16_colour_themes_keep_backtest_apart_from_live_and_progress_readable(no_settings, size, theme) -> None:
    app = demo_app(theme=theme)
    async with app.run_test(size=size) as pilot:
        _run_on_screen(app, "backtest")  # first: the Runs cursor is on it
        app.dashboard.show(Part.ALL)
        await pilot.pause()
        bar = cell16_of(app, "██████")  # read before a live run takes the Progress pane's first rows
        greys_and_whites = {0, 7, 8, 15}
        assert bar.fg not in greys_and_whites, f"the progress bar is grey, black or white: {bar}"
        _run_on_screen(app, "live")
        app.session.selected = "backtest:BTCUSDT:x"
        app.dashboard.show(Part.ALL)
        await pilot.pause()
        badge = cell16_of(app, "LIVE")
        mode = cell16_of(app, "BACKTEST")
        assert badge.bg != mode.fg, f"BACKTEST drawn in the LIVE badge's colour {badge}, {mode}"


@pytest.mark.parametrize("size", SIZES)
async def test_high_contrast_text_is_the_terminals_own_colour(no_settings, size) -> None:
    app = demo_app(theme="btk-high-contrast")
    async with app.run_test(size=size) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        invisible_on_white = [c for c in cells16(app) if c.text.strip() and c.fg in (7, 15) and c.bg in (None, 7, 15)]
        assert not invisible_on_white, invisible_on_white[:5]
        invisible_on_black = [c for c in cells16(app) if c.text.strip() and c.fg == 0 and c.bg in (None, 0)]
        assert not invisible_on_black, invisible_on_black[:5]


# --------------------------------------------------------------------------- saved state at start-up (item 11)


def test_read_saved_state_reads_without_touching(tmp_path) -> None:
    import asyncio

    data = tmp_path / "data"
    asyncio.run(save_a_short_position(data))
    (data / "signal" / "ETHUSDT_probe").mkdir(parents=True)
    broken = data / "signal" / "ETHUSDT_probe" / "ETHUSDT.json"
    broken.write_text("{not json")
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    saved = engine.read_saved_state(data)
    assert [(r.id, r.position, r.price_open) for r in saved.rows] == [("saved-before-the-crash", "short", 63_000.0)]
    assert [p for p, _ in saved.unreadable] == [broken] and "JSONDecodeError" in saved.unreadable[0][1]
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # nothing moved or added
    assert engine.read_saved_state(tmp_path / "nowhere").rows == []


@pytest.mark.parametrize("size", SIZES)
async def test_saved_positions_are_listed_before_a_live_run_and_not_doubled_after(
    tmp_path, monkeypatch, no_settings, size
) -> None:
    monkeypatch.chdir(tmp_path)
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    await save_a_short_position(Path("dump") / "data")
    app = live_app(Path("dump"))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        pane = app.screen.query_one(PositionsPane)
        assert "1 saved" in pane.border_title
        lines = pane_lines(app, PositionsPane)
        assert any("BTCUSDT" in line and "SHORT" in line for line in lines), lines
        assert len([k for k in pane.table.rows]) == 1
        await start_live(pilot, clock)
        await live_tick(pilot, clock)
        keys = [str(k.value) for k in pane.table.rows]
        assert keys == ["live:BTCUSDT:probe|saved-before-the-crash"], keys  # the run's own, once
        assert "saved" not in pane.border_title


# --------------------------------------------------------------------------- start dialog (item 8, dialog half)


@pytest.mark.parametrize("size", SIZES)
async def test_the_start_dialog_offers_only_symbols_the_exchange_has(tmp_path, no_settings, size) -> None:
    import shutil

    from textual.widgets import Select

    from console.screens.dialogs import StartDialog

    root = tmp_path / "project"
    shutil.copytree(Path(__file__).parent / "projects" / "working", root)
    toml = root / "btk.toml"
    toml.write_text(toml.read_text().replace('name = "fixture"', 'name = "fixture"\nsymbols = ["BTCUSDT", "ETHUSDT"]'))
    project = load_project(toml)
    project.ui["last_backtest"] = {"symbol": "ETHUSDT", "exchange": "local"}
    app = BtkApp(project, clock=fixed_clock, save_settings=False)
    async with app.run_test(size=size) as pilot:
        await pilot.press("f5")  # the fixture's backtest key
        await wait_until(pilot, lambda: isinstance(app.screen, StartDialog))
        dialog = app.screen
        symbol, exchange = dialog.query_one("#symbol", Select), dialog.query_one("#exchange", Select)

        def offered() -> list[str]:
            return [str(value) for _, value in symbol._options if value != Select.BLANK]

        assert exchange.value == "local"
        assert offered() == ["*", "BTCUSDT"]  # the CSV folder has BTCUSDT only
        assert symbol.value == "BTCUSDT"  # the remembered ETHUSDT is not offered: the first that is
        exchange.value = "sim"
        await pilot.pause()
        assert offered() == ["*", "BTCUSDT", "ETHUSDT"]  # a synthetic market trades any
        symbol.value = "ETHUSDT"
        exchange.value = "local"
        await pilot.pause()
        assert offered() == ["*", "BTCUSDT"] and symbol.value == "*"


async def test_a_zoomed_pane_keeps_the_header_on_top(no_settings) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        await pilot.press("z")  # the Runs table has the focus
        assert app.screen.maximized is app.screen.query_one(RunsPane)
        lines = screen_lines(app)
        assert lines[0].startswith(" btk · BACKTEST") and lines[0].rstrip().endswith("12:03:41"), lines[:2]
        assert "Runs" in lines[1] and lines[-1].startswith("b Backtest"), lines
