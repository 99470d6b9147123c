"""The crash test with orders: the live run of child.py trading through the ccxt broker on the
loopback Binance server, SIGKILLed at seeded moments, restarted, and judged by the venue.

Where a kill lands (``OrderPlan.kind``):

* ``before-send``: the K-th order's intent is on disk (the desk wrote and flushed it) and the
  request has not left the process (the child's ``--pause-place K`` stops there);
* ``received``: the K-th order request reached the venue, which has not looked at it yet (the
  server's order hook kills the child from the server thread, then drops the request);
* ``accepted``: the venue accepted (and filled) the K-th order, btk has not heard the answer (the
  hook kills the child, then drops the answer);
* ``write``: inside the K-th state write (intents and order records included), at a phase;
* ``timed``: a few simulated minutes after an announcement, between ticks or inside one.

The judge, after the restart ran to its end (``judge``): the server's own order log must hold
every order at most once, and the entry and the exit of the position exactly once each when the
entry reached the venue; every venue order is one btk has a record of, with the same fill; nothing
is left open on either side; the venue's balances are what btk's recorded fills say (base 0 after
the close, quote = start + sells - buys - fees); and every document on disk parses. Protective
stops (engine/brokers/protect.py) are judged too: only after a filled entry, their versioned ids
in order, never two resting at once, none resting when the exit was sent, and a stop that filled
means no exit sold the same amount again.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.brokers.base import client_order_id
from tests.crash.child import MAIN, MINUTE, SCHEDULED
from tests.crash.harness import (
    RUN_TIMEOUT_S,
    Child,
    ForkServer,
    _drain,
    kill_within,
    last_instant,
    read_events,
    read_state,
)
from tests.exchanges.binance_server import BinanceServer

__all__ = ["START_BALANCE", "OrderOutcome", "OrderPlan", "make_order_plans", "order_summary", "run_order_iteration"]

START_BALANCE = 10_000.0
TOLERANCE = 1e-6
PHASES = ("temp-half", "temp-synced", "renamed")
TIMED = (("started", 5), ("opened", 14), ("scheduled", 3), ("closed", 6), ("placing", 2))


@dataclass(frozen=True)
class OrderPlan:
    kind: str  # before-send | received | accepted | write | timed
    order: int = 0  # the K-th order (before-send, received, accepted)
    write: int = 0  # the K-th state write (write)
    phase: str | None = None
    after: str | None = None  # timed: announcement
    steps: int = 1
    within_ms: float | None = None

    def __str__(self) -> str:
        if self.kind in ("before-send", "received", "accepted"):
            return f"{self.kind} order {self.order}"
        if self.kind == "write":
            return f"in write {self.write} at {self.phase}"
        where = "parked" if self.within_ms is None else f"{self.within_ms:.1f} ms into the tick"
        return f"{self.steps} steps after {self.after}, {where}"


@dataclass
class OrderOutcome:
    plan: OrderPlan
    killed: bool = False
    killed_at: str = ""  # the action of the order the kill was around (entry / exit), or ""
    placed: Counter[str] = field(default_factory=Counter)  # action -> orders on the venue
    reconciled: int = 0  # records the restart settled by asking the venue
    never_seen: int = 0  # intents the venue never saw (cancelled on btk's side)
    quote_delta: float = 0.0
    stop_versions: int = 0  # protective stops of the main position (more than 1: one was replaced)
    errors: list[str] = field(default_factory=list)


def make_order_plans(rng: random.Random, count: int, orders: int, writes: int, tick_ms: float) -> list[OrderPlan]:
    """``count`` plans: a fifth each before-send, received and accepted (the order number uniform in
    1..``orders``), a fifth inside a state write, a fifth timed."""
    plans: list[OrderPlan] = []
    for i in range(count):
        kind = ("before-send", "received", "accepted", "write", "timed")[i % 5]
        if kind in ("before-send", "received", "accepted"):
            plans.append(OrderPlan(kind, order=rng.randint(1, orders)))
        elif kind == "write":
            plans.append(OrderPlan(kind, write=rng.randint(1, writes), phase=PHASES[(i // 5) % len(PHASES)]))
        else:
            after, most = TIMED[(i // 5) % len(TIMED)]
            within = None if (i // 5) % 2 else rng.uniform(0, tick_ms)
            plans.append(OrderPlan(kind, after=after, steps=rng.randint(1, most), within_ms=within))
    rng.shuffle(plans)
    return plans


# --------------------------------------------------------------------------- driving one run


class _Killer:
    """The server's order hook: kills the child at the K-th order, before or after acceptance."""

    def __init__(self, phase: str | None, nth: int) -> None:
        self.phase, self.nth = phase, nth
        self.seen = 0
        self.pid: int | None = None
        self.fired = ""

    def __call__(self, phase: str, params: dict[str, str]) -> str | None:
        if phase != "received":
            return self._maybe(phase, params)
        self.seen += 1
        return self._maybe(phase, params)

    def _maybe(self, phase: str, params: dict[str, str]) -> str | None:
        if self.pid is None or phase != self.phase or self.seen != self.nth or self.fired:
            return None
        self.fired = params.get("newClientOrderId", "?")
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        return "drop"


def _drive(child: Child, go: int, venue: BinanceServer, plan: OrderPlan | None) -> None:
    """Step the child's clock (the venue's order clock follows it) until it ends or ``plan`` kills it."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    countdown: int | None = None
    while (item := child.next_event(deadline)) is not None or child.code is None:
        if item is None:
            child.give_up(f"announced nothing for {RUN_TIMEOUT_S} s (plan: {plan})")
        ev = item["ev"]
        if ev == "paused":
            child.kill()
            return
        if ev != "parked":
            if plan is not None and plan.kind == "timed" and countdown is None and ev == plan.after:
                countdown = plan.steps
            continue
        venue.set_order_now(item["now"] + MINUTE)  # the next tick's minute: orders fill at its price
        if countdown is not None:
            countdown -= 1
            if countdown <= 0:
                kill_within(child, go, plan.within_ms if plan is not None else None)
                return
        os.write(go, b".")


def run_order_iteration(
    forks: ForkServer, venue: BinanceServer, run_dir: Path, plan: OrderPlan | None, extra: list[str]
) -> OrderOutcome:
    """One account, one run killed at ``plan`` (None: not killed), restarted to its end, judged."""
    venue.reset_account({"USDT": START_BALANCE})
    run_dir.mkdir(parents=True, exist_ok=True)
    fifo = run_dir / "steps"
    if not fifo.exists():
        os.mkfifo(fifo)
    go = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    where = f"{run_dir} (plan: {plan})"
    outcome = OrderOutcome(plan or OrderPlan("none"))
    killer = _Killer(plan.kind if plan and plan.kind in ("received", "accepted") else None, plan.order if plan else 0)
    venue.order_hook = killer
    try:
        base = ["--dir", str(run_dir), "--adapter", "json", "--steps", str(fifo), "--broker", "ccxt", *extra]
        argv = [*base, "--run", "1"]
        if plan is not None and plan.kind == "before-send":
            argv += ["--pause-place", str(plan.order)]
        if plan is not None and plan.kind == "write":
            argv += ["--pause-write", str(plan.write), "--pause-phase", str(plan.phase)]
        first = forks.start(argv)
        killer.pid = first.pid
        try:
            _drive(first, go, venue, plan)
        finally:
            code = first.join()
            venue.order_hook = None
        assert code in (-signal.SIGKILL, 0), f"{where}: first run ended with {code}; see stderr-1.log"
        outcome.killed = code != 0
        _drain(go)
        events1 = read_events(run_dir)
        if outcome.killed:
            start = last_instant(run_dir, events1) + MINUTE
            second = forks.start([*base, "--run", "2", "--start-ms", str(start)])
            _drive(second, go, venue, None)
            code2 = second.join()
            assert code2 == 0, f"{where}: restart ended with {code2}; see stderr-2.log"
    finally:
        os.close(go)
        venue.order_hook = None
    paused = next(
        (ev for ev in read_events(run_dir) if ev["ev"] == "paused" and ev.get("phase") == "before-send"), None
    )
    if paused is not None:
        outcome.killed_at = paused["action"]
    elif killer.fired:
        outcome.killed_at = _action_of(killer.fired, run_dir)
    judge(where, run_dir, venue, outcome)
    return outcome


def _action_of(coid: str, run_dir: Path) -> str:
    for ev in read_events(run_dir):
        if ev["ev"] == "placing" and ev.get("coid") == coid:
            return ev["action"]
    return "?"


# --------------------------------------------------------------------------- the judge


def _records(run_dir: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every pair's order records (order/<symbol>_<strategy>/orders.json); each must parse."""
    from engine.brokers.store import report_from_dict

    base = run_dir / "dump" / "data" / "order"
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pair in (MAIN, SCHEDULED):
        folder = base / "_".join(pair)
        docs = sorted(folder.glob("*.json")) if folder.exists() else []
        records: list[dict[str, Any]] = []
        for doc in docs:
            text = doc.read_text(encoding="utf-8")
            try:
                value = json.loads(text)
                for record in value["orders"]:
                    report_from_dict(record)
            except (ValueError, KeyError, TypeError) as exc:
                raise AssertionError(f"{doc}: half-written order document: {exc}: {text!r}") from exc
            records += value["orders"]
        out[pair] = records
    return out


def judge(where: str, run_dir: Path, venue: BinanceServer, out: OrderOutcome) -> None:
    events = read_events(run_dir)
    final = read_state(run_dir, "json")  # every document parses (signal, risk, partial, orders, book)
    assert not final.temp_files, f"{where}: unfinished writes left: {final.temp_files}"
    assert not final.open_entities(), f"{where}: still open at the end: {final.open_entities()}"
    records = _records(run_dir)
    log = venue.book.log_rows()
    placed = Counter(row["client_order_id"] for row in log)
    # 1. no order twice on the venue
    twice = {coid: n for coid, n in placed.items() if n > 1}
    assert not twice, f"{where}: placed more than once on the venue: {twice}"
    # 2. every venue order is one btk recorded, and agrees with it
    mine = {r["intent"]["client_order_id"]: r for rs in records.values() for r in rs}
    unknown = sorted(set(placed) - set(mine))
    assert not unknown, f"{where}: orders on the venue btk has no record of: {unknown}"
    venue_orders = {o.client_order_id: o for o in venue.book.orders.values()}
    for coid, record in mine.items():
        status = record["status"]
        assert status in ("filled", "cancelled", "rejected"), f"{where}: order {coid} left {status} at the end"
        order = venue_orders.get(coid)
        if order is None:
            assert status in ("cancelled", "rejected") and not record["filled"], (
                f"{where}: {coid} {status} never placed"
            )
            out.never_seen += status == "cancelled"
            continue
        assert status != "rejected", f"{where}: {coid} is on the venue, btk recorded it rejected"
        assert abs(float(order.executed) - record["filled"]) < TOLERANCE, (
            f"{where}: {coid} filled {order.executed} on the venue, {record['filled']} in btk's record"
        )
        assert (order.status == "FILLED") == (status == "filled"), f"{where}: {coid} {order.status} vs {status}"
        out.placed[record["intent"]["action"]] += 1
    # 3. the main position: entry once, exit once (when the entry reached the venue)
    main = records[MAIN]
    entries = [r for r in main if r["intent"]["action"] == "entry"]
    exits = [r for r in main if r["intent"]["action"] == "exit"]
    stops = [r for r in main if r["intent"]["action"] == "stop"]
    assert len(entries) <= 1, f"{where}: {len(entries)} entry records for the main pair"
    _judge_stops(where, venue, entries, stops, out)
    if entries and [r for r in stops if r["filled"]]:  # the venue's stop closed it: no exit sold it again
        assert not [r for r in exits if r["filled"]], f"{where}: an exit sold what the protective stop sold"
    elif entries and entries[0]["filled"] > 0:
        assert [r["status"] for r in exits] == ["filled"], f"{where}: exits of a filled entry: {exits}"
        assert abs(exits[0]["filled"] - entries[0]["filled"]) < TOLERANCE, f"{where}: exit != entry amount"
        sid = entries[0]["intent"]["signal_id"]
        for action in ("entry", "exit"):
            assert placed[client_order_id(sid, action)] == 1, f"{where}: {action} of {sid} not placed exactly once"
    else:
        assert not [r for r in exits if r["filled"]], f"{where}: an exit filled without a filled entry"
    # 4. nothing open on the venue, and the balances are what btk's fills say
    assert not [o for o in venue.book.orders.values() if o.open], f"{where}: orders left open on the venue"
    snap = venue.book.snapshot()
    held = {a: float(v["free"]) + float(v["locked"]) for a, v in snap.items()}
    assert held.get("BTC", 0.0) < TOLERANCE and held.get("ETH", 0.0) < TOLERANCE, f"{where}: venue holds {held}"
    delta = 0.0
    for record in mine.values():
        for fill in record["fills"]:
            notional = fill["amount"] * fill["price"]
            delta += (notional if fill["side"] == "sell" else -notional) - fill["fee"]
    assert abs(held["USDT"] - (START_BALANCE + delta)) < 1e-4, (
        f"{where}: the venue holds {held['USDT']} USDT, btk's fills say {START_BALANCE + delta}"
    )
    out.quote_delta = delta
    out.reconciled = sum(1 for ev in events if ev["ev"] == "error" and "reconcil" in ev.get("message", ""))
    out.errors = [ev["message"] for ev in events if ev["ev"] == "error"]
    mismatch = [m for m in out.errors if "refuses to trade" in m]
    assert not mismatch, f"{where}: btk and the venue disagreed: {mismatch}"


def _judge_stops(where: str, venue: BinanceServer, entries: list[dict], stops: list[dict], out: OrderOutcome) -> None:
    """Protective stops: only for a filled entry, each version once (rule 1 above), never two
    resting at the venue at the same time, none left resting, none after btk's own exit."""
    if not stops:
        return
    assert entries and entries[0]["filled"] > 0, f"{where}: a protective stop without a filled entry"
    sid = entries[0]["intent"]["signal_id"]
    ids = [client_order_id(sid, "stop", n) for n in range(len(stops))]
    assert [r["intent"]["client_order_id"] for r in stops] == ids, f"{where}: stop ids out of order: {stops}"
    on_venue = sorted(
        (o for o in venue.book.orders.values() if o.client_order_id in ids), key=lambda o: (o.time, o.order_id)
    )
    for before, after in itertools.pairwise(on_venue):
        assert before.update_time <= after.time, f"{where}: two protective stops rested at once: {before}, {after}"
    exit_order = next(
        (o for o in venue.book.orders.values() if o.client_order_id == client_order_id(sid, "exit")), None
    )
    if exit_order is not None and on_venue:
        assert on_venue[-1].update_time <= exit_order.time, f"{where}: a stop still rested when the exit was sent"
    out.stop_versions = max(out.stop_versions, len(stops))


# --------------------------------------------------------------------------- the report


def order_summary(outcomes: list[OrderOutcome], seconds: float) -> str:
    kinds = Counter((o.plan.kind, o.killed_at or "-") for o in outcomes)
    placed = Counter()
    for o in outcomes:
        placed.update(o.placed)
    rows = [
        f"crash test with orders (ccxt broker, loopback Binance): {len(outcomes)} runs in {seconds:.1f} s, "
        f"{sum(o.killed for o in outcomes)} killed",
        "  kill moment / order it hit        runs",
        *(f"    {k:<14}{a:<18}{n:>5}" for (k, a), n in sorted(kinds.items())),
        "  orders on the venue (each placed exactly once; judged by the server's order log)",
        *(f"    {a:<32}{placed[a]:>5}" for a in ("entry", "exit", "stop")),
        f"    {'intents the venue never saw':<32}{sum(o.never_seen for o in outcomes):>5}  (cancelled, never sent)",
        f"    {'placed twice':<32}{0:>5}  (any one fails the test)",
        f"    {'runs whose stop was replaced':<32}{sum(o.stop_versions > 1 for o in outcomes):>5}  "
        "(a stop intent lost to a kill: the next version placed, never two resting)",
        f"  balances agree at the end (base 0, quote = start + btk's fills): {len(outcomes)}/{len(outcomes)}",
        "  half-written documents: 0 (any one fails the test)",
    ]
    return "\n".join(rows)
