"""Issue 20 item 6: a strategy raising ``asyncio.CancelledError`` is one more strategy failure.

The strategy's own CancelledError (it awaited a task somebody else cancelled) is reported on the
error stream like any get_signal failure and the run goes on; only a cancellation of the run's own
task stops the run. Every call path: the quiet backtest (``tick_quiet``), the general ``tick``
(callbacks present), a get_signal that suspends first (the timeout wrapper), a callback, the
background runner, the walker and live.
"""

from __future__ import annotations

import asyncio

import pytest
from live_helpers import LiveOutcome, run_live
from spec_helpers import EXCHANGE, FRAME, STRATEGY, SYMBOL, F, exchange_from, m, minute, use_test_profile, within

import engine as e

SAFETY_S = 120  # a safety net only (reported by ``within``); nothing relies on it


@pytest.fixture(autouse=True)
def _profile():
    use_test_profile()


def cancelling_strategy(calls: list[int], *, fail_on: int = 1, suspend: bool = False):
    """get_signal whose ``fail_on``-th call (0-based) raises CancelledError; ``suspend`` first
    really waits (so the call runs as its own task) and then awaits a future someone cancelled."""

    async def get_signal(symbol, when, price):
        calls.append(minute(int(when.timestamp() * 1000)))
        if len(calls) - 1 != fail_on:
            return None
        if not suspend:
            raise asyncio.CancelledError()
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.cancel)
        await fut  # raises CancelledError: the strategy awaited something that was cancelled
        return None

    return get_signal


def setup(get_signal, *, end: int = 6, callbacks=None) -> list:
    errors: list = []
    e.add_exchange(EXCHANGE, exchange_from(lambda k: F(42000)))
    e.add_frame(FRAME, "1m", m(0), m(end))
    e.add_strategy(STRATEGY, "1m", get_signal, callbacks=callbacks)
    e.listen_error(errors.append)
    return errors


async def run_backtest() -> list:
    handle = e.Backtest.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    return [r async for r in handle]


def assert_reported_once(errors: list, at_minute: int) -> None:
    [err] = errors
    assert not isinstance(err, asyncio.CancelledError)  # a strategy failure, not a cancellation
    assert isinstance(err.__cause__, asyncio.CancelledError)
    assert "CancelledError" in str(err) and STRATEGY in str(err)
    ctx = e.context_of(err)
    assert (ctx.symbol, ctx.strategy_name, ctx.stage, minute(ctx.when)) == (SYMBOL, STRATEGY, "get_signal", at_minute)


@pytest.mark.parametrize("suspend", [False, True], ids=["inline", "suspended"])
async def test_quiet_backtest_reports_it_and_goes_on(suspend: bool) -> None:
    calls: list[int] = []
    errors = setup(cancelling_strategy(calls, suspend=suspend))
    assert await within(run_backtest(), SAFETY_S) == []
    assert calls == [0, 1, 2, 3, 4, 5, 6]  # all 7 frames asked, not 2
    assert_reported_once(errors, 1)


@pytest.mark.parametrize("suspend", [False, True], ids=["inline", "suspended"])
async def test_general_tick_path_reports_it_and_goes_on(suspend: bool) -> None:
    calls: list[int] = []
    idle: list = []
    errors = setup(cancelling_strategy(calls, suspend=suspend), callbacks={"on_idle": lambda *a: idle.append(a)})
    assert await within(run_backtest(), SAFETY_S) == []
    assert calls == [0, 1, 2, 3, 4, 5, 6]
    assert len(idle) == 7
    assert_reported_once(errors, 1)


async def test_timeout_wrapper_still_times_out_and_the_run_goes_on() -> None:
    """A get_signal that suspends is raced against CC_MAX_SIGNAL_GENERATION_SECONDS: the timeout
    still fires (our cancellation of its task is not mistaken for the strategy's own)."""
    e.set_config(CC_MAX_SIGNAL_GENERATION_SECONDS=1, unsafe=True)
    e.set_clock(e.SimulatedClock(m(100_000), speed=0))  # sleeps return at once: the timer wins
    calls: list[int] = []

    async def get_signal(symbol, when, price):
        calls.append(minute(int(when.timestamp() * 1000)))
        await asyncio.Event().wait()  # never finishes by itself

    errors = setup(get_signal, end=2)
    assert await within(run_backtest(), SAFETY_S) == []
    assert calls == [0, 1, 2]
    assert [type(x).__name__ for x in errors] == ["GetSignalTimeout"] * 3


async def test_a_callback_raising_cancelled_error_is_reported_and_the_run_goes_on() -> None:
    calls: list[int] = []

    def on_idle(symbol, price, backtest):
        if len(calls) == 2:
            raise asyncio.CancelledError()

    errors = setup(cancelling_strategy(calls, fail_on=-1), callbacks={"on_idle": on_idle})
    assert await within(run_backtest(), SAFETY_S) == []
    assert calls == [0, 1, 2, 3, 4, 5, 6]
    [err] = errors
    assert isinstance(err, Exception) and isinstance(err.__cause__, asyncio.CancelledError)
    assert "on_idle" in str(err)


async def test_background_backtest_ends_done_and_can_start_again() -> None:
    calls: list[int] = []
    errors = setup(cancelling_strategy(calls, suspend=True))
    done: list = []
    exits: list = []
    e.listen_done_backtest(done.append)
    e.listen_exit(exits.append)
    e.Backtest.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    await within(e.Backtest.board.tasks[(SYMBOL, STRATEGY)].task, SAFETY_S)
    [row] = e.Backtest.list()
    assert row.status == "fulfilled"
    assert len(done) == 1 and exits == []
    assert calls == [0, 1, 2, 3, 4, 5, 6]
    assert_reported_once(errors, 1)
    # the pair is not stuck "already running"
    e.Backtest.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    await within(e.Backtest.board.tasks[(SYMBOL, STRATEGY)].task, SAFETY_S)
    assert len(done) == 2


async def test_cancelling_the_background_task_itself_still_stops_it_and_frees_the_pair() -> None:
    """A cancellation of the run (the console quitting: task.cancel()) stops it; the row does not
    stay ``pending`` forever and the pair can be started again."""
    started = asyncio.Event()

    async def get_signal(symbol, when, price):
        started.set()
        await asyncio.Event().wait()  # waits until the run itself is cancelled

    setup(get_signal)
    e.set_config(CC_MAX_SIGNAL_GENERATION_SECONDS=100_000, unsafe=True)
    e.Backtest.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    task = e.Backtest.board.tasks[(SYMBOL, STRATEGY)].task
    await within(started.wait(), SAFETY_S)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await within(task, SAFETY_S)
    [row] = e.Backtest.list()
    assert row.status != "pending"
    e.Backtest.reset(SYMBOL, STRATEGY)
    e.Backtest.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    e.Backtest.stop(SYMBOL, STRATEGY)
    await within(e.Backtest.board.tasks[(SYMBOL, STRATEGY)].task, SAFETY_S)


async def test_cancelling_a_foreground_run_still_raises_cancelled_error() -> None:
    started = asyncio.Event()

    async def get_signal(symbol, when, price):
        started.set()
        await asyncio.Event().wait()

    setup(get_signal)
    e.set_config(CC_MAX_SIGNAL_GENERATION_SECONDS=100_000, unsafe=True)
    task = asyncio.ensure_future(run_backtest())
    await within(started.wait(), SAFETY_S)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await within(task, SAFETY_S)


async def test_walker_reports_it_and_ranks_every_strategy() -> None:
    calls: list[int] = []
    errors = setup(cancelling_strategy(calls, suspend=True))
    e.add_strategy("other", "1m", cancelling_strategy([], fail_on=0))
    e.add_walker("w", EXCHANGE, FRAME, [STRATEGY, "other"])
    contracts = await within(_walk(), SAFETY_S)
    assert [c.strategy_name for c in contracts] == [STRATEGY, "other"]
    assert calls == [0, 1, 2, 3, 4, 5, 6]
    assert len(errors) == 2


async def _walk() -> list:
    return [c async for c in e.Walker.run(SYMBOL, walker_name="w")]


@pytest.mark.parametrize("suspend", [False, True], ids=["inline", "suspended"])
async def test_live_pair_keeps_ticking(suspend: bool) -> None:
    out = LiveOutcome()
    out.errors = setup(cancelling_strategy(out.calls, suspend=suspend))
    await within(run_live(out, until=5), SAFETY_S)
    # ticking went on after the failure at minute 1 (a suspended call's timer moves the frozen clock on)
    assert out.calls[:2] == [0, 1] and len(out.calls) >= 3 and out.calls[-1] >= 5
    assert len(out.errors) == 1 and isinstance(out.errors[0].__cause__, asyncio.CancelledError)


def always_long(calls: list[int]):
    async def get_signal(symbol, when, price):
        calls.append(minute(int(when.timestamp() * 1000)))
        return {
            "position": "long",
            "price_take_profit": price * 1.5,
            "price_stop_loss": price * 0.9,
            "minute_estimated_time": 1,
        }

    return get_signal


@pytest.mark.parametrize("suspend", [False, True], ids=["inline", "suspended"])
async def test_a_risk_validation_raising_cancelled_error_is_a_veto_and_the_run_goes_on(suspend: bool) -> None:
    """A validation that awaited something cancelled refused the signal; it did not stop the run."""
    seen: list[int] = []

    async def suspended(args) -> None:
        seen.append(args.timestamp)
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.cancel)
        await fut

    def inline(args) -> None:
        seen.append(args.timestamp)
        raise asyncio.CancelledError()

    e.add_risk("desk", validations=[suspended if suspend else inline])
    rejected: list = []
    e.listen_risk(rejected.append)
    calls: list[int] = []
    e.add_exchange(EXCHANGE, exchange_from(lambda k: F(42000)))
    e.add_frame(FRAME, "1m", m(0), m(6))
    e.add_strategy(STRATEGY, "1m", always_long(calls), risk_name="desk")
    assert await within(run_backtest(), SAFETY_S) == []
    assert calls == [0, 1, 2, 3, 4, 5, 6]  # every frame asked: the run was not stopped
    assert len(rejected) == 7 and len(seen) == 7


async def test_an_async_callback_raising_is_reported_not_lost() -> None:
    """An async callback is started, not awaited (SPEC 1.7); what it raises, CancelledError
    included, still reaches the error stream instead of vanishing with its task."""
    calls: list[int] = []
    hits: list[int] = []

    async def on_idle(symbol, price, backtest):
        hits.append(len(calls))
        if len(hits) == 2:
            raise asyncio.CancelledError()
        if len(hits) == 3:
            raise ValueError("callback broke")

    errors = setup(cancelling_strategy(calls, fail_on=-1), callbacks={"on_idle": on_idle})
    assert await within(run_backtest(), SAFETY_S) == []
    for _ in range(5):  # the detached callbacks finish on the next loop turns
        await asyncio.sleep(0)
    assert calls == [0, 1, 2, 3, 4, 5, 6]
    assert len(errors) == 2, errors
    assert isinstance(errors[0].__cause__, asyncio.CancelledError) and "on_idle" in str(errors[0])
    assert isinstance(errors[1], ValueError) and "callback broke" in str(errors[1])
