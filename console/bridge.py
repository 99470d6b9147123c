"""Engine subjects -> batched Textual messages.

The engine may produce thousands of events a second during a backtest; redrawing per event would
flood the terminal. The bridge subscribes when it is mounted, keeps what arrives in a list, and
every ``interval`` seconds posts one ``EngineBatch`` message (about four redraws a second). It
asks only for the actions the dashboard shows, never for idle ticks, so a backtest keeps its
fast path. It unsubscribes when it is unmounted.

It also listens to risk rejections, partial milestones and walker results. Listening to the
milestone streams makes a backtest compute every milestone as it goes instead of on demand
(the benchmark's --risk-partial row measures that cost); the Partial pane is worth it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.widget import Widget

import engine

from .messages import EngineBatch
from .state import Milestone

SHOWN_ACTIONS = ("scheduled", "opened", "active", "closed", "cancelled")


class EngineBridge(Widget):
    DEFAULT_CSS = "EngineBridge { display: none; }"

    def __init__(self, interval: float = 0.25, *, id: str | None = "bridge") -> None:
        super().__init__(id=id)
        self.interval = interval
        self._buffer: list[Any] = []
        self._unsubscribe: list[Callable[[], None]] = []

    def on_mount(self) -> None:
        push = self._buffer.append
        self._unsubscribe = [
            engine.listen_signal(push, actions=SHOWN_ACTIONS),
            # a live tick with nothing to report still says the run is alive (its time and price);
            # live only: a backtest's idle frames keep their fast path
            engine.listen_signal_live(push, actions=("idle",)),
            engine.listen_risk(push),
            engine.listen_partial_profit(lambda ev: push(Milestone("profit", ev))),
            engine.listen_partial_loss(lambda ev: push(Milestone("loss", ev))),
            engine.listen_walker(push),
            engine.listen_walker_complete(push),
            engine.listen_error(push),
            engine.listen_exit(push),
            engine.listen_state_write(push),  # live state unwritable (close-only) and back: the header
            # orders and accounts (README "Orders and accounts"): the Account pane, fills and
            # refusals in the signal log, a tripped breaker in the header
            engine.listen_order(push),
            engine.listen_fill(push),
            engine.listen_account(push),
            engine.listen_breaker(push),
        ]
        self.set_interval(self.interval, self.flush)

    def on_unmount(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def drain(self) -> list[Any]:
        """Take what arrived since the last flush (the app calls this when a run ends, so its
        final numbers include its last trades instead of waiting for the next flush)."""
        batch = list(self._buffer)
        self._buffer.clear()
        return batch

    def flush(self) -> None:
        """Ask for a redraw (always, so progress is polled too); the handler drains the buffer."""
        self.post_message(EngineBatch(self.drain))
