"""The daemon's event stream: every engine event numbered, kept for replay, fanned out to clients.

Why one numbered sequence: a console that loses its connection comes back with "the last number I
saw" and gets exactly what followed (no line twice, none missing), and a console that joins late
gets a snapshot that folds to the same dashboard a console there from the start has.

``STREAMS`` lists the engine streams the hub forwards, one line each; a new engine stream is one
more line there and, when it carries a new type, one ``engine.wire.register``.
Run changes (started, progress, ended) come from the daemon's run table on the ``run`` stream.

What is kept:
- ``replay``: the last ``replay_size`` messages of every stream, for resume;
- ``log``: the last ``log_size`` messages a dashboard logs (everything but ``active`` ticks and run
  updates): the snapshot's history;
- ``open``: per open position or waiting limit entry, its newest message (so a position whose
  opening line left the log window still shows, with its latest price);
- ``ticks``: per live pair, its newest idle tick (docs/control-api.md "tick"). An idle tick says only
  "alive at this time and price": it is sent to every client but not numbered, so it never pushes
  a numbered event out of the replay window, and a client that missed some loses nothing (the
  next one, or the snapshot's newest, says the same).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import engine
from engine import wire

SHOWN_ACTIONS = ("scheduled", "opened", "active", "closed", "cancelled")

STREAMS: tuple[tuple[str, Callable[[Callable[[Any], None]], Callable[[], None]]], ...] = (
    ("signal", lambda push: engine.listen_signal(push, actions=SHOWN_ACTIONS)),
    ("risk", engine.listen_risk),
    ("partial_profit", engine.listen_partial_profit),
    ("partial_loss", engine.listen_partial_loss),
    ("walker", engine.listen_walker),
    ("walker_complete", engine.listen_walker_complete),
    ("error", engine.listen_error),
    ("exit", engine.listen_exit),
    ("state_write", engine.listen_state_write),
    ("order", engine.listen_order),
    ("fill", engine.listen_fill),
    ("account", engine.listen_account),
    ("breaker", engine.listen_breaker),
)
"""(stream name, how to subscribe): the engine streams a client receives, as console/bridge.py
listens to them in-process."""


@dataclass(slots=True)
class Message:
    """One numbered message, encoded once (every client gets the same text). A tick is not
    numbered (``numbered`` False): its ``seq`` is the number of the event before it."""

    seq: int
    stream: str
    text: str
    numbered: bool = True


@dataclass(slots=True, eq=False)
class Subscriber:
    """A connected client's queue; ``overflowed`` when it fell ``limit`` messages behind (its
    connection is closed, and it resumes from its last number like after any drop)."""

    limit: int
    queue: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    overflowed: bool = False

    def offer(self, msg: Message) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= self.limit:
            self.overflowed = True
            return
        self.queue.put_nowait(msg)


def _open_key(ev: Any) -> tuple[bool, str, str, str] | None:
    row = getattr(ev, "signal", None)
    return (ev.backtest, ev.symbol, ev.strategy_name, row.id) if row is not None else None


class Hub:
    """Numbers and keeps messages; ``subscribe`` hands a client the ones after its number."""

    def __init__(self, *, replay_size: int = 20_000, log_size: int = 5_000, client_limit: int = 50_000) -> None:
        self.seq = 0
        # which daemon numbered the messages: a client's number means nothing to a restarted daemon
        self.epoch = f"{os.getpid()}-{time.time_ns()}"
        self.replay: deque[Message] = deque(maxlen=replay_size)
        self.log: deque[Message] = deque(maxlen=log_size)
        self.open: dict[tuple[bool, str, str, str], Message] = {}
        self.ticks: dict[tuple[str, str], Message] = {}  # (symbol, strategy) -> its newest idle tick
        self.clock: Callable[[], int] = lambda: engine.get_clock().now()  # the tick's time (ms)
        self.subscribers: set[Subscriber] = set()
        self.client_limit = client_limit
        self._unsubscribe: list[Callable[[], None]] = []

    # -- engine side --------------------------------------------------------------------------
    def attach(
        self, streams: Iterable[tuple[str, Callable[..., Callable[[], None]]]] = STREAMS, *, ticks: bool = True
    ) -> None:
        """Listen to the engine streams (once, for the daemon's life), and to live idle ticks."""
        for name, listen in streams:
            self._unsubscribe.append(listen(lambda ev, _name=name: self.publish(_name, ev)))
        if ticks:  # live only, as console/bridge.py: a backtest's idle frames keep their fast path
            self._unsubscribe.append(engine.listen_signal_live(self.publish_tick, actions=("idle",)))

    def detach(self) -> None:
        for stop in self._unsubscribe:
            stop()
        self._unsubscribe.clear()

    def publish(self, stream: str, event: Any) -> Message:
        """Number ``event`` and send it to every client (an event that cannot be encoded is sent as
        an error naming it, so a client sees that something happened instead of a gap)."""
        self.seq += 1
        try:
            payload = wire.encode(event)
        except wire.WireError as exc:
            stream, payload = "error", wire.encode(RuntimeError(f"daemon: {stream} event not sent: {exc}"))
        text = json.dumps({"type": "event", "seq": self.seq, "stream": stream, "event": payload}, separators=(",", ":"))
        msg = Message(self.seq, stream, text)
        self.replay.append(msg)
        self._keep(msg, event)
        for sub in self.subscribers:
            sub.offer(msg)
        return msg

    def publish_tick(self, event: Any) -> Message:
        """Send a live idle tick with the daemon's clock (``now``, ms: an idle result carries no
        time), unnumbered; the newest per pair is kept for the snapshot."""
        payload = wire.encode(event)
        text = json.dumps(
            {"type": "tick", "seq": self.seq, "now": self.clock(), "stream": "signal", "event": payload},
            separators=(",", ":"),
        )
        msg = Message(self.seq, "signal", text, numbered=False)
        self.ticks[(event.symbol, event.strategy_name)] = msg
        for sub in self.subscribers:
            sub.offer(msg)
        return msg

    def _keep(self, msg: Message, event: Any) -> None:
        if msg.stream == "run":
            return
        action = getattr(event, "action", None) if msg.stream == "signal" else None
        if action is not None:
            key = _open_key(event)
            if key is not None:
                if action in ("closed", "cancelled"):
                    self.open.pop(key, None)
                else:
                    self.open[key] = msg
            if action == "active":
                return
        self.log.append(msg)

    # -- client side --------------------------------------------------------------------------
    def history(self) -> list[Message]:
        """The snapshot's messages, oldest first: the log window plus each open position's newest."""
        merged = {m.seq: m for m in self.log}
        for m in self.open.values():
            merged.setdefault(m.seq, m)
        return [merged[s] for s in sorted(merged)]

    def since(self, seq: int) -> list[Message] | None:
        """The messages after ``seq``, or None when the replay buffer no longer reaches back that far."""
        if seq >= self.seq:
            return []
        if not self.replay or self.replay[0].seq > seq + 1:
            return None
        start = seq + 1 - self.replay[0].seq
        return list(self.replay)[start:]

    def subscribe(self) -> Subscriber:
        sub = Subscriber(self.client_limit)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
