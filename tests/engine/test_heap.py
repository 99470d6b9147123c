"""``engine.settle_heap``: collect what set-up left, then freeze what is alive (engine/heap.py)."""

from __future__ import annotations

import gc
import weakref

import engine


class Node:
    pass


def test_settle_collects_set_up_garbage_then_freezes_the_rest() -> None:
    """A reference cycle dropped before the call is collected (frozen, it would be kept for
    good); what is alive is frozen, so the collector's later passes skip it; what comes after is
    collected as usual."""
    gc.unfreeze()
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the cyclic collector frees it
    dropped = weakref.ref(a)
    kept = Node()
    del a, b
    assert dropped() is not None
    try:
        frozen = engine.settle_heap()
        assert dropped() is None
        assert frozen == gc.get_freeze_count() > 0
        assert kept is not None
        c, d = Node(), Node()  # made after the freeze: still the collector's
        c.other, d.other = d, c
        later = weakref.ref(c)
        del c, d
        gc.collect()
        assert later() is None
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_settle_with_young_sets_only_the_youngest_generations_threshold() -> None:
    """A process whose new objects mostly live on (the console: a worker's run's events) asks for
    fewer passes over its youngest objects; the older generations keep theirs, and without
    ``young`` nothing changes."""
    before = gc.get_threshold()
    try:
        engine.settle_heap()
        assert gc.get_threshold() == before
        engine.settle_heap(young=50_000)
        assert gc.get_threshold() == (50_000, *before[1:])
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
