"""A live run whose orders go through the order desk and the ccxt broker (the real ccxt client) to
the loopback Binance server: a position opened and closed is one entry and one exit on the venue;
an entry below the market's minimum is refused before sending, named on the error stream, and
leaves no position (issue 16, "Bad input and faults")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import engine as e
from engine.brokers import CcxtBroker, client_order_id
from engine.model import MINUTE_MS
from tests.exchanges.binance_server import BinanceServer, ccxt_options

DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NOW = DAY0 + 10 * 1440 * MINUTE_MS
SYMBOL = "BTCUSDT"
FEE = 0.001


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BinanceServer]:
    monkeypatch.setenv("BTK_BINANCE_API_KEY", "live-orders-key-0123456789")
    monkeypatch.setenv("BTK_BINANCE_SECRET", "live-orders-secret-9876543210")
    clock = e.SimulatedClock(NOW, speed=0)
    e.set_clock(clock)
    with BinanceServer(now_ms=clock.now, fee_rate=FEE, balances={"USDT": 10_000.0}) as srv:
        yield srv


def once(minutes: int) -> Any:
    """A strategy that goes long once, with a take-profit and a stop-loss out of reach: it closes by time."""
    done: list[bool] = []

    async def get_signal(symbol: str, when: datetime, price: float) -> dict | None:
        if done:
            return None
        done.append(True)
        return {
            "position": "long",
            "price_take_profit": round(price * 1.05, 2),
            "price_stop_loss": round(price * 0.95, 2),
            "minute_estimated_time": minutes,
        }

    return get_signal


async def run(server: BinanceServer, quote_amount: float, stop_on: str) -> tuple[list[Any], list[BaseException]]:
    e.add_ccxt_exchange("bn", **ccxt_options(server.base_url))
    e.add_strategy("s", "1m", once(3))
    broker = CcxtBroker("bn", quote_amount=quote_amount, backoff_ms=0, real_money=True)
    results: list[Any] = []
    errors: list[BaseException] = []
    e.listen_error(errors.append)

    def on_result(result: Any) -> None:
        results.append(result)
        if result.action == stop_on or len(results) > 20:
            e.Live.stop(SYMBOL, "s")

    e.listen_signal_live(on_result)
    try:
        async for _ in e.Live.run(SYMBOL, strategy_name="s", exchange_name="bn", broker=broker):
            pass
    finally:
        await broker.close()
        await e.close_ccxt_exchanges()
    return results, errors


async def test_a_live_position_is_one_entry_and_one_exit_on_the_venue(server: BinanceServer) -> None:
    results, errors = await run(server, 100.0, "closed")
    assert not errors, errors
    [opened] = [r for r in results if r.action == "opened"]
    assert [r.action for r in results if r.action == "closed"] == ["closed"]
    sid = opened.signal.id
    log = server.book.log_rows()
    # the entry, the protective stop at the stop-loss while the position was open, the exit
    assert [(r["client_order_id"], r["side"], r["type"]) for r in log] == [
        (client_order_id(sid, "entry"), "BUY", "MARKET"),
        (client_order_id(sid, "stop"), "SELL", "STOP_LOSS"),
        (client_order_id(sid, "exit"), "SELL", "MARKET"),
    ]
    assert log[0]["qty"] == log[1]["qty"] == log[2]["qty"]
    assert float(log[1]["stop_price"]) == opened.signal.price_stop_loss
    assert client_order_id(sid, "stop").startswith("btks")
    stop = next(o for o in server.book.orders.values() if o.client_order_id == client_order_id(sid, "stop"))
    assert (
        stop.status == "CANCELED" and stop.update_time <= server.book.orders[stop.order_id + 1].time
    )  # before the exit
    records = json.loads(Path(f"dump/data/order/{SYMBOL}_s/orders.json").read_text())["orders"]
    assert [(r["intent"]["action"], r["status"]) for r in records] == [
        ("entry", "filled"),
        ("stop", "cancelled"),
        ("exit", "filled"),
    ]
    snap = server.book.snapshot()
    assert float(snap["BTC"]["free"]) == 0 and float(snap["BTC"]["locked"]) == 0
    delta = sum(
        (f["amount"] * f["price"] if f["side"] == "sell" else -f["amount"] * f["price"]) - f["fee"]
        for r in records
        for f in r["fills"]
    )
    assert float(snap["USDT"]["free"]) == pytest.approx(10_000 + delta, abs=1e-6)
    entry_notional = records[0]["fills"][0]["amount"] * records[0]["fills"][0]["price"]
    assert 99 < entry_notional <= 100  # quote_amount, truncated to the lot step


async def test_an_entry_below_the_minimum_is_refused_named_and_leaves_no_position(server: BinanceServer) -> None:
    results, errors = await run(server, 1.0, "idle")  # 1 USDT: below the 5 USDT minimum notional
    assert not [r for r in results if r.action == "opened"]
    assert not [r for r in server.requests if r.path == "/api/v3/order"]  # nothing sent
    assert server.book.log_rows() == []
    [refused] = [x for x in errors if isinstance(x, e.OrderRejected)]
    assert "below the market's minimum notional 5" in str(refused) and refused.intent.action == "entry"
    assert refused.intent.signal_id in str(refused) and refused.intent.client_order_id in str(refused)
    records = json.loads(Path(f"dump/data/order/{SYMBOL}_s/orders.json").read_text())["orders"]
    assert [(r["intent"]["action"], r["status"]) for r in records] == [("entry", "rejected")]
    pending = Path(f"dump/data/signal/{SYMBOL}_s/{SYMBOL}.json")
    assert not pending.exists() or json.loads(pending.read_text()) is None  # no position in btk's state


async def test_a_buy_fee_taken_in_the_base_asset_makes_no_false_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Binance without BNB takes a buy's fee in the asset bought: the account holds the filled
    amount less the fee. btk counts that fee (issue 16): the exit sells what is held, and a
    restart finds btk's records and the account in agreement."""
    from engine.testing import reset_engine

    monkeypatch.setenv("BTK_BINANCE_API_KEY", "live-orders-key-0123456789")
    monkeypatch.setenv("BTK_BINANCE_SECRET", "live-orders-secret-9876543210")
    clock = e.SimulatedClock(NOW, speed=0)
    e.set_clock(clock)
    with BinanceServer(now_ms=clock.now, fee_rate=FEE, balances={"USDT": 10_000.0}, fee_in_received=True) as srv:
        results, errors = await run(srv, 100.0, "closed")
        assert not errors, errors
        records = json.loads(Path(f"dump/data/order/{SYMBOL}_s/orders.json").read_text())["orders"]
        entry, stop, exit_ = records
        assert stop["status"] == "cancelled" and stop["intent"]["amount"] < entry["filled"]  # what was held
        [buy] = entry["fills"]
        assert buy["fee_currency"] == "BTC" and buy["fee"] > 0
        assert exit_["status"] == "filled" and exit_["filled"] <= buy["amount"] - buy["fee"]
        held = float(srv.book.snapshot()["BTC"]["free"])
        assert held == pytest.approx(buy["amount"] - buy["fee"] - exit_["filled"], abs=1e-12)  # dust under a lot

        # a restart compares btk's position with the account's: the fee is no mismatch
        reset_engine()
        e.set_clock(clock)
        clock.advance(5 * MINUTE_MS)
        results, errors = await run(srv, 100.0, "idle")
        assert not [x for x in errors if isinstance(x, e.PositionMismatchError)], errors
        assert results  # it traded on


async def test_a_partly_filled_entry_keeps_its_position_and_the_exit_sells_what_filled(server: BinanceServer) -> None:
    """Issue 16: "Partial fills are recorded and the exit closes what was actually filled". The book
    has liquidity for 40 % of the entry (the rest of the market order expires, as on Binance): btk
    keeps the position for what filled, protects that amount, and the exit sells exactly it."""
    server.book.market_fills = [Decimal("0.4")]
    results, errors = await run(server, 100.0, "closed")
    assert not errors, errors
    [opened] = [r for r in results if r.action == "opened"]  # not taken back: the account holds BTC
    assert [r.action for r in results if r.action == "closed"] == ["closed"]
    sid = opened.signal.id
    entry = next(o for o in server.book.orders.values() if o.client_order_id == client_order_id(sid, "entry"))
    assert entry.status == "EXPIRED" and 0 < entry.executed < entry.qty
    log = server.book.log_rows()
    assert [(r["client_order_id"], r["side"], r["type"]) for r in log] == [
        (client_order_id(sid, "entry"), "BUY", "MARKET"),
        (client_order_id(sid, "stop"), "SELL", "STOP_LOSS"),
        (client_order_id(sid, "exit"), "SELL", "MARKET"),
    ]
    assert Decimal(log[1]["qty"]) == Decimal(log[2]["qty"]) == entry.executed  # what filled, not what was asked
    records = json.loads(Path(f"dump/data/order/{SYMBOL}_s/orders.json").read_text())["orders"]
    assert [(r["intent"]["action"], r["status"]) for r in records] == [
        ("entry", "cancelled"),
        ("stop", "cancelled"),
        ("exit", "filled"),
    ]
    assert records[0]["filled"] == pytest.approx(float(entry.executed))  # the partial fill is recorded
    snap = server.book.snapshot()
    assert float(snap["BTC"]["free"]) == 0 and float(snap["BTC"]["locked"]) == 0  # nothing left behind
