"""The three run handles keep one promise (``engine.RunHandle``): iterate, close, ``status()``,
``restore()``; a caller that drives runs of any mode needs no case per mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import engine as e

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _register(get_signal) -> None:
    e.add_synthetic_exchange("sim", seed=3)
    e.add_frame("day", "1m", T0, T0 + timedelta(hours=6))
    e.add_strategy("s", "1m", get_signal)
    e.add_strategy("t", "1m", get_signal)
    e.add_walker("w", "sim", "day", ["s", "t"])


def _never(symbol, when, price):
    return None


def _handles() -> dict[str, e.RunHandle]:
    return {
        "backtest": e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="sim", frame_name="day"),
        "walker": e.Walker.run("ETHUSDT", walker_name="w"),
    }


async def test_backtest_and_walker_handles_are_run_handles_that_end_fulfilled() -> None:
    _register(_never)
    for mode, handle in _handles().items():
        assert isinstance(handle, e.RunHandle), mode
        assert await handle.restore() == [], mode  # nothing saved to put back
        assert handle.status().status == "pending", mode
        results = [r async for r in handle]
        status = handle.status()
        assert (status.status, status.progress, status.error) == ("fulfilled", 1.0, None), (mode, results)


async def test_a_live_handle_is_a_run_handle_whose_status_follows_the_loop(tmp_path) -> None:
    """Stopped from inside its first tick, the live loop ends at the next one: the handle's status
    goes from pending to fulfilled."""
    e.set_base_dir(tmp_path / "data")
    e.set_clock(e.SimulatedClock(int(T0.timestamp() * 1000), speed=0))

    def stop_at_once(symbol, when, price):
        e.Live.stop(symbol, "s")
        return None

    _register(stop_at_once)
    handle = e.Live.run("BTCUSDT", strategy_name="s", exchange_name="sim")
    assert isinstance(handle, e.RunHandle)
    assert await handle.restore() == []
    assert handle.status().status == "pending"
    assert [r async for r in handle] == []
    assert handle.status().status == "fulfilled"


async def test_a_live_handle_closed_before_it_started_ends_fulfilled(tmp_path) -> None:
    e.set_base_dir(tmp_path / "data")
    e.set_clock(e.SimulatedClock(int(T0.timestamp() * 1000), speed=0))
    _register(_never)
    handle = e.Live.run("BTCUSDT", strategy_name="s", exchange_name="sim")
    await handle.aclose()  # closed before it started: iterating it now ends at once
    with pytest.raises(StopAsyncIteration):
        await handle.__anext__()
    assert handle.status().status == "fulfilled"


def test_the_protocol_names_what_a_driver_uses() -> None:
    """A class missing one of the promised methods is not a RunHandle."""

    class NoRestore:
        def __aiter__(self):
            return self

        async def __anext__(self):
            raise StopAsyncIteration

        async def aclose(self) -> None:
            return None

        def status(self):
            return None

    assert not isinstance(NoRestore(), e.RunHandle)
