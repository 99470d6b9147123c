"""The narrow interface the backtest loop sees a strategy through (issue 12 item 3).

``_Run.results`` (runners/backtest.py) asks a ``StrategyInstance`` only: is it ``empty``, where does
the throttle let it ask next (``first_ask_frame``), may it be asked in stretches
(``stretches_over``), what did a frame do (``backtest_frame``/``frame_outcome``, a ``FrameOutcome``)
and how does what it opened settle (``settle_from_store``/``settle_on``). These tests pin each
answer at its edges; the reference and boundary suites judge the loop built on them.
"""

from __future__ import annotations

import pytest
from spec_helpers import T0, use_test_profile

import engine as e
from engine import registry
from engine.candles import exchange_client
from engine.config import current as config_now
from engine.model import MINUTE_MS, OpenedResult, SignalRow
from engine.signals import IdFactory
from engine.strategy import StrategyInstance


@pytest.fixture(autouse=True)
def _profile():
    use_test_profile()


def instance(interval: str = "15m", **strategy: object) -> StrategyInstance:
    async def nothing(symbol, when):
        return None

    e.add_synthetic_exchange("x", seed=3)
    e.add_strategy("s", interval, nothing, **strategy)
    return StrategyInstance(
        schema=registry.strategies.get("s", "test"),
        symbol="BTCUSDT",
        exchange=exchange_client(registry.exchanges.get("x", "test"), True),
        backtest=True,
        cfg=config_now(),
        ids=IdFactory("loop"),
    )


def row(inst: StrategyInstance) -> SignalRow:
    return SignalRow(
        id="r1", position="long", price_open=100.0, price_take_profit=110.0, price_stop_loss=90.0,
        minute_estimated_time=30, symbol=inst.symbol, exchange_name=inst.exchange_name,
        strategy_name=inst.strategy_name, scheduled_at=T0, pending_at=T0, is_scheduled=False, note="",
    )  # fmt: skip


def test_empty_means_nothing_held_and_not_stopped() -> None:
    inst = instance()
    assert inst.empty
    inst.pending = row(inst)
    assert not inst.empty
    inst.pending, inst.scheduled = None, row(inst)
    assert not inst.empty
    inst.scheduled = None
    inst.stop()
    assert not inst.empty


@pytest.mark.parametrize("step_minutes", [1, 3, 15, 60])
def test_first_ask_frame_is_the_first_frame_the_throttle_lets_ask(step_minutes: int) -> None:
    """Frame ``k`` (at ``T0 + k*step``) may ask once ``when - last >= interval`` (SPEC 5.1): the
    answer is that first ``k``, checked against ``throttled`` on both sides of it."""
    inst = instance("15m")
    step, n = step_minutes * MINUTE_MS, 10_000
    assert inst.first_ask_frame(T0, step, n) == 0  # never asked yet
    for last in (T0, T0 + 7 * MINUTE_MS, T0 + 45 * MINUTE_MS):
        inst.last_signal_ts = last
        j = inst.first_ask_frame(T0, step, n)
        assert not inst.throttled(T0 + j * step)
        assert j == 0 or inst.throttled(T0 + (j - 1) * step)
    inst.last_signal_ts = T0 + (n + 5) * step  # beyond the frame: never inside it
    assert inst.first_ask_frame(T0, step, n) == n


def test_stretches_over_needs_a_quiet_instance_and_frames_the_throttle_lets_it_ask_at_regularly() -> None:
    inst = instance("5m")
    assert inst.quiet
    assert inst.stretches_over(5 * MINUTE_MS) and inst.stretches_over(15 * MINUTE_MS)  # every frame asked
    assert inst.stretches_over(MINUTE_MS)  # asked at every fifth frame
    assert not inst.stretches_over(4 * MINUTE_MS) and not inst.stretches_over(2 * MINUTE_MS)  # irregularly


def test_a_strategy_with_callbacks_never_stretches() -> None:
    inst = instance("1m", callbacks={"on_close": lambda *a: None})
    assert not inst.quiet and not inst.stretches_over(MINUTE_MS)


def test_frame_outcome_builds_a_result_only_for_somebody_who_listens() -> None:
    inst = instance()
    assert inst.frame_outcome(None, True) == ("idle", None, None)  # a quiet idle nobody hears
    r = row(inst)
    assert inst.frame_outcome(r, False) == ("opened", r, None)
    action, got, opened = inst.frame_outcome(r, True)
    assert (action, got) == ("opened", r)
    assert opened == OpenedResult(
        signal=r, current_price=100.0, strategy_name="s", exchange_name="x", symbol="BTCUSDT", backtest=True
    )
    assert inst.frame_outcome(opened, False) == ("opened", r, opened)  # a result passes as it is


async def test_backtest_frame_gives_what_tick_gives() -> None:
    """The general path (callbacks: ``tick``) hands back a coroutine the loop awaits itself."""
    inst = instance("1m", callbacks={"on_close": lambda *a: None})
    out = inst.backtest_frame(T0 + 600 * MINUTE_MS, True, True)
    action, got, result = inst.frame_outcome(await out, True)
    assert (action, got) == ("idle", None) and result.action == "idle"


def test_only_an_opened_position_of_a_strategy_without_callbacks_settles_from_the_store() -> None:
    inst = instance()
    r = row(inst)
    assert inst.settle_from_store(r, "scheduled", T0) is None  # a waiting entry needs its lane
    inst.pending = None
    assert inst.settle_from_store(r, "opened", T0) is None  # not the held position: not settled here
