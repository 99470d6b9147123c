"""BtkApp: the interactive console.

It owns the session's runs (``Session``: their handles and the folded ``DashboardState``). Runs
go in Textual workers that only iterate the engine's ``RunHandle`` and post typed messages
(``RunRestored``, ``RunFinished``), so a failing run never takes the app down. Given an
``engine_process`` loader (btk-console's default), backtests and walkers run in worker processes
(console/host/) and their handles stream the workers' events into this engine's bus; otherwise the
engine runs here and hands the event loop back every few milliseconds.
The dashboard screen owns its panes: it folds the bridge's batches into the session and redraws
what changed; the app tells it about the rest with ``show(parts)`` and never touches a pane.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen
from textual.worker import Worker

import engine
from themes import DEFAULT_THEME, STYLESHEET, THEME_NAMES, THEMES

from . import optimizer_run
from .broker_choice import BrokerChoice, broker_for
from .commands import COMMANDS, Command, bindings, effective_keys, validate_keymap
from .commands import COMMANDS as BTK_COMMANDS  # (inside BtkApp, COMMANDS is Textual's palette)
from .console_log import ConsoleLog
from .history import record_of, save_record
from .host import EngineHost, Loader, RemoteRun
from .messages import RunFinished, RunRestored
from .preview import preview_close
from .project import Project, exchange_symbols
from .reload import reload_project
from .report_dump import dump_reports
from .research.control import start_sweep, sweepable
from .screens.close import ClosePreviewScreen
from .screens.dashboard import DashboardScreen
from .screens.dialogs import ALL, ConfirmScreen, ErrorScreen, HelpScreen, StartChoice, StartDialog
from .screens.history import HistoryScreen
from .screens.logs import LogScreen, ReloadErrorScreen
from .screens.reports import ReportsScreen
from .screens.trades import TradesScreen
from .session import Session
from .settings import save_settings
from .state import SELECTION, DashboardState, MilestoneBatch, Part, RunView, run_id
from .trade_reader import reader_of
from .trades import source_of
from .widgets.leaderboard import LeaderboardPane

EVERYWHERE = frozenset({"help", "theme", "quit"})
"""Commands that also act on the screens over the dashboard (reports, dialogs, help)."""

DASHBOARD_ONLY = frozenset(c.action.split("(")[0] for c in COMMANDS if c.id not in EVERYWHERE)
"""Action names (without arguments) of the commands that act on the dashboard only."""


class BtkCommands(Provider):
    """The command palette lists the same commands as the keys (one registry)."""

    async def discover(self) -> Hits:
        app = self.app
        for c in COMMANDS:
            yield DiscoveryHit(c.title, partial(app.run_action, c.action), help=c.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        app = self.app
        for c in COMMANDS:
            score = matcher.match(f"{c.title} {c.help}")
            if score > 0:
                yield Hit(score, matcher.highlight(c.title), partial(app.run_action, c.action), help=c.help)


def walker_description(strategies: int, metric: str, exchange: str, frame: str) -> str:
    """A walker's line in the start dialog."""
    return f"{strategies} strategies by {metric} · {exchange} · {frame}"


YOUNG_GENERATION = 50_000
"""Allocations between two passes of the collector over its youngest objects in the console
(``engine.settle_heap``; CPython's default is 700)."""

AFTER_PAINT = 0.1
"""Seconds after a run's end when its history is kept and the next spare worker starts: by then
the screen painted the run done (Textual paints up to 60 times a second; the last redraw and
paint take ~10-40 ms), and neither slows that paint down any more (the statistics, the thread
writing them, the spare's imports on the other core)."""


class BtkApp(App[int]):
    TITLE = "btk"
    CSS_PATH = str(STYLESHEET)
    BINDINGS = bindings()
    COMMANDS = App.COMMANDS | {BtkCommands}
    KEYED: tuple[Command, ...] = BTK_COMMANDS
    """The commands ``[keys]`` binds here (an attached console adds its detach)."""

    def __init__(
        self,
        project: Project | None,
        *,
        project_error: str | None = None,
        theme: str | None = None,
        dump_dir: Path | None = None,
        clock: Callable[[], datetime] | None = None,
        refresh_interval: float = 0.25,
        save_settings: bool = True,
        engine_process: Loader | None = None,
    ) -> None:
        super().__init__()
        self.project = project
        self.project_error = project_error
        self.clock = clock or datetime.now
        self.refresh_interval = refresh_interval
        self.save_settings_enabled = save_settings and project is not None
        root = project.root if project is not None else Path.cwd()
        self.dump_dir = Path(dump_dir) if dump_dir else (project.dump_dir if project else root / "dump")
        cfg = engine.get_config()
        self.session = Session(
            DashboardState(cfg["CC_PERCENT_SLIPPAGE"], cfg["CC_PERCENT_FEE"], cfg["CC_SCHEDULE_AWAIT_MINUTES"])
        )
        self.state = self.session.state
        self.dashboard: DashboardScreen | None = None  # none while a broken project is shown
        ui = project.ui if project is not None else {}
        self._wanted_theme = theme or ui.get("theme") or DEFAULT_THEME
        self.keys = effective_keys({})
        # errors with their tracebacks, the engine's warnings, and <dump>/logs/live.log once a
        # live run starts (issue 14 item 7)
        self.console_log = ConsoleLog(self.state.logbook, self.dump_dir)
        self._announced: set[str] = set()  # runs whose first error a toast has named
        self.history_due: list[RunView] = []  # finished backtests to keep in the history after the paint
        # backtests and walkers in worker processes loading the project with ``engine_process``
        # (console/host/, issue 14 item 2); None runs them here, on the UI's loop
        self.host = EngineHost(engine_process) if engine_process is not None else None
        if self.host is not None:
            self.host.on_milestones = self._worker_milestones
            self.host.on_batch = self._worker_batch
            self.host.on_trades = self._worker_trades
            self.host.columns_heard = self._columns_heard
            self.host.later = self._after_the_last_paint

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The dashboard's commands act only while the dashboard is the screen: on the reports
        browser (or any screen over the dashboard) ``b``, ``d``, ``s``... did what they do on the
        dashboard, out of sight (issue 14 item 13). Help, theme and quit work everywhere."""
        elsewhere = self.dashboard is not None and self.screen is not self.dashboard
        return not (elsewhere and action in DASHBOARD_ONLY)

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """The palette's Screenshot: an SVG under the dump folder, and a toast saying where.
        Textual's default folder is ~/Downloads, which a server does not have."""
        folder = Path(path) if path else self.dump_dir / "screenshots"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            saved = self.save_screenshot(filename, str(folder), time_format)
        except OSError as exc:
            self.notify(f"Could not save it under {folder}: {exc}", title="Screenshot", severity="error", markup=False)
            return None
        self.notify(f"Saved to {saved}", title="Screenshot", markup=False)
        return None

    # ------------------------------------------------------------------ start-up
    def on_mount(self) -> None:
        for t in THEMES:
            self.register_theme(t)
        if self._wanted_theme not in THEME_NAMES:
            self.notify(
                f"Unknown theme {self._wanted_theme!r}; themes are {', '.join(THEME_NAMES)}",
                severity="warning",
                markup=False,
            )
            self._wanted_theme = DEFAULT_THEME
        self.theme = self._wanted_theme
        self.console_log.install()
        # once the first screen is up: its widgets are for the session; and a run's events, which
        # the report stores keep, are not walked by the collector at every 700 allocations
        self.call_after_refresh(engine.settle_heap, YOUNG_GENERATION)
        if self.project_error is not None:
            self.push_screen(ErrorScreen("btk-console could not load the project", self.project_error))
            return
        keymap = dict(self.project.keys) if self.project else {}
        problems = validate_keymap(keymap, self.KEYED)
        if problems:
            self.notify("\n".join(problems), title="Key settings ignored", severity="error", timeout=10, markup=False)
            keymap = {}
        self.keys = effective_keys(keymap, self.KEYED)
        self.set_keymap(self.keys)
        self.dashboard = DashboardScreen(
            self.session,
            project_name=self.project.name if self.project else "btk",
            wall_clock=self.clock,
            refresh_interval=self.refresh_interval,
            research=bool(sweepable(self.project.strategies)) if self.project else False,
        )
        self._list_saved_state()  # before the dashboard mounts: its first redraw shows them
        if self.host is not None:
            self.host.warm()  # the first run's worker loads the project while the user chooses
        self.push_screen(self.dashboard)
        self.set_interval(0.5, self._announce_errors, name="errors")

    def _list_saved_state(self) -> None:
        """What an earlier live process saved, in the panes before any live run starts (issue 14
        item 11); a document that cannot be read is named (starting its pair quarantines it)."""
        saved = engine.read_saved_state(self.dump_dir / "data")
        if saved.unreadable:
            self.notify(
                "\n".join(f"{path}: {why}" for path, why in saved.unreadable),
                title="Saved live state that cannot be read",
                severity="warning",
                timeout=20,
                markup=False,
            )
        self._show(self.state.show_saved(saved.rows, engine.get_clock().now()))

    def _show(self, parts: Part, reveal: type[Any] | None = None) -> None:
        """Tell the dashboard which parts of the session just changed (it redraws them)."""
        if self.dashboard is not None:
            self.dashboard.show(parts, reveal)

    # ------------------------------------------------------------------ runs
    def action_start(self, mode: str) -> None:
        project = self.project
        if project is None:
            return
        names = project.walkers if mode == "walker" else project.strategies
        descriptions = {}
        if mode == "optimizer":  # console/optimizer_run.py (issue 19)
            descriptions = self.optimizer_choices()
            names = list(descriptions)
            if not names:
                self.notify(
                    "This project registers no optimizer: call engine.add_optimizer(...) in a [project] modules file.",
                    severity="warning",
                    markup=False,
                )
                return
        if mode == "walker":
            if not names:
                self.notify(
                    "This project has no walkers: add a [walkers.NAME] section to btk.toml.",
                    severity="warning",
                    markup=False,
                )
                return
            descriptions = self.walker_choices()
        dialog = StartDialog(
            mode,
            symbols=list(project.symbols),
            strategies=list(names) if names else [],
            exchanges=list(project.exchanges),
            frames=list(project.frames),
            last=dict(project.ui.get(f"last_{mode}", {})),
            note=self._live_note() if mode == "live" else "",
            descriptions=descriptions,
            symbols_of=exchange_symbols(project),
            brokers={e: self.broker_choice(e).text for e in project.exchanges} if mode == "live" else None,
        )
        self.push_screen(dialog, self._start_chosen)

    def action_start_sweep(self) -> None:
        """``S``: the sweep dialog, then the sweep in the Research tab (console/research/)."""
        start_sweep(self)

    def _start_chosen(self, choice: StartChoice | None) -> None:
        if choice is None:
            return
        self._remember(
            {
                f"last_{choice.mode}": {
                    "symbol": choice.symbol,
                    "strategy": choice.strategy,
                    "exchange": choice.exchange,
                    "frame": choice.frame,
                }
            }
        )
        symbols = [choice.symbol]
        if choice.symbol == ALL:  # all the symbols the chosen exchange has (issue 14 item 8)
            has = exchange_symbols(self.project).get(choice.exchange) if choice.exchange else None
            symbols = [s for s in self.project.symbols if has is None or s in has]
        if choice.mode == "live":
            broker = self.broker_choice(choice.exchange)
            if broker.real_money:  # one more question: these orders spend real money
                self.push_screen(
                    ConfirmScreen(
                        f"Trade with real money on {broker.name}?",
                        f"Broker {broker.text}. {choice.strategy} places real orders on "
                        f"{', '.join(symbols)} as its signals open and close.",
                        yes="Trade",
                        id="confirm-real-money",
                    ),
                    partial(self._start_live_confirmed, symbols, choice, broker.name),
                )
                return
            self._start_live_confirmed(symbols, choice, broker.name, True)
            return
        if choice.mode in ("walker", "optimizer"):
            start = self.start_walker if choice.mode == "walker" else self.start_optimizer
            started = sum(start(symbol, choice.strategy) for symbol in symbols)
            if started:
                self._show(Part.ALL)
            return
        strategies = list(self.project.strategies) if choice.strategy == ALL else [choice.strategy]
        started = 0
        for symbol in symbols:
            for strategy in strategies:
                started += self.start_backtest(symbol, strategy, choice.exchange, choice.frame)
        if started:
            self._show(Part.ALL)

    def _start_live_confirmed(self, symbols: list[str], choice: StartChoice, broker: str, yes: bool | None) -> None:
        if not yes:
            return
        started = sum(self.start_live(symbol, choice.strategy, choice.exchange, broker) for symbol in symbols)
        if started:
            self._show(Part.ALL)

    def _open_run(self, start: Callable[[], engine.RunHandle[Any] | None]) -> engine.RunHandle[Any] | None:
        """Start a run through the engine; a refusal (unknown name, bad config) is a notification."""
        self.keep_due_history()
        try:
            return start()
        except Exception as exc:
            self.notify(str(exc), title="Cannot start", severity="error", timeout=8, markup=False)
            return None

    def _drive_run(self, rid: str, handle: engine.RunHandle[Any]) -> None:
        """Drive a run just added to the state; its row shows at once, not at the next redraw
        (which a fast run's events may put off until it is nearly done), and so do its panes
        when it is the selected run (named for it, empty): until the next redraw they showed the
        run selected before, and a short run's end then drew them afresh, borders and titles."""
        self.session.handles[rid] = handle
        self.run_worker(self._drive(rid, handle), name=rid, group="runs", exit_on_error=False)
        selected = SELECTION if self.session.selected == rid else Part.NONE
        self._show(Part.RUNS | Part.PROGRESS | Part.HEADER | selected)

    def start_backtest(self, symbol: str, strategy: str, exchange: str, frame: str) -> bool:
        rid = run_id("backtest", symbol, strategy)
        old = self.state.runs.get(rid)
        if old is not None and old.is_active:
            self.notify(f"{symbol} {strategy} is already running", severity="warning", markup=False)
            return False

        def open_backtest() -> engine.RunHandle[Any]:
            checked = engine.Backtest.run(symbol, strategy_name=strategy, exchange_name=exchange, frame_name=frame)
            if self.host is None:
                return checked
            return self.host.backtest(symbol, strategy, exchange, frame, checked)

        handle = self._open_run(open_backtest)
        if handle is None:
            return False
        frame_schema = next(f for f in engine.list_frames() if f.frame_name == frame)
        status = handle.status()
        run = RunView(
            id=rid,
            mode="backtest",
            symbol=symbol,
            name=strategy,
            exchange=exchange,
            frame=frame,
            status="running",
            total=status.total_frames,
            started=self.clock().timestamp(),
            frame_start=int(frame_schema.start_date.timestamp() * 1000),
            frame_step=frame_schema.step_minutes * 60_000,
        )
        if old is not None:  # a new run of the same pair: start its curve and log afresh
            self.state.positions = {k: v for k, v in self.state.positions.items() if v.run != rid}
        self.state.add_run(run)
        if self.session.selected is None:
            self.session.selected = rid
        self._drive_run(rid, handle)
        return True

    def start_walker(self, symbol: str, walker: str) -> bool:
        """Start ``walker`` on ``symbol``: its leaderboard fills as each strategy finishes."""
        rid = run_id("walker", symbol, walker)
        old = self.state.runs.get(rid)
        if old is not None and old.is_active:
            self.notify(f"{walker} on {symbol} is already running", severity="warning", markup=False)
            return False
        busy = [r.name for r in self.state.runs.values() if r.mode == "backtest" and r.symbol == symbol and r.is_active]
        schema = next((w for w in engine.list_walkers() if w.walker_name == walker), None)
        if schema is None:
            self.notify(f"walker {walker} is not registered", title="Cannot start", severity="error", markup=False)
            return False
        clash = sorted(set(busy) & set(schema.strategies))
        if clash:  # one strategy instance per (symbol, strategy): the two runs would collide
            self.notify(
                f"{', '.join(clash)} on {symbol} is backtesting now; stop it or wait for it first",
                title="Cannot start the walker",
                severity="warning",
                markup=False,
            )
            return False

        def open_walker() -> engine.RunHandle[Any]:
            checked = engine.Walker.run(symbol, walker_name=walker)
            return checked if self.host is None else self.host.walker(symbol, walker, schema.frame_name, checked)

        handle = self._open_run(open_walker)
        if handle is None:
            return False
        run = RunView(
            id=rid,
            mode="walker",
            symbol=symbol,
            name=walker,
            exchange=schema.exchange_name,
            frame=schema.frame_name,
            status="running",
            total=len(schema.strategies),
            started=self.clock().timestamp(),
        )
        self.state.add_walker(run, schema.metric, list(schema.strategies))
        self.session.selected = rid
        self._show(Part.NONE, reveal=LeaderboardPane)  # the leaderboard it is about to fill
        self._drive_run(rid, handle)
        return True

    def walker_choices(self) -> dict[str, str]:
        """The walkers the start dialog describes: what each compares, by which metric, where (an
        attached console's come from the daemon's project)."""
        return {
            w.walker_name: walker_description(len(w.strategies), w.metric, w.exchange_name, w.frame_name)
            for w in engine.list_walkers()
        }

    def optimizer_choices(self) -> dict[str, str]:
        """The optimizers the start dialog lists, with what each writes (an attached console's
        come from the daemon's project)."""
        return optimizer_run.descriptions()

    def start_optimizer(self, symbol: str, optimizer: str) -> bool:
        """Write strategies with ``optimizer`` for ``symbol`` (console/optimizer_run.py)."""
        return optimizer_run.start(self, symbol, optimizer)

    def _live_note(self) -> str:
        return (
            f"Real time, one tick a minute. State is saved under {self.dump_dir / 'data'}: "
            "an open position survives a crash or a stop and resumes on the next start. "
            f"Log: {self.dump_dir / 'logs' / 'live.log'}."
        )

    def broker_choice(self, exchange: str) -> BrokerChoice:
        """The broker a live run on ``exchange`` trades through (an attached console asks the daemon's)."""
        return broker_for(exchange)

    def start_live(self, symbol: str, strategy: str, exchange: str, broker: str | None = None) -> bool:
        """Trade ``strategy`` on ``symbol`` in real time; what an earlier process saved comes back
        first (the worker posts it before the first tick)."""
        rid = run_id("live", symbol, strategy)
        old = self.state.runs.get(rid)
        if old is not None and old.is_active:
            self.notify(f"{symbol} {strategy} is already trading live", severity="warning", markup=False)
            return False

        def open_live() -> engine.RunHandle[Any] | None:
            engine.set_base_dir(self.dump_dir / "data")
            try:
                return engine.Live.run(symbol, strategy_name=strategy, exchange_name=exchange, broker=broker)
            except engine.PairQuarantinedError as exc:
                self._quarantine_notice(rid, exc)
                return None

        handle = self._open_run(open_live)
        if handle is None:
            return False
        self.state.forget_saved(symbol, strategy)  # the run restores them as its own
        run = RunView(
            id=rid,
            mode="live",
            symbol=symbol,
            name=strategy,
            exchange=exchange,
            frame="",
            status="running",
            started=self.clock().timestamp(),
            sim_time=engine.get_clock().now(),
        )
        self.state.add_run(run)
        self.state.broker_of[rid] = broker or "paper"
        self.session.selected = rid
        self._open_live_log(symbol, strategy, exchange)
        self._drive_run(rid, handle)
        return True

    def _open_live_log(self, symbol: str, strategy: str, exchange: str) -> None:
        """The live log file, as headless live writes it (issue 14 item 7); the live dialog's
        note and the log viewer's title say where it is."""
        try:
            path = self.console_log.open_live()
        except OSError as exc:
            self.notify(f"{self.dump_dir / 'logs'}: {exc}", title="No live log file", severity="warning", markup=False)
            return
        now = datetime.fromtimestamp(engine.get_clock().now() / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        self.console_log.info(
            f"live on {exchange} from the console at {now}: {symbol} {strategy}; "
            f"state in {self.dump_dir / 'data'}, log in {path}"
        )

    async def _load_account(self, broker: str) -> None:
        """The account as it is when a live run starts (the engine publishes it only after a
        change): folded in like any account event, so the Account pane shows it at once. Read
        after the run's restore has started the broker: a second, concurrent first start of a
        paper account could put back what the disk held over what the run just did."""
        try:
            snap = await engine.Live.account(broker)
        except Exception as exc:  # the run reports its own broker errors; the pane waits for an event
            self.notify(f"{broker}: {exc}", title="Account not read", severity="warning", markup=False)
            return
        self._show(self.state.apply([snap]))

    def _quarantine_notice(self, rid: str, exc: Any) -> None:
        """A live pair held because its saved state is in quarantine: say where, and how to release it."""
        self.state.log_error(rid, exc.symbol, exc.strategy_name, engine.get_clock().now(), str(exc)[:160])
        self.notify(
            "\n".join(
                [
                    *(str(p) for p in exc.documents),
                    "Read the .why.json next to it, then delete the file "
                    "or move it back, and start again. Other pairs trade as usual.",
                ]
            ),
            title=f"{exc.symbol} {exc.strategy_name}: saved state quarantined, not trading",
            severity="error",
            timeout=30,
            markup=False,
        )
        self._show(Part.LOG)

    @on(RunRestored)
    def _run_restored(self, message: RunRestored) -> None:
        changed = self.state.restore(message.run_id, message.rows, message.now)
        run = self.state.runs.get(message.run_id)
        for r in message.rows:  # the live log says what came back, as headless live does
            what = "limit entry" if r.is_scheduled else "position"
            self.console_log.info(
                f"{r.symbol} {r.strategy_name} RESTORED {r.position.upper()} {what} at {r.price_open:,.2f} "
                f"(TP {r.price_take_profit:,.2f}, SL {r.price_stop_loss:,.2f}) id {r.id}"
            )
        if message.rows and run is not None:
            lines = [
                f"{r.position.upper()} {r.symbol} {'limit' if r.is_scheduled else 'entry'} {r.price_open:,.2f}"
                f" · TP {r.price_take_profit:,.2f} · SL {r.price_stop_loss:,.2f}"
                for r in message.rows
            ]
            self.notify(
                "\n".join([*lines, f"from {self.dump_dir / 'data'}"]),
                title=f"Restored {len(lines)} saved signal{'s' if len(lines) > 1 else ''}: {run.name}",
                severity="information",
                timeout=20,
                markup=False,
            )
        self._show(changed)

    def _worker_batch(self) -> None:
        """A worker run's batch is in the console's bus: the dashboard folds it now."""
        if self.dashboard is not None and self.dashboard.is_mounted:
            self.dashboard.bridge.fold_soon()

    def _worker_milestones(self, batch: Any) -> None:
        """A worker run's lazy milestones go to the dashboard among the events around them."""
        if self.dashboard is not None and self.dashboard.is_mounted:
            self.dashboard.bridge.add(MilestoneBatch(batch))

    def _worker_trades(self, trades: engine.TradeColumns) -> None:
        """A worker run's trades as columns go to the dashboard among the events around them."""
        if self.dashboard is not None and self.dashboard.is_mounted:
            self.dashboard.bridge.add(trades)

    def _columns_heard(self) -> bool:
        """Does nobody but the dashboard hear the console's signal streams? Then a worker's
        trades may reach it as columns; a listener of the project's own (a notifier) hears every
        event, as in process."""
        bus = engine.active_engine().bus
        bridge = self.dashboard.bridge if self.dashboard is not None and self.dashboard.is_mounted else None
        mine = bridge.signal_listener if bridge is not None else None
        return not bus.signal_backtest.listeners() and all(fn is mine for fn in bus.signal.listeners())

    async def _drive(self, rid: str, handle: engine.RunHandle[Any]) -> None:
        """Run one run to its end; the worker only reports back with messages. A run first
        restores what an earlier process saved (a live run may have some), and says what came
        back before its first result."""
        try:
            restored = await handle.restore()
            if restored:
                self.post_message(RunRestored(rid, restored, engine.get_clock().now()))
            if rid in self.state.broker_of:
                await self._load_account(self.state.broker_of[rid])
            async for _ in handle:
                pass
        except Exception as exc:
            self.post_message(RunFinished(rid, exc))
            return
        self.post_message(RunFinished(rid, None))

    @on(RunFinished)
    async def _run_finished(self, message: RunFinished) -> None:
        if message.run_id not in self.state.runs:
            return
        if self.dashboard is not None and self.dashboard.is_mounted and not self.dashboard.catch_up():
            # the run's last events first: a flood of them is folded a turn of the loop at a time
            # (a key pressed meanwhile is queued before the next turn), and the run is shown done
            # once they are in
            await asyncio.sleep(0)
            self.post_message(RunFinished(message.run_id, message.error))
            return
        run = self.session.finish(message.run_id, message.error, self.clock().timestamp())
        if run is not None and run.mode == "backtest" and run.status == "done":
            self.history_due.append(run)
            self._after_the_last_paint(self.keep_due_history)
        if run is not None and message.error is not None:
            if isinstance(message.error, engine.PairQuarantinedError):
                self._quarantine_notice(run.id, message.error)
            else:
                self.notify(
                    run.error or "", title=f"{run.symbol} {run.name} failed", severity="error", timeout=10, markup=False
                )
        elif run is not None and run.errors:
            self._errors_toast(run, ended=True)
        if run is not None and run.mode == "live":
            self.console_log.info(f"{run.symbol} {run.name} {run.status}" + (f": {run.error}" if run.error else ""))
        self._show(Part.ALL)  # everything: the run's last events were just folded in

    def _errors_toast(self, run: RunView, *, ended: bool) -> None:
        """Name a run's first error: its type, file and line (engine.describe_error). A live run
        names it as it comes; a run that ends gives the count and the first, as it did not fail
        but did not run cleanly either (issue 14 item 7)."""
        self._announced.add(run.id)
        first = self.state.logbook.first_error.get(run.id)
        what = first.text if first is not None else "see the log"
        key = self.keys.get("logs", "e")
        if ended:
            title = f"{run.symbol} {run.name} {run.status} with {run.errors} error{'s' if run.errors > 1 else ''}"
            body = f"The first: {what}\n{key}: every error with its traceback"
        else:
            title = f"{run.symbol} {run.name}: its strategy raised"
            body = f"{what}\nThe run goes on; {key} lists every error with its traceback."
        self.notify(body, title=title, severity="warning", timeout=15, markup=False)

    def _announce_errors(self) -> None:
        """A live run's first error, named while it trades (the log book got it from the bridge):
        a live run has no end to wait for. A backtest or walker names it at its end, once, so what
        the screen shows does not depend on how fast the machine ran it (the Runs pane and the
        Signals log show the errors as they come)."""
        for rid in list(self.state.logbook.first_error):
            run = self.state.runs.get(rid)
            if rid not in self._announced and run is not None and run.is_active and run.mode == "live":
                self._errors_toast(run, ended=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # a worker that died without reporting (cancelled, or an error before it could post)
        if event.worker.group == "runs" and event.state.name in ("ERROR", "CANCELLED"):
            run = self.state.runs.get(event.worker.name)
            if run is not None and run.is_active:
                error = event.worker.error
                self.post_message(RunFinished(run.id, error or RuntimeError("the run was cancelled")))

    def action_stop_run(self) -> None:
        selected = self.session.selected
        run = self.state.runs.get(selected) if selected else None
        if run is None or not run.is_active:
            self.notify("Select a running run to stop (arrows in the Runs pane).", severity="warning", markup=False)
            return
        if run.mode == "optimizer":
            self.notify(
                "An optimizer run cannot be stopped midway: it ends after its last source (each model "
                "call has its timeout from [llm]); nothing runs the program it writes.",
                severity="warning",
                markup=False,
            )
            return
        detail = "The backtest finishes the position it holds, then ends; its report keeps what it did."
        if run.mode == "live":
            detail = (
                "Live trading stops asking for signals and drops a limit entry still waiting. An open "
                "position is not closed: it stays saved on disk and is picked up again the next time "
                "this strategy runs live."
            )
        if run.mode == "walker":
            detail = (
                "The strategy under test finishes the position it holds, then ends; strategies not "
                "tested yet are skipped. The leaderboard and the walker report keep what was tested."
            )
        self.push_screen(
            ConfirmScreen(f"Stop {run.mode} {run.symbol} {run.name}?", detail, yes="Stop"),
            partial(self._stop_confirmed, run.id),
        )

    def _stop_confirmed(self, rid: str, yes: bool | None) -> None:
        run = self.state.runs.get(rid)
        if not yes or run is None or not run.is_active:
            return
        handle = self.session.handles.get(rid)
        if isinstance(handle, RemoteRun):
            handle.stop()  # its worker stops the run as below
        elif run.mode == "walker":
            engine.Walker.stop(run.symbol, run.name)
        elif run.mode == "live":
            engine.Live.stop(run.symbol, run.name)
        else:
            engine.Backtest.stop(run.symbol, run.name)
        run.status = "stopping"
        self._show(Part.RUNS | Part.HEADER)

    # ------------------------------------------------------------------ orders and accounts
    def _selected_live(self) -> RunView | None:
        selected = self.session.selected
        run = self.state.runs.get(selected) if selected else None
        return run if run is not None and run.mode == "live" and run.is_active else None

    def action_close_position(self) -> None:
        """``c``: the selected live run's position, closed at market after a preview of the exit
        (README "Orders and accounts": ``Live.close_position``)."""
        run = self._selected_live()
        positions = [p for p in self.state.positions_of(run.id) if not p.saved] if run is not None else []
        if run is None or not positions:
            self.notify(
                "Select a live run with an open position to close (arrows in the Runs pane).",
                severity="warning",
                markup=False,
            )
            return
        previews = [preview_close(p, self.state.slippage, self.state.fee) for p in positions]
        self.push_screen(
            ClosePreviewScreen(
                f"Close {run.symbol} {run.name} at market?",
                previews,
                "Net PnL: the trade after both fees. Estimated at the last price with the slippage and "
                "fees of the config; the exit order fills at the market's price when it is sent.",
            ),
            partial(self._close_confirmed, run.id),
        )

    def _close_confirmed(self, rid: str, yes: bool | None) -> None:
        run = self.state.runs.get(rid)
        if not yes or run is None:
            return
        if engine.Live.close_position(run.symbol, run.name):
            self.notify(f"Closing {run.symbol} {run.name} at market", title="Close", markup=False)
        else:
            self.notify(f"{run.symbol} {run.name} has no open position now", severity="warning", markup=False)

    def action_flatten(self) -> None:
        """``F``: every open live position of the selected live run's strategy (of every live run
        when none is selected), each previewed, closed at market (``Live.flatten``)."""
        run = self._selected_live()
        strategy = run.name if run is not None else None
        positions = self.state.live_positions(strategy)
        if not positions:
            self.notify("No open live position to flatten.", severity="warning", markup=False)
            return
        previews = [preview_close(p, self.state.slippage, self.state.fee) for p in positions]
        whose = f"of {strategy}" if strategy else "of every live run"
        self.push_screen(
            ClosePreviewScreen(
                f"Flatten: close {len(positions)} position{'s' if len(positions) > 1 else ''} {whose} at market?",
                previews,
                "Estimated at the last prices with the slippage and fees of the config. The runs keep "
                "trading: a new signal can open a position again (s stops a run).",
                yes="Flatten",
            ),
            partial(self._flatten_confirmed, strategy),
        )

    def _flatten_confirmed(self, strategy: str | None, yes: bool | None) -> None:
        if not yes:
            return
        asked = engine.Live.flatten(strategy)
        self.notify(f"Closing {len(asked)} position(s) at market", title="Flatten", markup=False)

    def action_clear_breaker(self) -> None:
        """``X``: a person decides to trade on after a circuit breaker tripped (the header shows
        it until then; README "Orders and accounts": ``Live.clear_breaker``)."""
        tripped = dict(self.state.breakers)
        if not tripped:
            self.notify("No circuit breaker has tripped.", markup=False)
            return
        lines = [f"{name}: {ev.breaker}{f' ({ev.reason})' if ev.reason else ''}" for name, ev in tripped.items()]
        self.push_screen(
            ConfirmScreen(
                "Clear the circuit breaker and allow new entries?",
                "\n".join([*lines, "The day's start and the peak are taken again from the equity now."]),
                yes="Clear",
                id="confirm-clear-breaker",
            ),
            lambda yes: self.run_worker(self._clear_breakers(list(tripped)), group="accounts") if yes else None,
        )

    async def _clear_breakers(self, names: list[str]) -> None:
        for name in names:
            try:
                event = await engine.Live.clear_breaker(name)
            except Exception as exc:
                self.notify(f"{name}: {exc}", title="Breaker not cleared", severity="error", markup=False)
                continue
            if event is not None:
                self._show(self.state.apply([event]))
            else:  # already clear in the book: the header stops saying it
                self.state.breakers.pop(name, None)
                self._show(Part.HEADER | Part.ACCOUNT)

    # ------------------------------------------------------------------ reports
    def action_dump_reports(self) -> None:
        """Every report of every run that has something in it, under the dump folder keyed by
        exchange, frame and symbol (``report_dump``); a toast says where, or that there is
        nothing to dump yet."""
        runs = [r for r in self.state.runs.values() if r.mode in ("backtest", "walker", "live")]

        def tested(walker: RunView) -> list[str]:
            view = self.state.walkers.get(walker.id)
            return [row.strategy for row in view.rows.values() if row.status == "done"] if view else []

        outcome = dump_reports(runs, tested, self.dump_dir)
        for path, why in outcome.failed:
            self.notify(f"{path}: {why}", title="Report not written", severity="error", timeout=10, markup=False)
        if outcome.nothing:
            self.notify(
                "Nothing to dump yet: no run has a trade, an event or a result to report (b starts a backtest).",
                severity="warning",
                markup=False,
            )
            return
        if outcome.written:
            skipped = f" ({outcome.empty} empty, not written)" if outcome.empty else ""
            self.notify(
                f"{len(outcome.written)} reports written to {self.dump_dir}/{skipped}", title="Reports", markup=False
            )

    def action_switch_tab(self, step: int) -> None:
        if self.dashboard is not None and self.dashboard is self.screen:
            self.dashboard.switch_tab(step)

    def action_toggle_zoom(self) -> None:
        if self.dashboard is not None and self.dashboard is self.screen:
            self.dashboard.toggle_zoom()

    def action_toggle_chart(self) -> None:
        if self.dashboard is not None and self.dashboard is self.screen:
            self.dashboard.toggle_chart()

    def action_open_reports(self) -> None:
        self.push_screen(ReportsScreen(self.dump_dir))

    def action_open_trades(self) -> None:
        """``i``: the trade inspector of the selected run (console/screens/trades.py)."""
        selected = self.session.selected
        run = self.state.runs.get(selected) if selected else None
        if run is None:
            self.notify("Select a run first (arrows in the Runs pane).", severity="warning", markup=False)
            return
        source = source_of(self.state, run)

        def follow() -> tuple[str, int] | None:  # while it changes, the inspector reads the trades again
            now = self.state.runs.get(run.id)
            return (now.status, now.trades) if now is not None else None

        # where the run's trades are: this engine, or the daemon's (console/trade_reader.py)
        self.push_screen(TradesScreen(source, reader=reader_of(self), follow=follow))

    def action_open_history(self) -> None:
        self.push_screen(HistoryScreen(self.dump_dir))

    def _after_the_last_paint(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` once the screen most likely shows what a run's end changed:
        ``AFTER_PAINT`` seconds later. ``call_after_refresh`` came too early: a widget's refresh
        reaches the screen on its own idle turn, and the callback often ran before the paint."""
        self.set_timer(AFTER_PAINT, callback, name="after-paint")

    def keep_due_history(self, *, now: bool = False) -> None:
        """Keep the finished backtests waiting for it in the history. They wait until the screen
        showed them done: reading a run's statistics (~4 ms for 5,000 trades) and the thread
        that writes them (holding the interpreter on and off) came between a run's end and its
        last paint. A run that starts first keeps them first (``_open_run``: its start may clear
        the pair's report stores), and so does leaving (``on_unmount``: ``now``, written before
        the console closes rather than by a thread that would not finish)."""
        due, self.history_due = self.history_due, []
        for run in due:
            self._keep_in_history(run, now=now)

    def _keep_in_history(self, run: RunView, *, now: bool = False) -> None:
        """A finished backtest's statistics and trades, kept under the dump folder for the
        history screen (``console/history.py``); a write that fails is a warning, not a crash."""
        try:
            stats = engine.Backtest.get_data(run.symbol, run.name)
        except Exception as exc:
            self._not_in_history(run, exc)
            return
        # the statistics are taken here, before another run of the pair can clear its stores (they
        # keep their own view of its trades); reading 5,000 trades and writing them (half a
        # second) is done off the event loop
        finished = self.clock()
        if now:  # the console is closing: no thread would finish
            self._save_history(run, stats, finished, here=True)
            return
        self.run_worker(
            partial(self._save_history, run, stats, finished), thread=True, group="history", exit_on_error=False
        )

    def _save_history(self, run: RunView, stats: Any, finished: datetime, here: bool = False) -> None:
        try:
            record = record_of(stats, run.name, run.symbol, run.exchange, run.frame, run.status, finished)
            save_record(self.dump_dir, record)
        except Exception as exc:
            if here:
                self._not_in_history(run, exc)
            else:
                self.call_from_thread(self._not_in_history, run, exc)

    def _not_in_history(self, run: RunView, exc: Exception) -> None:
        self.notify(
            f"{run.symbol} {run.name}: {type(exc).__name__}: {exc}",
            title="Run not kept in the history",
            severity="warning",
            markup=False,
        )

    def action_open_logs(self) -> None:
        if not isinstance(self.screen, LogScreen):
            self.clear_notifications()  # the log says all the toasts did, and they would cover it
            self.push_screen(LogScreen(self.state.logbook))

    def action_reload_project(self) -> None:
        """Load btk.toml and its strategy files again (issue 14 "Reload"). Runs in progress go on
        with what they started with; a broken edit shows the error screen, Esc goes back to the
        console on the project as it was (nothing of the broken edit stays registered)."""
        if self.project is None or self.dashboard is None:
            return
        if self.project.source is None:
            self.notify("The demo is built in: there is no btk.toml to reload.", severity="warning", markup=False)
            return
        outcome = reload_project(self.project, self.state.runs.values())
        if outcome.project is None:
            title = "The edit did not load; the console goes on as before"
            self.push_screen(ReloadErrorScreen(title, outcome.error or ""))
            return
        old, new = self.project, outcome.project
        if self.host is not None:
            self.host.reload()  # the waiting worker loaded the old edit
        problems = validate_keymap(new.keys)
        if not problems and new.keys != old.keys:
            self.keys = effective_keys(new.keys)
            self.set_keymap(self.keys)
        self.project = new
        self.dashboard.project_name = new.name
        counts = ", ".join(
            f"{len(names)} {one if len(names) == 1 else many}"
            for names, one, many in (
                (new.strategies, "strategy", "strategies"),
                (new.exchanges, "exchange", "exchanges"),
                (new.frames, "frame", "frames"),
                (new.walkers, "walker", "walkers"),
            )
        )
        kept = f"\nKept for runs still going: {', '.join(outcome.kept)}" if outcome.kept else ""
        notes = "\n" + "\n".join([*new.notes, *problems]) if new.notes or problems else ""
        self.notify(f"{counts}{kept}{notes}", title=f"Reloaded {new.source}", timeout=8, markup=False)
        self._show(Part.HEADER)

    # ------------------------------------------------------------------ look, help, quit
    def action_cycle_theme(self) -> None:
        names = list(THEME_NAMES)
        nxt = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else DEFAULT_THEME
        self.theme = nxt
        self._remember({"theme": nxt})
        self.notify(f"Theme: {nxt}", timeout=2, markup=False)

    def action_open_help(self) -> None:
        self.push_screen(HelpScreen(self.keys))

    def rebind(self, cid: str, key: str) -> str | None:
        """Move command ``cid`` to ``key``; returns why not, or None when done (and saved)."""
        keymap = {c: k for c, k in self.keys.items() if c != cid}
        taken = next((c for c, k in keymap.items() if key in k.split(",")), None)
        if taken is not None:
            return f"{key} is already {taken}'s key; rebind {taken} first"
        keymap[cid] = key
        problems = validate_keymap(keymap, self.KEYED)
        if problems:
            return problems[0].replace("[keys] ", "")
        self.keys = effective_keys(keymap, self.KEYED)
        self.set_keymap(self.keys)
        defaults = effective_keys({}, self.KEYED)
        remaps = {c: k for c, k in self.keys.items() if k != defaults[c]}
        if self.project is not None:
            # a binding btk.toml declares stays saved even when it is moved back to the default,
            # since the saved state overrides btk.toml's and an absent one would let it return
            declared = self.project.declared_keys
            remaps.update({c: k for c, k in self.keys.items() if c in declared and k != declared[c]})
            self.project.keys = remaps
            if self.save_settings_enabled:
                try:
                    save_settings(self.project, keys={**{c: None for c in defaults}, **remaps})
                except Exception as exc:
                    return f"Rebound for this session, but could not save it: {exc}"
        return None

    def get_system_commands(self, screen: Screen) -> Any:
        """Textual's own palette entries, only those that work here: its Quit left at once while
        live runs traded, its themes are not btk's and its Keys and Maximize duplicate btk's help
        and zoom (issue 14 item 9). Its Screenshot stays (saved under the dump folder)."""
        yield SystemCommand(
            "Screenshot",
            "Save an SVG screenshot of the screen under the dump folder",
            lambda: self.set_timer(0.1, self.deliver_screenshot),
        )

    async def action_quit(self) -> None:
        """Textual's ctrl+q: the same question as btk's quit while live runs trade."""
        self.action_request_quit()

    async def on_unmount(self) -> None:
        """ccxt's HTTP sessions belong to this event loop: close them before it ends."""
        self.keep_due_history(now=True)
        self.console_log.close()
        if self.host is not None:
            self.host.close()  # no worker outlives the console
        await engine.close_ccxt_exchanges()

    def action_request_quit(self) -> None:
        """Every way out (q, ctrl+q, the palette) comes here: while live runs trade, it asks."""
        live = self.state.active_live_runs()
        if not live:
            self.exit(0)
            return
        if isinstance(self.screen, ConfirmScreen) and self.screen.id == "confirm-quit":
            return  # already asking
        self.push_screen(
            ConfirmScreen(
                f"Quit while {len(live)} live run(s) are active?",
                "Open positions stay saved on disk and resume the next time their strategy runs live.",
                yes="Quit",
                id="confirm-quit",
            ),
            lambda yes: self.exit(0) if yes else None,
        )

    # ------------------------------------------------------------------ settings
    def _remember(self, ui: dict[str, Any]) -> None:
        if self.project is None:
            return
        self.project.ui.update(ui)
        if not self.save_settings_enabled:
            return
        try:
            save_settings(self.project, ui=ui)
        except Exception as exc:  # settings are a convenience: never lose the session over them
            self.notify(f"Could not save settings: {exc}", severity="warning", markup=False)
