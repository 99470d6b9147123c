"""A quiet backtest that keeps no report settles its trades inside one stretch
(``StrategyInstance.quiet_trades``): it asks, opens, settles from the candle store and asks again
at the first frame after the close, handing each trade to the frame loop to publish and yield,
without a pass through the loop per trade (issue 18: a sweep's sets are thousands of trades).

The oracle is the engine's general path: the same strategy with a listener on idle results ticks
every frame. Both must see the same calls (moment, price, context), give the same results and
report the same errors, also when the consumer stops the run, subscribes in the middle of it, or a
settlement fails. The strategy mixes idle answers with market and limit entries, failures, calls
that suspend and history requests that move the candle store, by a seeded draw per moment.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

import engine as e
from engine.context import OutsideRunError, execution_context
from engine.model import ClosedResult
from engine.strategy import SettleFailure, StrategyInstance
from engine.testing import reset_engine

START = datetime(2024, 5, 1, tzinfo=UTC)
SYMBOL = "BTCUSDT"


def _strategy(seed: int, calls: list):
    """Mostly entries (a sweep's shape), with idle answers, limit entries, failures, suspending
    calls and long history requests drawn per moment."""

    async def get_signal(symbol: str, when: datetime, price: float):
        ms = int(when.timestamp() * 1000)
        ctx = execution_context()
        calls.append((ms, price, ctx.when, ctx.symbol))
        r = random.Random(seed * 1_000_003 + ms // 60_000).random()
        if r < 0.03:
            raise ValueError(f"planned failure at {ms}")
        if r < 0.06:
            await asyncio.sleep(0)  # suspends: finished by a task, outside the stretch
        elif r < 0.07:
            await e.get_candles(symbol, "1m", 3_000)  # grows the store backwards: its slots shift
        elif r < 0.20:
            return None
        limit = r < 0.26  # a limit entry below the price: scheduled, settled the usual way
        entry = price * (0.998 if limit else 1.0)
        d = 0.003 if r > 0.97 else 0.007  # 0.3 %: under the minimum distance, a validation error
        return {
            "position": "long" if r < 0.6 else "short",
            **({"price_open": entry} if limit else {}),
            "price_take_profit": entry * (1 + d if r < 0.6 else 1 - d),
            "price_stop_loss": entry * (1 - d if r < 0.6 else 1 + d),
            "minute_estimated_time": 5 + int(r * 1000) % 60,
        }

    return get_signal


def _register(seed: int, calls: list, step: str, interval: str) -> None:
    e.add_synthetic_exchange("synthetic", seed=11)
    e.add_frame("f", step, START, START + timedelta(days=3) - timedelta(minutes=1))
    e.add_strategy("s", interval, _strategy(seed, calls))


def _run(seed: int, step: str, interval: str, fused: bool, consumer=None) -> dict:
    """One run: ``fused`` keeps no report and nobody listens to idle results (the stretch settles
    trades); else a report is kept and an idle listener makes every frame a tick. ``consumer(n,
    result)`` is called with each result as the run hands it over."""
    calls: list = []
    errors: list = []
    _register(seed, calls, step, interval)
    e.listen_error(lambda exc: errors.append((type(exc).__name__, str(exc))))
    if not fused:
        e.listen_signal_backtest(lambda r: None, actions=("idle",))
    contexts: list = []

    async def main() -> list:
        out = []
        handle = e.Backtest.run(SYMBOL, strategy_name="s", exchange_name="synthetic", frame_name="f", reports=not fused)
        async for r in handle:
            out.append(r)
            try:  # the consumer runs outside the strategy's context, on both paths
                contexts.append(execution_context().when)
            except OutsideRunError:
                contexts.append(None)
            if consumer is not None:
                consumer(len(out), r)
        return out

    results = asyncio.run(main())
    reset_engine()
    return {"calls": calls, "results": results, "errors": errors, "contexts": contexts}


@pytest.fixture
def trades(monkeypatch) -> Counter:
    """What ``quiet_trades`` gave: settled positions, and the stretches it ran."""
    seen: Counter = Counter()
    plain = StrategyInstance.quiet_trades

    def counted(self, *args, **kwargs):
        seen["stretches"] += 1
        for pair in plain(self, *args, **kwargs):
            seen["closed" if type(pair[1]) is ClosedResult else "other"] += 1
            seen[id(pair[1])] = 1  # which results it gave
            yield pair

    monkeypatch.setattr(StrategyInstance, "quiet_trades", counted)
    return seen


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("step", "interval"), [("1m", "1m"), ("1m", "5m"), ("5m", "5m"), ("5m", "15m")])
def test_trades_settled_in_the_stretch_are_those_of_the_general_path(seed, step, interval, trades) -> None:
    fused = _run(seed, step, interval, fused=True)
    assert trades["closed"] > 2 * trades["stretches"], trades  # a stretch goes on past the trades it settles
    general = _run(seed, step, interval, fused=False)
    assert fused["calls"] == general["calls"]
    assert fused["results"] == general["results"]
    assert fused["errors"] == general["errors"]
    assert set(fused["contexts"]) == {None} == set(general["contexts"])
    actions = Counter(r.action for r in fused["results"])
    assert actions["closed"] > 50 and actions["cancelled"] > 0, actions  # limit entries too
    assert any("planned failure" in msg for _, msg in fused["errors"])


def test_a_stop_between_trades_ends_the_run_as_on_the_general_path(trades) -> None:
    """The consumer stops the run on a trade the stretch settled, with more to come: nothing is
    asked after it, as on the general path stopped at the same result."""
    stopped_at: list[int] = []

    def stop_after_a_stretch_trade(n: int, result) -> None:
        if not stopped_at and n >= 30 and trades[id(result)]:
            stopped_at.append(n)
            e.Backtest.stop(SYMBOL, "s")

    fused = _run(1, "1m", "1m", fused=True, consumer=stop_after_a_stretch_trade)
    assert stopped_at and len(fused["results"]) == stopped_at[0]

    def stop_at_the_same(n: int, result) -> None:
        if n == stopped_at[0]:
            e.Backtest.stop(SYMBOL, "s")

    general = _run(1, "1m", "1m", fused=False, consumer=stop_at_the_same)
    assert fused["results"] == general["results"]
    assert fused["calls"] == general["calls"]  # nothing was asked after the stop
    assert len(fused["calls"]) < len(_run(1, "1m", "1m", fused=True)["calls"]) / 2  # it stopped early


def test_a_listener_that_subscribes_mid_run_hears_every_later_trade(trades) -> None:
    heard: list = []

    def subscribe_at_25(n: int, result) -> None:
        if n == 25:
            e.listen_signal_backtest(heard.append, actions=("closed",))

    fused = _run(2, "1m", "1m", fused=True, consumer=subscribe_at_25)
    later = [r for r in fused["results"][25:] if r.action == "closed"]
    assert later and heard == later
    assert fused["results"] == _run(2, "1m", "1m", fused=False)["results"]


def test_a_failed_settlement_is_reported_as_on_the_general_path(monkeypatch, trades) -> None:
    """``settle_from_store`` raising in the stretch: the run reports it as the fast-forward's
    failure and goes on, as the frame loop does when it settles a position itself."""
    plain = StrategyInstance.settle_from_store
    count = [0]

    def failing(self, row, action, when):
        count[0] += 1
        if count[0] % 17 == 0:
            raise RuntimeError(f"settlement {count[0]} failed")
        return plain(self, row, action, when)

    monkeypatch.setattr(StrategyInstance, "settle_from_store", failing)
    seen_failures: list = []
    plain_settle_now = StrategyInstance.settle_now

    def recorded(self, row, action, when):
        got = plain_settle_now(self, row, action, when)
        if type(got) is SettleFailure:
            seen_failures.append(got.error)
        return got

    monkeypatch.setattr(StrategyInstance, "settle_now", recorded)
    fused = _run(0, "1m", "1m", fused=True)
    assert seen_failures, "the stretch should meet a failing settlement"
    count[0] = 0
    general = _run(0, "1m", "1m", fused=False)
    assert fused["errors"] == general["errors"]
    assert any("settlement 17 failed" in msg for _, msg in fused["errors"])
    assert fused["results"] == general["results"]
    assert fused["calls"] == general["calls"]
