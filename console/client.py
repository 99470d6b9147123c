"""The console's side of the daemon (console/daemon/): HTTP calls and the event stream.

``DaemonClient`` talks to a daemon on its Unix socket (or on TCP with a bearer token); ``Feed``
keeps a stream going across drops: it resumes from the last sequence number it handled, so a
reconnect neither repeats nor skips an event, and when the daemon no longer keeps that far back it
hands over a fresh snapshot (the caller rebuilds from it). Events come out decoded by
``engine.wire``, the same objects an in-process bridge would receive.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from engine import wire

from .daemon.paths import TOKEN_ENV, DaemonPaths


class DaemonError(Exception):
    """The daemon refused a request (its message), or cannot be reached (what was tried)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How to reach a daemon: a Unix socket path, or a 127.0.0.1 TCP port with a token."""

    socket: Path | None = None
    port: int | None = None
    token: str | None = field(default=None, repr=False)  # never printed

    @classmethod
    def for_dump(cls, dump_dir: Path) -> Endpoint:
        return cls(socket=DaemonPaths(dump_dir.absolute()).socket)

    @classmethod
    def tcp(cls, port: int, token_env: str = TOKEN_ENV) -> Endpoint:
        return cls(port=port, token=os.environ.get(token_env) or None)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}" if self.port is not None else "http://daemon"

    def where(self) -> str:
        return f"unix:{self.socket}" if self.socket is not None else f"127.0.0.1:{self.port}"


def daemon_running(dump_dir: Path) -> bool:
    """Whether a daemon serves ``dump_dir`` (its socket exists; a stale one fails to connect later)."""
    return DaemonPaths(dump_dir.absolute()).socket.exists()


class DaemonClient:
    """One HTTP session to the daemon. ``async with DaemonClient(endpoint) as c: await c.get(...)``."""

    def __init__(self, endpoint: Endpoint, *, timeout: float = 30.0, read_only: bool = False) -> None:
        self.endpoint = endpoint
        self.read_only = read_only  # a viewer: the daemon refuses its changes (403)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> DaemonClient:
        connector = aiohttp.UnixConnector(path=str(self.endpoint.socket)) if self.endpoint.socket is not None else None
        headers = {"Authorization": f"Bearer {self.endpoint.token}"} if self.endpoint.token else {}
        if self.read_only:
            headers["X-Btk-Read-Only"] = "1"  # console/daemon/server.py read_only_guard
        self._session = aiohttp.ClientSession(connector=connector, headers=headers, timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("DaemonClient used outside 'async with'")
        return self._session

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        url = self.endpoint.base + path
        try:
            async with self.session.request(method, url, json=body) as resp:
                text = await resp.text()
                if resp.content_type == "application/json":
                    data = json.loads(text)
                else:
                    data = text
                if resp.status >= 400:
                    message = data.get("error", text) if isinstance(data, dict) else text
                    raise DaemonError(str(message), resp.status)
                return data
        except aiohttp.ClientConnectionError as exc:
            raise DaemonError(f"no daemon answers on {self.endpoint.where()} ({exc})") from None

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.request("POST", path, body if body is not None else {})

    async def status(self) -> dict[str, Any]:
        return await self.get("/v1/status")

    async def start(self, **body: Any) -> dict[str, Any]:
        return await self.post("/v1/runs", body)

    async def dump_reports(self) -> dict[str, Any]:
        """The daemon writes every run's reports under its dump folder: ``{"folder", "written"}``."""
        return await self.post("/v1/reports")

    async def stop(self, rid: str) -> dict[str, Any]:
        return await self.post(f"/v1/runs/{quote(rid, safe='')}/stop")

    async def close_position(self, rid: str) -> dict[str, Any]:
        """Close live run ``rid``'s open position at market (``Live.close_position`` in the daemon)."""
        return await self.post(f"/v1/runs/{quote(rid, safe='')}/close")

    async def flatten(self, strategy: str | None = None) -> dict[str, Any]:
        """Close every open position of the daemon's live runs (of ``strategy`` only, if given)."""
        return await self.post("/v1/flatten" + (f"?strategy={quote(strategy, safe='')}" if strategy else ""))

    async def trades(self, rid: str, strategy: str | None = None) -> dict[str, Any]:
        """Run ``rid``'s closed trades (a walker's: of ``strategy``), the chart window, fee and
        slippage: console/trade_reader.py ``trades_from_wire`` reads the answer."""
        query = f"?strategy={quote(strategy, safe='')}" if strategy else ""
        return await self.get(f"/v1/runs/{quote(rid, safe='')}/trades{query}")

    async def candles(self, exchange: str, symbol: str, start_ms: int, end_ms: int, limit: int) -> dict[str, Any]:
        """Candles of ``symbol`` on the daemon's ``exchange`` in ``[start_ms, end_ms]``."""
        query = (
            f"?exchange={quote(exchange, safe='')}&symbol={quote(symbol, safe='')}"
            f"&start={int(start_ms)}&end={int(end_ms)}&limit={int(limit)}"
        )
        return await self.get("/v1/candles" + query)

    async def clear_breaker(self, broker: str) -> dict[str, Any]:
        """Allow new entries on ``broker`` again after a circuit breaker tripped."""
        return await self.post(f"/v1/brokers/{quote(broker, safe='')}/clear")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The daemon's state at ``seq``: its runs; the history events follow as ``Event``s."""

    seq: int
    runs: list[dict[str, Any]]
    reason: str
    daemon: dict[str, Any] = field(default_factory=dict)  # pid, project, dump folder, since


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    stream: str
    event: Any  # decoded by engine.wire; a ``run`` event is the run's record (a dict)


@dataclass(frozen=True, slots=True)
class Tick:
    """A live run's idle tick (not numbered: it never moves the resume point), with the daemon's
    clock at the tick (``now``, ms), so the dashboard shows its last tick, next tick and price."""

    now: int
    event: Any  # an engine IdleResult


@dataclass(frozen=True, slots=True)
class Live:
    """The backlog (a snapshot's history, or the replay after a resume) is over at ``seq``."""

    seq: int


@dataclass(frozen=True, slots=True)
class Connection:
    """The stream is connected (``up``) or lost (``up`` False, with why and the next try's delay)."""

    up: bool
    detail: str = ""
    retry_in: float = 0.0


def to_bridge(item: Event) -> Any | None:
    """What console/bridge.py would have put in its buffer for ``item`` in-process (a milestone
    wrapped with its direction, as the bridge does), or None for the daemon's own ``run`` records."""
    from .state import Milestone

    if item.stream == "partial_profit":
        return Milestone("profit", item.event)
    if item.stream == "partial_loss":
        return Milestone("loss", item.event)
    if item.stream == "run":
        return None
    return item.event


class Feed:
    """Snapshot, events and connection changes, across reconnects (``last`` is the resume point).

    ``sleep`` waits between tries (injectable: tests pass one that returns at once). Backoff goes
    0.5 s, 1 s, 2 s ... up to ``max_backoff``, and back to the start after a good connection.
    """

    def __init__(
        self,
        client: DaemonClient,
        *,
        sleep: Callable[[float], Any] = asyncio.sleep,
        max_backoff: float = 10.0,
    ) -> None:
        self.client = client
        self.last: int | None = None
        self.sleep = sleep
        self.max_backoff = max_backoff
        self.closed = False
        self.epoch: str | None = None  # the daemon instance that numbered ``last``
        self._history = False

    async def __aiter__(self) -> AsyncIterator[Snapshot | Event | Tick | Live | Connection]:
        delay = 0.5
        while not self.closed:
            query = f"?since={self.last}" if self.last is not None else ""
            query += f"&epoch={self.epoch}" if query and self.epoch else ""
            try:
                async with self.client.session.ws_connect(self.client.endpoint.base + "/v1/stream" + query) as ws:
                    delay = 0.5
                    yield Connection(True)
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        item = self._parse(msg.data)
                        if item is not None:
                            yield item
                    detail = f"closed by the daemon ({ws.close_code})"
            except (aiohttp.ClientError, OSError) as exc:
                detail = f"cannot reach the daemon on {self.client.endpoint.where()}: {type(exc).__name__}"
            if self.closed:
                return
            yield Connection(False, detail, delay)
            await self.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    def _parse(self, text: str) -> Snapshot | Event | Tick | Live | None:
        """One stream message. After a snapshot come its history events (numbers up to the
        snapshot's), then ``live``; past that, an event at or below ``last`` is a repeat and dropped."""
        data = json.loads(text)
        kind = data.get("type")
        if kind == "snapshot":
            self.last, self.epoch = data["seq"], data.get("epoch")
            self._history = True
            return Snapshot(data["seq"], data["runs"], data.get("reason", ""), data.get("daemon", {}))
        if kind == "live":
            self._history = False
            self.epoch = data.get("epoch", self.epoch)
            return Live(data["seq"])
        if kind == "tick":
            return Tick(data["now"], wire.decode(data["event"]))
        if kind != "event":
            return None
        seq = data["seq"]
        if self._history and self.last is not None and seq <= self.last:
            return Event(seq, data["stream"], wire.decode(data["event"]))
        if self.last is not None and seq <= self.last:
            return None
        self._history = False
        self.last = seq
        return Event(seq, data["stream"], wire.decode(data["event"]))

    def close(self) -> None:
        self.closed = True
