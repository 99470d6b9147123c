"""Issue 20 item 11: a strategy's history request is capped by CC_MAX_GET_CANDLES_LIMIT.

Above the cap ``get_candles`` raises a clear error (naming the limit and the key) that goes to the
error stream like any get_signal failure, and the run goes on; at the cap the candles are served.
"""

from __future__ import annotations

import pytest
from spec_helpers import EXCHANGE, FRAME, STRATEGY, SYMBOL, F, exchange_from, m, use_test_profile

import engine as e


@pytest.fixture(autouse=True)
def _profile():
    use_test_profile()


def setup(limit: int, got: list) -> list:
    errors: list = []

    async def get_signal(symbol, when, price):
        got.append(len(await e.get_candles(symbol, "1m", limit)))

    e.add_exchange(EXCHANGE, exchange_from(lambda k: F(42000)))
    e.add_frame(FRAME, "1m", m(0), m(2))
    e.add_strategy(STRATEGY, "1m", get_signal)
    e.listen_error(errors.append)
    return errors


async def run() -> list:
    handle = e.Backtest.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    return [r async for r in handle]


async def test_the_default_cap_is_documented_and_served_at_the_cap() -> None:
    cap = e.get_default_config()["CC_MAX_GET_CANDLES_LIMIT"]
    assert cap == 10_000
    got: list = []
    errors = setup(cap, got)
    assert await run() == []
    assert errors == [] and got == [cap, cap, cap]


async def test_above_the_default_cap_is_an_error_on_the_error_stream_and_the_run_goes_on() -> None:
    got: list = []
    errors = setup(1_000_000, got)  # issue 20: blocked the event loop 5.6 s per call
    assert await run() == []
    assert got == []  # never served
    assert len(errors) == 3  # one per call: every frame was still asked
    for err in errors:
        assert isinstance(err, e.CandleError)
        assert "get_candles limit 1000000 is above CC_MAX_GET_CANDLES_LIMIT=10000" in str(err)
        assert e.context_of(err).stage == "get_signal"


async def test_a_configured_cap_applies_at_and_above_it() -> None:
    e.set_config(CC_MAX_GET_CANDLES_LIMIT=50, unsafe=True)  # the test profile is outside the ranges
    got: list = []
    errors = setup(50, got)
    assert await run() == [] and got == [50, 50, 50] and errors == []


async def test_one_above_a_configured_cap_is_refused() -> None:
    e.set_config(CC_MAX_GET_CANDLES_LIMIT=50, unsafe=True)  # the test profile is outside the ranges
    got: list = []
    errors = setup(51, got)
    assert await run() == [] and got == []
    assert "CC_MAX_GET_CANDLES_LIMIT=50" in str(errors[0]) and len(errors) == 3
