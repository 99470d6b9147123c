"""``btk-console attach`` (issue 17): the dashboard fed by a real daemon subprocess through its real
socket, driven with Textual's pilot. The daemon (tests/console/daemon_child.py) trades the ``churn``
strategy on a 600x simulated clock, so positions open and close while the tests watch, and while
nobody does."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import astuple

from conftest import wait_until
from daemons import SAFETY, _until

from console.attach import READ_ONLY, AttachedApp, fetch
from console.client import DaemonClient, Endpoint


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
