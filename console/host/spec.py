"""What the console sends a worker process: how to load the project, and which run to run.

Both are plain frozen data that pickle: a worker starts from nothing (a fresh interpreter), so it
is told how to register the same project the console did (``Loader``) and then what to run
(``RunSpec``). Frames travel as values because the demo registers its frame of N days on demand
(console/demo ``ensure_frame``): the worker adds any frame it lacks before it starts the run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

__all__ = ["FrameSpec", "Loader", "RunSpec", "loader_for"]


@dataclass(frozen=True, slots=True)
class Loader:
    """A module-level function (by module and name) and its arguments: calling it in the worker
    registers the project there (``console.project.load_project`` of the same btk.toml, the
    demo, or a benchmark's own ``register``)."""

    module: str
    function: str
    args: tuple[Any, ...] = ()

    def load(self) -> Any:
        fn = getattr(importlib.import_module(self.module), self.function)
        return fn(*self.args)


def loader_for(source: Path | None, root: Path) -> Loader:
    """How a worker loads the project the console loaded: its btk.toml, or the built-in demo
    (whose frames of other lengths come along with each run, see ``FrameSpec``)."""
    if source is not None:
        return Loader("console.project", "load_project", (str(source),))
    return Loader("console.host.spec", "load_demo_in", (str(root),))


def load_demo_in(root: str) -> Any:
    """The demo as the console loaded it from ``root`` (its working folder)."""
    from console.project import load_demo

    return load_demo(cwd=Path(root))


@dataclass(frozen=True, slots=True)
class FrameSpec:
    """A frame by value (``engine.add_frame``'s arguments)."""

    name: str
    interval: str
    start: datetime
    end: datetime
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One backtest (``name`` is the strategy) or walker (``name`` is the walker) on ``symbol``."""

    mode: Literal["backtest", "walker"]
    symbol: str
    name: str
    exchange: str = ""
    frame: str = ""
    frames: tuple[FrameSpec, ...] = field(default=())
    interval: float = 0.1  # seconds between two batches the worker sends
    results: bool = True  # send what iterating the run gives (the console's dashboard reads the events only)
