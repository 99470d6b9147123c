"""The Ray backend of a sweep (``run_sweep(..., backend="ray")``; ``pip install btk[ray]``).

Ray actors, one per CPU of the Ray cluster (or ``workers`` of them when the caller names a number).
Each actor is a long-lived worker: it runs ``init_worker`` once (the user's ``setup``, the parent's
config, the shared candles) and then one ``run_task`` per call, exactly the code a pool worker
runs, so the results table is the pool's, bit for bit.

The candles go through Ray's object store, not the parent's files: the parent memory-maps the
Arrow files it prepared, puts the columns in the store once (``ray.put``) and every actor receives
the same object; numpy arrays come out of the store as read-only views of its shared memory, so a
node holds one copy whatever the number of actors, and actors on other machines get it from Ray
(the parent's temporary files exist only where the parent runs).

Ray is started here (``ray.init()``, a local instance) only when the caller has not started or
connected to one already; a Ray started here is shut down at the end.
"""

from __future__ import annotations

from concurrent.futures import Future
from itertools import cycle
from typing import Any

from .evaluate import Task, init_worker, run_task
from .shared import SharedCandles, read_shared
from .sweep import _Backend
from .table import ResultRow, SweepError

__all__ = ["RayBackend"]


class _SweepActor:
    """One Ray worker of a sweep (wrapped by ``ray.remote`` when the backend starts)."""

    def __init__(self, setup: Any, columns: Any, overrides: Any, args: Any) -> None:
        # ``columns`` was passed as an ObjectRef at the top level: Ray hands over the stored object
        # (its arrays are views of the object store), never a per-actor copy.
        init_worker(setup, columns, overrides, args)

    def run(self, task: Task) -> ResultRow:
        return run_task(task)


class RayBackend(_Backend):
    """Sweep tasks on Ray actors; ``submit`` returns a ``concurrent.futures.Future`` like the pool's."""

    def __init__(self, initargs: tuple[Any, ...], actors: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise SweepError('sweep: backend="ray" needs Ray: pip install "btk[ray]"') from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            ray.init(include_dashboard=False, log_to_driver=False)
        setup, shared, overrides, args = initargs
        if not isinstance(shared, SharedCandles):
            raise SweepError("sweep: the Ray backend needs the prepared candles (internal error: none were passed)")
        n = actors if actors is not None else int(ray.cluster_resources().get("CPU", 1))
        if n < 1:
            raise SweepError(f"sweep: the Ray cluster offers no CPU for the sweep's actors (found {n})")
        columns = ray.put(read_shared(shared))
        remote = ray.remote(num_cpus=1)(_SweepActor)
        self.actors = [remote.remote(setup, columns, overrides, args) for _ in range(n)]
        self.next = cycle(self.actors)

    def submit(self, task: Task) -> Future[ResultRow]:
        return next(self.next).run.remote(task).future()

    def close(self, abort: bool = False) -> None:
        for actor in self.actors:  # at once either way: a finished sweep's actors hold nothing
            self.ray.kill(actor)
        self.actors = []
        if self.started:
            self.ray.shutdown()
