"""Live orders through the order desk and the paper broker (README "Orders and accounts"), on a
frozen simulated clock (live_helpers): the paper account against the live report, restarts and
reconciliation, refused entries, scheduled limit entries, circuit breakers, flatten, and that a
backtest never touches a broker.

"A crash" here is a ``BaseException`` raised inside the broker at the chosen moment: like a kill,
nothing after it runs (no ``except Exception`` of the runner catches it), and the next start is a
fresh engine (``restart``) reading only what is on disk.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from live_helpers import live, register, run_live, state_file
from spec_helpers import EXCHANGE, STRATEGY, SYMBOL, F, restart, sig

import engine as e
from engine.brokers import client_order_id

PAPER_DOC = Path("dump/data/paper/paper/account.json")
ORDERS_DOC = Path(f"dump/data/order/{SYMBOL}_{STRATEGY}/orders.json")


def paper_doc() -> dict:
    return json.loads(PAPER_DOC.read_text())


def orders_doc() -> list[dict]:
    return json.loads(ORDERS_DOC.read_text())["orders"]


def walk(seed: int, n: int = 1600, start: float = 42000) -> dict[int, float]:
    """A seeded random walk of minute prices (absolute: minute k always has the same price)."""
    rng = random.Random(seed)
    prices, p = {}, start
    for k in range(-20, n):
        p *= 1 + rng.uniform(-0.0015, 0.0015)
        prices[k] = round(p, 2)
    return prices


def alternating(n: int, price: float) -> dict:
    side = "long" if n % 2 == 0 else "short"
    up, down = price * 1.008, price * 0.992
    return sig(side, tp=up if side == "long" else down, sl=down if side == "long" else up, met=90)


# --------------------------------------------------------------------------- PnL to the cent


async def test_paper_account_closed_pnl_equals_the_live_report_over_a_day_of_ticks() -> None:
    prices = walk(7)
    out = await live(lambda k: F(prices[k]), alternating, until=1440)
    closed = [r for r in out.yielded if r.action == "closed"]
    assert len(closed) >= 20 and {r.signal.position for r in closed} == {"long", "short"}
    assert {r.close_reason for r in closed} >= {"take_profit", "stop_loss"}

    account = paper_doc()
    fills = account["fills"]
    entry_cost = {
        f["signal_id"]: f["amount"] * f["price"]
        for f in fills
        if f["client_order_id"] == client_order_id(f["signal_id"], "entry")
    }
    report = e.Live.get_data(SYMBOL, STRATEGY)
    report_closed = [ev for ev in report.event_list if ev.action == "closed"]
    assert len(report_closed) == len(closed)
    # the live report's PnL, in quote: each trade's percentage of what its entry cost
    expected = sum(entry_cost[ev.signal_id] * ev.pnl / 100 for ev in report_closed)
    assert round(account["realised"], 2) == round(expected, 2)
    # the balance moved by the closed PnL, less what the position still open cost (and its fee)
    held = account["positions"].get(SYMBOL, 0.0)
    open_cost = account["costs"].get(SYMBOL, 0.0) + account["entry_fees"].get(SYMBOL, 0.0)
    tied = open_cost if held > 0 else -account["costs"].get(SYMBOL, 0.0) + account["entry_fees"].get(SYMBOL, 0.0)
    assert round(account["balance"] + tied - account["start_balance"], 2) == round(expected, 2)
    # exactly one entry and one exit fill per closed trade, and one order record each
    ids = [f["client_order_id"] for f in fills]
    assert len(ids) == len(set(ids))
    for r in closed:
        assert client_order_id(r.signal.id, "entry") in ids and client_order_id(r.signal.id, "exit") in ids
    assert not out.errors
    text = await e.Live.get_account_report()
    assert "Fees paid" in text and f"{account['balance']:.2f}" in text and text.count("| btk") == len(fills)
    path = await e.Live.dump_account()
    assert path is not None and Path(path).name == "account_paper.md" and Path(path).read_text() == text


# --------------------------------------------------------------------------- restart


class CrashBeforePlace(e.PaperBroker):
    """Dies the first time it is asked to place: the intent and the flush happened, the order did not."""

    async def place(self, intent):
        raise KeyboardInterrupt("killed between writing the intent and sending it")


class CrashAfterPlace(e.PaperBroker):
    """Places (the account saves it), then dies before the desk hears the answer."""

    async def place(self, intent):
        await super().place(intent)
        raise KeyboardInterrupt("killed between the venue accepting the order and btk recording it")


def counting_places(broker: e.PaperBroker) -> list[str]:
    placed: list[str] = []
    real = broker.place

    async def place(intent):
        placed.append(intent.client_order_id)
        return await real(intent)

    broker.place = place  # type: ignore[method-assign]
    return placed


async def _crash(broker_cls, candles, signals, until: float) -> None:
    out = register(candles, signals)
    broker = e.add_broker(broker_cls("paper"))
    with pytest.raises(KeyboardInterrupt):
        await run_live(out, until=until)
    assert broker.name == "paper"


async def test_an_intent_written_but_never_sent_is_sent_once_at_restart_because_its_position_was_saved() -> None:
    candles = lambda k: F(42000 if k < 30 else 43000)  # noqa: E731
    await _crash(CrashBeforePlace, candles, [sig("long", tp=42500, sl=41000, met=600)], until=20)
    [record] = orders_doc()
    assert record["status"] == "intent"  # on disk before the crash
    saved = json.loads(state_file("signal", SYMBOL).read_text())
    assert saved["id"] == record["intent"]["signal_id"]  # the flush came before the place
    assert not PAPER_DOC.exists()  # the venue never saw it

    restart()
    broker = e.add_broker(e.PaperBroker("paper"))
    placed = counting_places(broker)
    again = register(candles, [])
    await run_live(again, start=1, until=40)
    assert [r.id for r in again.restored] == [saved["id"]]
    entry, exit_ = client_order_id(saved["id"], "entry"), client_order_id(saved["id"], "exit")
    assert placed == [entry, exit_]  # the entry once (fetch said never seen), then its exit
    [fill] = [f for f in paper_doc()["fills"] if f["client_order_id"] == entry]
    assert fill["price"] == pytest.approx(saved["price_open"] * 1.001)  # at the price the engine used
    assert {r["status"] for r in orders_doc()} == {"filled"} and paper_doc()["positions"] == {}


async def test_an_intent_whose_signal_was_never_saved_is_cancelled_at_restart_and_never_sent() -> None:
    candles = lambda k: F(42000)  # noqa: E731
    out = register(candles, [sig("long", tp=43000, sl=41000, met=600)])
    e.add_broker(CrashBeforePlace("paper"))
    from engine.persist import adapters

    real_flush = adapters.writer.flush

    async def crash_in_flush() -> bool:  # killed after the intent, before the signal is on disk
        raise KeyboardInterrupt("killed before the flush")

    adapters.writer.flush = crash_in_flush  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            await run_live(out, until=5)
    finally:
        adapters.writer.flush = real_flush  # type: ignore[method-assign]
    [record] = orders_doc()
    assert record["status"] == "intent" and not state_file("signal", SYMBOL).exists()

    restart()
    placed = counting_places(e.add_broker(e.PaperBroker("paper")))
    again = register(candles, [])
    await run_live(again, start=1, until=5)
    assert again.restored == [] and placed == []
    [record] = orders_doc()
    assert record["status"] == "cancelled" and "its signal was not saved" in record["reason"]


async def test_an_order_the_venue_accepted_before_the_crash_is_recorded_at_restart_and_closed_once() -> None:
    candles = lambda k: F(42000 if k < 30 else 43000)  # noqa: E731
    await _crash(CrashAfterPlace, candles, [sig("long", tp=42500, sl=41000, met=600)], until=20)
    [record] = orders_doc()
    assert record["status"] == "intent"
    assert list(paper_doc()["orders"]) == [record["intent"]["client_order_id"]]  # the venue has it

    restart()
    broker = e.add_broker(e.PaperBroker("paper"))
    placed = counting_places(broker)
    orders: list[e.OrderReport] = []
    e.listen_order(orders.append)
    again = register(candles, [])
    await run_live(again, start=1, until=60)
    [restored] = again.restored
    assert restored.id == record["intent"]["signal_id"]
    [closed] = [r for r in again.yielded if r.action == "closed"]
    assert closed.signal.id == restored.id and closed.close_reason == "take_profit"
    entry, exit_ = client_order_id(restored.id, "entry"), client_order_id(restored.id, "exit")
    assert placed == [exit_]  # the entry was never placed again
    statuses = {r["intent"]["client_order_id"]: r["status"] for r in orders_doc()}
    assert statuses == {entry: "filled", exit_: "filled"}
    account = paper_doc()
    assert account["positions"] == {} and len(account["fills"]) == 2
    assert [o.status for o in orders if o.intent.client_order_id == entry] == ["filled"]


async def test_a_restart_restores_balance_open_orders_and_fills_and_places_nothing_twice() -> None:
    candles = lambda k: F(42000 if k < 30 else 43000)  # noqa: E731
    signals = [sig("long", tp=42500, sl=41000, met=600)]
    out = await live(candles, signals, until=5)
    [opened] = out.yielded
    before = paper_doc()
    assert before["positions"][SYMBOL] > 0 and len(before["fills"]) == 1
    snapshot = await e.Live.account()

    restart()
    broker = e.add_broker(e.PaperBroker("paper", balance=1))  # a saved account keeps its own balance
    placed = counting_places(broker)
    again = register(candles, [])
    await run_live(again, start=10, until=60)
    assert [r.id for r in again.restored] == [opened.signal.id]
    assert broker.start_balance == 1 and paper_doc()["start_balance"] == before["start_balance"]
    [closed] = [r for r in again.yielded if r.action == "closed"]
    assert placed == [client_order_id(closed.signal.id, "exit")]
    after = paper_doc()
    assert after["fills"][0] == before["fills"][0] and len(after["fills"]) == 2
    assert after["balance"] > snapshot.balance  # the exit paid back the entry's cost and the profit
    assert after["positions"] == {}


async def test_a_position_the_broker_does_not_hold_makes_the_pair_refuse_to_trade() -> None:
    candles = lambda k: F(42000)  # noqa: E731
    out = await live(candles, [sig("long", tp=43000, sl=41000, met=600)], until=3)
    assert [r.action for r in out.yielded] == ["opened"]
    account = paper_doc()
    account["positions"] = {}  # the account lost it (closed by hand at the venue, say)
    PAPER_DOC.write_text(json.dumps(account))

    restart()
    again = register(candles, [])
    with pytest.raises(e.PositionMismatchError, match=r"btk's orders hold .* broker paper holds 0"):
        await run_live(again, start=5, until=10)
    assert again.calls == []  # not one tick traded


# --------------------------------------------------------------------------- refusals and limits


async def test_a_refused_entry_is_an_error_naming_signal_order_and_reason_and_leaves_no_position() -> None:
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=600)])
    e.add_broker(e.PaperBroker("paper", balance=50, quote_amount=100))
    await run_live(out, until=5)
    assert [r.action for r in out.yielded] == []  # never announced as opened
    assert not [t for t in out.ticks if t.action == "opened"]
    [error] = out.errors
    [record] = orders_doc()
    signal_id, coid = record["intent"]["signal_id"], record["intent"]["client_order_id"]
    assert isinstance(error, e.OrderRejected)
    assert signal_id in str(error) and coid in str(error) and "insufficient balance" in str(error)
    assert record["status"] == "rejected" and "insufficient balance" in record["reason"]
    assert json.loads(state_file("signal", SYMBOL).read_text()) is None
    assert not PAPER_DOC.exists()  # the account never changed
    snap = await e.Live.account()
    assert snap.balance == 50 and snap.positions == {}


async def test_a_scheduled_entry_is_a_limit_order_filled_at_its_price_or_cancelled_with_it() -> None:
    prices = {k: 42000 for k in range(-10, 200)}
    for k in range(10, 200):
        prices[k] = 41500  # the first limit (41600) is reached at m10; the second (40000) never

    def script(n: int, price: float):
        if n == 0:
            return sig("long", tp=42500, sl=41000, met=30, open_=41600)
        if n == 1:
            return sig("long", tp=42500, sl=39000, met=30, open_=40000)
        return None

    orders: list[e.OrderReport] = []
    e.listen_order(orders.append)
    e.set_config({"CC_SCHEDULE_AWAIT_MINUTES": 20}, unsafe=True)
    out = await live(lambda k: F(prices[k]), script, until=120)
    actions = [r.action for r in out.yielded]
    assert actions == ["opened", "closed", "cancelled"]
    first, second = out.yielded[0].signal.id, out.yielded[2].signal.id
    by_id = {r["intent"]["client_order_id"]: r for r in orders_doc()}
    entry = by_id[client_order_id(first, "entry")]
    assert entry["intent"]["type"] == "limit" and entry["intent"]["price"] == 41600
    assert entry["status"] == "filled" and entry["average"] == pytest.approx(41600 * 1.001)
    assert [o.status for o in orders if o.intent.signal_id == first and o.intent.action == "entry"] == [
        "intent",
        "open",
        "filled",
    ]
    cancelled = by_id[client_order_id(second, "entry")]
    assert cancelled["status"] == "cancelled" and cancelled["filled"] == 0
    assert paper_doc()["positions"] == {} and not out.errors


# --------------------------------------------------------------------------- breakers, flatten


def losing_long(n: int, price: float) -> dict:
    return sig("long", tp=price * 1.01, sl=price * 0.99, met=600)


async def test_a_tripped_breaker_makes_the_account_close_only_until_cleared() -> None:
    prices = {k: 42000 - 100 * max(0, k) for k in range(-10, 400)}  # falls 0.24% a minute: every long stops out
    e.set_config({"CC_MAX_DRAWDOWN_PERCENT": 0.5})
    breakers: list[e.BreakerEvent] = []
    e.listen_breaker(breakers.append)
    out = register(lambda k: F(prices[k]), losing_long)
    e.add_broker(e.PaperBroker("paper", balance=10_000, quote_amount=4000))
    await run_live(out, until=60)
    closed = [r for r in out.yielded if r.action == "closed"]
    assert closed and all(r.close_reason == "stop_loss" for r in closed)
    [tripped] = breakers
    assert tripped.breaker == "max_drawdown" and "below its peak" in tripped.reason
    opened_after = [r for r in out.yielded if r.action == "opened" and r.signal.pending_at > closed[-1].close_timestamp]
    assert opened_after == []  # close-only: asked for signals, placed nothing
    assert len(out.calls) > len(closed) + 5
    snap = await e.Live.account()
    assert snap.breaker == "max_drawdown"

    restart()  # it stays tripped across a restart
    e.add_broker(e.PaperBroker("paper"))
    again = register(lambda k: F(prices[k]), losing_long)
    await run_live(again, start=70, until=80)
    assert [r.action for r in again.yielded] == []
    cleared = await e.Live.clear_breaker("paper")
    assert cleared is not None and cleared.breaker is None
    await run_live(again, start=90, until=92)
    assert [r.action for r in again.yielded][:1] == ["opened"]


async def test_flatten_closes_every_open_position_at_market_and_close_position_one() -> None:
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=600)])
    asked: list[list] = []

    def flatten_at_minute_5(result) -> None:
        if result.action == "active" and not asked and e.get_clock().now() >= out_minute(5):
            asked.append(e.Live.flatten())

    e.listen_signal_live(flatten_at_minute_5)
    await run_live(out, until=12)
    assert asked == [[(SYMBOL, STRATEGY)]]
    opened, closed = out.yielded
    assert closed.close_reason == "manual" and closed.signal.id == opened.signal.id
    statuses = {r["intent"]["action"]: r["status"] for r in orders_doc()}
    assert statuses == {"entry": "filled", "exit": "filled"}
    assert paper_doc()["positions"] == {}
    assert e.Live.close_position(SYMBOL, STRATEGY) is False  # nothing open (and the run has ended)


def out_minute(k: float) -> int:
    from spec_helpers import m

    return m(k)


# --------------------------------------------------------------------------- backtests


async def test_a_backtest_never_touches_a_broker() -> None:
    from spec_helpers import backtest

    broker = e.add_broker(e.PaperBroker("paper"))
    out = await backtest(lambda k: F(42000 if k < 5 else 43000), [sig("long", tp=42500, sl=41000)])
    assert any(r.action == "closed" for r in out.yielded)
    assert broker._state is None  # never started
    assert not Path("dump/data/paper").exists() and not Path("dump/data/order").exists()


async def test_a_live_run_with_an_unknown_broker_or_a_sizing_it_cannot_use_is_refused_at_start() -> None:
    register(lambda k: F(42000), [])
    with pytest.raises(ValueError, match="broker nope is not registered"):
        e.Live.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, broker="nope")
    e.add_sizing("k", "kelly-criterion")
    with pytest.raises(e.SizingError, match="fixed-percentage"):
        e.Live.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, sizing_name="k")


async def test_two_strategies_on_one_symbol_share_the_account_position_without_a_false_mismatch() -> None:
    candles = lambda k: F(42000)  # noqa: E731
    out = register(candles, [sig("long", tp=43000, sl=41000, met=600)])
    calls = {"n": 0}

    async def second(symbol, when, price):
        calls["n"] += 1
        return sig("long", tp=43000, sl=41000, met=600) if calls["n"] == 1 else None

    e.add_strategy("s2", "1m", second)
    await run_live(out, until=3)
    clock = e.get_clock()
    handle = e.Live.run(SYMBOL, strategy_name="s2", exchange_name=EXCHANGE)
    async for result in handle:
        assert result.action == "opened"
        e.Live.stop(SYMBOL, "s2")
    held = paper_doc()["positions"][SYMBOL]
    assert clock.now() > 0 and held == pytest.approx(2 * 100 / 42000)  # both entries, one account position

    restart()
    again = register(candles, [])
    await run_live(again, start=10, until=12)  # s restores its half; s2's records count the other half
    assert [r.id for r in again.restored] == [out.yielded[0].signal.id]


# --------------------------------------------------------------------------- unknown outcomes


class AcceptedThenDropped(e.PaperBroker):
    """The venue takes the order, then the connection drops before the answer arrives."""

    async def place(self, intent):
        await super().place(intent)
        raise e.OrderOutcomeUnknown(intent, "connection reset after sending")


class DroppedBeforeArrival(e.PaperBroker):
    """The request never reaches the venue, and the client cannot tell."""

    async def place(self, intent):
        raise e.OrderOutcomeUnknown(intent, "timeout")


async def test_an_unknown_outcome_is_resolved_by_asking_the_venue_never_by_a_second_order() -> None:
    candles = lambda k: F(42000 if k < 10 else 43000)  # noqa: E731
    out = register(candles, [sig("long", tp=42500, sl=41000, met=600)])
    broker = e.add_broker(AcceptedThenDropped("paper"))
    fills: list[e.Fill] = []
    e.listen_fill(fills.append)
    await run_live(out, until=30)
    assert [r.action for r in out.yielded] == ["opened", "closed"]
    assert [type(x) for x in out.errors] == [e.OrderOutcomeUnknown, e.OrderOutcomeUnknown]  # entry and exit
    assert "never sent twice" in str(out.errors[0])
    assert [r["status"] for r in orders_doc()] == ["filled", "filled"]  # found by fetch at once
    assert len(fills) == 2 and len(broker.state["fills"]) == 2 and broker.state["positions"] == {}


async def test_an_order_the_venue_never_saw_is_cancelled_after_asking_and_its_signal_trades_no_quantity() -> None:
    candles = lambda k: F(42000 if k < 10 else 43000)  # noqa: E731
    out = register(candles, [sig("long", tp=42500, sl=41000, met=600)])
    e.add_broker(DroppedBeforeArrival("paper"))
    await run_live(out, until=30)
    assert [r.action for r in out.yielded] == ["opened", "closed"]  # btk's signal runs its course
    [record] = orders_doc()  # no exit: nothing was filled
    assert record["status"] == "cancelled" and "never saw it (3 asks)" in record["reason"]
    unknown, never = out.errors
    assert isinstance(unknown, e.OrderOutcomeUnknown) and "not sent again" in str(never)
    assert not PAPER_DOC.exists()


async def test_an_exit_waits_for_its_intent_to_be_written_and_is_sent_once_when_the_disk_recovers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from spec_helpers import m, minute
    from test_state_write_failure import Disk

    disk = Disk(monkeypatch)
    disk.broken = lambda k: 5 <= k < 9  # the position (open at m0, 5 minutes to live) closes at m5
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=5)])
    placed = counting_places(e.add_broker(e.PaperBroker("paper")))
    await run_live(out, until=12)
    opened, closed = out.yielded[:2]
    assert minute(closed.close_timestamp) == 5
    exit_id = client_order_id(opened.signal.id, "exit")
    assert placed == [client_order_id(opened.signal.id, "entry"), exit_id]
    [exit_fill] = [f for f in paper_doc()["fills"] if f["client_order_id"] == exit_id]
    assert exit_fill["timestamp"] >= m(9)  # sent once the disk took its intent
    assert exit_fill["price"] == pytest.approx(closed.current_price * (1 - 0.001))  # at the close's price
    assert paper_doc()["positions"] == {}


async def test_close_position_closes_one_pair_at_the_current_price() -> None:
    from spec_helpers import m

    out = register(lambda k: F(42000 + 10 * max(k, 0)), [sig("long", tp=43000, sl=41000, met=600)])
    answers: list[bool] = []

    def close_at_minute_3(result) -> None:
        if result.action == "active" and not answers and e.get_clock().now() >= m(3):
            answers.append(e.Live.close_position(SYMBOL, STRATEGY))
            answers.append(e.Live.close_position("ETHUSDT", STRATEGY))  # not running

    e.listen_signal_live(close_at_minute_3)
    await run_live(out, until=8)
    assert answers == [True, False]
    opened, closed = out.yielded
    assert closed.close_reason == "manual" and closed.pnl.pnl_percentage == pytest.approx(
        e.pnl_percentage("long", opened.signal.price_open, closed.current_price, 0.1, 0.1)
    )
    account = paper_doc()
    entry = client_order_id(opened.signal.id, "entry")
    cost = next(f["amount"] * f["price"] for f in account["fills"] if f["client_order_id"] == entry)
    assert round(account["realised"], 6) == round(cost * closed.pnl.pnl_percentage / 100, 6)


async def test_an_entry_whose_state_cannot_be_written_is_sent_once_after_the_disk_recovers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from spec_helpers import m
    from test_state_write_failure import Disk

    disk = Disk(monkeypatch)
    disk.broken = lambda k: k < 3
    out = register(lambda k: F(42000 + max(k, 0) * 10), [sig("long", tp=43000, sl=41000, met=600)])
    placed = counting_places(e.add_broker(e.PaperBroker("paper")))
    await run_live(out, until=6)
    [opened] = out.yielded
    entry = client_order_id(opened.signal.id, "entry")
    assert placed == [entry]  # once, after the state and the intent were written
    [fill] = paper_doc()["fills"]
    assert fill["timestamp"] >= m(3) and fill["price"] == pytest.approx(opened.signal.price_open * 1.001)
    assert [r["status"] for r in orders_doc()] == ["filled"]
