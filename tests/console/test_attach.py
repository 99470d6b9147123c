"""``btk-console attach`` (issue 17): the dashboard fed by a real daemon subprocess through its real
socket, driven with Textual's pilot. The daemon (tests/console/daemon_child.py) trades the ``churn``
strategy on a 600x simulated clock, so positions open and close while the tests watch, and while
nobody does."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import astuple

from conftest import wait_until
from daemon_child import LIVE_T0
from daemons import SAFETY, _until
from screen_text import screen_text

import engine
from console.attach import READ_ONLY, AttachedApp, fetch
from console.client import DaemonClient, DaemonError, Endpoint, Event, Feed
from console.screens.close import ClosePreviewScreen
from console.screens.dialogs import ConfirmScreen, StartDialog


class Backoff:
    """The reconnect pause (the schedule itself is the Feed's): it ends when the test says the
    daemon can be reached again, an event rather than a time. A reconnect nobody expected waits
    on it and fails at the safety limit instead of spinning."""

    def __init__(self) -> None:
        self.reachable = asyncio.Event()

    async def __call__(self, _seconds: float) -> None:
        await self.reachable.wait()


async def _app(dump, backoff: Backoff | None = None, **kw) -> AttachedApp:
    endpoint = Endpoint.for_dump(dump)
    info, daemon = await fetch(endpoint)
    return AttachedApp(endpoint, info, daemon, sleep=backoff or Backoff(), **kw)


def _closed_lines(app: AttachedApp) -> list[tuple]:
    return [astuple(line)[1:] for line in app.state.log if line.kind == "CLOSED"]


def _header(app: AttachedApp) -> str:
    from console.widgets.header import BtkHeader

    return str(app.dashboard.query_one(BtkHeader)._shown or "")


async def test_attach_shows_the_daemons_runs_detaches_leaving_them_and_a_reattach_sees_the_same(place) -> None:
    d = place("--live", "churn")
    d.wait_ready()
    app = await _app(d.dump)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: len(_closed_lines(app)) >= 2, SAFETY)
        assert "live:BTCUSDT:churn" in app.state.runs and app.state.runs["live:BTCUSDT:churn"].status == "running"
        assert "attached to daemon" in _header(app)
        seen_first = _closed_lines(app)
        await pilot.press("x")  # detach
        await wait_until(pilot, lambda: not app.is_running, SAFETY)
    async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
        status = await c.status()
        assert [r["status"] for r in status["runs"]] == ["running"]  # detaching stopped nothing
        at_detach = status["seq"]
        await _until(c, lambda st: st["seq"] >= at_detach + 40)  # it trades on, nobody watching

    again = await _app(d.dump)
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: len(_closed_lines(again)) > len(seen_first) + 1, SAFETY)
        lines = _closed_lines(again)
        assert lines[: len(seen_first)] == seen_first  # the same history, nothing twice
        assert len(set(lines)) == len(lines)
        # stop trading (a position stays open, saved), so both sides can be compared at rest
        async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
            await c.stop("live:BTCUSDT:churn")
            status = await c.status()
            await _until(c, lambda st: st["runs"][0]["status"] == "stopped")
            status = await c.status()
        await wait_until(pilot, lambda: again.state.runs["live:BTCUSDT:churn"].status == "stopped", SAFETY)
        daemon_side = {(p["id"], p["side"], p["price_open"], p["current_price"]) for p in status["positions"]}
        console_side = {(p.signal_id, p.side, p.entry, p.last_price) for p in again.state.positions.values()}
        assert daemon_side == console_side
        await pilot.press("ctrl+d")
        await wait_until(pilot, lambda: not again.is_running, SAFETY)


async def test_read_only_cannot_stop_or_start_and_says_so(place) -> None:
    d = place("--live", "churn")
    d.wait_ready()
    viewer = await _app(d.dump, read_only=True)
    async with viewer.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "live:BTCUSDT:churn" in viewer.state.runs, SAFETY)
        await wait_until(pilot, lambda: "READ-ONLY" in _header(viewer), SAFETY)
        await pilot.press("s")
        await pilot.press("l")
        await pilot.pause(0.1)
        messages = [n.message for n in viewer._notifications]
        assert messages.count(READ_ONLY) == 2
        assert viewer.screen is viewer.dashboard  # no confirmation, no start dialog opened
    async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
        assert [r["status"] for r in (await c.status())["runs"]] == ["running"]


async def test_a_console_stops_a_run_through_the_daemon(place) -> None:
    d = place("--live", "churn")
    d.wait_ready()
    app = await _app(d.dump)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "live:BTCUSDT:churn" in app.state.runs, SAFETY)
        await pilot.press("s")
        await wait_until(pilot, lambda: app.screen is not app.dashboard, SAFETY)
        await pilot.press("enter")  # "Stop" is the confirmation's default button
        await wait_until(pilot, lambda: app.state.runs["live:BTCUSDT:churn"].status == "stopped", SAFETY)


async def test_a_lost_daemon_shows_a_banner_and_the_restarted_one_is_followed(place) -> None:
    d = place("--live", "churn")
    d.wait_ready()
    backoff = Backoff()
    app = await _app(d.dump, backoff)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: len(_closed_lines(app)) >= 1, SAFETY)
        d.stop(signal.SIGKILL)
        await wait_until(pilot, lambda: (app.state.close_only or "").startswith("CONNECTION LOST"), SAFETY)
        await wait_until(pilot, lambda: "CONNECTION LOST" in _header(app), SAFETY)
        restarted = place("--live", "churn")
        restarted.wait_ready()
        backoff.reachable.set()  # the console's next try finds the new daemon
        await wait_until(pilot, lambda: app.connected and app.state.close_only is None, SAFETY)
        # the new daemon numbers from 1 again: the console took its snapshot instead of resuming
        await wait_until(pilot, lambda: (app.feed.epoch or "").startswith(f"{restarted.proc.pid}-"), SAFETY)
        await wait_until(pilot, lambda: app.daemon["pid"] == restarted.proc.pid, SAFETY)
        async with DaemonClient(Endpoint.for_dump(restarted.dump)) as c:
            (record,) = (await c.status())["runs"]
        restored = [line for line in app.state.log if line.kind == "RESTORED"]
        assert len(restored) == record["restored"]  # a position the killed daemon held came back
        await pilot.press("x")


def _attach_in_a_terminal(dump):
    """``btk-console attach`` in a pseudo-terminal whose screen output is read (and dropped) by a
    thread, so the console never blocks on a full terminal."""
    import os
    import pty
    import subprocess
    import sys
    import threading

    from daemons import ROOT

    leader, follower = pty.openpty()
    console = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "attach", "--dump-dir", str(dump)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=ROOT,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
        start_new_session=True,
    )
    os.close(follower)

    def drain() -> None:
        try:
            while os.read(leader, 65536):
                pass
        except OSError:  # the console is gone
            pass
        finally:
            os.close(leader)

    threading.Thread(target=drain, daemon=True).start()
    return console


def _kill(console) -> None:
    if console.poll() is None:
        console.kill()
    console.wait(SAFETY)


async def test_a_console_killed_mid_stream_leaves_the_daemon_trading_and_the_next_sees_everything(place) -> None:
    """A real ``btk-console attach`` in a pseudo-terminal, SIGKILLed while the stream flows."""
    d = place("--live", "churn")
    d.wait_ready()
    console = _attach_in_a_terminal(d.dump)
    try:
        async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
            await _until(c, lambda st: st["clients"] == 1)  # the console is on the stream
            at_kill = (await c.status())["seq"]
            await _until(c, lambda st: st["seq"] >= at_kill + 10)  # events flowed to it
            _kill(console)
            await _until(c, lambda st: st["clients"] == 0)  # the daemon noticed, and lives on
            after = (await c.status())["seq"]
            await _until(c, lambda st: st["seq"] >= after + 20 and st["runs"][0]["status"] == "running")
    finally:
        _kill(console)
    app = await _app(d.dump)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.feed is not None and (app.feed.last or 0) >= after + 20, SAFETY)
        await wait_until(pilot, lambda: not app._pending, SAFETY)
        lines = [astuple(line)[1:] for line in app.state.log]
        assert len(lines) == len(set(lines)) and len(_closed_lines(app)) >= 2
        await pilot.press("x")


def _progress_text(app: AttachedApp) -> str:
    from console.widgets.panes import ProgressPane

    table = app.dashboard.query_one(ProgressPane).table
    return " ".join(str(table.get_cell_at((row, 0))) for row in range(table.row_count))


async def test_idle_live_ticks_show_the_last_tick_and_price_without_being_numbered(place) -> None:
    """A live run that never trades still says it is alive (issue 17 item 5): its idle ticks are
    streamed with the daemon's clock, unnumbered, so the Progress pane shows tick, next tick and
    price between events, and the resume point and the log never move for them."""
    d = place("--live", "quiet")
    d.wait_ready()
    rid = "live:BTCUSDT:quiet"
    app = await _app(d.dump)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: rid in app.state.runs, SAFETY)
        ticks: set[int] = set()

        def ticked(n: int):
            def seen() -> bool:
                last = app.state.runs[rid].last_tick
                if last is not None:
                    ticks.add(last)
                return len(ticks) >= n

            return seen

        await wait_until(pilot, ticked(3), SAFETY)
        run = app.state.runs[rid]
        assert run.price is not None and run.price > 0
        assert min(ticks) >= LIVE_T0  # times from the daemon's simulated clock, not this process's
        await wait_until(pilot, lambda: " tick " in _progress_text(app), SAFETY)
        assert "waiting for a tick" not in _progress_text(app)
        async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
            seq = (await c.status())["seq"]
            await wait_until(pilot, ticked(6), SAFETY)  # three more ticks...
            assert (await c.status())["seq"] == seq  # ...numbered nothing
        await wait_until(pilot, lambda: app.feed.last == seq, SAFETY)
        assert not [line for line in app.state.log if line.run == rid]  # and logged nothing
        await pilot.press("x")


async def test_two_consoles_at_once_the_read_only_one_is_refused_a_stop(place) -> None:
    """Two real attached consoles on one daemon (issue 17): both see the run; the viewer's stop is
    refused with a message (and the daemon refuses its session's stop too); the other one stops
    the run and the viewer sees it stopped."""
    d = place("--live", "churn")
    d.wait_ready()
    rid = "live:BTCUSDT:churn"
    viewer = await _app(d.dump, read_only=True)
    trader = await _app(d.dump)
    async with viewer.run_test(size=(120, 40)) as view_pilot, trader.run_test(size=(120, 40)) as pilot:
        await wait_until(view_pilot, lambda: rid in viewer.state.runs and viewer.client is not None, SAFETY)
        await wait_until(pilot, lambda: rid in trader.state.runs and trader.client is not None, SAFETY)
        async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
            await _until(c, lambda st: st["clients"] == 2)
        await view_pilot.press("s")
        await wait_until(view_pilot, lambda: READ_ONLY in [n.message for n in viewer._notifications], SAFETY)
        assert viewer.screen is viewer.dashboard  # no confirmation opened
        # the viewer's own session, past the console's check: the daemon refuses it as well
        refused = None
        try:
            await viewer.client.stop(rid)
        except DaemonError as exc:
            refused = exc
        assert refused is not None and refused.status == 403 and "read-only" in str(refused)
        assert viewer.state.runs[rid].status == "running"
        await pilot.press("s")
        await wait_until(pilot, lambda: trader.screen is not trader.dashboard, SAFETY)
        await pilot.press("enter")
        await wait_until(pilot, lambda: trader.state.runs[rid].status == "stopped", SAFETY)
        await wait_until(view_pilot, lambda: viewer.state.runs[rid].status == "stopped", SAFETY)
        await pilot.press("x")
        await view_pilot.press("x")


async def test_the_detach_key_follows_the_projects_keys_and_the_help_lists_it(place, tmp_path) -> None:
    """``[keys] detach = "f9"`` in the daemon's project: an attached console detaches on f9, no
    longer on x, and its help lists the detach command on f9."""
    settings = tmp_path / "settings.toml"
    settings.write_text('[keys]\ndetach = "f9"\n')
    d = place("--live", "quiet", env={"BTK_SETTINGS": str(settings)})
    d.wait_ready()
    app = await _app(d.dump)
    assert app.project.keys == {"detach": "f9"}  # the daemon's /v1/project said so
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "live:BTCUSDT:quiet" in app.state.runs, SAFETY)
        assert app.keys["detach"] == "f9"
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: app.screen.id == "help", SAFETY)
        from textual.widgets import DataTable

        table = app.screen.query_one(DataTable)
        assert str(table.get_cell("detach", "key")) == "f9"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.dashboard, SAFETY)
        await pilot.press("x")  # no longer the detach key
        await pilot.pause(0.1)
        assert app.is_running
        await pilot.press("f9")
        await wait_until(pilot, lambda: not app.is_running, SAFETY)


async def test_d_in_an_attached_console_has_the_daemon_write_the_reports(place) -> None:
    """``d`` from an attached console: the daemon writes every run's reports under its dump
    folder (the engine that made them is there), and the toast says how many and where."""
    d = place()
    d.wait_ready()
    async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
        refused = None
        try:
            await c.dump_reports()
        except DaemonError as exc:
            refused = exc
        assert refused is not None and refused.status == 409 and "nothing to dump" in str(refused)
        await c.start(mode="backtest", symbol="BTCUSDT", strategy="churn")
        await _until(c, lambda st: st["runs"][0]["status"] == "done")
    viewer = await _app(d.dump, read_only=True)  # a viewer may dump: it changes no run
    async with viewer.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: viewer.client is not None and viewer.state.runs, SAFETY)
        await pilot.press("d")
        await wait_until(pilot, lambda: any("by the daemon" in n.message for n in viewer._notifications), SAFETY)
        (note,) = [n.message for n in viewer._notifications if "by the daemon" in n.message]
        (report,) = (d.dump / "backtest").rglob("churn.md")  # keyed by exchange, frame and symbol
        assert "churn" in report.read_text()
        written = int(note.split()[0])
        assert written == len([p for p in d.dump.rglob("*.md")])
        assert str(d.dump.absolute()) in note
        await pilot.press("x")


async def test_l_in_an_attached_console_starts_live_on_the_daemon_with_the_daemons_broker(place) -> None:
    """``l`` → Enter in an attached console: the dialog names the broker the daemon's project
    registered for the exchange (not this process's default paper account) and the daemon starts
    the live run on it."""
    d = place("--broker", "demo-synthetic")
    d.wait_ready()
    app = await _app(d.dump)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.client is not None and app.connected, SAFETY)
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, StartDialog), SAFETY)
        await pilot.pause()
        assert "demo-synthetic: paper, simulated account" in screen_text(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(r.mode == "live" for r in app.state.runs.values()), SAFETY)
        async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
            (record,) = (await c.status())["runs"]
        assert record["mode"] == "live" and record["broker"] == "demo-synthetic"
        await pilot.press("x")


async def test_w_in_an_attached_console_describes_the_daemons_walkers(place) -> None:
    """``w`` in an attached console: the dialog describes each of the daemon's walkers as the
    in-process one does (what it compares, by which metric, on which exchange and frame), though
    this process registered none."""
    d = place()
    d.wait_ready()
    app = await _app(d.dump)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.client is not None and app.connected, SAFETY)
        assert engine.list_walkers() == []  # the walkers are the daemon's
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, StartDialog), SAFETY)
        await pilot.pause()
        assert "demo-walker  3 strategies by sharpe_ratio · demo-synthetic" in screen_text(app)
        assert app.screen.descriptions == {"demo-walker": "3 strategies by sharpe_ratio · demo-synthetic · demo-30d"}
        await pilot.press("escape")


async def test_a_real_money_broker_of_the_daemon_asks_once_more_and_no_starts_nothing(place) -> None:
    d = place("--venue-broker", "demo-synthetic")
    d.wait_ready()
    app = await _app(d.dump)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.client is not None and app.connected, SAFETY)
        await pilot.press("l")
        await pilot.pause()
        assert "REAL money" in screen_text(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), SAFETY)
        assert app.screen.id == "confirm-real-money"
        await pilot.press("n")
        await pilot.pause()
        async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
            assert (await c.status())["runs"] == []  # nothing started, no order
        await pilot.press("x")


async def test_c_and_f_in_an_attached_console_close_through_the_daemon_and_a_viewer_may_not(place) -> None:
    """``c`` and ``F`` act on the daemon's positions (its engine holds them), not on the attached
    process's empty engine; a read-only viewer is refused both with the read-only message."""
    d = place("--live", "churn", "--speed", "60")  # a 3-minute position lasts 3 s: time to close it
    d.wait_ready()
    rid = "live:BTCUSDT:churn"
    viewer = await _app(d.dump, read_only=True)
    app = await _app(d.dump)
    async with viewer.run_test(size=(120, 40)) as view_pilot, app.run_test(size=(120, 40)) as pilot:
        await wait_until(view_pilot, lambda: rid in viewer.state.runs, SAFETY)
        await view_pilot.press("c")
        await view_pilot.press("F")
        await wait_until(view_pilot, lambda: [n.message for n in viewer._notifications].count(READ_ONLY) == 2, SAFETY)
        assert viewer.screen is viewer.dashboard

        def manual() -> int:
            return sum(1 for line in app.state.log if line.kind == "CLOSED" and line.detail == "manual")

        def refused() -> int:
            return sum(1 for n in app._notifications if n.title == "Cannot close" or n.title == "Cannot flatten")

        await wait_until(pilot, lambda: rid in app.state.runs, SAFETY)
        app.session.selected = rid
        for key in ("c", "F"):  # churn may close on its own first: then ask again, at the next position
            before = manual()
            while manual() == before:
                await wait_until(pilot, lambda: bool([p for p in app.state.positions_of(rid) if not p.saved]), SAFETY)
                await pilot.press(key)
                await wait_until(pilot, lambda: isinstance(app.screen, ClosePreviewScreen), SAFETY)
                no, asked = refused(), len(app.state.log)
                await pilot.press("y")
                # the daemon closed it (a manual close comes back on the stream), or it had closed
                # on its own first (refused, or the close on the stream is churn's own)
                await wait_until(
                    pilot,
                    lambda n=no, m=asked, b=before: (
                        manual() > b or refused() > n or (not app.state.positions_of(rid) and len(app.state.log) > m)
                    ),
                    SAFETY,
                )
        assert manual() == 2
        await pilot.press("x")
        await view_pilot.press("x")


async def test_a_key_rebound_in_an_attached_console_says_it_lasts_this_session_only(place) -> None:
    """An attached console saves no settings (the daemon's project owns btk.toml): rebinding in
    its help works, and the note says it is for this session, not "(saved)"."""
    from textual.widgets import DataTable, Static

    d = place()
    d.wait_ready()
    app = await _app(d.dump)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.client is not None, SAFETY)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: app.screen.id == "help", SAFETY)
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("dump"))
        await pilot.press("enter")
        await pilot.press("f7")
        await pilot.pause()
        note = str(app.screen.query_one("#dialog-note", Static).render())
        assert "dump is now on" in note and "this session only" in note and "(saved)" not in note
        assert app.keys["dump"] == "f7"
        assert not (d.dump / "attach-settings.toml").exists()  # nothing written
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.dashboard, SAFETY)
        await pilot.press("x")


async def test_x_in_an_attached_console_clears_the_daemons_breaker(place) -> None:
    """A circuit breaker trips in the daemon (a drawdown limit so small the first dip trips it);
    the attached header says CLOSE-ONLY; ``X`` → yes clears it in the daemon's book (the
    attached process has no book of its own), and the cleared event comes back on the stream."""
    d = place("--live", "churn", "--speed", "60", "--drawdown", "0.001")
    d.wait_ready()
    app = await _app(d.dump)
    async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
        feed = Feed(c).__aiter__()
        cleared = asyncio.Event()

        async def watch() -> None:
            async for item in feed:
                if isinstance(item, Event) and item.stream == "breaker" and item.event.breaker is None:
                    cleared.set()
                    return

        watcher = asyncio.ensure_future(watch())
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await wait_until(pilot, lambda: "paper" in app.state.breakers, SAFETY)
                await wait_until(pilot, lambda: "CLOSE-ONLY" in _header(app), SAFETY)
                await pilot.press("X")
                await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), SAFETY)
                await pilot.press("y")
                await asyncio.wait_for(cleared.wait(), SAFETY)  # the daemon's book was cleared
                assert not [n for n in app._notifications if n.title == "Breaker not cleared"]
                await pilot.press("x")
        finally:
            watcher.cancel()
            await feed.aclose()
