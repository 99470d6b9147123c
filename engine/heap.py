"""``settle_heap``: the garbage collector of a process about to run for a while.

CPython's cyclic collector now and then walks every object of its oldest generation: everything
the process has loaded (numpy, the engine, a project; in the console, Textual and its widgets).
Timed with ``gc.callbacks``, such a pass took ~40 ms in the middle of the engine benchmark's
headless run (about a tenth of it) and 102-121 ms during the same run in the console, where a
key pressed meanwhile waits that long. What is alive once a process is set up stays alive until
it exits, so ``settle_heap`` takes it out of the collector's sight (``gc.freeze``): later passes
walk only what came after. A frozen object is still freed by reference counting when it is
dropped; only a reference cycle among frozen objects would be kept, which is why the garbage
set-up left is collected first. The engine never calls it on its own: it changes the whole
process, so btk's own processes call it (the console, its run workers, a sweep's workers) and a
script may.

``reuse_freed_memory``: the memory allocator of a process about to run backtests. glibc's malloc
gives a large block (a candle column, an indicator's output, a report's columns) its own pages
from the system and hands them back when it is freed, so the next block of that size starts on
fresh pages again, each one a page fault the kernel zeroes: the engine benchmark's headless run
took ~21,000 of them (a quarter of its CPU time in the kernel). Kept in the heap instead, freed
blocks are reused: ~12,000. A process that waits before its run (the console's spare worker)
can also touch a reserve of heap pages while it waits, so its run starts on pages already
faulted in: ~1,700 left.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
from typing import Any

__all__ = ["glibc", "reuse_freed_memory", "settle_heap", "trim_heap"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (glibc's malloc.h)

MMAP_THRESHOLD = 32 << 20
"""Blocks below this come from the heap (glibc's default starts at 128 KiB and moves up to this
as blocks are freed: set here, a run does not pay for the moving)."""

TRIM_THRESHOLD = 64 << 20
"""Free memory at the top of the heap a process keeps rather than hands back (glibc: 128 KiB,
then twice the moving threshold above, so 64 MiB at most: where it ends, from the start)."""


def settle_heap(young: int | None = None) -> int:
    """Collect what start-up left, then freeze what is alive; returns how many objects froze.

    ``young``: the allocations between two passes over the youngest generation (CPython's
    default is 700), for a process whose new objects mostly live on. The console is one: a
    worker's run arrives as tens of thousands of events that its report stores keep, and with
    the default the collector walked them ~150 times over the engine benchmark's run (35-54 ms
    of the console's time, a pass over the older generations among them near the run's end);
    with 50,000, once (6-12 ms). The older generations keep their thresholds."""
    gc.collect()
    gc.freeze()
    if young is not None:
        gc.set_threshold(young, *gc.get_threshold()[1:])
    return gc.get_freeze_count()


def reuse_freed_memory(reserve: int = 0) -> bool:
    """Have glibc's malloc keep freed blocks for reuse (``MMAP_THRESHOLD``, ``TRIM_THRESHOLD``)
    and, with ``reserve`` bytes, touch that much heap now and free it, so the next allocations
    land on pages already there (as much of it as the process may have: a reserve it cannot get
    is no failure). False (nothing changed) where malloc is not glibc's. Like
    ``settle_heap`` it changes the whole process: the engine never calls it on its own."""
    libc = glibc()
    if libc is None:
        return False
    trim = max(TRIM_THRESHOLD, 2 * reserve)
    if not (libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(_M_TRIM_THRESHOLD, trim)):
        return False
    # blocks under the threshold, so they come from the heap; freed, they join its free top,
    # which stays (under ``trim``) with its pages faulted in (bytearray zeroes what it gets)
    step = MMAP_THRESHOLD // 4
    blocks: list[bytearray] = []
    with contextlib.suppress(MemoryError):  # a process held to less: what it got is the reserve
        blocks.extend(bytearray(step) for _ in range(reserve // step))
    del blocks
    return True


def trim_heap() -> None:
    """glibc's ``malloc_trim(0)``: give the heap's free memory back to the system now, whatever
    ``reuse_freed_memory`` keeps (``clear_candle_cache``, SPEC 6.6); nothing elsewhere."""
    libc = glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def glibc() -> Any:
    """The process's C library when it is glibc (its own symbols), else None: another C library
    (musl has a ``mallopt`` that does nothing) or none ctypes can open."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  glibc's alone
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError, TypeError):
        return None
    return libc
