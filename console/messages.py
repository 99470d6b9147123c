"""Typed messages between the console's parts (workers and the bridge only post these)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class EngineBatch(Message):
    """Engine events collected since the last flush (tick results, errors), oldest first."""

    def __init__(self, events: list[Any]) -> None:
        super().__init__()
        self.events = events


class RunFinished(Message):
    """A run's worker ended: ``error`` is None when it completed (or was stopped) normally."""

    def __init__(self, run_id: str, error: BaseException | None) -> None:
        super().__init__()
        self.run_id = run_id
        self.error = error


class ProjectChanged(Message):
    """Settings (theme, keys, last choices) were saved."""
