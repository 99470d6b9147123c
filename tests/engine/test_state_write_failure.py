"""A state write that fails is never announced (issue 20, item 2), in-process on a frozen
SimulatedClock: the rename inside the persist module fails with a real ``OSError`` (ENOSPC or
EROFS) during chosen minutes.

While the state is not writable the run is close-only: no ``get_signal`` asks and no entries, an
open position still closes, nothing is announced (no opened/closed/scheduled/cancelled result, no
milestone, no yield) until the state it describes is on disk; every tick retries the write. The
change is reported once each way (error stream and ``state_write``), not once per tick. A restart
after a kill restores no position announced closed and misses none announced opened.
The real-process cases (a full tmpfs, a read-only remount, a SIGKILL and a restart on a healthy
disk) are in tests/crash/test_write_failures.py.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

import aiofiles.os
import pytest
from live_helpers import LiveOutcome, register, state_file
from spec_helpers import EXCHANGE, STRATEGY, SYMBOL, F, m, minute, restart, sig

import engine as e
import engine.persist.base as persist_base


class Disk:
    """Makes the state writes fail with ``code`` while ``broken(minute)`` is true."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, code: int = errno.ENOSPC) -> None:
        self.code = code
        self.broken: Callable[[float], bool] = lambda k: False
        self.only: str = ""  # fail only documents whose path contains this
        self.failed = 0
        real = aiofiles.os.replace

        async def replace(src: os.PathLike[str] | str, dst: os.PathLike[str] | str) -> None:
            if self.broken(minute(e.get_clock().now())) and self.only in str(dst):
                self.failed += 1
                raise OSError(self.code, os.strerror(self.code), str(dst))
            await real(src, dst)

        monkeypatch.setattr(persist_base.aiofiles.os, "replace", replace)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    return Disk(monkeypatch)


class StoppingClock(e.SimulatedClock):
    """A frozen clock that stops the run once a sleep reaches minute ``until`` (a run that
    announces nothing cannot be stopped by a listener of its results)."""

    def __init__(self, start: float, until: float) -> None:
        super().__init__(m(start), speed=0)
        self.until = until

    async def sleep(self, ms: float) -> None:
        await super().sleep(ms)
        if self.now() >= m(self.until):
            e.Live.stop(SYMBOL, STRATEGY)


async def trade(out: LiveOutcome, *, until: float, start: float = 0) -> list[e.StateWriteStatus]:
    """Live from minute ``start`` until the first tick at or after minute ``until``. Returns the
    ``state_write`` events."""
    e.set_clock(StoppingClock(start, until))
    statuses: list[e.StateWriteStatus] = []
    unsubscribe = e.listen_state_write(statuses.append)
    handle = e.Live.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE)
    try:
        async for result in handle:
            out.yielded.append(result)
    finally:
        unsubscribe()
    out.restored = handle.restored
    return statuses


async def test_a_close_that_cannot_be_written_is_announced_only_once_it_is_and_no_entry_is_made_meanwhile(
    disk: Disk,
) -> None:
    disk.broken = lambda k: 5 <= k < 9  # the position (open at m0, 5 minutes to live) closes at m5
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=5), sig("long", tp=43000, sl=41000)])
    heard: list[tuple[str, float]] = []
    e.listen_signal_live(lambda r: heard.append((r.action, minute(e.get_clock().now()))))
    statuses = await trade(out, until=12)

    assert [(a, k) for a, k in heard if a not in ("idle", "active")] == [("opened", 0), ("closed", 9), ("opened", 9)]
    assert out.calls == [0, 9]  # close-only from m5 to m8: get_signal was not asked
    [closed] = [r for r in out.yielded if r.action == "closed"]
    assert minute(closed.close_timestamp) == 5  # it closed on time; only its announcement waited
    [error] = out.errors  # once, not once per tick
    path = state_file("signal", SYMBOL)
    assert str(error).startswith(f"CLOSE-ONLY: state not writable ({path}: [Errno 28] No space left")
    assert [s.writable for s in statuses] == [False, True] and statuses[0].path == str(path)
    # the exit order's intent at m5 (written before the flush, engine/brokers/desk.py), the
    # signal slot at m5, retried at m6, m7, m8 (and failed), written at m9
    assert disk.failed == 5
    assert not list(path.parent.glob(".tmp-*"))  # a failed write leaves no temp file


async def test_an_entry_whose_write_fails_is_announced_once_written_and_its_milestones_follow_it(disk: Disk) -> None:
    disk.broken = lambda k: k < 3
    out = register(lambda k: F(42000 + min(k, 8) * 100), [sig("long", tp=43000, sl=41000, met=600)])
    milestones: list[tuple[int, float]] = []
    heard: list[str] = []
    e.listen_signal_live(lambda r: heard.append(r.action))
    e.listen_partial_profit(lambda ev: (milestones.append((ev.level, minute(e.get_clock().now()))), heard.append("p")))
    statuses = await trade(out, until=6)

    assert [a for a in heard if a != "active"][:2] == ["opened", "p"]  # in the order they happened
    assert milestones[0][1] == 3  # reached at m1 or m2, announced with the open once written at m3
    assert [r.action for r in out.yielded] == ["opened"] and minute(out.yielded[0].signal.pending_at) == 0
    assert [s.writable for s in statuses] == [False, True] and len(out.errors) == 1


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
async def test_a_restart_after_a_stop_while_unwritable_restores_what_was_announced_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    disk = Disk(monkeypatch, code)
    disk.broken = lambda k: k >= 5  # open (m0) written; the close (m5) never is
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=5)])
    await trade(out, until=8)
    assert [r.action for r in out.yielded] == ["opened"]  # the close was never announced
    [opened] = out.yielded
    [error] = out.errors
    assert os.strerror(code) in str(error)

    restart()  # a new process on a healthy disk
    disk.broken = lambda k: False
    again = register(lambda k: F(42000), [])
    await trade(again, start=10, until=13)
    assert [r.id for r in again.restored] == [opened.signal.id]  # announced opened: not missing
    assert [(r.action, r.signal.id) for r in again.yielded] == [("closed", opened.signal.id)]  # closed once


async def test_an_entry_never_written_is_never_announced_and_not_restored(disk: Disk) -> None:
    disk.broken = lambda k: True
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=600)])
    await trade(out, until=4)
    assert out.yielded == [] and [r.action for r in out.ticks] == []
    restart()
    disk.broken = lambda k: False
    again = register(lambda k: F(42000), [])
    await trade(again, start=5, until=7)
    assert again.restored == [] and again.yielded == [] and not Path(state_file("signal", SYMBOL)).exists()


async def test_a_close_whose_pending_slot_cannot_be_written_leaves_the_levels_and_risk_position_on_disk(
    disk: Disk,
) -> None:
    """Found by the crash test's write-failure phase: the other documents of the close's flush
    were written after the pending slot's write failed, so the disk held an open position with
    its levels and risk position already cleared, and a restart announced its milestones again."""
    e.add_risk("desk", max_concurrent_positions=1)
    disk.broken, disk.only = (lambda k: k >= 8), "/signal/"
    out = register(lambda k: F(42000 + min(k, 4) * 100), [sig("long", tp=43000, sl=41000, met=8)], risk_name="desk")
    await trade(out, until=10)
    [opened] = out.yielded  # the close (m8) was not announced
    levels = json.loads(state_file("partial", "levels").read_text())
    assert levels[opened.signal.id]["profitLevels"][:2] == [10, 20]  # still the open position's
    risk = json.loads((Path("dump") / "data" / "risk" / "desk" / "positions.json").read_text())
    assert [key for key, _ in risk] == [f"{STRATEGY}:{SYMBOL}"]
