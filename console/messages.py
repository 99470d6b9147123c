"""Typed messages from the console's parts up to the ones that own them.

Who posts what: the bridge posts ``EngineBatch`` (the dashboard folds it); a run's worker only
posts ``RunRestored`` and ``RunFinished`` (the app, which owns the runs, handles them); the Runs
pane posts ``RunsPane.Selected`` (the dashboard follows it). Downwards it is calls, as Textual
advises ("attributes down, messages up"): the app tells the dashboard what it changed with
``DashboardScreen.show(parts)``. Nobody reaches into another part's widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.message import Message

import engine


@dataclass
class EngineBatch(Message, bubble=False):
    """Time to fold in what the bridge collected. The events are taken from the bridge when the
    message is handled, not when it is posted: a run's end drains the bridge from another
    message queue, and a batch carried inside a message could then arrive after newer events.
    Posted to the dashboard itself, and handled there only: a fast run posts one a worker's
    message, and its way up from the bridge and on to the app cost ~0.1 ms each time."""

    take: Callable[[], list[Any]]
    draw: bool = True  # False: fold only (a worker's batch just landed); the panes wait for the tick


@dataclass
class RunFinished(Message):
    """A run's worker ended: ``error`` is None when it completed (or was stopped) normally."""

    run_id: str
    error: BaseException | None


@dataclass
class RunRestored(Message):
    """A run put back what an earlier process saved (only live runs have any), before its first
    result; ``now`` is the engine clock's time of the restore (ms)."""

    run_id: str
    rows: list[engine.SignalRow]
    now: int
