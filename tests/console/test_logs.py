"""Errors surfaced in the console (issue 14 item 7), the log viewer and reload ("What to add").

A project written into the test's folder: a strategy that raises on every 15th of the month,
over a frame of five days, so a backtest meets 24 errors and still runs to its end. Each flow
runs at 80x24 and at 160x50."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import (
    LIVE_T0,
    Gate,
    SteppedClock,
    demo_app,
    finish_runs,
    fixed_clock,
    live_tick,
    start_live,
    wait_until,
)
from screen_text import screen_text

import engine
from console.app import BtkApp
from console.project import load_project
from console.screens.dialogs import StartDialog
from console.screens.logs import LogScreen, ReloadErrorScreen
from console.widgets.base import theme_style
from console.widgets.panes import ProgressPane, RunsPane
from console.widgets.scroll_body import ScrollBody

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]

BTK_TOML = """
[project]
name = "raising"
modules = ["strategies/raiser.py"]

[exchanges.sim]
kind = "synthetic"
seed = 3

[frames.mid]
interval = "1h"
start = 2024-01-13T00:00:00Z
end = 2024-01-17T23:00:00Z
"""

RAISER = '''
"""Raises on the 15th of the month: a bug of the kind a trader has to find."""

import engine


async def get_signal(symbol, when, price):
    if when.day == 15:
        raise ValueError(f"bad day {when:%Y-%m-%d %H:%M}")
    return None


engine.add_strategy("raiser", "1h", get_signal)
'''


@pytest.fixture
def raising_project(tmp_path: Path, no_settings) -> Path:
    root = tmp_path / "raising"
    (root / "strategies").mkdir(parents=True)
    (root / "btk.toml").write_text(BTK_TOML, encoding="utf-8")
    (root / "strategies" / "raiser.py").write_text(RAISER, encoding="utf-8")
    return root


def raising_app(root: Path) -> BtkApp:
    return BtkApp(load_project(root / "btk.toml"), clock=fixed_clock, save_settings=False)


async def run_raiser(pilot) -> None:
    await pilot.press("b")
    assert isinstance(pilot.app.screen, StartDialog)
    await pilot.press("enter")
    await finish_runs(pilot)


def notes(app: BtkApp) -> list[tuple[str, str, str]]:
    return [(n.title, n.message, n.severity) for n in app._notifications]


@pytest.mark.parametrize("size", SIZES)
async def test_a_run_with_errors_ends_in_its_own_state_and_a_toast_names_the_first(raising_project, size) -> None:
    app = raising_app(raising_project)
    async with app.run_test(size=size) as pilot:
        await run_raiser(pilot)
        (run,) = app.state.runs.values()
        assert run.status == "done" and run.errors == 24  # one a hour on the 15th
        runs = app.screen.query_one(RunsPane)
        state = runs.table.get_row_at(0)[-1]
        assert state.plain == "24 err"  # not a green "done"
        assert state.style == theme_style(runs, "warning", bold=True)
        shown = screen_text(app)
        assert "24 err" in shown
        header = screen_text(app).splitlines()[0]
        assert "done · 24 errors" in header
        progress = app.screen.query_one(ProgressPane).table.get_cell(run.id, "run").plain
        # the words where the pane has room, else the short form that keeps the frame count
        assert ("done · 24 errors" if size[0] >= 160 else " 24 err ") in progress and "120/120" in progress
        if size[0] >= 160:
            assert "done · 24 errors" in shown.split("\n", 1)[1]  # the Progress pane has room for it
        ended = [n for n in notes(app) if "done with 24 errors" in n[0]]
        assert len(ended) == 1, notes(app)
        _title, message, severity = ended[0]
        assert severity == "warning"
        assert "ValueError: bad day 2024-01-15 00:00" in message
        assert "raiser.py:9 in get_signal" in message  # file and line of the raise


@pytest.mark.parametrize("size", SIZES)
async def test_the_log_viewer_lists_every_error_with_its_traceback_and_filters(raising_project, size) -> None:
    app = raising_app(raising_project)
    async with app.run_test(size=size) as pilot:
        await run_raiser(pilot)
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, LogScreen)
        assert len(screen.shown) == 24 and all(e.kind == "ERROR" for e in screen.shown)
        first = screen.shown[0]
        assert first.text.startswith("ValueError: bad day 2024-01-15 00:00")
        assert first.where.endswith("raiser.py:9")
        assert 'raise ValueError(f"bad day' in first.detail and "Traceback" in first.detail
        assert "24 errors" in screen_text(app).splitlines()[0]
        # typing filters: the keys go to the filter, not to the dashboard's commands
        await pilot.press(*"01-15 05:00")
        await pilot.pause()
        assert len(screen.shown) == 1 and "bad day 2024-01-15 05:00" in screen.shown[0].text
        assert "1 match" in screen_text(app).splitlines()[0]
        assert "bad day 2024-01-15 05:00" in screen_text(app)
        await pilot.press("backspace", "backspace", "backspace", "backspace", "backspace")
        await pilot.press(*"zzz")
        await pilot.pause()
        assert screen.shown == [] and "Nothing matches the filter." in screen_text(app)
        for _ in range(3):
            await pilot.press("backspace")
        # clear the filter; Enter moves to the log, which scrolls from the keyboard
        for _ in range(len("01-15 ")):
            await pilot.press("backspace")
        await pilot.pause()
        assert len(screen.shown) == 24
        await pilot.press("enter")
        body = screen.query_one(ScrollBody)
        assert app.focused is body
        await pilot.pause()
        assert body.max_scroll_y > 0  # 24 tracebacks do not fit either size
        await pilot.press("end")
        assert body.scroll_y == body.max_scroll_y
        await pilot.press("home")
        assert body.scroll_y == 0
        await pilot.press("pagedown")
        assert body.scroll_y > 0
        await pilot.press("escape")
        assert app.screen is app.dashboard


@pytest.mark.parametrize("size", SIZES)
async def test_the_log_key_is_in_the_registry_help_and_palette_and_remappable(raising_project, size) -> None:
    toml = raising_project / "btk.toml"
    toml.write_text(toml.read_text() + '\n[keys]\nlogs = "f6"\nreload = "f7"\n', encoding="utf-8")
    app = raising_app(raising_project)
    async with app.run_test(size=size) as pilot:
        await pilot.press("e")
        assert app.screen is app.dashboard  # moved away from e by [keys]
        await pilot.press("f6")
        assert isinstance(app.screen, LogScreen)
        await pilot.press("escape")
        await pilot.press("question_mark")
        table = app.screen.query_one("#help-table")
        rows = {str(table.get_row_at(r)[0]): table.get_row_at(r) for r in range(table.row_count)}
        assert str(rows["logs"][1]) == "f6" and "traceback" in str(rows["logs"][2])
        assert str(rows["reload"][1]) == "f7" and "btk.toml" in str(rows["reload"][2])
        await pilot.press("escape")
        await run_from_palette(pilot, "log")
        await wait_until(pilot, lambda: isinstance(app.screen, LogScreen))


async def run_from_palette(pilot, query: str) -> None:
    """ctrl+p, type ``query``, Enter on the first command found."""
    from textual.command import CommandList

    app = pilot.app
    await pilot.press("ctrl+p")
    await pilot.press(*query)
    await wait_until(pilot, lambda: app.screen.query(CommandList) and app.screen.query_one(CommandList).option_count)
    await pilot.press("enter")


def strategy_names() -> list[str]:
    return [s.strategy_name for s in engine.list_strategies()]


@pytest.mark.parametrize("size", SIZES)
async def test_ctrl_r_reloads_an_edited_project_while_a_run_goes_on(raising_project, size) -> None:
    app = raising_app(raising_project)
    gate = Gate()  # a strategy registered outside btk.toml: a reload drops it, but its run holds it
    engine.add_strategy("held", "1h", gate.get_signal)
    async with app.run_test(size=size) as pilot:
        assert app.start_backtest("BTCUSDT", "held", "sim", "mid")
        await wait_until(pilot, lambda: gate.calls > 0)
        # the edit: the strategy renamed and fixed, the project renamed
        (raising_project / "strategies" / "raiser.py").write_text(
            RAISER.replace("raise ValueError", "return None  #").replace('"raiser"', '"calm"'), encoding="utf-8"
        )
        toml = raising_project / "btk.toml"
        toml.write_text(toml.read_text().replace('name = "raising"', 'name = "edited"'), encoding="utf-8")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.project.name == "edited" and app.project.strategies == ["calm"]
        (reloaded,) = [n for n in notes(app) if n[0].startswith("Reloaded")]
        assert "Kept for runs still going: strategy held" in reloaded[1]
        assert strategy_names() == ["calm", "held"]
        held = app.state.runs["backtest:BTCUSDT:held"]
        assert held.is_active
        assert app.dashboard.project_name == "edited"  # the header's name with no run selected
        gate.open.set()  # the run in progress goes on to its end with what it started with
        await finish_runs(pilot)
        assert held.status == "done" and held.processed == held.total == 120
        # a new run takes the edited strategy
        await pilot.press("b")
        assert isinstance(app.screen, StartDialog)
        await pilot.press("enter")
        await finish_runs(pilot)
        calm = app.state.runs["backtest:BTCUSDT:calm"]
        assert calm.status == "done" and calm.errors == 0


@pytest.mark.parametrize("size", SIZES)
async def test_a_broken_edit_shows_the_error_screen_and_keeps_the_old_project_whole(raising_project, size) -> None:
    app = raising_app(raising_project)
    async with app.run_test(size=size) as pilot:
        before = engine.registrations()
        # a second strategy file that registers, then one that fails: half a project on a naive load
        (raising_project / "strategies" / "good.py").write_text(RAISER.replace('"raiser"', '"good"'), encoding="utf-8")
        (raising_project / "strategies" / "broken.py").write_text("import engine\n\ndef oops(:\n", encoding="utf-8")
        toml = raising_project / "btk.toml"
        toml.write_text(
            toml.read_text().replace(
                'modules = ["strategies/raiser.py"]',
                'modules = ["strategies/raiser.py", "strategies/good.py", "strategies/broken.py"]',
            ),
            encoding="utf-8",
        )
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, ReloadErrorScreen)
        shown = screen_text(app)
        assert "broken.py line 3: syntax error" in shown
        assert engine.registrations() == before  # nothing of the broken edit stays registered
        assert strategy_names() == ["raiser"] and app.project.name == "raising"
        await pilot.press("escape")
        assert app.screen is app.dashboard  # still usable, on the old project
        await run_raiser(pilot)
        (run,) = app.state.runs.values()
        assert run.name == "raiser" and run.status == "done"
        # fixed: ctrl+r again loads it
        (raising_project / "strategies" / "broken.py").write_text("import engine\n", encoding="utf-8")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.screen is app.dashboard and app.project.strategies == ["raiser", "good"]


def boomer_app(dump_dir: Path) -> BtkApp:
    """The demo project plus ``boomer``: a one-minute long at its first call (so it is asked
    again once that closes), then it raises at every third call."""
    project = load_project(None)
    calls = {"n": 0}

    def boomer(symbol, when, price):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise RuntimeError(f"boom at call {calls['n']}")
        if calls["n"] == 1:
            return {
                "position": "long",
                "price_take_profit": round(price * 1.02, 2),
                "price_stop_loss": round(price * 0.98, 2),
                "minute_estimated_time": 1,
            }
        return None

    engine.add_strategy("boomer", "1m", boomer)
    project.strategies.append("boomer")
    project.ui["last_live"] = {"symbol": "BTCUSDT", "strategy": "boomer", "exchange": project.default_exchange}
    return BtkApp(project, dump_dir=dump_dir, clock=fixed_clock, save_settings=False)


@pytest.mark.parametrize("size", SIZES)
async def test_a_console_live_session_writes_the_live_log_and_the_viewer_shows_ticks(tmp_path, no_settings, size):
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    dump = tmp_path / "dump"
    app = boomer_app(dump)
    async with app.run_test(size=size) as pilot:
        log_file = dump / "logs" / "live.log"
        await pilot.press("l")
        assert f"Log: {log_file}." in str(app.screen.query_one("#dialog-note").render())  # where it goes
        await pilot.press("escape")
        await start_live(pilot, clock)
        await live_tick(pilot, clock, 8)  # calls 3 and 6 raise
        await wait_until(pilot, lambda: any(n[0].endswith("its strategy raised") for n in notes(app)), limit=15)
        (first,) = [n for n in notes(app) if n[0].endswith("its strategy raised")]
        assert "RuntimeError: boom at call 3" in first[1] and "test_logs.py:" in first[1]
        engine.Live.stop("BTCUSDT", "boomer")
        clock.step()
        await finish_runs(pilot)
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, LogScreen)
        kinds = [e.kind for e in screen.shown]
        assert kinds.count("ERROR") == 2 and kinds.count("TICK") >= 5
        assert f"live log: {log_file}" in screen_text(app).replace("\n", "") or size[0] < 160
        await pilot.press(*"tick")
        await pilot.pause()
        assert {e.kind for e in screen.shown} == {"TICK"}
    text = log_file.read_text(encoding="utf-8")
    assert "live on demo-synthetic from the console at 2024-03-01 12:00:00 UTC: BTCUSDT boomer" in text
    assert "BTCUSDT boomer LONG OPENED at" in text  # headless live's own line (console/headless_live.py)
    assert text.count("ERROR RuntimeError: boom at call") == 2 and "Traceback (most recent call last)" in text
    assert "test_logs.py:" in text  # the strategy's file and line, before its traceback
    assert "INFO BTCUSDT boomer done" in text  # its end


@pytest.mark.parametrize("size", SIZES)
async def test_ctrl_r_on_the_demo_says_there_is_nothing_to_reload(no_settings, size) -> None:
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        before = engine.registrations()
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.screen is app.dashboard and engine.registrations() == before
        assert any("no btk.toml to reload" in n[1] for n in notes(app))


@pytest.mark.parametrize("size", SIZES)
async def test_the_log_viewer_shows_warnings_of_one_shape_as_one_entry_and_how_many(no_settings, size) -> None:
    """The demo's walker gave the viewer thousands of ``50 of 51 candles`` warnings in a row and
    nothing else: they read as one entry, with how many more came and the last of them."""
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        book = app.state.logbook
        for minute in range(0, 60, 5):
            book.note("WARNING", f"get_candles BTCUSDT 5m: 50 of 51 candles before 2024-01-25T06:{minute:02d}:00Z")
        book.note("WARNING", "feed sim: a gap of 3 candles before 2024-01-25T07:00:00Z")
        await pilot.press("e")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LogScreen)
        assert [e.repeats for e in screen.shown] == [12, 1]
        text = screen_text(app)
        assert "13 warnings" in text.splitlines()[0]
        assert "and 11 more like it; the last: get_candles BTCUSDT 5m: 50 of 51 candles" in " ".join(text.split())
