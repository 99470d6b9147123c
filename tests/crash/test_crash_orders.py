"""Crash test with orders (issue 16): the crash test's live run, its orders going through the ccxt
broker (the real ccxt client) to the loopback Binance server, SIGKILLed between writing an intent
and sending it, between the venue receiving and accepting an order, between the venue accepting it
and btk recording the answer, inside state writes and at timed moments; restarted; judged by the
server's own order log (tests/crash/orders.py).

The fast default kills 5 runs (one of each kind); the ``slow`` version 60. ``pytest -s`` prints
the table; it is also written to ``summary-orders.txt`` in the test's temporary directory.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crash.child import SAFETY_END
from tests.crash.harness import ForkServer, read_events
from tests.crash.orders import OrderOutcome, make_order_plans, order_summary, run_order_iteration
from tests.exchanges.binance_server import BinanceServer

SEED = 20261202
TICK_MS = 5.0


@pytest.fixture(scope="module")
def venue() -> Iterator[BinanceServer]:
    with BinanceServer(now_ms=SAFETY_END) as server:  # every candle a run can ask for is served closed
        yield server


@pytest.fixture(scope="module")
def forks() -> Iterator[ForkServer]:
    server = ForkServer(("ccxt", "tests.exchanges.binance_server", "engine.brokers.ccxt_broker"))
    yield server
    server.close()


def _run(tmp_path: Path, forks: ForkServer, venue: BinanceServer, kills: int) -> list[OrderOutcome]:
    started = time.monotonic()
    extra = ["--exchange", "ccxt", "--base-url", venue.base_url]
    calm = run_order_iteration(forks, venue, tmp_path / "calm", None, extra)
    assert not calm.killed
    # market entry, its protective stop, limit entry, exit
    assert calm.placed == Counter({"entry": 2, "stop": 1, "exit": 1}), calm.placed
    events = read_events(tmp_path / "calm")
    orders = sum(ev["ev"] == "placing" for ev in events)
    [finished] = [ev for ev in events if ev["ev"] == "finished"]
    plans = make_order_plans(random.Random(SEED), kills, orders, finished["writes"], TICK_MS)
    outcomes = [
        run_order_iteration(forks, venue, tmp_path / f"kill-{i:02d}", plan, extra) for i, plan in enumerate(plans)
    ]
    text = order_summary([calm, *outcomes], time.monotonic() - started)
    (tmp_path / "summary-orders.txt").write_text(text + "\n", encoding="utf-8")
    print("\n" + text)
    return outcomes


def test_orders_survive_kills_exactly_once(tmp_path: Path, forks: ForkServer, venue: BinanceServer) -> None:
    outcomes = _run(tmp_path, forks, venue, 5)
    assert sum(o.killed for o in outcomes) >= 4
    assert {o.plan.kind for o in outcomes if o.killed} >= {"before-send", "received", "accepted"}


@pytest.mark.slow
def test_orders_survive_sixty_kills_exactly_once(tmp_path: Path, forks: ForkServer, venue: BinanceServer) -> None:
    outcomes = _run(tmp_path, forks, venue, 60)
    assert sum(o.killed for o in outcomes) >= 50
    hit = Counter((o.plan.kind, o.killed_at) for o in outcomes if o.killed)
    for kind in ("before-send", "received", "accepted"):
        for action in ("entry", "exit"):
            assert hit[(kind, action)] >= 1, hit
