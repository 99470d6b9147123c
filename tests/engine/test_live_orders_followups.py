"""Live orders, issue 16's remainder, on the paper broker and a frozen simulated clock
(live_helpers): ``on_open`` waits for the broker's answer, a refused exit is sent again at the
next tick (never twice on the account), and the account report is written when a live run stops.
"""

from __future__ import annotations

import json
from pathlib import Path

from live_helpers import register, run_live
from spec_helpers import SYMBOL, F, sig

import engine as e
from engine.brokers import client_order_id

PAPER_DOC = Path("dump/data/paper/paper/account.json")


# --------------------------------------------------------------------------- on_open after the answer


async def test_on_open_does_not_fire_for_an_entry_the_broker_refused() -> None:
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=600)])
    e.add_broker(e.PaperBroker("paper", balance=50, quote_amount=100))  # cannot pay the entry
    await run_live(out, until=5)
    assert [x for x in out.errors if isinstance(x, e.OrderRejected)]
    assert out.cb("on_open") == []  # the position never existed
    ticked = [c[2] for c in out.callbacks if c[0] == "on_tick"]
    assert ticked and all(r.action != "opened" for r in ticked)  # on_tick heard the idle tick instead


async def test_on_open_fires_once_after_the_entry_was_placed() -> None:
    order: list[str] = []
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=600)])
    e.listen_order(lambda r: order.append(f"order {r.status}"))
    await run_live(out, until=5)
    [opened] = [r for r in out.yielded if r.action == "opened"]
    assert out.cb("on_open")[0][0].id == opened.signal.id and len(out.cb("on_open")) == 1
    assert [c[2].action for c in out.callbacks if c[0] == "on_tick"].count("opened") == 1
    assert order[:2] == ["order intent", "order filled"]


# --------------------------------------------------------------------------- a refused exit


class RefusesFirstExits(e.PaperBroker):
    """Refuses the first ``n`` exits it is asked to place (a venue in maintenance, say)."""

    def __init__(self, name: str, n: int) -> None:
        super().__init__(name)
        self.refusals = n
        self.asked: list[str] = []

    async def place(self, intent):
        self.asked.append(intent.client_order_id)
        if intent.action == "exit" and self.refusals > 0:
            self.refusals -= 1
            raise e.OrderRejected(intent, "venue in maintenance")
        return await super().place(intent)


async def test_a_refused_exit_is_sent_again_next_tick_and_the_pair_trades_on_without_a_restart() -> None:
    signals = [sig("long", tp=42300, sl=41000, met=600)] + [None] * 6 + [sig("long", tp=43000, sl=41000, met=600)]
    # the take-profit is reached at minute 5; the second signal comes after the exit went through
    out = register(lambda k: F(42000 if k < 5 else 42400), signals)
    broker = e.add_broker(RefusesFirstExits("paper", 2))
    await run_live(out, until=30)
    first, second = [r for r in out.yielded if r.action == "opened"][:2]
    exit_id = client_order_id(first.signal.id, "exit")
    assert broker.asked.count(exit_id) == 3  # refused, refused, placed: one tick apart
    refused = [x for x in out.errors if isinstance(x, e.OrderRejected)]
    assert len(refused) == 1 and "venue in maintenance" in str(refused[0])  # said once, not per tick
    account = json.loads(PAPER_DOC.read_text())
    assert [f["client_order_id"] for f in account["fills"]].count(exit_id) == 1  # closed exactly once
    # not blocked until a restart: the next signal opened and its entry was placed
    assert client_order_id(second.signal.id, "entry") in [f["client_order_id"] for f in account["fills"]]
    records = json.loads(Path(f"dump/data/order/{SYMBOL}_s/orders.json").read_text())["orders"]
    assert {r["intent"]["client_order_id"]: r["status"] for r in records}[exit_id] == "filled"


async def test_a_refused_exit_while_blocked_opens_nothing_new() -> None:
    signals = [sig("long", tp=42300, sl=41000, met=600)] + [sig("long", tp=44000, sl=41000, met=600)] * 20
    out = register(lambda k: F(42000 if k < 5 else 42400), signals)
    broker = e.add_broker(RefusesFirstExits("paper", 100))  # the venue never takes the exit
    await run_live(out, until=12)
    [first] = [r for r in out.yielded if r.action == "opened"]
    assert broker.asked.count(client_order_id(first.signal.id, "exit")) >= 5  # asked again every tick
    refused = [x for x in out.errors if isinstance(x, e.OrderRejected)]
    assert len(refused) == 1  # the error stream heard it once, not once a minute
    assert [c for c in broker.asked if c.startswith("btkn")] == [client_order_id(first.signal.id, "entry")]
    account = json.loads(PAPER_DOC.read_text())
    assert account["positions"][SYMBOL] > 0  # still held: nothing doubled, nothing lost


class Warnings:
    """The engine's logger, keeping its warnings."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def debug(self, *args: object) -> None: ...
    def info(self, *args: object) -> None: ...
    def warning(self, msg: object, *args: object) -> None:
        self.lines.append(str(msg))


class RefusesWithReasons(e.PaperBroker):
    """Refuses exits with the reasons of ``reasons`` in turn, then places them."""

    def __init__(self, name: str, reasons: list[str]) -> None:
        super().__init__(name)
        self.reasons = list(reasons)

    async def place(self, intent):
        if intent.action == "exit" and self.reasons:
            raise e.OrderRejected(intent, self.reasons.pop(0))
        return await super().place(intent)


async def test_a_refused_exit_is_reported_once_per_reason_and_its_placing_is_logged() -> None:
    out = register(lambda k: F(42000 if k < 5 else 42400), [sig("long", tp=42300, sl=41000, met=600)])
    reasons = ["venue in maintenance"] * 3 + ["insufficient balance"] * 2 + ["venue in maintenance"]
    e.add_broker(RefusesWithReasons("paper", reasons))
    logged = Warnings()
    e.set_logger(logged)
    await run_live(out, until=30)
    said = [x.reason for x in out.errors if isinstance(x, e.OrderRejected)]
    assert said == ["venue in maintenance", "insufficient balance", "venue in maintenance"]  # each change once
    [opened] = [r for r in out.yielded if r.action == "opened"]
    exit_id = client_order_id(opened.signal.id, "exit")
    assert any(exit_id in w and "sent after the broker had refused it" in w for w in logged.lines)
    records = json.loads(Path(f"dump/data/order/{SYMBOL}_s/orders.json").read_text())["orders"]
    assert {r["intent"]["client_order_id"]: r["status"] for r in records}[exit_id] == "filled"


# --------------------------------------------------------------------------- the report at stop


async def test_the_account_report_is_written_when_the_live_run_stops() -> None:
    out = register(lambda k: F(42000 if k < 5 else 42400), [sig("long", tp=42300, sl=41000, met=600)])
    report = Path("dump/live/account_paper.md")
    assert not report.exists()
    await run_live(out, until=10)
    assert [r.action for r in out.yielded] == ["opened", "closed"]
    text = report.read_text()
    assert text == await e.Live.get_account_report()
    assert text.count("| btk") == 2  # the entry's fill and the exit's
