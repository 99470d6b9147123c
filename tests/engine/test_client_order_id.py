"""Client order ids: the same intent always carries the same id, every action its own, and every id
fits the strictest venue rule btk knows (Binance: at most 36 of ``[.A-Z:/a-z0-9_-]``)."""

from __future__ import annotations

import re
import uuid

from engine.brokers import client_order_id

BINANCE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


def test_ids_are_stable_distinct_per_action_and_fit_the_venue() -> None:
    signal = str(uuid.UUID(int=7))
    ids = {a: client_order_id(signal, a) for a in ("entry", "exit", "stop")}
    assert ids == {a: client_order_id(signal, a) for a in ("entry", "exit", "stop")}  # same intent, same id
    assert [i[:4] for i in ids.values()] == ["btkn", "btkx", "btks"]  # the action readable in an order list
    assert len(set(ids.values())) == 3 and all(BINANCE.match(i) for i in ids.values())
    assert client_order_id(str(uuid.UUID(int=8)), "entry") != ids["entry"]
