"""One shape for every run handle: what ``Backtest.run``, ``Walker.run`` and ``Live.run`` return.

A caller that drives runs of any mode (the console, a daemon) types against this protocol instead
of the three classes: it iterates the handle for results, closes it early with ``aclose``, polls
``status()`` for progress, and awaits ``restore()`` before the first result to learn what an
earlier process left on disk (only a live run has anything to put back; the others answer an
empty list). The classes stay separate because their loops differ; the protocol is what they
promise alike.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

from ..model import SignalRow
from .tasks import TaskStatus

__all__ = ["RunHandle"]

ResultT = TypeVar("ResultT", covariant=True)


@runtime_checkable
class RunHandle(Protocol[ResultT]):
    """A started run: an async iterator of its results that can say how far it got."""

    def __aiter__(self) -> RunHandle[ResultT]: ...

    async def __anext__(self) -> ResultT: ...

    async def aclose(self) -> None:
        """End the run early; what it reported so far stays in the report stores."""
        ...

    def status(self) -> TaskStatus:
        """How far the run got (``progress``, frames, ``error``; a walker's ``current``)."""
        ...

    async def restore(self) -> list[SignalRow]:
        """Put back what an earlier process saved, before the first result; what came back."""
        ...
