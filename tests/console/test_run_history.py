"""Run history (issue 14, "What to add"): a finished backtest's statistics and trades are kept
under the dump folder keyed by strategy, symbol, exchange and frame; ``h`` lists every kept run
(of this session and earlier ones) and compares the marked ones side by side; a file that cannot
be read is named and skipped. Pilot tests at 80x24 and 160x50."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import FIXED_NOW, Gate, demo_app, finish_runs, fixed_clock, gated_project, wait_until
from screen_text import screen_lines

import engine
from console.app import BtkApp
from console.history import FORMAT, HistoryRecord, history_path, load_history, record_from, save_record
from console.screens.history import HistoryScreen
from console.screens.reports import ReportsScreen

SIZES = [(80, 24), (160, 50)]


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def a_record(**over) -> HistoryRecord:
    fields = dict(
        strategy="old-strategy",
        symbol="BTCUSDT",
        exchange="demo-synthetic",
        frame="demo-30d",
        finished="2026-11-20T09:00:00",
        status="done",
        trades=0,
        wins=0,
        losses=0,
        win_rate=None,
        avg_pnl=None,
        total_pnl=None,
        compounded_return=None,
        max_drawdown=None,
        std_dev=None,
        sharpe_ratio=None,
        annualized_sharpe_ratio=None,
        certainty_ratio=None,
        expected_yearly_returns=None,
    )
    fields.update(over)
    return HistoryRecord(**fields)


@pytest.mark.parametrize("size", SIZES)
async def test_a_finished_backtest_is_kept_with_its_statistics_and_trades(tmp_path, no_settings, size) -> None:
    out = tmp_path / "out"
    app = demo_app(dump_dir=out)
    app.project.ui["last_backtest"] = {"symbol": "BTCUSDT", "strategy": "demo-meanrev"}
    async with app.run_test(size=size) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        (path,) = (out / "history").rglob("*.json")
        assert path.parent == out / "history" / "demo-synthetic" / "demo-30d" / "BTCUSDT" / "demo-meanrev"
        assert path.name == "2026-11-21T12-03-41.json"  # when it finished, by the app's clock
        data = json.loads(path.read_text())
        stats = engine.Backtest.get_data("BTCUSDT", "demo-meanrev")
        assert data["format"] == FORMAT and data["status"] == "done"
        assert data["trades"] == stats.total_signals == len(data["trade_list"]) > 0
        assert data["compounded_return"] == pytest.approx(stats.compounded_return)
        assert data["max_drawdown"] == pytest.approx(stats.max_drawdown)
        newest = stats.signal_list[0]
        assert data["trade_list"][-1]["signal_id"] == newest.signal.id  # oldest first
        assert data["trade_list"][-1]["pnl"] == pytest.approx(newest.pnl.pnl_percentage)
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen)
        (record,) = app.screen.records
        assert record.trades == stats.total_signals
        shown = "\n".join(screen_lines(app))
        assert "demo-meanrev" in shown and f"{stats.compounded_return:+.2f}" in shown


async def test_a_finished_backtest_is_kept_after_its_last_paint_before_the_next_run_and_on_leaving(
    tmp_path, no_settings, monkeypatch
) -> None:
    """The history waits until the screen showed the run done (its statistics and the thread
    writing them held that paint back); a run started before then keeps it first (its start may
    clear the pair's report stores), and so does leaving the console."""
    out = tmp_path / "out"
    app = demo_app(dump_dir=out)
    app.project.ui["last_backtest"] = {"symbol": "BTCUSDT", "strategy": "demo-meanrev"}
    due_at_start: list[int] = []  # finished runs not kept yet when a run clears the pair's stores
    stores = type(engine.active_engine().stores)
    clear_run = stores.clear_run

    def counting(self, *args):
        due_at_start.append(len(app.history_due))
        return clear_run(self, *args)

    monkeypatch.setattr(stores, "clear_run", counting)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b", "enter")
        await finish_runs(pilot)
        (path,) = (out / "history").rglob("*.json")
        kept = json.loads(path.read_text())
        finished = app.state.runs["backtest:BTCUSDT:demo-meanrev"]
        path.unlink()
        app.history_due.append(finished)  # as if its last paint had not come yet
        assert app.start_backtest("BTCUSDT", "demo-meanrev", "demo-synthetic", "demo-30d")
        assert due_at_start and not any(due_at_start)  # kept before the second run started
        await finish_runs(pilot)
        assert json.loads(path.read_text())["trade_list"] == kept["trade_list"]
        path.unlink()
        app.history_due.append(finished)
    assert json.loads(path.read_text())["trade_list"] == kept["trade_list"]  # kept on the way out


async def test_a_stopped_backtest_is_not_kept(tmp_path) -> None:
    gate = Gate()
    app = BtkApp(gated_project(tmp_path, gate), clock=fixed_clock, save_settings=False, dump_dir=tmp_path / "out")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b", "enter")
        await wait_until(pilot, lambda: gate.calls >= 1)
        await pilot.press("s", "y")
        gate.open.set()
        await finish_runs(pilot)
        assert not (tmp_path / "out" / "history").exists()


@pytest.mark.parametrize("size", SIZES)
async def test_runs_of_this_and_earlier_sessions_are_compared_side_by_side(tmp_path, no_settings, size) -> None:
    out = tmp_path / "out"
    earlier = a_record(trades=3, wins=1, losses=2, win_rate=33.3, compounded_return=-4.5, max_drawdown=9.25)
    save_record(out, earlier)  # a run an earlier session kept
    app = demo_app(dump_dir=out)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    engine.add_frame("demo-10d", "1m", start, start + timedelta(days=10))
    async with app.run_test(size=size) as pilot:
        assert app.start_backtest("BTCUSDT", "demo-meanrev", "demo-synthetic", "demo-10d")
        await finish_runs(pilot)
        await pilot.press("h")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        assert [r.strategy for r in screen.records] == ["demo-meanrev", "old-strategy"]  # newest first
        await pilot.press("enter")  # one run is not a comparison
        assert "Mark two or more" in notes(app)[-1]
        await pilot.press("space", "down", "space", "enter")
        compare = screen.query_one("#history-compare")
        assert compare.display and not screen.query_one("#history-list").display
        rows = {
            str(compare.get_row_at(n)[0]): [str(c) for c in compare.get_row_at(n)[1:]] for n in range(compare.row_count)
        }
        new = screen.records[0]
        assert rows["Frame"] == ["demo-10d", "demo-30d"]
        assert rows["Trades"] == [str(new.trades), "3"]
        assert rows["Compounded %"] == [f"{new.compounded_return:+.2f}", "-4.50"]
        assert rows["Max drawdown %"][1] == "9.25"
        text = "\n".join(screen_lines(app))
        assert "Compounded %" in text and "old-strategy" in text
        await pilot.press("escape")
        assert screen.query_one("#history-list").display
        await pilot.press("escape")
        assert not isinstance(app.screen, HistoryScreen)


@pytest.mark.parametrize("size", SIZES)
async def test_a_corrupted_history_file_is_named_and_skipped(tmp_path, no_settings, size) -> None:
    out = tmp_path / "out"
    good = save_record(out, a_record())
    cut = good.parent / "2026-11-20T10-00-00.json"
    cut.write_text(good.read_text()[:40], encoding="utf-8")  # cut short
    other = good.parent / "2026-11-20T11-00-00.json"
    other.write_text(json.dumps({"format": "something-else/9"}), encoding="utf-8")
    app = demo_app(dump_dir=out)
    async with app.run_test(size=size) as pilot:
        await pilot.press("h")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        assert [r.path for r in screen.records] == [good]
        (warning,) = [n for n in app._notifications if "cannot be read" in (n.title or "")]
        assert str(cut) in warning.message and str(other) in warning.message
        assert "something-else/9" in warning.message


def test_a_record_reads_back_as_it_was_written(tmp_path) -> None:
    record = a_record(trades=2, wins=1, losses=1, win_rate=50.0, sharpe_ratio=0.125)
    path = save_record(tmp_path, record)
    assert path == history_path(tmp_path, record)
    assert path.relative_to(tmp_path).as_posix() == (
        "history/demo-synthetic/demo-30d/BTCUSDT/old-strategy/2026-11-20T09-00-00.json"
    )
    (tmp_path / "history" / "x").mkdir()
    (tmp_path / "history" / "x" / ".tmp-0123-a.json").write_text("{")  # an atomic write's leftover
    listing = load_history(tmp_path)
    assert listing.unreadable == [] and listing.records == [record]
    assert listing.records[0].path == path


def test_a_symbol_with_a_slash_stays_one_folder(tmp_path) -> None:
    path = history_path(tmp_path, a_record(symbol="BTC/USDT"))
    assert path.parent.name == "old-strategy" and path.parent.parent.name == "BTC-USDT"


async def test_h_does_nothing_on_the_reports_screen(tmp_path, no_settings) -> None:
    app = demo_app(dump_dir=tmp_path / "out")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r", "h")
        assert isinstance(app.screen, ReportsScreen)


def test_record_from_reads_the_engine_statistics(tmp_path) -> None:
    """Without any run the engine has no closed signal for the pair: an empty record, not a crash."""
    demo_app()  # registers the demo's exchange, frames and strategies

    record = record_from("demo-meanrev", "BTCUSDT", "demo-synthetic", "demo-30d", "done", FIXED_NOW)
    assert record.trades == 0 and record.trade_list == () and record.finished == "2026-11-21T12:03:41"
    assert isinstance(history_path(tmp_path, record), Path)


def test_the_best_of_a_metric_is_the_higher_or_the_lower_as_the_metric_says() -> None:
    from console.history import METRICS, best_of

    better = {name: side for name, _label, side in METRICS}
    runs = [a_record(win_rate=30.0, max_drawdown=20.0, trades=5), a_record(win_rate=50.0, max_drawdown=9.0, trades=9)]
    assert best_of(runs, "win_rate", better["win_rate"]) == 50.0  # higher is better
    assert best_of(runs, "max_drawdown", better["max_drawdown"]) == 9.0  # lower is better
    assert best_of(runs, "trades", better["trades"]) is None  # neither: not highlighted
    assert best_of([a_record()], "sharpe_ratio", 1) is None  # no value, no best


def test_a_headless_backtest_joins_the_run_history(tmp_path, monkeypatch) -> None:
    """``btk-console backtest`` keeps its finished runs too: the console's ``h`` lists them."""
    import io

    from console.cli import main

    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    assert main(["backtest", "--strategy", "demo-meanrev", "--days", "3"], out, err) == 0, err.getvalue()
    listing = load_history(tmp_path / "dump")
    assert listing.unreadable == []
    (record,) = listing.records
    assert (record.strategy, record.symbol, record.exchange) == ("demo-meanrev", "BTCUSDT", "demo-synthetic")
    assert record.trades == engine.Backtest.get_data("BTCUSDT", "demo-meanrev").total_signals
    assert record.frame and record.frame in record.path.as_posix()
