"""``btk-console attach``: the dashboard of a daemon's engine (console/daemon/), through its socket.

The same ``BtkApp``, with its engine replaced by the daemon's stream: ``Feed`` (console/client.py)
delivers the snapshot, the numbered events and the connection's ups and downs; they are queued in
arrival order and folded every ``refresh_interval`` into the same ``DashboardState`` the in-process
dashboard folds, so every pane shows what it shows in-process. Start and stop go to the daemon's
API, and so do closing a position (``c``), flattening (``F``) and clearing a circuit breaker
(``X``), since the daemon's engine holds them; the trade inspector (``i``) and the candle view
(``v``) read the daemon's trades and candles (console/trade_reader.py ``RemoteTrades``); the
live start dialog names the daemon's broker.
``ctrl+d`` or ``x`` (and ``q``) detach and leave every run going. A lost connection shows a
banner in the header and is retried with backoff, resuming after the last event folded (no line
twice). ``--read-only`` attaches a viewer: starting or stopping is refused with a message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .app import BtkApp, walker_description
from .broker_choice import BrokerChoice
from .client import Connection, DaemonClient, DaemonError, Endpoint, Event, Feed, Live, Snapshot, Tick, to_bridge
from .commands import ALL_COMMANDS, ATTACH_COMMANDS, bindings
from .project import Project
from .state import Part, RunView
from .trade_reader import RemoteTrades

READ_ONLY = "Read-only: this console was attached with --read-only and cannot start or stop runs."
ENDED = ("done", "stopped", "failed")


def remote_project(info: dict[str, Any], dump_dir: Path) -> Project:
    """The daemon's project as the start dialogs need it (names only: nothing is imported here)."""
    return Project(
        name=info["name"],
        source=None,
        root=dump_dir.parent,
        dump_dir=dump_dir,
        exchanges=list(info["exchanges"]),
        strategies=list(info["strategies"]),
        frames=list(info["frames"]),
        walkers=list(info["walkers"]),
        symbols=list(info["symbols"]),
        default_exchange=info["default_exchange"],
        default_frame=info["default_frame"],
        settings_path=dump_dir / "attach-settings.toml",
        # the project's [keys] (btk.toml and its saved bindings): an attached console keys as the
        # in-process one does, its detach included (console/commands.py ATTACH_COMMANDS)
        keys=dict(info.get("keys", {})),
        declared_keys=dict(info.get("keys", {})),
    )


class AttachedApp(BtkApp):
    BINDINGS = bindings(ATTACH_COMMANDS)  # ctrl+d,x by default; [keys] detach = "..." remaps it
    KEYED = ALL_COMMANDS

    def __init__(
        self,
        endpoint: Endpoint,
        info: dict[str, Any],
        daemon: dict[str, Any],
        *,
        read_only: bool = False,
        sleep: Callable[[float], Any] = asyncio.sleep,
        **kw: Any,
    ) -> None:
        dump_dir = Path(daemon.get("dump_dir") or ".")
        project = remote_project(info, dump_dir)
        super().__init__(project, dump_dir=dump_dir, save_settings=False, **kw)
        self.source = "attached to daemon" + (" · READ-ONLY" if read_only else "")
        self.daemon = daemon  # pid, project, dump folder, since: the daemon serving now
        self.endpoint = endpoint
        self.read_only = read_only
        self.remote = info  # walker and frame details for the runs the daemon reports
        self._sleep = sleep
        self._pending: list[Snapshot | Event | Tick | Live | Connection] = []
        self._in_history = False
        self._daemon_close_only: str | None = None
        self._snapshot_seq = 0
        self.connected = False
        self.connection_detail = ""
        self.leaving = False
        self.feed: Feed | None = None
        self.client: DaemonClient | None = None
        # i and v read the daemon's trades and candles (its engine ran them), through this client
        self.trade_reader = RemoteTrades(lambda: self.client)

    # ------------------------------------------------------------------ the stream
    def on_mount(self) -> None:
        # Textual calls BtkApp.on_mount too (a handler runs for each class of the MRO), after this
        # one: the dashboard exists once the messages of the mount are handled
        self.call_later(self._start_following)

    def _start_following(self) -> None:
        if self.dashboard is None:
            return
        self.dashboard.source = self.source  # the header says the engine is the daemon's
        # the screen's timer: it ends with the screen, never folding into panes being torn down
        self.dashboard.set_interval(self.refresh_interval, self.fold_pending)
        self.run_worker(self._follow(), name="daemon-feed", group="feed", exit_on_error=False)

    async def _follow(self) -> None:
        async with DaemonClient(self.endpoint, read_only=self.read_only) as client:
            self.client = client
            self.feed = Feed(client, sleep=self._sleep)
            async for item in self.feed:
                if isinstance(item, Snapshot):
                    self._in_history = True  # a snapshot is shown whole, never half its history
                elif isinstance(item, Live | Connection):
                    self._in_history = False
                self._pending.append(item)
                if isinstance(item, Connection):
                    self.fold_pending()  # the banner at once, not at the next redraw

    def fold_pending(self) -> None:
        """Fold what arrived, in order: engine events in batches, the rest one by one."""
        if self._in_history or self.leaving or self.dashboard is None:
            return
        if not (self.dashboard.is_mounted and self.dashboard.is_attached):
            return  # detaching (the panes are going away), or not drawn yet: the items wait
        items, self._pending = self._pending, []
        if not items:
            return
        state = self.state
        changed = Part.NONE
        batch: list[Any] = []

        def flush() -> Part:
            done = state.apply(batch) if batch else Part.NONE
            batch.clear()
            return done

        for item in items:
            if isinstance(item, Event):
                if item.stream == "run":
                    changed |= flush() | self._upsert_run(item.event, news=item.seq > self._snapshot_seq)
                elif item.stream == "restored":
                    changed |= flush()
                    ev = item.event
                    changed |= state.restore(ev["run"], list(ev["rows"]), ev["now"])
                else:
                    event = to_bridge(item)
                    if event is not None:
                        batch.append(event)
            elif isinstance(item, Tick):
                # the daemon's clock moves live ages and clocks as the in-process one does (Session.fold)
                changed |= flush()
                state.tick_live(item.now)
                batch.append(item.event)
                changed |= Part.POSITIONS | Part.SCHEDULED | Part.PROGRESS
            elif isinstance(item, Live):
                continue
            elif isinstance(item, Snapshot):
                self._snapshot_seq = item.seq  # events up to it are its history, not news
                self._follow_daemon(item.daemon)
                batch.clear()
                state.reset()
                self._daemon_close_only = None
                for record in item.runs:
                    self._upsert_run(record)
                if self.session.selected not in state.runs:
                    active = [r.id for r in state.runs.values() if r.is_active]
                    self.session.selected = (active or list(state.runs) or [None])[-1]
                changed = Part.ALL
            else:
                changed |= flush() | self._connection(item)
        changed |= flush()
        self._daemon_close_only = state.close_only if self.connected else self._daemon_close_only
        self._show(changed | Part.HEADER)

    def _follow_daemon(self, daemon: dict[str, Any]) -> None:
        """Remember the daemon serving now (a restarted one has another pid)."""
        if daemon:
            self.daemon = daemon

    def _connection(self, item: Connection) -> Part:
        state = self.state
        if item.up:
            self.connected = True
            state.close_only = self._daemon_close_only
        else:
            if self.connected:
                self._daemon_close_only = state.close_only
            self.connected = False
            # which address, what failed and where it resumes: for a log, not the header, which
            # says only what a trader acts on (a sequence number is the protocol's business, and
            # one the run's progress records move with the machine's speed)
            last = self.feed.last if self.feed is not None else None
            self.connection_detail = item.detail + (f"; resuming after #{last}" if last else "")
            state.close_only = "CONNECTION LOST · reconnecting"
        return Part.HEADER

    def _upsert_run(self, record: dict[str, Any], news: bool = False) -> Part:
        """Add or update the run of a daemon's record; ``news``: it arrived live (not a snapshot's
        history), so an optimizer that wrote its program says so, once, as it does in process."""
        state = self.state
        rid = record["id"]
        run = state.runs.get(rid)
        if run is None or (run.status in ENDED and record["status"] == "running"):
            run = RunView(
                id=rid,
                mode=record["mode"],
                symbol=record["symbol"],
                name=record["name"],
                exchange=record["exchange"],
                frame=record["frame"],
                status="running",
                started=record["started"],
            )
            frame = self.remote.get("frame_details", {}).get(run.frame)
            if frame is not None:
                run.frame_start, run.frame_step = frame["start_ms"], frame["step_ms"]
            walker = self.remote.get("walker_details", {}).get(run.name) if run.mode == "walker" else None
            if walker is not None:
                state.add_walker(run, walker["metric"], list(walker["strategies"]))
            else:
                state.add_run(run)
            if self.session.selected is None:
                self.session.selected = rid
        was_active = run.is_active
        run.status = record["status"]
        run.error = record.get("error")
        run.progress, run.processed, run.total = record["progress"], record["processed"], record["total"]
        run.finished = record.get("finished")
        if was_active and not run.is_active:
            state.finish_run(rid)
            if news and run.mode == "optimizer":
                self._optimizer_ended(run, record.get("output") or "")
        return Part.RUNS | Part.PROGRESS | Part.HEADER | Part.POSITIONS | Part.SCHEDULED

    def _optimizer_ended(self, run: RunView, output: str) -> None:
        title = f"Optimizer {run.name} · {run.symbol}"
        if run.status != "done" or not output:
            self.notify(
                f"{run.status}: {run.error or 'no program written'}", title=title, severity="error", markup=False
            )
            return
        self.notify(
            f"The daemon wrote the program: {output}\nIts trace (each strategy's prompt and answer, and the "
            "program) is in the reports (r). Review it, then run it with: btk-console optimize "
            f"--optimizer {run.name} --symbol {run.symbol} --run",
            title=title,
            timeout=20,
            markup=False,
        )

    # ------------------------------------------------------------------ start and stop go to the daemon
    def action_start(self, mode: str) -> None:
        if self.read_only:
            self.notify(READ_ONLY, severity="warning", markup=False)
            return
        super().action_start(mode)

    def walker_choices(self) -> dict[str, str]:
        """The daemon's walkers, described as the in-process dialog describes them."""
        return {
            name: walker_description(len(w["strategies"]), w["metric"], w.get("exchange", "?"), w.get("frame", "?"))
            for name, w in (self.remote.get("walker_details") or {}).items()
        }

    def optimizer_choices(self) -> dict[str, str]:
        """The daemon's optimizers (its project registered them, not this process)."""
        return dict(self.remote.get("optimizers") or {})

    def start_optimizer(self, symbol: str, optimizer: str) -> bool:
        """The daemon writes the program (its project's [llm] and model calls, its dump folder);
        the run's progress comes back on the stream like any run's."""
        self._ask("Cannot start", lambda c: c.start(mode="optimizer", symbol=symbol, optimizer=optimizer))
        return True

    def _ask(self, what: str, call: Callable[[DaemonClient], Any]) -> None:
        async def go() -> None:
            if self.client is None:
                self.notify("Not connected to the daemon yet.", title=what, severity="error", markup=False)
                return
            try:
                await call(self.client)
            except DaemonError as exc:
                self.notify(str(exc), title=what, severity="error", timeout=8, markup=False)

        self.run_worker(go(), group="requests", exit_on_error=False)

    def start_backtest(self, symbol: str, strategy: str, exchange: str, frame: str) -> bool:
        body = {"mode": "backtest", "symbol": symbol, "strategy": strategy, "exchange": exchange, "frame": frame}
        self._ask("Cannot start", lambda c: c.start(**body))
        return True

    def start_walker(self, symbol: str, walker: str) -> bool:
        self._ask("Cannot start", lambda c: c.start(mode="walker", symbol=symbol, walker=walker))
        return True

    def broker_choice(self, exchange: str) -> BrokerChoice:
        """The daemon's broker for ``exchange`` (its project registered the brokers, not this
        process): the start dialog names it and a real-money one asks once more, as in-process."""
        known = (self.remote.get("brokers") or {}).get(exchange)
        if known is None:  # an older daemon that does not say: the safe side is to ask
            return BrokerChoice("", "unknown", True, "the daemon's broker for this exchange (not reported)")
        return BrokerChoice(known["name"], known["kind"], bool(known["real_money"]), known["text"])

    def start_live(self, symbol: str, strategy: str, exchange: str, broker: str | None = None) -> bool:
        """The daemon starts it, on the broker its own project names for ``exchange`` (the one the
        dialog showed: ``broker`` is not sent, the daemon applies the same rule)."""
        body = {"mode": "live", "symbol": symbol, "strategy": strategy, "exchange": exchange}
        self._ask("Cannot start", lambda c: c.start(**body))
        return True

    def action_stop_run(self) -> None:
        if self.read_only:
            self.notify(READ_ONLY, severity="warning", markup=False)
            return
        super().action_stop_run()

    def _stop_confirmed(self, rid: str, yes: bool | None) -> None:
        run = self.state.runs.get(rid)
        if not yes or run is None or not run.is_active:
            return
        self._ask("Cannot stop", lambda c: c.stop(rid))

    # ------------------------------------------------------------------ orders go to the daemon too
    def action_close_position(self) -> None:
        if self.read_only:
            self.notify(READ_ONLY, severity="warning", markup=False)
            return
        super().action_close_position()

    def _close_confirmed(self, rid: str, yes: bool | None) -> None:
        """The daemon's engine holds the position: it sends the exit (``POST /v1/runs/{id}/close``)."""
        run = self.state.runs.get(rid)
        if not yes or run is None:
            return

        async def close(c: DaemonClient) -> None:
            await c.close_position(rid)
            self.notify(f"Closing {run.symbol} {run.name} at market", title="Close", markup=False)

        self._ask("Cannot close", close)

    def action_flatten(self) -> None:
        if self.read_only:
            self.notify(READ_ONLY, severity="warning", markup=False)
            return
        super().action_flatten()

    def _flatten_confirmed(self, strategy: str | None, yes: bool | None) -> None:
        if not yes:
            return

        async def flatten(c: DaemonClient) -> None:
            asked = (await c.flatten(strategy))["closing"]
            self.notify(f"Closing {len(asked)} position(s) at market", title="Flatten", markup=False)

        self._ask("Cannot flatten", flatten)

    def action_clear_breaker(self) -> None:
        if self.read_only:
            self.notify(READ_ONLY, severity="warning", markup=False)
            return
        super().action_clear_breaker()

    async def _clear_breakers(self, names: list[str]) -> None:
        """The daemon's book holds the breaker; its cleared event comes back on the stream."""
        if self.client is None:
            self.notify("Not connected to the daemon yet.", title="Breaker not cleared", severity="error", markup=False)
            return
        for name in names:
            try:
                done = await self.client.clear_breaker(name)
            except DaemonError as exc:
                self.notify(f"{name}: {exc}", title="Breaker not cleared", severity="error", markup=False)
                continue
            if not done["cleared"]:  # already clear in the daemon's book: the header stops saying it
                self.state.breakers.pop(name, None)
                self._show(Part.HEADER | Part.ACCOUNT)

    def action_dump_reports(self) -> None:
        """The daemon writes the reports (its engine holds what they are made of) under its dump
        folder, which the reports browser (r) reads; a viewer may ask too: it changes no run."""

        async def dump(c: DaemonClient) -> None:
            done = await c.dump_reports()
            self.notify(
                f"{len(done['written'])} reports written to {done['folder']}/ by the daemon",
                title="Reports",
                markup=False,
            )

        self._ask("Cannot dump reports", dump)

    # ------------------------------------------------------------------ leaving
    def action_detach(self) -> None:
        """Leave; the daemon and every run go on."""
        self.leaving = True
        if self.feed is not None:
            self.feed.close()
        self.exit(0)

    def action_request_quit(self) -> None:
        self.action_detach()  # nothing here stops with the console


async def fetch(endpoint: Endpoint) -> tuple[dict[str, Any], dict[str, Any]]:
    """The daemon's project and its own description (``DaemonError`` if it does not answer)."""
    async with DaemonClient(endpoint, timeout=10) as c:
        return await c.get("/v1/project"), (await c.status())["daemon"]
