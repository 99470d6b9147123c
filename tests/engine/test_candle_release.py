"""A finished run gives its candles back: once it ends, only the candle cache holds the stores it
read, so ``clear_candle_cache()`` frees them (the results and statistics stay)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from datetime import UTC, datetime, timedelta

import engine as e
from engine import active_engine as e_active

START = datetime(2024, 1, 1, tzinfo=UTC)
LONG = {"position": "long", "minute_estimated_time": 120}


def _register() -> None:
    e.add_synthetic_exchange("sim", seed=3)
    e.add_frame("f", "1m", START, START + timedelta(days=2))

    def get_signal(symbol, when, price):  # a long at every call: a trade every couple of hours
        return {**LONG, "price_take_profit": price * 1.01, "price_stop_loss": price * 0.992}

    e.add_strategy("s", "15m", get_signal)


def _stores() -> list[weakref.ref]:
    """Weak references to every cached store and its columns (the memory a run fetched)."""
    refs = []
    for client in e_active().candle_clients.clients.values():
        for st in client._stores.values():
            refs.append(weakref.ref(st))
            refs.extend(weakref.ref(getattr(st, name)) for name in ("open", "close"))
    return refs


def _alive(refs: list[weakref.ref], collect: bool = True) -> int:
    if collect:
        gc.collect()
    return sum(r() is not None for r in refs)


def test_a_finished_run_handle_keeps_no_candles() -> None:
    """``Backtest.run``'s handle is kept (as the console keeps it): after the run and
    ``clear_candle_cache()`` no store survives, and the statistics are still there."""
    _register()

    async def main():
        handle = e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="sim", frame_name="f")
        async for _ in handle:
            pass
        return handle

    handle = asyncio.run(main())
    refs = _stores()
    assert refs, "the run fetched candles into the cache"
    assert handle.status().status == "fulfilled"
    e.clear_candle_cache()
    assert _alive(refs) == 0, "a finished run still holds its candle stores"
    assert e.Backtest.get_data("BTCUSDT", "s").total_signals > 0  # the results stay


def test_a_finished_background_run_keeps_no_candles() -> None:
    _register()

    async def main():
        done = asyncio.Event()
        e.listen_done_backtest(lambda _ev: done.set())
        e.Backtest.background("ETHUSDT", strategy_name="s", exchange_name="sim", frame_name="f")
        await asyncio.wait_for(done.wait(), 120)  # a safety net only: the run takes well under a second
        await asyncio.sleep(0)

    asyncio.run(main())
    refs = _stores()
    assert refs
    e.clear_candle_cache()
    assert _alive(refs) == 0, "a finished background run still holds its candle stores"
    assert e.Backtest.list()[0].status == "fulfilled"
    assert e.Backtest.get_data("ETHUSDT", "s").total_signals > 0


def test_clear_candle_cache_frees_the_stores_without_waiting_for_a_collection() -> None:
    """A store and its client refer to each other: the memory must come back at the call, not at
    some later full collection."""
    _register()

    async def main():
        async for _ in e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="sim", frame_name="f"):
            pass

    asyncio.run(main())
    refs = _stores()
    gc.collect()
    gc.disable()
    try:
        e.clear_candle_cache()
        assert _alive(refs, collect=False) == 0, "the stores wait for the garbage collector"
    finally:
        gc.enable()


def test_a_clear_during_a_run_leaves_that_run_alone() -> None:
    """Clearing while a run goes on frees nothing it uses: it ends with the same results as
    without the clear (and its stores are freed by the next clear, once it is over)."""
    _register()

    async def run(clear_midway: bool) -> tuple:
        seen = []
        async for r in e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="sim", frame_name="f"):
            seen.append((r.signal.id, r.close_timestamp, r.pnl.pnl_percentage))
            if clear_midway and len(seen) == 3:
                refs[:] = _stores()
                e.clear_candle_cache()
                assert _alive(refs) == len(refs), "a clear took the candles of a run going on"
        return tuple(seen)

    refs: list[weakref.ref] = []
    plain = asyncio.run(run(False))
    e.clear_candle_cache()
    cleared = asyncio.run(run(True))
    assert cleared == plain and len(plain) > 3
    e.clear_candle_cache()
    assert _alive(refs) == 0
