"""A get_signal that suspends finishes in the run's own task (engine/strategy.py ``_Resume``).

Libraries built on anyio (httpx, and so ollama's client) must finish what they start in the task
that started it: a cancel scope entered in one task and left in another is an error. The engine
used to run the rest of a suspended get_signal in a task of its own; these tests failed then.
They also check that what moved along with it still holds: the call sees its own moment through
``get_candles``/``get_date``, the time limit still fires on the engine's clock, and a stopped run
still stops.
"""

from __future__ import annotations

import asyncio

import anyio
import anyio.lowlevel
import httpx
import pytest
from aiohttp import web
from spec_helpers import EXCHANGE, FRAME, STRATEGY, SYMBOL, F, exchange_from, m, minute, use_test_profile

import engine as e


@pytest.fixture(autouse=True)
def _profile():
    use_test_profile()


def setup(get_signal, *, end: int = 4) -> list:
    errors: list = []
    e.add_exchange(EXCHANGE, exchange_from(lambda k: F(42000)))
    e.add_frame(FRAME, "1m", m(0), m(end))
    e.add_strategy(STRATEGY, "1m", get_signal)
    e.listen_error(errors.append)
    return errors


async def run_backtest() -> list:
    handle = e.Backtest.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    return [r async for r in handle]


async def test_an_anyio_cancel_scope_across_a_suspension_works() -> None:
    tasks: list[asyncio.Task | None] = []
    moments: list[tuple[int, int]] = []

    async def get_signal(symbol, when, price):
        with anyio.CancelScope():  # entered in one step, left in a later one
            tasks.append(asyncio.current_task())
            await anyio.lowlevel.checkpoint()  # suspends once
            tasks.append(asyncio.current_task())
        moments.append((minute(int(when.timestamp() * 1000)), minute(int(e.get_date().timestamp() * 1000))))
        return None

    errors = setup(get_signal)
    await run_backtest()
    assert errors == []
    assert len(tasks) == 10 and all(t is tasks[0] for t in tasks)  # one task: the run's
    # minutes 0..4 (a frame's end is included); each call still sees its own moment after suspending
    assert moments == [(k, k) for k in range(5)]


async def test_an_httpx_request_to_a_loopback_server_works_inside_get_signal() -> None:
    served: list[str] = []

    async def hello(request: web.Request) -> web.Response:
        served.append(request.query["minute"])
        return web.json_response({"position": None})

    app = web.Application()
    app.router.add_get("/signal", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def get_signal(symbol, when, price):
                k = minute(int(when.timestamp() * 1000))
                reply = await client.get("/signal", params={"minute": k})
                reply.raise_for_status()
                return None if reply.json()["position"] is None else reply.json()

            errors = setup(get_signal, end=2)
            await run_backtest()
    finally:
        await runner.cleanup()
    assert errors == []
    assert served == ["0", "1", "2"]


async def test_the_time_limit_still_fires_on_the_engine_clock() -> None:
    e.set_config(CC_MAX_SIGNAL_GENERATION_SECONDS=5, unsafe=True)
    e.set_clock(e.SimulatedClock(start_ms=m(100), speed=0))  # a timer on it fires as soon as it is awaited
    never = asyncio.Event()
    finished: list[int] = []

    async def get_signal(symbol, when, price):
        await never.wait()
        finished.append(1)
        return None

    errors = setup(get_signal, end=1)
    await run_backtest()
    assert [type(x).__name__ for x in errors] == ["GetSignalTimeout", "GetSignalTimeout"]
    assert finished == []
    assert asyncio.current_task().cancelling() == 0  # the timeout's cancellations were taken back


async def test_a_timed_out_call_that_swallows_the_cancellation_is_still_a_timeout() -> None:
    e.set_config(CC_MAX_SIGNAL_GENERATION_SECONDS=5, unsafe=True)
    e.set_clock(e.SimulatedClock(start_ms=m(100), speed=0))
    never = asyncio.Event()

    async def stubborn(symbol, when, price):
        try:
            await never.wait()
        except asyncio.CancelledError:
            return {"position": "long", "price_take_profit": price * 1.01, "price_stop_loss": price * 0.99}
        return None

    errors = setup(stubborn, end=0)
    results = await run_backtest()
    assert [type(x).__name__ for x in errors] == ["GetSignalTimeout"]
    assert results == []  # the answer given after the limit is dropped


async def test_cancelling_the_run_while_get_signal_waits_stops_it() -> None:
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def get_signal(symbol, when, price):
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return None

    errors = setup(get_signal, end=3)
    task = asyncio.ensure_future(run_backtest())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == [True]  # the call itself saw the cancellation (it runs in the run's task)
    assert errors == []  # the run's cancellation is not a strategy failure
