"""SPEC 16 part F (live, persistence, restore) and SPEC 8's loop and stop rules, on a frozen
simulated clock (see live_helpers). Candles are absolute: each depends only on its own minute."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from live_helpers import live, register, run_live, state_file
from spec_helpers import EXCHANGE, STRATEGY, SYMBOL, F, m, sig

import engine as e
from engine.model import SignalRow
from engine.runners.live import TICK_TTL


def jump_at(k0: int, before: float, after: float):
    return lambda k: F(before) if k < k0 else F(after)


async def test_live_opens_and_closes_a_trade_and_keeps_its_file_in_step() -> None:
    out = await live(jump_at(5, 42000, 43000), [sig("long", tp=42500, sl=41000, met=600)], until=20)
    opened, closed = out.yielded
    assert (opened.action, closed.action, closed.close_reason) == ("opened", "closed", "take_profit")
    assert opened.current_price == 42000 and closed.current_price == 42500
    # ticks are TICK_TTL apart: the n-th tick is at m0 + n * 60.001 s, and its VWAP covers candles
    # opening in [now - 4 min, now]; at the 6th tick (m6 + 6 ms) that is m3..m6, half at 43000
    assert closed.close_timestamp == m(0) + 6 * TICK_TTL
    assert all(not r.backtest for r in out.yielded + out.ticks)  # case 60
    assert json.loads(state_file("signal", SYMBOL).read_text()) is None  # closed: the slot is empty on disk
    assert not out.errors


async def test_on_write_row_once_per_open_and_null_once_per_close_after_on_close() -> None:
    """Case 59: a TP, an SL and a cancelled limit entry."""
    prices = {k: 42000 for k in range(-10, 200)}
    for k in range(10, 20):
        prices[k] = 43000  # the first trade reaches its TP; the second opens up here and falls to its SL at m20

    def script(n: int, price: float):
        if n < 2:
            return sig("long", tp=price * 1.01, sl=price * 0.99, met=600)
        if n == 2:  # a limit entry far below: never filled, cancelled at its timeout
            return sig("long", tp=price * 1.1, sl=price * 0.6, met=600, open_=price * 0.7)
        return None

    out = await live(lambda k: F(prices.get(k, 42000)), script, until=200)
    actions = [r.action for r in out.yielded]
    assert actions == ["opened", "closed", "opened", "closed", "cancelled"]
    writes = [c for c in out.callbacks if c[0] in ("on_write", "on_close")]
    rows = [c[2] for c in writes if c[0] == "on_write" and c[2] is not None]
    nulls = [c for c in writes if c[0] == "on_write" and c[2] is None]
    assert len(rows) == len(nulls) == 2  # the scheduled row is never written through on_write
    names = [c[0] if c[0] == "on_close" else ("row" if c[2] is not None else "null") for c in writes]
    assert names == ["row", "on_close", "null", "row", "on_close", "null"]


async def test_signal_live_once_with_a_filter_fires_once() -> None:
    fired = []
    e.listen_signal_live_once(lambda r: r.action == "active", fired.append)
    out = await live(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=30)], until=40)
    assert [r.action for r in out.yielded] == ["opened", "closed"]
    assert len(fired) == 1 and fired[0].action == "active" and not fired[0].backtest


def row(position: str, *, open_: float, tp: float, sl: float, met: int = 1440, **kw) -> SignalRow:
    fields = dict(
        id="restored-1",
        position=position,
        price_open=open_,
        price_take_profit=tp,
        price_stop_loss=sl,
        minute_estimated_time=met,
        symbol=SYMBOL,
        exchange_name=EXCHANGE,
        strategy_name=STRATEGY,
        scheduled_at=m(-720),
        pending_at=m(-720),
        is_scheduled=False,
    )
    fields.update(kw)
    return SignalRow(**fields)


async def test_case_55_restored_scheduled_short_whose_stop_was_passed_is_dropped_silently() -> None:
    await e.PersistScheduleAdapter.write_schedule_data(
        row("short", open_=3000, tp=2900, sl=3100, is_scheduled=True, pending_at=None, scheduled_at=m(-5)),
        SYMBOL,
        STRATEGY,
    )
    out = register(lambda k: F(3200))
    await run_live(out, until=0)
    assert [r.id for r in out.restored] == ["restored-1"]
    assert out.names()[:1] == ["on_schedule"] and out.cb("on_schedule")[0][1] == 3200  # at init, with the VWAP
    first = out.ticks[0]
    assert first.action == "idle" and first.current_price == 3200
    assert "on_cancel" not in out.names() and "on_idle" not in out.names()[: out.names().index("on_tick")]
    assert json.loads(state_file("schedule", SYMBOL).read_text()) is None


async def test_case_56_restored_position_keeps_its_remaining_lifetime() -> None:
    await e.PersistSignalAdapter.write_signal_data(row("long", open_=42000, tp=50000, sl=35000), SYMBOL, STRATEGY)
    out = register(lambda k: F(42000))
    await run_live(out, until=800)
    assert out.names()[0] == "on_active"
    [closed] = out.yielded  # restored positions are not "opened" again
    assert closed.action == "closed" and closed.close_reason == "time_expired" and closed.signal.id == "restored-1"
    # pending since m-720 with 1440 minutes to live: it expires at the first tick at or after m720
    assert m(720) <= closed.close_timestamp < m(721)
    assert out.calls == [] or min(out.calls) > 720  # no new signal while it was open


async def test_restore_can_run_before_the_first_tick_and_is_not_repeated_by_it() -> None:
    """The console shows what came back before trading starts; the tick must not restore twice
    (a second restore would call on_active again and reset the row)."""
    await e.PersistSignalAdapter.write_signal_data(row("long", open_=42000, tp=50000, sl=35000), SYMBOL, STRATEGY)
    out = register(lambda k: F(42000))
    e.set_clock(e.SimulatedClock(m(0), speed=0))
    handle = e.Live.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE)
    restored = await handle.restore()
    assert [r.id for r in restored] == ["restored-1"] and out.names() == ["on_active"]
    assert await handle.restore() == restored and out.names() == ["on_active"]
    e.Live.stop(SYMBOL, STRATEGY)
    async for _ in handle:
        pass
    assert out.names().count("on_active") == 1
    assert [t.action for t in out.ticks] == ["idle"]  # SPEC 8.5: the stopped tick is idle; the position stays saved
    assert json.loads(state_file("signal", SYMBOL).read_text())["id"] == "restored-1"


class HeldClock:
    """A clock whose sleeps never end by themselves: only a stop can move the loop on."""

    def __init__(self, now: int) -> None:
        self.t, self.sleeps = now, 0
        self.asleep = asyncio.Event()

    def now(self) -> int:
        return self.t

    async def sleep(self, ms: float) -> None:
        self.sleeps += 1
        self.asleep.set()
        await asyncio.Event().wait()


async def test_a_stop_wakes_the_loop_instead_of_waiting_out_the_tick_interval() -> None:
    """SPEC 8.5: the loop ends at the tick after a stop; btk runs that tick at once instead of a
    TICK_TTL later (it only returns idle), so a stop in the console is not a minute late."""
    await e.PersistSignalAdapter.write_signal_data(row("long", open_=42000, tp=50000, sl=35000), SYMBOL, STRATEGY)
    out = register(lambda k: F(42000))
    clock = HeldClock(m(0))
    e.set_clock(clock)
    handle = e.Live.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE)
    consumer = asyncio.ensure_future(_drain(handle))
    await asyncio.wait_for(clock.asleep.wait(), timeout=10)  # the first tick happened (state files take a thread)
    assert [t.action for t in out.ticks] == ["active"] and clock.sleeps == 1
    e.Live.stop(SYMBOL, STRATEGY)
    await asyncio.wait_for(consumer, timeout=10)  # a safety net only: it ends within a few loop turns
    assert [t.action for t in out.ticks] == ["active", "idle"] and clock.sleeps == 1
    assert json.loads(state_file("signal", SYMBOL).read_text())["id"] == "restored-1"  # still saved


async def _drain(handle) -> None:
    async for _ in handle:
        pass


async def test_case_57_restored_position_already_past_its_take_profit_closes_on_the_first_tick() -> None:
    await e.PersistSignalAdapter.write_signal_data(
        row("long", open_=40000, tp=41000, sl=39000, pending_at=None), SYMBOL, STRATEGY
    )
    out = register(lambda k: F(42000))
    await run_live(out, until=0)
    [closed] = out.yielded
    assert (closed.action, closed.close_reason, closed.current_price) == ("closed", "take_profit", 41000)
    assert closed.close_timestamp == m(0)
    assert "on_close" in out.names()


async def test_case_58_rows_of_another_exchange_or_strategy_are_quarantined_not_restored_or_overwritten() -> None:
    """SPEC 8.3 stopped the restore on such a row, and the next write overwrote it (issue 20): now it
    is moved to quarantine and the pair does not trade until a person looks."""
    await e.PersistSignalAdapter.write_signal_data(
        row("long", open_=42000, tp=50000, sl=35000, exchange_name="elsewhere"), SYMBOL, STRATEGY
    )
    text = state_file("signal", SYMBOL).read_text()
    await e.PersistScheduleAdapter.write_schedule_data(
        row("long", open_=41000, tp=50000, sl=35000, is_scheduled=True), SYMBOL, STRATEGY
    )
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=60)])
    with pytest.raises(e.PairQuarantinedError):
        await run_live(out, until=2)
    assert out.restored == [] and out.yielded == [] and out.ticks == []
    [moved] = (Path("dump") / "data" / "quarantine" / "signal" / f"{SYMBOL}_{STRATEGY}").glob(f"*-{SYMBOL}.json")
    assert moved.read_text() == text and not state_file("signal", SYMBOL).exists()
    assert json.loads(state_file("schedule", SYMBOL).read_text())["id"] == "restored-1"  # untouched


async def test_empty_storage_starts_idle() -> None:
    out = await live(lambda k: F(42000), None, until=3)
    assert out.restored == [] and {r.action for r in out.ticks} == {"idle"} and len(out.calls) == 4


async def test_case_62_stop_while_idle_ends_the_loop_and_the_cancel_function_emits_done_at_once() -> None:
    import asyncio

    out = register(lambda k: F(42000), [None, None, None, sig("long", tp=43000, sl=41000, met=60)])
    e.set_clock(e.SimulatedClock(m(0), speed=0))
    done = []
    e.listen_done_live(done.append)
    two_ticks = asyncio.Event()
    e.listen_signal_live(lambda r: two_ticks.set() if len(out.ticks) >= 2 else None)
    cancel = e.Live.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE)
    await two_ticks.wait()
    cancel()  # no position is open: done_live goes out now, not when the task ends
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(done) == 1 and done[0].backtest is False
    assert [s.status for s in e.Live.list()] == ["fulfilled"]
    assert all(r.action == "idle" for r in out.ticks) and len(out.calls) <= 3  # no signal after the stop


async def test_stop_with_an_open_position_leaves_it_saved_and_the_next_start_closes_it_exactly_once() -> None:
    candles = jump_at(30, 42000, 43000)
    out = await live(candles, [sig("long", tp=42500, sl=41000, met=600)], until=5)
    assert [r.action for r in out.yielded] == ["opened"]  # stopped at m5 with the position open
    saved = json.loads(state_file("signal", SYMBOL).read_text())
    assert saved["id"] == out.yielded[0].signal.id and "on_close" not in out.names()

    # a new process: same registrations, nothing in memory
    from spec_helpers import restart

    restart()
    again = register(candles, [])
    await run_live(again, start=10, until=60)
    assert [r.id for r in again.restored] == [saved["id"]]
    closed = [r for r in again.yielded if r.action == "closed"]
    assert len(closed) == 1 and closed[0].close_reason == "take_profit" and closed[0].signal.id == saved["id"]
    assert json.loads(state_file("signal", SYMBOL).read_text()) is None
