"""The daemon's runs: start a live run, a backtest or a walker, drive it, stop it, say how it is.

A run's id is the console's (``mode:symbol:name``, console/state.py ``run_id``), so an attached
dashboard keys the daemon's runs as it keys its own. Every change a client shows (started, progress
moved by a percent, stopping, ended) is published on the hub's ``run`` stream as the run's record.
Starting a run checks every name first and refuses with one line saying what and which names exist;
nothing is started on a bad request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import engine

from ..broker_choice import broker_for
from ..project import Project
from ..state import run_id
from .hub import Hub

MODES = ("live", "backtest", "walker", "optimizer")

OPTIMIZER_UNSTOPPABLE = (
    "an optimizer run cannot be stopped midway: it ends after its last source (each model call has its "
    "timeout from [llm]); nothing runs the program it writes"
)
"""The console's ``s`` says the same in process (console/app.py ``action_stop_run``)."""


class RunRequestError(ValueError):
    """A start or stop the daemon refuses (bad name, already running, unknown run)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class RunRecord:
    """What a client knows of a run (the ``run`` stream's event, the ``/v1/runs`` rows)."""

    id: str
    mode: str
    symbol: str
    name: str
    exchange: str
    frame: str
    status: str  # running, stopping, done, stopped, failed
    progress: float = 0.0
    processed: int = 0
    total: int = 0
    started: float = 0.0
    finished: float | None = None
    error: str | None = None
    restored: int = 0
    broker: str = ""  # a live run's broker (console/broker_choice.py: the project's rule)
    output: str = ""  # an optimizer run's program, once written (its trace beside it, .md)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_active(self) -> bool:
        return self.status in ("running", "stopping")


class RunTable:
    """The runs of this daemon, newest last; at most one active run per id."""

    def __init__(
        self,
        project: Project,
        hub: Hub,
        *,
        poll: float = 0.5,
        wall: Callable[[], float] = time.time,
        dump_dir: Path | None = None,
    ) -> None:
        self.project = project
        self.dump_dir = dump_dir if dump_dir is not None else project.dump_dir  # an optimizer writes under it
        self.hub = hub
        self.poll = poll
        self.wall = wall  # wall-clock seconds for started/finished (tests pin it)
        self.runs: dict[str, RunRecord] = {}
        self.handles: dict[str, engine.RunHandle[Any]] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._poller: asyncio.Task[None] | None = None

    # -- starting -----------------------------------------------------------------------------
    def _check(self, kind: str, name: str, available: list[str]) -> None:
        if name not in available:
            raise RunRequestError(f"unknown {kind} {name!r} (available: {', '.join(available) or 'none'})")

    def start(self, body: dict[str, Any]) -> RunRecord:
        """Start the run ``body`` asks for: ``mode``, ``symbol``, ``strategy`` (or ``walker``, or
        ``optimizer``), optional ``exchange`` and ``frame`` (the project's defaults)."""
        p = self.project
        mode = body.get("mode")
        if mode not in MODES:
            raise RunRequestError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "optimizer":
            return self._start_optimizer(body)
        symbol = body.get("symbol") or (p.symbols[0] if p.symbols else "")
        if not isinstance(symbol, str) or not symbol:
            raise RunRequestError("symbol missing (the project lists none)")
        if p.symbol_list_is_strict:
            self._check("symbol", symbol, p.symbols)
        exchange = body.get("exchange") or p.default_exchange
        frame = body.get("frame") or p.default_frame
        if mode == "walker":
            name = body.get("walker") or (p.walkers[0] if p.walkers else "")
            self._check("walker", name, p.walkers)
        else:
            name = body.get("strategy") or ""
            self._check("strategy", name, p.strategies)
            self._check("exchange", exchange, p.exchanges)
            if mode == "backtest":
                self._check("frame", frame, p.frames)
        rid = run_id(mode, symbol, name)
        old = self.runs.get(rid)
        if old is not None and old.is_active:
            raise RunRequestError(f"{rid} is already {old.status}", status=409)
        broker = ""
        if mode == "live":
            # the broker btk.toml's [broker] registered for this exchange (a ccxt broker is named
            # after its exchange table; one on a real venue was confirmed there with real_money =
            # true), else paper: the rule of the console's `l` and `btk-console live`, so a run
            # started through the daemon trades where the same run started in-process would
            broker = broker_for(exchange).name
            handle = engine.Live.run(symbol, strategy_name=name, exchange_name=exchange, broker=broker)
        elif mode == "backtest":
            handle = engine.Backtest.run(symbol, strategy_name=name, exchange_name=exchange, frame_name=frame)
        else:
            handle = engine.Walker.run(symbol, walker_name=name)
            # the walker's own exchange and frame, as the in-process dashboard's run has them: an
            # attached trade inspector charts its strategies' trades on that exchange's candles
            schema = next((w for w in engine.list_walkers() if w.walker_name == name), None)
            exchange, frame = (schema.exchange_name, schema.frame_name) if schema is not None else ("", "")
        record = RunRecord(
            id=rid,
            mode=mode,
            symbol=symbol,
            name=name,
            exchange=exchange,
            frame=frame if mode != "live" else "",
            status="running",
            started=self.wall(),
            broker=broker,
        )
        self.runs.pop(rid, None)  # a restarted run moves to the end
        self.runs[rid] = record
        self.handles[rid] = handle
        self._changed(record)
        self.tasks[rid] = asyncio.ensure_future(self._drive(record, handle))
        self._ensure_poller()
        return record

    def _start_optimizer(self, body: dict[str, Any]) -> RunRecord:
        """Write strategies with an optimizer as the console's ``o`` does in process
        (console/optimizer_run.py): the project's ``[llm]`` (the environment on top), the program
        and its trace under ``<dump>/optimizer``, progress (sources read of ranges x sources, SPEC
        13.2) on the ``run`` stream. The program it writes is never run here."""
        names = [s.optimizer_name for s in engine.list_optimizers()]
        name = body.get("optimizer") or (names[0] if len(names) == 1 else "")
        self._check("optimizer", name, names)
        symbol = body.get("symbol") or (self.project.symbols[0] if self.project.symbols else "")
        if not isinstance(symbol, str) or not symbol:
            raise RunRequestError("symbol missing (the project lists none)")
        if self.project.symbol_list_is_strict:
            self._check("symbol", symbol, self.project.symbols)
        rid = run_id("optimizer", symbol, name)
        old = self.runs.get(rid)
        if old is not None and old.is_active:
            raise RunRequestError(f"{rid} is already {old.status}", status=409)
        try:
            settings = engine.load_llm_settings(self.project.source)
        except ValueError as exc:
            raise RunRequestError(f"[llm]: {exc}") from None
        engine.set_llm_settings(settings)  # a project's get_prompt builds its client from them
        schema = next(s for s in engine.list_optimizers() if s.optimizer_name == name)
        record = RunRecord(
            id=rid,
            mode="optimizer",
            symbol=symbol,
            name=name,
            exchange="",
            frame="",
            status="running",
            total=len(schema.range_train) * len(schema.sources),
            started=self.wall(),
        )
        self.runs.pop(rid, None)
        self.runs[rid] = record
        self._changed(record)
        self.tasks[rid] = asyncio.ensure_future(self._drive_optimizer(record, settings))
        return record

    async def _drive_optimizer(self, record: RunRecord, settings: Any) -> None:
        def progress(ev: Any) -> None:
            if ev.optimizer_name != record.name or ev.symbol != record.symbol:
                return  # another optimizer run's
            record.processed, record.total = ev.processed_sources, ev.total_sources
            record.progress = min(ev.progress, 1.0)
            self._changed(record)

        unlisten = engine.listen_optimizer_progress(progress)
        try:
            path = await engine.Optimizer.dump(
                record.symbol, record.name, self.dump_dir / "optimizer", settings=settings
            )
        except asyncio.CancelledError:  # the daemon stops: the program was not written
            record.status = "stopped"
        except Exception as exc:  # the model, a source or the project's get_prompt failed: the run says why
            record.status, record.error = (
                "failed",
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            )
        else:
            record.status, record.progress, record.output = "done", 1.0, str(path)
        finally:
            unlisten()
            record.finished = self.wall()
            self.tasks.pop(record.id, None)
            self._changed(record)

    async def _publish_account(self, broker: str) -> None:
        """The account of the run's broker as a live run starts (the engine publishes one only
        after a change), so an attached console's Account pane shows it at once; read after the
        run's restore started the broker. A broker that cannot answer yet is left to the run's own
        error reports."""
        try:
            snapshot = await engine.Live.account(broker or "paper")
        except Exception:
            return
        self.hub.publish("account", snapshot)

    async def _drive(self, record: RunRecord, handle: engine.RunHandle[Any]) -> None:
        error: BaseException | None = None
        try:
            restored = await handle.restore()
            if restored:  # an attached console shows them as the in-process one does (RunRestored)
                record.restored = len(restored)
                self._changed(record)
                self.hub.publish("restored", {"run": record.id, "rows": restored, "now": engine.get_clock().now()})
            if record.mode == "live":
                await self._publish_account(record.broker)
            async for _ in handle:
                pass
        except asyncio.CancelledError:
            record.status = "stopping"
        except Exception as exc:  # the run failed; the engine published it on the error stream too
            error = exc
        finally:
            st = handle.status()
            record.processed, record.total = st.processed_frames, st.total_frames
            record.finished = self.wall()
            if error is not None:
                record.status, record.error = "failed", f"{type(error).__name__}: {error}"
            elif record.status == "stopping":
                record.status = "stopped"
            else:
                record.status, record.progress = "done", 1.0
            self.handles.pop(record.id, None)
            self.tasks.pop(record.id, None)
            if record.mode == "live":  # its last idle tick is no news to a console joining later
                self.hub.ticks.pop((record.symbol, record.name), None)
            self._changed(record)

    # -- stopping -----------------------------------------------------------------------------
    def stop(self, rid: str) -> RunRecord:
        """Ask run ``rid`` to stop as the console's ``s`` does (SPEC 8.5 for a live run: no new
        signals, an open position stays saved and resumes at the next start)."""
        record = self.runs.get(rid)
        if record is None:
            known = ", ".join(self.runs) or "none"
            raise RunRequestError(f"no run {rid!r} (runs: {known})", status=404)
        if not record.is_active:
            raise RunRequestError(f"{rid} is not running (it is {record.status})", status=409)
        if record.mode == "optimizer":
            raise RunRequestError(OPTIMIZER_UNSTOPPABLE, status=409)
        record.status = "stopping"
        if record.mode == "live":
            engine.Live.stop(record.symbol, record.name)
        elif record.mode == "backtest":
            engine.Backtest.stop(record.symbol, record.name)
        else:
            engine.Walker.stop(record.symbol, record.name)
        self._changed(record)
        return record

    async def stop_all(self, grace: float = 30.0) -> None:
        """Stop every active run and wait for them to end (cancel what outlasts ``grace`` seconds)."""
        for record in list(self.runs.values()):
            if record.status == "running" and record.mode == "optimizer":
                task = self.tasks.get(record.id)
                if task is not None:
                    task.cancel()  # the daemon goes: its model calls go with it, nothing half-written
            elif record.status == "running":
                self.stop(record.id)
        tasks = list(self.tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    # -- progress -----------------------------------------------------------------------------
    def _ensure_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())

    async def _poll(self) -> None:
        """Publish a run's progress when it moved by a percent (a backtest emits no event per frame
        to a client; the record is what it shows)."""
        while self.handles:
            for rid, handle in list(self.handles.items()):
                record = self.runs[rid]
                st = handle.status()
                if abs(st.progress - record.progress) >= 0.01 or st.total_frames != record.total:
                    record.progress = min(st.progress, 1.0)
                    record.processed, record.total = st.processed_frames, st.total_frames
                    self._changed(record)
            await asyncio.sleep(self.poll)

    def _changed(self, record: RunRecord) -> None:
        self.hub.publish("run", record.to_dict())

    def dump_runs(self) -> tuple[list[RunRecord], Callable[[Any], list[str]]]:
        """The runs whose reports ``d`` writes (console/report_dump.py), and what each walker
        tested: a finished walker adds the backtest reports of each strategy it tested (a
        stopped one: only its own report), as the in-process ``d`` does."""
        walker_strategies = {w.walker_name: list(w.strategies) for w in engine.list_walkers()}

        def tested(run: Any) -> list[str]:
            return walker_strategies.get(run.name, []) if run.status == "done" else []

        return list(self.runs.values()), tested

    def listing(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.runs.values()]
