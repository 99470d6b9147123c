"""Engine subjects -> batched Textual messages.

The engine may produce thousands of events a second during a backtest; redrawing per event would
flood the terminal. The bridge subscribes when it is mounted, keeps what arrives in a list, and
every ``interval`` seconds posts one ``EngineBatch`` message (about four redraws a second; fewer
while redraws are dear, see ``PACE``); a worker's batch is folded as soon as it lands
(``fold_soon``), drawn at the next tick. It asks only for the actions the dashboard shows, never
for idle ticks, so a backtest keeps its fast path. It unsubscribes when it is unmounted.

It also listens to risk rejections, partial milestones and walker results. Listening to the
milestone streams makes a backtest compute every milestone as it goes instead of on demand
(the benchmark's --risk-partial row measures that cost); the Partial pane is worth it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.widget import Widget

import engine

from .messages import EngineBatch
from .state import Milestone

SHOWN_ACTIONS = ("scheduled", "opened", "active", "closed", "cancelled")


PACE = 40.0
"""How many times its own cost the dashboard waits between two redraws: folding a batch and
drawing its panes again costs the fold's time about five times over (the compositor renders the
tables afterwards), so a redraw every 40 folds' worth keeps the drawing near an eighth of the
time and leaves the rest to the run (issue 14 item 2: a busy strategy ran 10x slower in the
console than headless, most of it redrawing tables)."""
MAX_INTERVAL = 2.0  # never fewer than one redraw every two seconds, however dear


class EngineBridge(Widget):
    DEFAULT_CSS = "EngineBridge { display: none; }"

    def __init__(self, interval: float = 0.25, *, id: str | None = "bridge") -> None:
        super().__init__(id=id)
        self.interval = interval
        self._draw_at = 0.0  # the monotonic time from which a redraw is due (``drew``)
        self._buffer: list[Any] = []
        self._asked = False  # a ``fold_soon`` message is waiting to drain the buffer
        self._unsubscribe: list[Callable[[], None]] = []
        self.signal_listener: Callable[[Any], None] | None = None  # what it hears the signal stream with

    def on_mount(self) -> None:
        push = self.signal_listener = self._buffer.append
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
        self.set_timer(self.interval, self._tick, name="bridge")

    def on_unmount(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self.signal_listener = None

    def add(self, item: Any) -> None:
        """Something for the next batch that does not come from the bus (a worker run's lazy
        milestones or trades as columns, console/host/remote.py), in its place among the events."""
        self._buffer.append(item)

    def drain(self) -> list[Any]:
        """Take what arrived since the last flush (the app calls this when a run ends, so its
        final numbers include its last trades instead of waiting for the next flush)."""
        batch = list(self._buffer)
        self._buffer.clear()
        self._asked = False
        return batch

    def fold_soon(self) -> None:
        """Have what arrived folded at the next turn of the loop, not at the next tick: a worker's
        batch was just published (console/host/remote.py), so its run's fold goes on while the
        worker runs, instead of all of it after the run's end. Folded only: the panes are drawn
        at the ticks, as before (a redraw after each batch kept key presses waiting ~100 ms).
        One such request waits at a time."""
        if self._buffer and not self._asked:
            self._asked = True
            self._post(EngineBatch(self.drain, draw=False))

    def flush(self) -> None:
        """Ask for a redraw (always, so progress is polled too); the handler drains the buffer."""
        self._post(EngineBatch(self.drain))

    def _post(self, message: EngineBatch) -> None:
        """To the dashboard that holds this bridge, which alone handles it (``EngineBatch`` does
        not bubble); nothing once the bridge is unmounted."""
        owner = self.parent
        if owner is not None:
            owner.post_message(message)

    def _tick(self) -> None:
        self.flush()
        if self.is_mounted:
            self.set_timer(self.interval, self._tick, name="bridge")

    def may_draw(self) -> bool:
        """Is a redraw due? Every batch is folded as it comes (so a run's end has little left to
        fold), but the panes are drawn again only ``PACE`` times their last drawing's cost apart."""
        return time.monotonic() >= self._draw_at

    def drew(self, seconds: float) -> None:
        """The dashboard drew its panes again in ``seconds``: the next drawing waits ``PACE``
        times that (at least ``interval``, at most ``MAX_INTERVAL``; half a tick of slack, as the
        ticks that bring the batches come every ``interval``)."""
        wait = min(MAX_INTERVAL, max(self.interval, seconds * PACE))
        self._draw_at = time.monotonic() + wait - self.interval / 2
