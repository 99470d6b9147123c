"""Seeded signal ids (``IdFactory``): a backtest's ids are UUID v4 strings drawn from a generator
seeded by (symbol, strategy, frame start), so a run gives the same ids every time. They are drawn
in batches (one wide draw, one hex conversion): the ids are the same as drawn one at a time."""

from __future__ import annotations

import random
import uuid

from engine.signals import IdFactory


def _one_at_a_time(seed: str, n: int) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def test_batched_ids_are_the_ids_drawn_one_at_a_time() -> None:
    for seed in ("BTCUSDT|s|1704067200000", "x", ""):
        ids = IdFactory(seed)
        got = [ids() for _ in range(200)]  # more than three batches
        assert got == _one_at_a_time(seed, 200)
        assert all(uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122 for i in got)


def test_the_same_seed_gives_the_same_ids_and_another_seed_others() -> None:
    a, b, c = IdFactory("run"), IdFactory("run"), IdFactory("other")
    first = [a() for _ in range(70)]
    assert first == [b() for _ in range(70)]
    assert not set(first) & {c() for _ in range(70)}


def test_live_ids_are_random_uuid4() -> None:
    ids = IdFactory()
    got = {ids() for _ in range(100)}
    assert len(got) == 100 and all(uuid.UUID(i).version == 4 for i in got)
