"""The worker pipe's reducers for the engine's slotted dataclasses (console/host/fast_pickle.py):
what comes out of a real ``multiprocessing`` pipe equals what went in, for generated objects of
every event shape and for a real backtest's events, and the reducer is what carried them."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
from datetime import UTC, datetime, timedelta
from multiprocessing import Pipe
from multiprocessing.reduction import ForkingPickler

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from console.host import fast_pickle
from engine import model
from tests.bench.strategies import always_long

SHAPES = (
    model.Pnl,
    model.SignalRow,
    model.ScheduledResult,
    model.OpenedResult,
    model.ActiveResult,
    model.ClosedResult,
    model.CancelledResult,
    model.IdleResult,
)


@pytest.fixture(scope="module")
def pipe():
    """A real pipe, the engine's classes registered on multiprocessing's pickler for this module's
    tests only (the registry is restored after them)."""
    saved = dict(ForkingPickler._extra_reducers)
    fast_pickle.register()
    ends = Pipe(duplex=False)
    yield ends
    for end in ends:
        end.close()
    ForkingPickler._extra_reducers.clear()
    ForkingPickler._extra_reducers.update(saved)


def through(pipe, obj):
    receive, send = pipe
    send.send(obj)
    return receive.recv()


def same(a, b) -> bool:
    """Equal, NaN included: the plain pickle of each (fields in order, the dataclasses way)."""
    return type(a) is type(b) and pickle.dumps(a) == pickle.dumps(b)


def test_the_engine_events_are_registered_and_carried_by_the_reducer(pipe) -> None:
    classes = set(fast_pickle.fast_classes())
    assert set(SHAPES) <= classes
    assert model.Pnl in ForkingPickler._extra_reducers
    data = bytes(ForkingPickler.dumps(model.Pnl(1.5, 100.0, 101.5)))
    assert b"fast_pickle" in data and b"rebuild" in data  # not the dataclasses state


@settings(max_examples=60, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.one_of(*(st.builds(cls) for cls in SHAPES)))
def test_any_event_comes_out_of_the_pipe_as_it_went_in(pipe, obj) -> None:
    out = through(pipe, obj)
    assert same(out, obj)
    # no NaN inside: plain equality too (``obj == obj`` would not tell: a field compares to itself
    # by identity first, so only a copy, whose NaNs are other objects, is unequal then)
    if pickle.loads(pickle.dumps(obj)) == obj:
        assert out == obj
    with pytest.raises(dataclasses.FrozenInstanceError):  # still frozen
        setattr(out, dataclasses.fields(out)[0].name, None)


def test_a_backtests_events_come_out_of_the_pipe_as_they_went_in(pipe) -> None:
    engine.add_synthetic_exchange("fp-synthetic", seed=7)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    engine.add_frame("fp-frame", "1m", start, start + timedelta(days=3))

    get_signal = always_long()
    engine.add_strategy("fp-always", "15m", get_signal)
    seen: list = []
    off = engine.listen_signal(seen.append, actions=("scheduled", "opened", "active", "closed", "cancelled"))

    async def run() -> None:
        async for result in engine.Backtest.run(
            "BTCUSDT", strategy_name="fp-always", exchange_name="fp-synthetic", frame_name="fp-frame"
        ):
            got.append(result)

    got: list = []
    try:
        asyncio.run(run())
    finally:
        off()
    assert len(got) > 10
    kinds = {type(x).__name__ for x in seen}
    assert {"OpenedResult", "ClosedResult"} <= kinds
    out = through(pipe, seen)  # one batch, as the worker sends them
    assert len(out) == len(seen) and all(same(a, b) and a == b for a, b in zip(out, seen))
