"""One writer per state folder (issue 20, item 1): the first live run of a process takes an OS lock
on ``<state folder>/.lock`` and keeps it; another holder makes ``Live.run``/``Live.background``
refuse with ``StateFolderLocked`` naming it. The cross-process cases (a second ``btk-console
live``, a SIGKILLed holder) are in tests/console/test_state_folder_lock.py; here the "other
process" is a second open file description of the lock file, which ``flock`` treats the same way.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_helpers import register, run_live
from spec_helpers import EXCHANGE, STRATEGY, SYMBOL, F, backtest, sig

import engine as e
from engine.persist.lock import LOCK_NAME, held_folder

STATE = Path("dump") / "data"


@pytest.fixture
def other_holder() -> Iterator[Path]:
    """The state folder locked by "someone else", who wrote who they are into the lock file."""
    STATE.mkdir(parents=True)
    fd = os.open(STATE / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"pid 4242\ncommand btk-console live --strategy demo-trend\nsince 2026-01-02T03:04:05Z\n")
    yield STATE.resolve()
    os.close(fd)


def test_live_run_refuses_a_folder_another_process_holds_and_names_the_holder(other_holder: Path) -> None:
    register(lambda k: F(42000))
    with pytest.raises(e.StateFolderLocked) as caught:
        e.Live.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE)
    message = str(caught.value)
    assert str(other_holder) in message and "pid 4242" in message
    assert "btk-console live --strategy demo-trend" in message and "since 2026-01-02T03:04:05Z" in message
    assert caught.value.holder.pid == "4242" and caught.value.folder == other_holder
    assert e.Live.list() == []  # nothing was started


def test_live_background_refuses_too_and_the_pair_can_start_once_the_folder_is_free(other_holder: Path) -> None:
    register(lambda k: F(42000))
    with pytest.raises(e.StateFolderLocked):
        e.Live.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE)
    assert [t.status for t in e.Live.list()] in ([], ["ready"])  # not "pending": it can start later


async def test_two_live_runs_in_one_process_share_the_folder_and_the_lock_names_this_process() -> None:
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=5)])
    e.Live.run("ETHUSDT", strategy_name=STRATEGY, exchange_name=EXCHANGE)  # a second pair, same folder
    await run_live(out, until=10)
    assert [r.action for r in out.yielded] == ["opened", "closed"]
    assert held_folder() == STATE.resolve()
    text = (STATE / LOCK_NAME).read_text()
    assert text.startswith(f"pid {os.getpid()}\ncommand ") and "\nsince " in text


async def test_the_lock_file_does_not_upset_the_stores_and_a_backtest_never_takes_it() -> None:
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=5)])
    await run_live(out, until=10)
    await run_live(out, start=11, until=15)  # a restart in the same process: the stores scan again
    assert not out.errors
    e.set_base_dir(Path("elsewhere"))  # the engine moved: the old folder is not held any more
    assert held_folder() is None
    fd = os.open(STATE / LOCK_NAME, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: would raise BlockingIOError if still held
    os.close(fd)


async def test_a_backtest_never_takes_the_lock(other_holder: Path) -> None:
    out = await backtest(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=5)])
    assert out.yielded and held_folder() is None
