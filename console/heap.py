"""The garbage collector of a process that must answer keys within ~100 ms.

CPython's cyclic collector now and then walks every object of its oldest generation. In the
console, which has loaded Textual, the engine and a project and then folds thousands of events a
run, one such pass took 45-90 ms (timed with ``gc.callbacks`` during the engine benchmark's run
in the console): a key pressed meanwhile waits that long, and a pass at a run's end delays its
"done". What is alive once a process is up (modules, classes, the project, the widgets) stays
alive until it exits, so ``settle`` takes it out of the collector's sight (``gc.freeze``): later
passes walk only what came after. A frozen object is still freed by reference counting when it
is dropped; only a reference cycle among frozen objects would be kept, which is why the garbage
start-up left is collected first.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]


def settle() -> int:
    """Collect what start-up left, then freeze what is alive; returns how many objects froze."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
