"""The console's live mode (App.run_test): start from the dialog, positions priced each tick,
restored positions with a notice, stop and quit confirmations that say what happens to a position.

Live time is a SteppedClock: the loop ticks only when the test steps it, so nothing depends on the
wall clock or on how fast this machine is."""

from __future__ import annotations

import json

from conftest import (
    LIVE_T0,
    SteppedClock,
    finish_runs,
    flush_bridge,
    live_app,
    live_tick,
    save_a_short_position,
    start_live,
    wait_until,
)

import engine
from console.screens.dialogs import ConfirmScreen, StartDialog
from console.widgets.base import price
from console.widgets.header import BtkHeader
from console.widgets.panes import PositionsPane, SignalsPane

RID = "live:BTCUSDT:probe"


def cells(table, row: int = 0) -> list[str]:
    return [str(c) for c in table.get_row_at(row)]


def saved_signal(dump_dir) -> dict | None:
    path = dump_dir / "data" / "signal" / "BTCUSDT_probe" / "BTCUSDT.json"
    return json.loads(path.read_text()) if path.exists() else None


async def test_l_starts_live_trading_and_positions_follow_each_tick(tmp_path, no_settings) -> None:
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    app = live_app(tmp_path / "dump")
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("l")
        assert isinstance(app.screen, StartDialog) and app.screen.mode == "live"
        assert "saved under" in str(app.screen.query_one("#dialog-note").render())
        await pilot.press("escape")
        await start_live(pilot, clock)
        run = app.state.runs[RID]
        assert (run.mode, run.status, run.exchange) == ("live", "running", "demo-synthetic")
        header = str(app.screen.query_one(BtkHeader).render())
        assert "● LIVE" in header and "LIVE  · BTCUSDT · probe" in header and "2024-03-01 12:00 UTC" in header
        (pos,) = app.state.positions_of(RID)
        entry = pos.entry
        assert pos.side == "long" and pos.take_profit == round(entry * 1.02, 2)
        table = app.screen.query_one(PositionsPane).table
        first = cells(table)
        assert first[:3] == ["BTCUSDT", "probe", "LONG"] and first[8] == "0m"
        assert first[6] == f"{(pos.take_profit - pos.last_price) / pos.last_price * 100:+.2f}%"  # to TP
        assert first[7] == f"{(pos.stop_loss - pos.last_price) / pos.last_price * 100:+.2f}%"  # to SL
        log = app.screen.query_one(SignalsPane).table
        assert "OPENED" in [str(c) for c in log.row_cells(log.row_count - 1)]
        assert saved_signal(tmp_path / "dump")["id"] == pos.signal_id  # on disk before it was shown

        await live_tick(pilot, clock, 5)  # five minutes later: repriced, older
        later = cells(table)
        assert later[8] == "5m"
        assert later[4] == price(pos.last_price) and later[4] != first[4]  # the 12:05 VWAP, not the entry's
        assert "12:05 UTC" in str(app.screen.query_one(BtkHeader).render())


async def test_a_restored_position_is_listed_with_a_notice_before_trading_starts(tmp_path, no_settings) -> None:
    dump = tmp_path / "dump"
    await save_a_short_position(dump / "data")
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    app = live_app(dump)
    async with app.run_test(size=(160, 40)) as pilot:
        await start_live(pilot, clock)
        (pos,) = app.state.positions_of(RID)
        assert (pos.signal_id, pos.side, pos.entry) == ("saved-before-the-crash", "short", 63_000.0)
        assert cells(app.screen.query_one(PositionsPane).table)[8] == "90m"  # held since before the restart
        (notice,) = [n for n in app._notifications if n.title.startswith("Restored")]
        assert notice.title == "Restored 1 saved signal: probe"
        assert "SHORT BTCUSDT entry 63,000.00 · TP 60,000.00 · SL 66,000.00" in notice.message
        assert str(dump / "data") in notice.message
        kinds = [line.kind for line in app.state.log_of(RID)]
        assert kinds[0] == "RESTORED" and "OPENED" not in kinds  # a restored position is not opened again


async def test_stop_on_a_live_run_explains_the_position_is_kept_and_stops_at_once(tmp_path, no_settings) -> None:
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    app = live_app(tmp_path / "dump")
    async with app.run_test(size=(120, 40)) as pilot:
        await start_live(pilot, clock)
        (pos,) = app.state.positions_of(RID)
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmScreen)
        text = " ".join(str(w.render()) for w in app.screen.query("Static, Label"))
        assert "position is not closed: it stays saved on disk" in text and "next time this strategy runs live" in text
        await pilot.press("y")
        # the loop wakes at once (no minute's wait): no clock step needed to finish
        await wait_until(pilot, lambda: not app.state.runs[RID].is_active)
        await flush_bridge(pilot)
        assert app.state.runs[RID].status == "stopped"
        assert saved_signal(tmp_path / "dump")["id"] == pos.signal_id  # kept, not closed
        assert "CLOSED" not in [line.kind for line in app.state.log_of(RID)]
        assert "● LIVE" not in str(app.screen.query_one(BtkHeader).render())


async def test_quit_while_live_asks_and_n_keeps_trading(tmp_path, no_settings) -> None:
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    app = live_app(tmp_path / "dump")
    async with app.run_test(size=(120, 40)) as pilot:
        await start_live(pilot, clock)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        text = " ".join(str(w.render()) for w in app.screen.query("Static, Label"))
        assert "1 live run(s)" in text and "stay saved on disk" in text
        await pilot.press("n")
        assert app.state.runs[RID].is_active and app.is_running
        await live_tick(pilot, clock)
        assert app.state.runs[RID].is_active


async def test_a_closed_live_position_leaves_the_pane_and_books_its_pnl(tmp_path, no_settings) -> None:
    """A probe with a one-minute life: the next tick closes it by time, and the equity counts it."""
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    app = live_app(tmp_path / "dump", minutes=1)
    async with app.run_test(size=(120, 40)) as pilot:
        await start_live(pilot, clock)
        assert len(app.state.positions_of(RID)) == 1
        await live_tick(pilot, clock, 2)
        assert app.state.positions_of(RID) == []
        run = app.state.runs[RID]
        assert run.trades == 1 and run.equity == [run.total_pnl]
        assert [line.kind for line in app.state.log_of(RID)][-1] == "CLOSED"
        assert saved_signal(tmp_path / "dump") is None


async def test_d_writes_the_live_reports_in_their_own_folder(tmp_path, no_settings) -> None:
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    app = live_app(tmp_path / "dump", minutes=1)
    async with app.run_test(size=(120, 40)) as pilot:
        await start_live(pilot, clock)
        await live_tick(pilot, clock, 2)  # opened, then closed by time
        await pilot.press("d")
        await pilot.pause()
        written = sorted(p.relative_to(tmp_path / "dump").as_posix() for p in (tmp_path / "dump").rglob("*.md"))
        assert written == [  # keyed by exchange and symbol; the empty partial, risk and schedule are not written
            "live/demo-synthetic/BTCUSDT/performance/probe.md",
            "live/demo-synthetic/BTCUSDT/probe.md",
        ]
        report = (tmp_path / "dump" / "live" / "demo-synthetic" / "BTCUSDT" / "probe.md").read_text()
        assert "closed" in report.lower() and "time_expired" in report


async def test_a_started_live_run_is_both_highlighted_and_shown(tmp_path, no_settings) -> None:
    """Issue 14 item 6: after a backtest, starting a live run selects it, and the Runs cursor
    moves to it too (it stayed on the backtest while the header showed the live run)."""
    from console.widgets.panes import RunsPane

    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    app = live_app(tmp_path / "dump")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b", "down", "down", "enter")  # one demo strategy
        await finish_runs(pilot)
        runs = app.screen.query_one(RunsPane)
        (backtest,) = app.state.runs
        assert runs.selected == app.session.selected == backtest
        await start_live(pilot, clock)
        assert app.session.selected == RID
        assert runs.selected == RID
        await live_tick(pilot, clock)
        assert app.session.selected == RID == runs.selected
        assert "LIVE" in str(app.screen.query_one(BtkHeader).render())
