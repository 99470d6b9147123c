"""The console and the live state folder (issue 20): ``l`` on a folder another process holds is
an error notification naming the holder and starts nothing; a live state that cannot be written
shows CLOSE-ONLY in the header (path and OS error) until it is writable again.
Live time is a SteppedClock, as in test_live.py."""

from __future__ import annotations

import errno
import fcntl
import os

from conftest import LIVE_T0, SteppedClock, flush_bridge, live_app, live_tick, start_live, wait_until

import engine
from console.widgets.header import BtkHeader
from engine.persist.lock import LOCK_NAME


async def test_l_on_a_folder_another_process_trades_is_an_error_naming_it_and_starts_nothing(
    tmp_path, no_settings
) -> None:
    data = tmp_path / "dump" / "data"
    data.mkdir(parents=True)
    fd = os.open(data / LOCK_NAME, os.O_RDWR | os.O_CREAT)  # "the other process"
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"pid 777\ncommand btk-console live\nsince 2026-01-02T03:04:05Z\n")
    try:
        app = live_app(tmp_path / "dump")
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("l")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app._notifications)
            [note] = list(app._notifications)
            assert note.title == "Cannot start" and note.severity == "error"
            assert f"state folder {data} is in use by another live process (pid 777" in note.message
            assert not app.state.runs and engine.Live.list() == []
    finally:
        os.close(fd)


async def test_the_header_says_close_only_while_the_state_cannot_be_written(tmp_path, no_settings, state_disk) -> None:
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    state_disk.error = errno.EROFS
    app = live_app(tmp_path / "dump")
    async with app.run_test(size=(200, 40)) as pilot:
        await start_live(pilot, clock)  # the open cannot be written
        header = str(app.screen.query_one(BtkHeader).render())
        path = tmp_path / "dump" / "data" / "signal" / "BTCUSDT_probe" / "BTCUSDT.json"
        reason = f"CLOSE-ONLY: state not writable ({path}: [Errno 30] Read-only file system)"
        assert app.state.close_only == reason
        # the header shows as much of it as its width holds (the temp folder's length varies)
        shown = header[header.index("CLOSE-ONLY") :]
        if not shown.startswith(reason):  # cut with an ellipsis: what is shown is the reason's start
            cut = shown.split("…")[0]
            assert "…" in shown and len(cut) > len("CLOSE-ONLY: state not writable (") and reason.startswith(cut)
        assert not app.state.positions_of("live:BTCUSDT:probe")  # not announced: not shown
        state_disk.error = None
        await live_tick(pilot, clock)
        await flush_bridge(pilot)
        assert "CLOSE-ONLY" not in str(app.screen.query_one(BtkHeader).render())
        assert app.state.positions_of("live:BTCUSDT:probe")
