"""The protective stop (engine/brokers/protect.py) on the real ccxt client against the loopback
Binance server: placed after the entry fills, moved when the stop-loss moves (cancel, then the
next version), cancelled before btk's own exit, and, when it filled while btk was down, the
restart closes the position exactly once (no exit order, no mismatch). The server's order log
is the judge."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import engine as e
from engine.brokers import CcxtBroker, client_order_id
from engine.model import MINUTE_MS
from engine.testing import reset_engine
from tests.exchanges.binance_server import BinanceServer, ccxt_options

DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NOW = DAY0 + 10 * 1440 * MINUTE_MS
SYMBOL = "BTCUSDT"
ORDERS = Path(f"dump/data/order/{SYMBOL}_s/orders.json")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> e.SimulatedClock:
    monkeypatch.setenv("BTK_BINANCE_API_KEY", "stop-key-0123456789")
    monkeypatch.setenv("BTK_BINANCE_SECRET", "stop-secret-9876543210")
    clock = e.SimulatedClock(NOW, speed=0)
    e.set_clock(clock)
    return clock


@pytest.fixture
def server(clock: e.SimulatedClock) -> Iterator[BinanceServer]:
    with BinanceServer(now_ms=clock.now, fee_rate=0.001, balances={"USDT": 10_000.0}) as srv:
        yield srv


def long_once(sl_fraction: float, minutes: int = 600) -> Any:
    done: list[bool] = []

    async def get_signal(symbol: str, when: datetime, price: float) -> dict | None:
        if done:
            return None
        done.append(True)
        return {
            "position": "long",
            "price_take_profit": round(price * 1.05, 2),
            "price_stop_loss": round(price * (1 - sl_fraction), 2),
            "minute_estimated_time": minutes,
        }

    return get_signal


async def live(server: BinanceServer, strategy: Any, stop_when: Any) -> tuple[list[Any], list[BaseException], Any]:
    """One live run of strategy ``s`` on the loopback venue until ``stop_when(result, handle)``."""
    e.add_ccxt_exchange("bn", **ccxt_options(server.base_url))
    e.add_strategy("s", "1m", strategy)
    broker = CcxtBroker("bn", quote_amount=100.0, backoff_ms=0, real_money=True)
    results: list[Any] = []
    errors: list[BaseException] = []
    e.listen_error(errors.append)
    handle = e.Live.run(SYMBOL, strategy_name="s", exchange_name="bn", broker=broker)

    def on_result(result: Any) -> None:
        results.append(result)
        if stop_when(result, handle) or len(results) > 200:
            e.Live.stop(SYMBOL, "s")

    e.listen_signal_live(on_result)
    try:
        async for _ in handle:
            pass
    finally:
        await broker.close()
        await e.close_ccxt_exchanges()
    return results, errors, handle


def records() -> list[dict]:
    return json.loads(ORDERS.read_text())["orders"]


def venue_order(server: BinanceServer, coid: str) -> Any:
    [order] = [o for o in server.book.orders.values() if o.client_order_id == coid]
    return order


async def test_a_stop_that_filled_while_btk_was_down_closes_the_position_exactly_once(
    server: BinanceServer, clock: e.SimulatedClock
) -> None:
    e.set_config(CC_MIN_STOPLOSS_DISTANCE_PERCENT=0.01)
    # run 1: the entry fills, the stop goes to the venue, btk stops at once (the position stays open)
    results, errors, _ = await live(server, long_once(0.0005), lambda r, h: r.action == "opened")
    assert not errors, errors
    [opened] = [r for r in results if r.action == "opened"]
    sid = opened.signal.id
    stop_id = client_order_id(sid, "stop")
    assert venue_order(server, stop_id).status == "NEW"  # resting: the position is protected while btk is down
    assert [(r["intent"]["action"], r["status"]) for r in records()] == [("entry", "filled"), ("stop", "open")]

    # btk is down for two hours; the market falls through the stop-loss meanwhile
    clock.advance(120 * MINUTE_MS)
    server.book.match(clock.now())
    assert venue_order(server, stop_id).status == "FILLED"

    # run 2: the restart asks the venue about the stop, finds it filled, and closes btk's signal there
    reset_engine()
    e.set_clock(clock)
    e.set_config(CC_MIN_STOPLOSS_DISTANCE_PERCENT=0.01)
    results, errors, handle = await live(server, long_once(0.0005), lambda r, h: r.action == "closed")
    assert not [x for x in errors if isinstance(x, e.PositionMismatchError)], errors
    assert [r.id for r in handle.restored] == [sid]
    [closed] = [r for r in results if r.action == "closed"]
    assert results[0] is closed  # at the first tick, from the venue's word, not the engine's own check
    assert closed.signal.id == sid and closed.close_reason == "stop_loss"
    assert closed.current_price == float(venue_order(server, stop_id).stop_price)
    log = server.book.log_rows()
    assert [r["client_order_id"] for r in log] == [client_order_id(sid, "entry"), stop_id]  # no exit: closed once
    assert [(r["intent"]["action"], r["status"]) for r in records()] == [("entry", "filled"), ("stop", "filled")]
    held = server.book.snapshot()["BTC"]
    assert float(held["free"]) == 0 and float(held["locked"]) == 0


async def test_the_stop_follows_a_moved_stop_loss_one_at_a_time_and_is_cancelled_before_the_exit(
    server: BinanceServer,
) -> None:
    moved: list[float] = []

    def stop_when(result: Any, handle: Any) -> bool:
        inst = handle.instance
        if result.action == "active" and not moved:  # a trailing stop-loss, as a strategy feature would
            row = inst.pending
            moved.append(round(row.price_stop_loss * 1.01, 2))
            inst._set_pending(dataclasses.replace(row, price_stop_loss=moved[0]))
        return result.action == "closed"

    results, errors, _ = await live(server, long_once(0.05, minutes=5), stop_when)
    assert not errors, errors
    [opened] = [r for r in results if r.action == "opened"]
    sid = opened.signal.id
    first, second = client_order_id(sid, "stop"), client_order_id(sid, "stop", 1)
    assert first != second and second.startswith("btks")
    log = server.book.log_rows()
    assert [r["client_order_id"] for r in log] == [
        client_order_id(sid, "entry"),
        first,
        second,
        client_order_id(sid, "exit"),
    ]
    assert float(log[1]["stop_price"]) == opened.signal.price_stop_loss and float(log[2]["stop_price"]) == moved[0]
    a, b = venue_order(server, first), venue_order(server, second)
    assert a.status == b.status == "CANCELED"
    assert a.update_time <= b.time  # never two stops resting at once
    exit_order = venue_order(server, client_order_id(sid, "exit"))
    assert b.update_time <= exit_order.time and exit_order.status == "FILLED"
    held = server.book.snapshot()["BTC"]
    assert float(held["free"]) == 0 and float(held["locked"]) == 0


async def test_no_stop_where_the_broker_is_told_not_to_place_one(server: BinanceServer) -> None:
    e.add_ccxt_exchange("bn", **ccxt_options(server.base_url))
    e.add_strategy("s", "1m", long_once(0.05, minutes=3))
    broker = CcxtBroker("bn", quote_amount=100.0, backoff_ms=0, protective_stop=False, real_money=True)
    e.listen_signal_live(lambda r: e.Live.stop(SYMBOL, "s") if r.action == "closed" else None)
    try:
        async for _ in e.Live.run(SYMBOL, strategy_name="s", exchange_name="bn", broker=broker):
            pass
    finally:
        await broker.close()
        await e.close_ccxt_exchanges()
    assert [r["type"] for r in server.book.log_rows()] == ["MARKET", "MARKET"]
