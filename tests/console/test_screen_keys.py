"""The dashboard's keys act only on the dashboard (issue 14 item 13, extended to every screen).

On the log viewer with its body focused, ``b``, ``d``, ``s``... would otherwise start a backtest,
write reports or stop a run out of sight. Each screen that opens over the dashboard is visited at
80x24 and at 160x50; every dashboard-only command's key is pressed on it (except a key the screen
binds for itself, such as ``o`` sorting the trade inspector), and nothing may happen: the same
screen stays, no run starts, no toast, no report is written, no pane is zoomed, no tab moves."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import demo_app, finish_runs
from textual.widgets import Input, TabbedContent

from console.app import DASHBOARD_ONLY, BtkApp
from console.commands import COMMANDS
from console.screens.dialogs import ConfirmScreen, HelpScreen, StartDialog
from console.screens.history import HistoryScreen
from console.screens.logs import LogScreen
from console.screens.reports import ReportsScreen, ReportViewer
from console.screens.trades import TradesScreen
from console.widgets.scroll_body import ScrollBody

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]


def dashboard_keys(app: BtkApp) -> list[str]:
    """The keys (as bound now) of the commands that act on the dashboard only."""
    ids = {c.id for c in COMMANDS if c.action.split("(")[0] in DASHBOARD_ONLY}
    return [key.split(",")[0] for cid, key in app.keys.items() if cid in ids]


def own_keys(app: BtkApp) -> set[str]:
    """Keys the screen or its focused widget binds for itself: they do the screen's own thing."""
    keys: set[str] = set()
    for node in (app.screen, *(app.focused.ancestors_with_self if app.focused else ())):
        if node is app:
            continue
        for binding in getattr(node, "BINDINGS", ()):
            key = binding.key if hasattr(binding, "key") else binding[0]
            keys.update(k.strip() for k in key.split(","))
    return keys


def written(dump: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in dump.rglob("*.md")}


async def press_every_dashboard_key(pilot, app: BtkApp, dump: Path) -> list[str]:
    """Press them on the current screen; returns the keys pressed (each checked to do nothing)."""
    screen, stack = app.screen, len(app.screen_stack)
    runs, tabs = len(app.state.runs), app.dashboard.query_one(TabbedContent).active
    app.clear_notifications()
    reports = written(dump)
    pressed = [k for k in dashboard_keys(app) if k not in own_keys(app)]
    for key in pressed:
        await pilot.press(key)
        await pilot.pause()
        where = f"{key!r} on {type(screen).__name__} (focus {type(app.focused).__name__})"
        assert app.screen is screen and len(app.screen_stack) == stack, f"{where} opened {app.screen}"
        assert len(app.state.runs) == runs, f"{where} started a run"
        assert not app._notifications, f"{where}: {[n.message for n in app._notifications]}"
        assert written(dump) == reports, f"{where} wrote reports"
        assert app.dashboard.maximized is None, f"{where} zoomed a pane"
        assert app.dashboard.query_one(TabbedContent).active == tabs, f"{where} switched the tab"
    return pressed


@pytest.mark.parametrize("size", SIZES)
async def test_no_dashboard_key_acts_on_any_screen_over_it(tmp_path, no_settings, size) -> None:
    dump = tmp_path / "dump"
    app = demo_app(dump_dir=dump)
    app.project.ui["last_backtest"] = {"symbol": "BTCUSDT", "strategy": "demo-meanrev"}
    async with app.run_test(size=size) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        assert app.session.selected is not None

        # the log viewer: its filter (the keys are typed into it), then its body (scrolling keys)
        await pilot.press("e")
        assert isinstance(app.screen, LogScreen) and isinstance(app.focused, Input)
        typed = await press_every_dashboard_key(pilot, app, dump)
        assert all(k in app.focused.value for k in typed if len(k) == 1)  # the letters went to the filter
        app.focused.value = ""
        await pilot.press("enter")
        assert isinstance(app.focused, ScrollBody)
        assert "b" in await press_every_dashboard_key(pilot, app, dump)
        await pilot.press("escape")
        assert app.screen is app.dashboard

        # the trade inspector (o sorts it: its own key)
        await pilot.press("i")
        assert isinstance(app.screen, TradesScreen)
        assert "o" not in await press_every_dashboard_key(pilot, app, dump)
        await pilot.press("escape")

        # the history, the help, the start dialog and a confirmation
        for key, kind in (("h", HistoryScreen), ("question_mark", HelpScreen), ("b", StartDialog)):
            await pilot.press(key)
            assert isinstance(app.screen, kind)
            assert await press_every_dashboard_key(pilot, app, dump)
            await pilot.press("escape")
            assert app.screen is app.dashboard
        app.push_screen(ConfirmScreen("A question?", "", id="confirm-test"))
        await pilot.pause()
        assert await press_every_dashboard_key(pilot, app, dump)
        await pilot.press("escape")

        # the reports browser, its list and a report open in its viewer (d writes them first)
        await pilot.press("d")
        await pilot.pause()
        assert written(dump)
        await pilot.press("r")
        assert isinstance(app.screen, ReportsScreen)
        assert "r" not in await press_every_dashboard_key(pilot, app, dump)  # r reloads the list
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.focused, ReportViewer)
        await press_every_dashboard_key(pilot, app, dump)
        await pilot.press("escape", "escape")
        assert app.screen is app.dashboard

        # and on the dashboard the same keys act again
        await pilot.press("z")
        assert app.dashboard.maximized is not None
        await pilot.press("z")
