"""What a crash in the middle of a live tick's state flush leaves behind, and how the restart copes
(found by the crash test in tests/crash/):

- a partial milestone is announced only once its level is on disk, so a restart never announces
  it again;
- flushes run one at a time, so a run that publishes after its flush returned never publishes
  state another run's flush is still writing;
- a flush writes the pending slot first, and the restore aligns the run's risk position, partial
  levels and scheduled slot with the restored position.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from live_helpers import register, run_live, state_file
from spec_helpers import STRATEGY, SYMBOL, F, restart, sig

import engine as e
from engine.persist.adapters import StateWriter

RISK_FILE = Path("dump") / "data" / "risk" / "desk" / "positions.json"
KEY = f"{STRATEGY}:{SYMBOL}"


def climbing(k: int) -> tuple[float, ...]:
    return F(42000 + min(max(k, 0), 40) * 25)  # towards a TP at 43000, reached at m40


async def test_a_live_milestone_is_announced_only_once_its_level_is_on_disk() -> None:
    out = register(climbing, [sig("long", tp=43000, sl=41000, met=600)])
    heard = []

    def on_level(ev: e.PartialEvent) -> None:
        path = state_file("partial", "levels")
        saved = json.loads(path.read_text())[ev.data.id]["profitLevels"] if path.exists() else []
        heard.append((ev.level, ev.level in saved))

    e.listen_partial_profit(on_level)
    await run_live(out, until=12)
    assert [level for level, _ in heard] == [10, 20] and all(on_disk for _, on_disk in heard)


async def test_a_flush_returns_only_when_the_writes_another_flush_took_over_are_done() -> None:
    writer, gate, written = StateWriter(), asyncio.Event(), []

    async def slow() -> None:
        await gate.wait()
        written.append("signal")

    writer.mark(("signal", SYMBOL, STRATEGY), slow)
    first = asyncio.create_task(writer.flush())
    await asyncio.sleep(0)  # the first flush has taken the document and is writing it
    second = asyncio.create_task(writer.flush())
    for _ in range(20):  # loop turns, not wall time: the second flush has every chance to finish early
        await asyncio.sleep(0)
    assert not second.done()  # its run would publish a result whose state is not on disk yet
    gate.set()
    await asyncio.gather(first, second)
    assert written == ["signal"]


async def test_a_flush_writes_the_pending_slot_first() -> None:
    writer, order = StateWriter(), []
    for key in (("partial", SYMBOL, STRATEGY), ("risk", "desk"), ("signal", SYMBOL, STRATEGY)):

        async def write(name: str = key[0]) -> None:
            order.append(name)

        writer.mark(key, write)
    await writer.flush()
    assert order == ["signal", "partial", "risk"]


async def test_a_restart_after_a_crash_inside_a_close_drops_the_stale_risk_position_and_levels() -> None:
    e.add_risk("desk", max_concurrent_positions=1)
    out = register(climbing, [sig("long", tp=43000, sl=41000, met=600)], risk_name="desk")
    await run_live(out, until=12)
    [opened] = out.yielded
    assert json.loads(RISK_FILE.read_text())[0][0] == KEY
    assert opened.signal.id in json.loads(state_file("partial", "levels").read_text())
    state_file("signal", SYMBOL).write_text("null")  # the close's first write landed, then the crash

    restart()
    e.add_risk("desk", max_concurrent_positions=1)
    rejected = []
    e.listen_risk(rejected.append)
    again = register(climbing, [sig("long", tp=43500, sl=41000, met=600)], risk_name="desk")
    await run_live(again, start=13, until=15)
    assert not again.restored and not rejected  # the closed position no longer counts
    [reopened] = again.yielded
    assert reopened.action == "opened"
    assert [key for key, _ in json.loads(RISK_FILE.read_text())] == [KEY]
    assert opened.signal.id not in json.loads(state_file("partial", "levels").read_text())


async def test_a_restart_after_a_crash_inside_an_open_counts_the_restored_position_in_its_risk() -> None:
    e.add_risk("desk", max_concurrent_positions=1)
    out = register(climbing, [sig("long", tp=43000, sl=41000, met=600)], risk_name="desk")
    await run_live(out, until=2)
    RISK_FILE.write_text("[]")  # the open's first write (the position) landed, then the crash

    restart()
    e.add_risk("desk", max_concurrent_positions=1)
    again = register(climbing, [], risk_name="desk")
    await run_live(again, start=3, until=5)
    assert [r.id for r in again.restored] == [out.yielded[0].signal.id]
    assert [key for key, _ in json.loads(RISK_FILE.read_text())] == [KEY]


async def test_a_restart_after_a_crash_inside_an_activation_does_not_restore_the_entry_twice() -> None:
    prices = lambda k: F(42000 if k < 3 else 41500)  # noqa: E731  # the limit at 41600 fills at m3
    out = register(prices, [sig("long", tp=43000, sl=40000, met=600, open_=41600)])
    await run_live(out, until=8)
    assert [r.action for r in out.yielded] == ["opened"]
    row = json.loads(state_file("signal", SYMBOL).read_text())
    state_file("schedule", SYMBOL).write_text(json.dumps({**row, "pending_at": None, "is_scheduled": True}))

    restart()
    again = register(prices, [])
    await run_live(again, start=9, until=12)
    assert [r.id for r in again.restored] == [row["id"]]  # the position only, not its entry again
    assert json.loads(state_file("schedule", SYMBOL).read_text()) is None
    assert not again.yielded  # nothing opened a second time
