"""The ccxt broker with the real ccxt ``binance`` client against the loopback exchange (issue 16).

The server (tests/exchanges/binance_server.py, its account in binance_orders.py) keeps its own
order log: every test that sends an order checks there how many orders the venue accepted, so
"never sent twice" is judged by the venue, not by what the broker believes.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest

import engine as e
from engine.brokers import Broker, BrokerError, OrderIntent, OrderOutcomeUnknown, OrderRejected, client_order_id
from engine.brokers.ccxt_broker import CcxtBroker
from engine.model import MINUTE_MS
from tests.exchanges.binance_server import BinanceServer, ccxt_options

DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NOW = DAY0 + 10 * 1440 * MINUTE_MS
KEY, SECRET = "k3y-AbCdEfGh-0123456789", "s3cr3t-ZyXwVuT-9876543210"
FEE = 0.001


class RecordingClock(e.SimulatedClock):
    """A frozen simulated clock that remembers every sleep (retries wait no real time)."""

    def __init__(self, start_ms: int) -> None:
        super().__init__(start_ms, speed=0)
        self.sleeps: list[float] = []

    async def sleep(self, ms: float) -> None:
        self.sleeps.append(ms)
        await super().sleep(ms)


@pytest.fixture
def server() -> Iterator[BinanceServer]:
    with BinanceServer(now_ms=NOW, fee_rate=FEE, balances={"USDT": 10_000.0}) as srv:
        yield srv


@pytest.fixture
def clock() -> RecordingClock:
    c = RecordingClock(NOW)
    e.set_clock(c)
    return c


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTK_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BTK_BINANCE_SECRET", SECRET)


@pytest.fixture
async def broker(server: BinanceServer, clock: RecordingClock, keys: None) -> AsyncIterator[CcxtBroker]:
    e.add_ccxt_exchange("binance", **ccxt_options(server.base_url))
    b = CcxtBroker("binance", backoff_ms=100, real_money=True)
    await b.start()
    yield b
    await b.close()
    await e.close_ccxt_exchanges()


def price_now(server: BinanceServer, symbol: str = "BTCUSDT") -> float:
    return float(server.book.price(symbol, server.now()))


def intent(
    server: BinanceServer,
    *,
    action: str = "entry",
    side: str = "buy",
    type: str = "market",
    amount: float = 0.01,
    price: float | None = None,
    signal: str = "sig-1",
    symbol: str = "BTCUSDT",
) -> OrderIntent:
    return OrderIntent(
        client_order_id=client_order_id(signal, action),  # type: ignore[arg-type]
        signal_id=signal,
        symbol=symbol,
        strategy_name="s",
        exchange_name="binance",
        action=action,  # type: ignore[arg-type]
        side=side,  # type: ignore[arg-type]
        type=type,  # type: ignore[arg-type]
        amount=amount,
        price=price,
        reference_price=price_now(server, symbol),
        reduce_only=action != "entry",
        created_at=NOW,
    )


def order_posts(server: BinanceServer) -> list[Any]:
    return [r for r in server.requests if r.path == "/api/v3/order" and r.method == "POST"]


def balance(server: BinanceServer, asset: str) -> float:
    return float(server.book.snapshot().get(asset, {"free": "0"})["free"])


def first_touch(server: BinanceServer, *, below: bool, minutes: int = 240) -> tuple[float, int]:
    """A price the market reaches within ``minutes`` after NOW (the lowest low or highest high,
    on the tick) and the minute it is reached: a limit or stop there must fill by then."""
    rows = server.ohlcv("BTCUSDT", "1m", NOW // MINUTE_MS * MINUTE_MS + MINUTE_MS, minutes, NOW + minutes * MINUTE_MS)
    pick = min(rows, key=lambda r: r[3]) if below else max(rows, key=lambda r: r[2])
    level = math.ceil(pick[3] * 100) / 100 if below else math.floor(pick[2] * 100) / 100
    return level, pick[0]


# --------------------------------------------------------------------------- the happy path


async def test_the_broker_keeps_the_interface(broker: CcxtBroker) -> None:
    assert isinstance(broker, Broker)
    assert broker.kind == "ccxt" and broker.currency == "USDT"
    assert KEY not in repr(broker) and SECRET not in repr(broker)


async def test_a_market_entry_fills_once_at_the_venues_price_with_its_fee(broker: CcxtBroker, server) -> None:
    order = intent(server)
    report = await broker.place(order)
    price = price_now(server)
    assert report.status == "filled" and report.final
    assert report.filled == pytest.approx(0.01) and report.average == pytest.approx(price)
    assert [(f.amount, f.price, f.fee_currency) for f in report.fills] == [(0.01, price, "USDT")]
    assert report.fills[0].fee == pytest.approx(0.01 * price * FEE)
    assert server.book.placed(order.client_order_id) == 1
    log = server.book.log_rows()
    assert [(r["client_order_id"], r["side"], r["type"], r["qty"]) for r in log] == [
        (order.client_order_id, "BUY", "MARKET", "0.01000000")
    ]
    assert await broker.position("BTCUSDT") == pytest.approx(0.01)
    assert await broker.position("BTC/USDT") == pytest.approx(0.01)
    assert balance(server, "USDT") == pytest.approx(10_000 - 0.01 * price * (1 + FEE))
    account = await broker.account()
    assert account.balance == pytest.approx(balance(server, "USDT"))
    assert account.equity == pytest.approx(account.balance + 0.01 * price)
    assert account.fees_paid == pytest.approx(0.01 * price * FEE)
    assert account.positions == {"BTCUSDT": pytest.approx(0.01)}
    assert account.open_orders == 0

    exit_ = intent(server, action="exit", side="sell")
    closed = await broker.place(exit_)
    assert closed.status == "filled" and await broker.position("BTCUSDT") == 0
    assert [r["client_order_id"] for r in server.book.log_rows()] == [order.client_order_id, exit_.client_order_id]
    assert balance(server, "USDT") == pytest.approx(10_000 - 2 * 0.01 * price * FEE)


async def test_amount_and_price_go_through_the_markets_precision(broker: CcxtBroker, server) -> None:
    below = math.floor(price_now(server) * 0.9)
    order = intent(server, type="limit", amount=0.0123456789, price=below + 0.56789)
    report = await broker.place(order)
    assert report.status == "open" and report.filled == 0
    row = server.book.log_rows()[0]
    assert row["qty"] == "0.01234000"  # truncated to the 0.00001 lot step
    assert float(row["price"]) == pytest.approx(below + 0.57)  # rounded to the 0.01 tick
    assert (await broker.account()).open_orders == 1


# --------------------------------------------------------------------------- minimums and rejections


async def test_an_amount_below_the_minimum_is_refused_and_nothing_is_sent(broker: CcxtBroker, server) -> None:
    with pytest.raises(OrderRejected) as caught:
        await broker.place(intent(server, amount=0.000004))
    assert "below the market's minimum amount 1e-05 BTC" in caught.value.reason
    assert "nothing was sent" in caught.value.reason
    assert "sig-1" in str(caught.value)
    assert order_posts(server) == []


async def test_a_notional_below_the_minimum_is_refused_and_nothing_is_sent(broker: CcxtBroker, server) -> None:
    with pytest.raises(OrderRejected) as caught:
        await broker.place(intent(server, amount=0.00005))  # ~3 USDT, the minimum is 5
    assert "below the market's minimum notional 5" in caught.value.reason
    assert order_posts(server) == []


async def test_the_venues_own_minimum_rejects_with_its_reason(broker: CcxtBroker, server) -> None:
    # the venue raised its minimum notional after btk loaded the markets: the venue says no
    server.markets["BTCUSDT"] = replace(server.markets["BTCUSDT"], min_notional="100000")
    with pytest.raises(OrderRejected) as caught:
        await broker.place(intent(server))
    assert "Filter failure: NOTIONAL" in caught.value.reason
    assert server.book.log_rows() == [] and len(order_posts(server)) == 1


async def test_insufficient_balance_is_a_rejection_with_the_venues_words(broker: CcxtBroker, server) -> None:
    with pytest.raises(OrderRejected) as caught:
        await broker.place(intent(server, amount=1.0))  # ~61k USDT on a 10k account
    assert "InsufficientFunds" in caught.value.reason
    assert "Account has insufficient balance for requested action." in caught.value.reason
    assert server.book.log_rows() == [] and balance(server, "USDT") == 10_000


async def test_a_sell_without_the_base_asset_is_refused(broker: CcxtBroker, server) -> None:
    with pytest.raises(OrderRejected, match="insufficient balance"):
        await broker.place(intent(server, action="exit", side="sell"))
    assert server.book.log_rows() == []


async def test_an_unknown_symbol_is_refused_without_sending(broker: CcxtBroker, server) -> None:
    order = replace(intent(server), symbol="DOGEXYZ")
    with pytest.raises(OrderRejected, match="no market 'DOGEXYZ'"):
        await broker.place(order)
    assert order_posts(server) == []


# --------------------------------------------------------------------------- faults around an order


@pytest.mark.parametrize("status", [0, 503, 502], ids=["dropped", "503", "502"])
async def test_a_fault_after_acceptance_is_unknown_then_fetch_finds_the_order(
    broker: CcxtBroker, server, status: int
) -> None:
    server.fail_after(1, status)
    order = intent(server)
    with pytest.raises(OrderOutcomeUnknown) as caught:
        await broker.place(order)
    assert "never sent twice" in str(caught.value)
    assert len(order_posts(server)) == 1  # not resent
    assert server.book.placed(order.client_order_id) == 1
    report = await broker.fetch(order)
    assert report is not None and report.status == "filled"
    assert report.filled == pytest.approx(0.01) and report.average == pytest.approx(price_now(server))
    assert len(report.fills) == 1 and report.fills[0].fee == pytest.approx(0.01 * price_now(server) * FEE)
    assert report.exchange_order_id == str(server.book.log_rows()[0]["order_id"])
    assert len(order_posts(server)) == 1
    assert await broker.position("BTCUSDT") == pytest.approx(0.01)


async def test_a_5xx_before_acceptance_is_unknown_and_fetch_says_the_venue_never_saw_it(
    broker: CcxtBroker, server
) -> None:
    server.fail_next(1, 503, path="/api/v3/order")
    order = intent(server)
    with pytest.raises(OrderOutcomeUnknown):
        await broker.place(order)
    assert len(order_posts(server)) == 1 and server.book.log_rows() == []
    assert await broker.fetch(order) is None


async def test_429_is_sent_again_after_retry_after_on_the_engines_clock(broker: CcxtBroker, server, clock) -> None:
    server.fail_next(2, 429, retry_after=3, path="/api/v3/order")
    order = intent(server)
    report = await broker.place(order)
    assert report.status == "filled"
    assert [r.status for r in order_posts(server)] == [429, 429, 200]
    assert server.book.placed(order.client_order_id) == 1
    assert clock.sleeps == [3000, 3000]  # the server's Retry-After beats the 100/200 ms backoff


async def test_429_that_does_not_stop_is_a_rejection_with_nothing_placed(broker: CcxtBroker, server, clock) -> None:
    server.fail_next(10, 429, path="/api/v3/order")
    with pytest.raises(OrderRejected, match="rate limited 4 times"):
        await broker.place(intent(server))
    assert len(order_posts(server)) == 4 and server.book.log_rows() == []


async def test_fetch_of_an_order_the_venue_never_saw_is_none(broker: CcxtBroker, server) -> None:
    assert await broker.fetch(intent(server, signal="never-sent")) is None


async def test_reads_retry_network_errors(broker: CcxtBroker, server, clock) -> None:
    await broker.place(intent(server))
    server.fail_next(2, 503, path="/api/v3/account")
    assert await broker.position("BTCUSDT") == pytest.approx(0.01)
    assert clock.sleeps == [100, 200]
    server.fail_next(10, 503, path="/api/v3/order")
    with pytest.raises(BrokerError, match="failed after 4 attempts"):
        await broker.fetch(intent(server))


# --------------------------------------------------------------------------- limits, stops, cancel


async def test_a_resting_limit_fills_when_the_market_trades_through_it(broker: CcxtBroker, server) -> None:
    level, when = first_touch(server, below=True)
    assert level < price_now(server)
    order = intent(server, type="limit", price=level)
    assert (await broker.place(order)).status == "open"
    assert balance(server, "USDT") == pytest.approx(10_000 - 0.01 * level * (1 + FEE))  # held while open
    server.set_now(when - 1)
    assert (await broker.fetch(order)).status == "open"
    server.set_now(when + MINUTE_MS)
    report = await broker.fetch(order)
    assert report.status == "filled" and report.average == pytest.approx(level)
    assert report.fills[0].price == pytest.approx(level)
    assert balance(server, "USDT") == pytest.approx(10_000 - 0.01 * level * (1 + FEE))
    assert await broker.position("BTCUSDT") == pytest.approx(0.01)


async def test_cancel_releases_a_resting_limit_and_a_second_cancel_reports_it(broker: CcxtBroker, server) -> None:
    order = intent(server, type="limit", price=round(price_now(server) * 0.5, 2))
    await broker.place(order)
    report = await broker.cancel(order)
    assert report.status == "cancelled" and report.final and report.filled == 0
    assert balance(server, "USDT") == 10_000
    again = await broker.cancel(order)
    assert again.status == "cancelled"
    with pytest.raises(BrokerError, match="the venue has no such order"):
        await broker.cancel(intent(server, signal="never"))


async def test_a_protective_stop_rests_triggers_and_can_be_cancelled(broker: CcxtBroker, server) -> None:
    assert broker.supports_stop("BTCUSDT")
    await broker.place(intent(server))
    level, when = first_touch(server, below=True)
    stop = intent(server, action="stop", side="sell", type="stop_market", price=level)
    placed = await broker.place(stop)
    assert placed.status == "open"
    row = server.book.log_rows()[-1]
    assert (row["type"], row["client_order_id"], float(row["stop_price"])) == ("STOP_LOSS", stop.client_order_id, level)
    assert await broker.position("BTCUSDT") == pytest.approx(0.01)  # held (locked), not sold
    server.set_now(when + MINUTE_MS)
    report = await broker.fetch(stop)
    assert report.status == "filled" and report.average == pytest.approx(level)
    assert await broker.position("BTCUSDT") == 0

    # a stop btk cancels itself before closing the position
    await broker.place(intent(server, signal="sig-2"))
    stop2 = intent(server, action="stop", side="sell", type="stop_market", price=round(level * 0.5, 2), signal="sig-2")
    await broker.place(stop2)
    assert (await broker.cancel(stop2)).status == "cancelled"
    assert (await broker.place(intent(server, action="exit", side="sell", signal="sig-2"))).status == "filled"
    assert await broker.position("BTCUSDT") == 0
    placed_ids = [r["client_order_id"] for r in server.book.log_rows()]
    assert len(placed_ids) == len(set(placed_ids)) == 5


# --------------------------------------------------------------------------- keys


async def test_missing_keys_are_a_clear_error_before_anything_is_sent(server, clock, monkeypatch) -> None:
    monkeypatch.delenv("BTK_BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BTK_BINANCE_SECRET", raising=False)
    e.add_ccxt_exchange("binance", **ccxt_options(server.base_url))
    broker = CcxtBroker("binance", real_money=True)
    with pytest.raises(BrokerError, match="set BTK_BINANCE_API_KEY and BTK_BINANCE_SECRET"):
        await broker.start()
    assert server.requests == []
    with pytest.raises(BrokerError, match="not started"):
        await broker.place(intent(server))
    await e.close_ccxt_exchanges()


def test_the_venue_refuses_a_private_call_without_a_key(server) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{server.base_url}/api/v3/openOrders?symbol=BTCUSDT", timeout=10)
    assert caught.value.code == 401
    assert json.loads(caught.value.read()) == {"code": -2014, "msg": "API-key format invalid."}


async def test_a_rejected_key_is_a_broker_error_without_the_key(server, clock, keys) -> None:
    server.reject_keys()
    e.add_ccxt_exchange("binance", **ccxt_options(server.base_url))
    broker = CcxtBroker("binance", real_money=True)
    with pytest.raises(BrokerError) as caught:
        await broker.start()
    assert "AuthenticationError" in str(caught.value) and "Invalid API-key" in str(caught.value)
    assert KEY not in str(caught.value) and SECRET not in str(caught.value)
    await e.close_ccxt_exchanges()


async def test_a_non_ccxt_exchange_cannot_have_a_ccxt_broker() -> None:
    e.add_synthetic_exchange("synth")
    with pytest.raises(BrokerError, match="not a ccxt exchange"):
        CcxtBroker("synth")
    with pytest.raises(BrokerError, match="no exchange named 'nope'"):
        CcxtBroker("nope")


async def test_mark_moves_the_equity_and_quote_amount_is_checked(broker: CcxtBroker, server) -> None:
    await broker.place(intent(server))
    before = await broker.account()
    broker.mark("BTCUSDT", 2 * price_now(server))
    after = await broker.account()
    assert after.balance == before.balance
    assert after.equity == pytest.approx(before.equity + 0.01 * price_now(server))
    assert CcxtBroker("binance", quote_amount=250, real_money=True).quote_amount == 250
    with pytest.raises(BrokerError, match="quote_amount must be a number > 0"):
        CcxtBroker("binance", quote_amount=0, real_money=True)


async def test_a_duplicate_client_id_is_reconciled_not_taken_back(broker: CcxtBroker, server) -> None:
    order = intent(server, type="limit", price=round(price_now(server) * 0.5, 2))
    await broker.place(order)
    with pytest.raises(OrderOutcomeUnknown, match="already holds this client order id"):
        await broker.place(order)
    assert server.book.placed(order.client_order_id) == 1
    assert (await broker.fetch(order)).status == "open"


@pytest.mark.parametrize("phase", ["received", "accepted"])
async def test_the_servers_order_hook_drops_before_or_after_acceptance(broker: CcxtBroker, server, phase: str) -> None:
    seen: list[tuple[str, str]] = []

    def hook(at: str, params: dict[str, str]) -> str | None:
        seen.append((at, params["newClientOrderId"]))
        return "drop" if at == phase else None

    server.order_hook = hook
    order = intent(server)
    with pytest.raises(OrderOutcomeUnknown):
        await broker.place(order)
    server.order_hook = None
    expected = [("received", order.client_order_id)] + (
        [("accepted", order.client_order_id)] if phase == "accepted" else []
    )
    assert seen == expected
    report = await broker.fetch(order)
    if phase == "received":
        assert report is None and server.book.log_rows() == []
    else:
        assert report is not None and report.status == "filled" and server.book.placed(order.client_order_id) == 1


async def test_reset_account_starts_over(server) -> None:
    server.book.set_balance("BTC", 1.0)
    book = server.reset_account({"USDT": 5.0})
    assert server.book is book and book.snapshot() == {"USDT": {"free": "5.00000000", "locked": "0.00000000"}}


async def test_the_broker_is_named_after_its_exchange(broker: CcxtBroker) -> None:
    assert broker.name == "binance"
    assert CcxtBroker(broker.feed, real_money=True).name == "ccxt-binance"
    assert CcxtBroker("binance", name="desk", real_money=True).name == "desk"


async def test_the_order_clock_prices_orders_apart_from_the_candles(broker: CcxtBroker, server) -> None:
    earlier = NOW - 600 * MINUTE_MS
    server.set_order_now(earlier)
    report = await broker.place(intent(server))
    assert report.average == pytest.approx(float(server.book.price("BTCUSDT", earlier)))
    assert report.average != pytest.approx(float(server.book.price("BTCUSDT", NOW)))
    assert server.now() == NOW


async def test_a_broker_on_a_real_venue_needs_real_money_and_a_sandbox_refuses_it(server) -> None:
    """The rule of btk.toml's ``[broker]``, for Python too: no real orders without saying so, and
    no "real money" on test money. Nothing is sent in either case (the broker is not even made)."""
    e.add_ccxt_exchange("binance", **ccxt_options(server.base_url))
    with pytest.raises(BrokerError, match=r"REAL orders with real money on binance.*real_money=True"):
        CcxtBroker("binance")
    e.add_ccxt_exchange("testnet", **ccxt_options(server.base_url, sandbox=True))
    assert CcxtBroker("testnet").real_money is False  # a sandbox needs no confirmation
    with pytest.raises(BrokerError, match=r"real_money=True but binance is the sandbox"):
        CcxtBroker("testnet", real_money=True)
    with pytest.raises(BrokerError, match="real_money must be True or False"):
        CcxtBroker("binance", real_money="yes")
    assert CcxtBroker("binance", real_money=True).real_money is True
    assert server.book.log == []  # nothing reached the venue
    await e.close_ccxt_exchanges()
