"""Typed messages between the console's parts (workers and the bridge only post these)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.message import Message


class EngineBatch(Message):
    """Time to fold in what the bridge collected. The events are taken from the bridge when the
    message is handled, not when it is posted: a run's end drains the bridge from another
    message queue, and a batch carried inside a message could then arrive after newer events."""

    def __init__(self, take: Callable[[], list[Any]]) -> None:
        super().__init__()
        self.take = take


class RunFinished(Message):
    """A run's worker ended: ``error`` is None when it completed (or was stopped) normally."""

    def __init__(self, run_id: str, error: BaseException | None) -> None:
        super().__init__()
        self.run_id = run_id
        self.error = error


class LiveRestored(Message):
    """A live run put back what an earlier process saved, before its first tick."""

    def __init__(self, run_id: str, rows: list[Any], now: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.rows = rows
        self.now = now


class ProjectChanged(Message):
    """Settings (theme, keys, last choices) were saved."""
