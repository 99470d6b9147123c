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


def settle_heap() -> int:
    """Collect what start-up left, then freeze what is alive; returns how many objects froze."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
