"""``engine.settle_heap``: collect what set-up left, then freeze what is alive; and
``engine.reuse_freed_memory``: freed blocks kept for reuse, a reserve touched at once (engine/heap.py)."""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import weakref

import pytest

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


FAULTS = """
import json, resource, sys
import engine

def faults(size):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = bytearray(size)  # zeroed: every page of it touched
    del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

reserve = int(sys.argv[2])
tuned = engine.reuse_freed_memory(reserve) if sys.argv[1] in ("tuned", "trimmed") else None
first = faults(16 << 20)
if sys.argv[1] == "trimmed":
    from engine.heap import trim_heap

    trim_heap()
print(json.dumps({"tuned": tuned, "faults": [first, faults(16 << 20)]}))
"""

PAGES = (16 << 20) // resource.getpagesize()


def _faults(mode: str, reserve: int = 0) -> dict:
    """Page faults of two 16 MiB blocks, one after the other freed, in a fresh interpreter (the
    allocator's settings are the process's)."""
    proc = subprocess.run(
        [sys.executable, "-c", FAULTS, mode, str(reserve)], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)


def _glibc() -> bool:
    return engine.heap.glibc() is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_reuse_freed_memory_keeps_a_freed_block_for_the_next() -> None:
    """glibc hands a freed 16 MiB block back to the system, and the next one is faulted in page
    by page again; after ``reuse_freed_memory`` the next one reuses its pages."""
    if not _glibc():
        pytest.skip("not glibc's malloc")
    plain, tuned = _faults("plain"), _faults("tuned")
    assert plain["faults"][1] > PAGES // 2  # the second block's pages are new again
    assert tuned["faults"][0] > PAGES // 2  # the first is new either way
    assert tuned["faults"][1] < PAGES // 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_reserve_is_touched_now_so_the_first_block_reuses_it() -> None:
    """With a reserve, the heap is faulted in at the call: the first block after it is too."""
    if not _glibc():
        pytest.skip("not glibc's malloc")
    got = _faults("tuned", 64 << 20)
    assert got["tuned"] is True
    assert max(got["faults"]) < PAGES // 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_trim_heap_still_gives_the_kept_blocks_back() -> None:
    """What ``reuse_freed_memory`` keeps goes back to the system at ``trim_heap`` (as
    ``clear_candle_cache`` promises, SPEC 6.6): the next block is faulted in afresh."""
    if not _glibc():
        pytest.skip("not glibc's malloc")
    got = _faults("trimmed")
    assert got["faults"][1] > PAGES // 2


LIMITED = """
import resource, sys
import engine

# room for a few MiB more than this process has mapped: a 64 MiB reserve cannot be had
mapped = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (mapped + (24 << 20), resource.RLIM_INFINITY))
print(engine.reuse_freed_memory(64 << 20))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc, /proc")
def test_a_reserve_the_process_cannot_have_is_no_failure() -> None:
    """A worker held to less memory than its reserve (a container's limit) still starts: the
    thresholds are set and what it got stands for the reserve."""
    if not _glibc():
        pytest.skip("not glibc's malloc")
    proc = subprocess.run([sys.executable, "-c", LIMITED], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True"]
