"""Snapshots of ``btk-console attach`` (issue 17): the dashboard fed by a real daemon subprocess
through its socket, the connection-lost banner, and a read-only viewer's header.

Deterministic by construction: the daemon runs a backtest (the demo's candles are a pure function
of time, signal ids are seeded) with its wall clock pinned (``--wall``: no elapsed time that
depends on the machine), the console's clock is frozen, and each snapshot is taken once what it
shows has arrived: the run finished and folded, the banner up. The Signals pane is laid out with
its widths known at once (console/widgets/panes.py SignalsPane), so no frame drawn before the
table's next idle can catch its Detail column at the label's width.
"""

from __future__ import annotations

import asyncio
import signal

from conftest import fixed_clock, wait_until
from daemons import SAFETY, _until

from console.attach import AttachedApp, fetch
from console.client import DaemonClient, Endpoint

RID = "backtest:BTCUSDT:churn"


def _daemon_with_a_finished_backtest(place, tmp_path):
    d = place("--wall", "1700000000", env={"BTK_SETTINGS": str(tmp_path / "no-settings.toml")})
    d.wait_ready()

    async def backtest() -> None:
        async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
            await c.start(mode="backtest", symbol="BTCUSDT", strategy="churn")
            await _until(c, lambda st: st["runs"][0]["status"] == "done")

    asyncio.run(backtest())
    return d


def _attached(d, **kw) -> AttachedApp:
    endpoint = Endpoint.for_dump(d.dump)
    info, daemon = asyncio.run(fetch(endpoint))

    class NeverBack:
        """The reconnect pause never ends: the banner stays up for the snapshot."""

        async def __call__(self, _seconds: float) -> None:
            await asyncio.Event().wait()

    return AttachedApp(endpoint, info, daemon, sleep=NeverBack(), clock=fixed_clock, **kw)


async def _shown(pilot) -> None:
    """The finished backtest folded and drawn: its run done, nothing waiting to fold."""
    app = pilot.app
    await wait_until(pilot, lambda: app.connected and RID in app.state.runs, SAFETY)
    await wait_until(pilot, lambda: app.state.runs[RID].status == "done" and not app._pending, SAFETY)
    await pilot.pause()


def test_attached_dashboard(snap_compare, place, tmp_path) -> None:
    d = _daemon_with_a_finished_backtest(place, tmp_path)
    assert snap_compare(_attached(d), terminal_size=(120, 40), run_before=_shown)


def test_attached_connection_lost_banner(snap_compare, place, tmp_path) -> None:
    d = _daemon_with_a_finished_backtest(place, tmp_path)

    async def run_before(pilot) -> None:
        await _shown(pilot)
        d.stop(signal.SIGKILL)
        await wait_until(pilot, lambda: not pilot.app.connected, SAFETY)
        await pilot.pause()

    assert snap_compare(_attached(d), terminal_size=(120, 40), run_before=run_before)


def test_attached_read_only_header(snap_compare, place, tmp_path) -> None:
    d = _daemon_with_a_finished_backtest(place, tmp_path)
    assert snap_compare(_attached(d, read_only=True), terminal_size=(100, 30), run_before=_shown)


def test_attached_trade_inspector(snap_compare, place, tmp_path) -> None:
    """``i`` attached: the daemon's trades, the third one shown and charted on the daemon's candles."""
    d = _daemon_with_a_finished_backtest(place, tmp_path)

    async def run_before(pilot) -> None:
        await _shown(pilot)
        await pilot.press("i")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.charted is not None and screen.charted == screen.window, SAFETY)
        await pilot.press("down", "down", "enter")
        await wait_until(pilot, lambda: screen.selected is not None and screen.charted == screen.window, SAFETY)
        # the table sizes its columns to its rows when idle: on a loaded machine the picture was
        # taken first (the labels' widths); its Exit column holds "time_expired" once sized
        table = screen.query_one("#trades-table")
        await wait_until(pilot, lambda: table.columns["reason"].content_width >= len("time_expired"), SAFETY)
        await pilot.pause()

    assert snap_compare(_attached(d), terminal_size=(80, 24), run_before=run_before)
