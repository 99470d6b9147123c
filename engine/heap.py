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
"""

from __future__ import annotations

import gc

__all__ = ["settle_heap"]


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
