"""Issue 14 item 13: the reports ``d`` writes and the browser that reads them, at 80x24 and 160x50.

- the browser's list takes the screen (it was 44 columns beside an empty screen, names cut);
- ``d`` writes no empty report, and says there is nothing to dump when no run has anything;
- a backtest report leads with time, side and PnL, prints prices as the dashboard does, and the
  signal id last and short (the engine's own report keeps SPEC 12.2's columns);
- ``**Label:** value`` lines (the walker's symbol, exchange, frame) show one per line;
- report paths carry the exchange and the frame: runs on two frames keep two reports;
- the dashboard's keys do nothing on top of the reports screen.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Gate, demo_app, finish_runs, fixed_clock, gated_project, wait_until
from screen_text import screen_lines
from textual.command import CommandList

import engine
from console.app import BtkApp
from console.report_layout import ID_CHARS, one_per_line
from console.screens.dialogs import StartDialog
from console.screens.reports import ReportsScreen

SIZES = [(80, 24), (160, 50)]
FOLDER = Path("demo-synthetic") / "demo-30d" / "BTCUSDT"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def meanrev_app(dump: Path) -> BtkApp:
    app = demo_app(dump_dir=dump)
    app.project.ui["last_backtest"] = {"symbol": "BTCUSDT", "strategy": "demo-meanrev"}
    return app


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.mark.parametrize("size", SIZES)
async def test_d_writes_reports_keyed_by_exchange_and_frame_and_no_empty_ones(tmp_path, no_settings, size) -> None:
    out = tmp_path / "out"
    app = meanrev_app(out)
    async with app.run_test(size=size) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        await pilot.press("d")
        await pilot.pause()
        written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.md"))
        assert f"backtest/{FOLDER.as_posix()}/demo-meanrev.md" in written
        assert f"schedule/{FOLDER.as_posix()}/demo-meanrev.md" in written
        assert "heatmap/demo-synthetic/demo-30d/demo-meanrev.md" in written
        for path in out.rglob("*.md"):  # nothing written only to say there is nothing in it
            text = path.read_text(encoding="utf-8")
            assert "recorded yet" not in text and "closed yet" not in text and "No data available" not in text, path
        risk = engine.Risk.get_data("BTCUSDT", "demo-meanrev", True)
        assert (f"risk/{FOLDER.as_posix()}/demo-meanrev.md" in written) == (risk.total_rejections > 0)
        (toast,) = [n for n in notes(app) if "reports written" in n]
        assert toast.startswith(f"{len(written)} reports written to {out}/")
        assert ("empty, not written" in toast) == (len(written) < 6)  # 6 kinds: backtest ... heatmap


async def test_d_after_a_run_without_trades_writes_only_what_has_data(tmp_path) -> None:
    gate = Gate()
    app = BtkApp(gated_project(tmp_path, gate), clock=fixed_clock, save_settings=False, dump_dir=tmp_path / "out")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b", "enter")
        await wait_until(pilot, lambda: gate.calls >= 1)
        await pilot.press("s", "y")
        gate.open.set()
        await finish_runs(pilot)
        await pilot.press("d")
        await pilot.pause()
        written = [p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.md")]
        assert written == ["performance/sim/f/BTCUSDT/gated.md"]  # where the time went: the one with data
        assert "1 reports written" in notes(app)[-1] and "5 empty, not written" in notes(app)[-1]


async def test_d_with_no_runs_writes_nothing_and_says_so(tmp_path, no_settings) -> None:
    app = demo_app(dump_dir=tmp_path / "out")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await pilot.pause()
        assert not (tmp_path / "out").exists()
        assert any(n.startswith("Nothing to dump yet") for n in notes(app))


async def test_runs_on_two_frames_keep_two_backtest_reports(tmp_path, no_settings) -> None:
    out = tmp_path / "out"
    app = meanrev_app(out)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    engine.add_frame("demo-10d", "1m", start, start + timedelta(days=10))
    async with app.run_test(size=(80, 24)) as pilot:
        for frame in ("demo-30d", "demo-10d"):
            assert app.start_backtest("BTCUSDT", "demo-meanrev", "demo-synthetic", frame)
            await finish_runs(pilot)
            await pilot.press("d")
            await pilot.pause()
        long = out / "backtest" / "demo-synthetic" / "demo-30d" / "BTCUSDT" / "demo-meanrev.md"
        short = out / "backtest" / "demo-synthetic" / "demo-10d" / "BTCUSDT" / "demo-meanrev.md"
        assert long.exists() and short.exists()
        count = lambda p: int(re.search(r"\*\*Closed signals:\*\* (\d+)", p.read_text()).group(1))  # noqa: E731
        assert count(long) > count(short) > 0


async def test_a_backtest_report_leads_with_time_side_and_pnl(tmp_path, no_settings) -> None:
    out = tmp_path / "out"
    app = meanrev_app(out)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        await pilot.press("d")
        await pilot.pause()
    text = (out / "backtest" / FOLDER / "demo-meanrev.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert header[:3] == ["Closed (UTC)", "Side", "PnL (net)"] and header[-1] == "Id"
    first = [c.strip() for c in rows[2].strip("|").split("|")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", first[0]) and first[1] in ("LONG", "SHORT")
    assert re.fullmatch(r"[+-]?\d+\.\d\d%", first[2])
    assert len(first[-1]) == ID_CHARS
    assert not UUID.search(text)  # no 36-character ids
    assert not re.search(r"\d\.\d{8}\b", text) and " USD" not in text  # no 8-decimal prices
    # the engine's own report is still SPEC 12.2's
    spec = engine.Backtest.get_report("BTCUSDT", "demo-meanrev")
    assert spec.splitlines()[2].startswith("| Signal ID | Symbol | Position |") and UUID.search(spec)


def test_label_lines_end_with_a_hard_break_except_the_last() -> None:
    text = "# T\n\n**Symbol:** X\n**Exchange:** Y\n**Frame:** Z\n\n| a |\n| --- |\n| **b** |\n"
    assert one_per_line(text).splitlines()[2:5] == ["**Symbol:** X  ", "**Exchange:** Y  ", "**Frame:** Z"]
    assert one_per_line(one_per_line(text)) == one_per_line(text)


@pytest.mark.parametrize("size", SIZES)
async def test_the_browser_shows_label_lines_one_per_line(tmp_path, no_settings, size) -> None:
    out = tmp_path / "out"
    (out / "walker").mkdir(parents=True)
    text = "# Walker Comparison Report: w\n\n**Symbol:** BTCUSDT\n**Exchange:** ex\n**Frame:** fr\n"
    (out / "walker" / "w.md").write_text(one_per_line(text), encoding="utf-8")
    app = demo_app(dump_dir=out)
    async with app.run_test(size=size) as pilot:
        await pilot.press("r", "enter")
        await pilot.pause()
        lines = screen_lines(app)
        symbol = next(line for line in lines if "Symbol: BTCUSDT" in line)
        assert "Exchange" not in symbol
        assert any("Exchange: ex" in line for line in lines) and any("Frame: fr" in line for line in lines)


@pytest.mark.parametrize("size", SIZES)
async def test_the_list_takes_the_screen_and_shows_whole_names(tmp_path, no_settings, size) -> None:
    out = tmp_path / "out"
    name = "backtest/demo-synthetic/demo-30d/BTCUSDT/a-rather-long-strategy-name.md"
    (out / name).parent.mkdir(parents=True)
    (out / name).write_text("# R\n", encoding="utf-8")
    app = demo_app(dump_dir=out)
    async with app.run_test(size=size) as pilot:
        await pilot.press("r")
        await pilot.pause()
        listing = app.screen.query_one("#report-list")
        assert listing.outer_size.width == size[0]
        shown = "\n".join(screen_lines(app))
        assert "backtest/a-rather-long-strategy-name.md" in shown  # the name first, whole
        if size[0] >= 160:
            assert "demo-synthetic/demo-30d/BTCUSDT" in shown  # then what it is keyed by


@pytest.mark.parametrize("size", SIZES)
async def test_dashboard_keys_do_nothing_on_the_reports_screen(tmp_path, no_settings, size) -> None:
    out = tmp_path / "out"
    app = meanrev_app(out)
    async with app.run_test(size=size) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        app.clear_notifications()
        await pilot.press("r")
        assert isinstance(app.screen, ReportsScreen)
        await pilot.press("b", "d", "w", "l", "s")
        await pilot.pause()
        assert isinstance(app.screen, ReportsScreen) and not isinstance(app.screen, StartDialog)
        assert not list(out.rglob("*.md")) and not notes(app)
        await pilot.press("escape", "d")  # back on the dashboard, d dumps
        await pilot.pause()
        assert list(out.rglob("*.md"))


async def test_the_palette_still_runs_the_dashboards_commands(no_settings) -> None:
    """The palette is a screen of its own: its command runs once it has closed, on the dashboard."""
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Backtest")
        await wait_until(pilot, lambda: app.screen.query_one(CommandList).option_count > 0)  # the hits are in
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, StartDialog))
