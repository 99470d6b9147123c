"""BtkApp: the interactive console.

It owns the session's runs. Backtests run in Textual workers that only iterate the engine and
post a ``RunFinished`` message, so a failing run never takes the app down; the engine itself
hands the event loop back every few milliseconds, so keys stay responsive during a long run.
The bridge turns engine events into batches; the app folds them into ``DashboardState`` and
redraws only the panes that changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.timer import Timer
from textual.widgets import TabbedContent
from textual.worker import Worker

import engine
from themes import DEFAULT_THEME, STYLESHEET, THEME_NAMES, THEMES

from .bridge import EngineBridge
from .commands import COMMANDS, bindings, effective_keys, validate_keymap
from .messages import LiveRestored, RunFinished
from .project import Project
from .screens.dashboard import DashboardScreen
from .screens.dialogs import ALL, ConfirmScreen, ErrorScreen, HelpScreen, StartChoice, StartDialog
from .screens.reports import ReportsScreen
from .state import DashboardState, RunView, run_id
from .widgets.events import PartialPane, RiskPane
from .widgets.header import BtkHeader
from .widgets.heatmap import HeatmapPane
from .widgets.leaderboard import LeaderboardPane
from .widgets.panes import (
    EquityPane,
    PositionsPane,
    ProgressPane,
    RunsPane,
    ScheduledPane,
    SignalsPane,
)

RUN_PANES = (
    ("positions", PositionsPane),
    ("scheduled", ScheduledPane),
    ("log", SignalsPane),
    ("equity", EquityPane),
    ("walker", LeaderboardPane),
    ("risk", RiskPane),
    ("partial", PartialPane),
)
"""The panes drawn from (state, selected run), each with the part of the state it shows."""

SELECTION_PARTS = {"header", "equity", "positions", "scheduled", "log", "risk", "partial", "walker", "heatmap"}
"""What a new selection redraws."""

SELECTION_SETTLE_S = 0.1
"""The panes follow the selection when no other selection came for this long (a held arrow key
repeats faster), so a burst of key repeats costs one redraw of them, for the last selection."""


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


class BtkApp(App[int]):
    TITLE = "btk"
    CSS_PATH = str(STYLESHEET)
    BINDINGS = bindings()
    COMMANDS = App.COMMANDS | {BtkCommands}

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
        self.state = DashboardState(cfg["CC_PERCENT_SLIPPAGE"], cfg["CC_PERCENT_FEE"], cfg["CC_SCHEDULE_AWAIT_MINUTES"])
        self.handles: dict[str, Any] = {}  # of active runs: a finished run's handle is dropped
        self.selected_run: str | None = None
        self._selection_timer: Timer | None = None
        ui = project.ui if project is not None else {}
        self._wanted_theme = theme or ui.get("theme") or DEFAULT_THEME
        self.keys = effective_keys({})

    # ------------------------------------------------------------------ start-up
    def on_mount(self) -> None:
        for t in THEMES:
            self.register_theme(t)
        if self._wanted_theme not in THEME_NAMES:
            self.notify(
                f"Unknown theme {self._wanted_theme!r}; themes are {', '.join(THEME_NAMES)}", severity="warning"
            )
            self._wanted_theme = DEFAULT_THEME
        self.theme = self._wanted_theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.project_error is not None:
            self.push_screen(ErrorScreen("btk-console could not load the project", self.project_error))
            return
        keymap = dict(self.project.keys) if self.project else {}
        problems = validate_keymap(keymap)
        if problems:
            self.notify("\n".join(problems), title="Key settings ignored", severity="error", timeout=10)
            keymap = {}
        self.keys = effective_keys(keymap)
        self.set_keymap(self.keys)
        self.push_screen(DashboardScreen())

    # ------------------------------------------------------------------ engine events and redraws
    def handle_batch(self, events: list[Any]) -> None:
        """Fold in a batch and redraw what it changed. While nothing runs this touches only the
        header's clock: a long session's finished runs cost nothing per batch."""
        self.state.tick_live(engine.get_clock().now())  # live ages and clocks move every redraw
        changed = self.state.apply(events) if events else set()
        if self.state.active_live_runs():
            changed |= {"positions", "scheduled"}
        polled = False
        for rid, handle in self.handles.items():  # the handles of active runs only
            run = self.state.runs.get(rid)
            if run is None or run.status not in ("running", "stopping") or run.mode == "live":
                continue
            changed.add("progress")  # its elapsed time moves
            st = handle.status()
            if (st.processed_frames, st.total_frames, st.progress) != (run.processed, run.total, run.progress):
                run.processed, run.total, run.progress = st.processed_frames, st.total_frames, st.progress
                polled = True
            if run.mode == "walker" and self._poll_walker(run, st):
                changed.add("walker")
        if polled:
            changed |= {"runs", "progress"}
        self.redraw(changed | {"header"})

    def _poll_walker(self, run: RunView, st: Any) -> bool:
        """The walker's strategy under test and how far it is (the leaderboard's "testing" row)."""
        view = self.state.walkers.get(run.id)
        if view is None or st.current is None:
            return False
        row = view.rows.get(st.current)
        done = sum(1 for r in view.rows.values() if r.status in ("done", "failed"))
        share = max(0.0, st.progress * len(view.rows) - done)
        changed = row is not None and (row.status == "waiting" or abs(view.current_progress - share) >= 0.01)
        if row is not None and row.status == "waiting":
            row.status = "testing"
        view.current_progress = min(share, 1.0)
        return changed

    def select_run(self, rid: str | None) -> None:
        """The header follows the selection at once; the panes of the run follow once the keys
        stop (key repeats queued behind a slow redraw would otherwise redraw every pane once per
        key, for runs nobody looks at any more)."""
        if rid == self.selected_run:
            return
        self.selected_run = rid
        self.redraw({"header"})
        if self._selection_timer is None:
            self._selection_timer = self.set_timer(SELECTION_SETTLE_S, self._selection_settled, name="selection")
        else:
            self._selection_timer.reset()

    def _selection_settled(self) -> None:
        self._selection_timer = None
        self.redraw(SELECTION_PARTS)

    def _dashboard(self) -> DashboardScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen):
                return screen
        return None

    def redraw(self, changed: set[str]) -> None:
        screen = self._dashboard()
        if screen is None or not screen.is_mounted:
            return
        state, run = self.state, self.selected_run
        now = self.clock()
        everything = not changed
        if everything or "runs" in changed:
            screen.query_one(RunsPane).sync(state)
        if everything or "progress" in changed:
            screen.query_one(ProgressPane).refresh_from(state, now.timestamp())
        for part, pane in RUN_PANES:
            if everything or part in changed:
                screen.query_one(pane).refresh_from(state, run)
        heatmap_shown = screen.query_one("#analysis", TabbedContent).active == "tab-heatmap"
        if everything or (("heatmap" in changed or "equity" in changed) and heatmap_shown):
            screen.query_one(HeatmapPane).refresh_from(state, run)
        name = self.project.name if self.project else "btk"
        live = len(state.active_live_runs())
        selected = state.runs.get(run) if run else None
        screen.query_one(BtkHeader).show(selected, name, now, live, state.close_only)

    def _theme_changed(self, _theme: Any) -> None:
        screen = self._dashboard()
        if screen is not None and screen.is_mounted:
            screen.query_one(SignalsPane).restyle(self.state, self.selected_run)
            screen.query_one(RiskPane).restyle(self.state, self.selected_run)
            screen.query_one(PartialPane).restyle(self.state, self.selected_run)
            screen.query_one(RunsPane).sync(self.state)
            self.redraw(set())

    # ------------------------------------------------------------------ runs
    def action_start(self, mode: str) -> None:
        project = self.project
        if project is None:
            return
        names = project.walkers if mode == "walker" else project.strategies
        descriptions = {}
        if mode == "walker":
            if not names:
                self.notify(
                    "This project has no walkers: add a [walkers.NAME] section to btk.toml.", severity="warning"
                )
                return
            for w in engine.list_walkers():
                descriptions[w.walker_name] = (
                    f"{len(w.strategies)} strategies by {w.metric} · {w.exchange_name} · {w.frame_name}"
                )
        dialog = StartDialog(
            mode,
            symbols=list(project.symbols),
            strategies=list(names) if names else [],
            exchanges=list(project.exchanges),
            frames=list(project.frames),
            last=dict(project.ui.get(f"last_{mode}", {})),
            note=self._live_note() if mode == "live" else "",
            descriptions=descriptions,
        )
        self.push_screen(dialog, self._start_chosen)

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
        symbols = list(self.project.symbols) if choice.symbol == ALL else [choice.symbol]
        if choice.mode == "live":
            started = sum(self.start_live(symbol, choice.strategy, choice.exchange) for symbol in symbols)
            if started:
                self.redraw(set())
            return
        if choice.mode == "walker":
            started = sum(self.start_walker(symbol, choice.strategy) for symbol in symbols)
            if started:
                self.redraw(set())
            return
        strategies = list(self.project.strategies) if choice.strategy == ALL else [choice.strategy]
        started = 0
        for symbol in symbols:
            for strategy in strategies:
                started += self.start_backtest(symbol, strategy, choice.exchange, choice.frame)
        if started:
            self.redraw(set())

    def _open_run(self, start: Callable[[], Any]) -> Any | None:
        """Start a run through the engine; a refusal (unknown name, bad config) is a notification."""
        try:
            return start()
        except Exception as exc:
            self.notify(str(exc), title="Cannot start", severity="error", timeout=8)
            return None

    def _drive_run(self, rid: str, handle: Any) -> None:
        self.handles[rid] = handle
        self.run_worker(self._drive(rid, handle), name=rid, group="runs", exit_on_error=False)

    def start_backtest(self, symbol: str, strategy: str, exchange: str, frame: str) -> bool:
        rid = run_id("backtest", symbol, strategy)
        old = self.state.runs.get(rid)
        if old is not None and old.is_active:
            self.notify(f"{symbol} {strategy} is already running", severity="warning")
            return False
        handle = self._open_run(
            lambda: engine.Backtest.run(symbol, strategy_name=strategy, exchange_name=exchange, frame_name=frame)
        )
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
        if self.selected_run is None:
            self.selected_run = rid
        self._drive_run(rid, handle)
        return True

    def start_walker(self, symbol: str, walker: str) -> bool:
        """Start ``walker`` on ``symbol``: its leaderboard fills as each strategy finishes."""
        rid = run_id("walker", symbol, walker)
        old = self.state.runs.get(rid)
        if old is not None and old.is_active:
            self.notify(f"{walker} on {symbol} is already running", severity="warning")
            return False
        busy = [r.name for r in self.state.runs.values() if r.mode == "backtest" and r.symbol == symbol and r.is_active]
        schema = next((w for w in engine.list_walkers() if w.walker_name == walker), None)
        if schema is None:
            self.notify(f"walker {walker} is not registered", title="Cannot start", severity="error")
            return False
        clash = sorted(set(busy) & set(schema.strategies))
        if clash:  # one strategy instance per (symbol, strategy): the two runs would collide
            self.notify(
                f"{', '.join(clash)} on {symbol} is backtesting now; stop it or wait for it first",
                title="Cannot start the walker",
                severity="warning",
            )
            return False
        handle = self._open_run(lambda: engine.Walker.run(symbol, walker_name=walker))
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
        self.selected_run = rid
        screen = self._dashboard()
        if screen is not None and screen.is_mounted:  # show the leaderboard it is about to fill
            screen.query_one("#analysis", TabbedContent).active = "tab-walker"
        self._drive_run(rid, handle)
        return True

    def _live_note(self) -> str:
        return (
            f"Real time, one tick a minute. State is saved under {self.dump_dir / 'data'}: "
            "an open position survives a crash or a stop and resumes on the next start."
        )

    def start_live(self, symbol: str, strategy: str, exchange: str) -> bool:
        """Trade ``strategy`` on ``symbol`` in real time; what an earlier process saved comes back
        first (the worker posts it before the first tick)."""
        rid = run_id("live", symbol, strategy)
        old = self.state.runs.get(rid)
        if old is not None and old.is_active:
            self.notify(f"{symbol} {strategy} is already trading live", severity="warning")
            return False

        def open_live() -> Any:
            engine.set_base_dir(self.dump_dir / "data")
            try:
                return engine.Live.run(symbol, strategy_name=strategy, exchange_name=exchange)
            except engine.PairQuarantinedError as exc:
                self._quarantine_notice(rid, exc)
                return None

        handle = self._open_run(open_live)
        if handle is None:
            return False
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
        self.selected_run = rid
        self._drive_run(rid, handle)
        return True

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
        )
        self.redraw({"log"})

    def on_live_restored(self, message: LiveRestored) -> None:
        changed = self.state.restore(message.run_id, message.rows, message.now)
        run = self.state.runs.get(message.run_id)
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
            )
        self.redraw(changed)

    async def _drive(self, rid: str, handle: Any) -> None:
        """Run one run to its end; the worker only reports back with messages. A live run first
        restores what an earlier process saved, and says what came back before its first tick."""
        try:
            if isinstance(handle, engine.LiveHandle):
                restored = await handle.restore()
                self.post_message(LiveRestored(rid, restored, engine.get_clock().now()))
            async for _ in handle:
                pass
        except Exception as exc:
            self.post_message(RunFinished(rid, exc))
            return
        self.post_message(RunFinished(rid, None))

    def on_run_finished(self, message: RunFinished) -> None:
        run = self.state.runs.get(message.run_id)
        if run is None:
            return
        screen = self._dashboard()
        if screen is not None and screen.is_mounted:  # the run's last events first
            self.state.apply(screen.query_one(EngineBridge).drain())
        handle = self.handles.pop(message.run_id, None)  # nothing of a finished run is polled again
        if handle is not None and run.mode != "live":
            st = handle.status()
            run.processed, run.total = st.processed_frames, st.total_frames
        run.finished = self.clock().timestamp()
        self.state.finish_run(run.id)
        if message.error is not None:
            run.status, run.error = "failed", f"{type(message.error).__name__}: {message.error}"
            if isinstance(message.error, engine.PairQuarantinedError):
                self._quarantine_notice(run.id, message.error)
            else:
                self.notify(run.error, title=f"{run.symbol} {run.name} failed", severity="error", timeout=10)
        else:
            # a stopped run ends where it was: its progress and its "stopped" say it did not finish
            run.status = "stopped" if run.status == "stopping" else "done"
            if run.status == "done":
                run.progress = 1.0
        self.redraw(set())  # everything: the run's last events were just folded in

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # a worker that died without reporting (cancelled, or an error before it could post)
        if event.worker.group == "runs" and event.state.name in ("ERROR", "CANCELLED"):
            run = self.state.runs.get(event.worker.name)
            if run is not None and run.is_active:
                error = event.worker.error
                self.post_message(RunFinished(run.id, error or RuntimeError("the run was cancelled")))

    def action_stop_run(self) -> None:
        run = self.state.runs.get(self.selected_run) if self.selected_run else None
        if run is None or not run.is_active:
            self.notify("Select a running run to stop (arrows in the Runs pane).", severity="warning")
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
        if run.mode == "walker":
            engine.Walker.stop(run.symbol, run.name)
        elif run.mode == "live":
            engine.Live.stop(run.symbol, run.name)
        else:
            engine.Backtest.stop(run.symbol, run.name)
        run.status = "stopping"
        self.redraw({"runs", "header"})

    # ------------------------------------------------------------------ reports
    def action_dump_reports(self) -> None:
        """Every report of every run, under the dump folder; a toast says where. A walker adds its
        comparison report and the reports of each strategy it tested."""
        pairs: dict[tuple[str, str], None] = {}  # (symbol, strategy), in run order
        walkers: list[RunView] = []
        live: list[RunView] = []
        for r in self.state.runs.values():
            if r.mode == "backtest":
                pairs[(r.symbol, r.name)] = None
            elif r.mode == "live":
                live.append(r)
            elif r.mode == "walker":
                walkers.append(r)
                view = self.state.walkers.get(r.id)
                for row in view.rows.values() if view else ():
                    if row.status == "done":
                        pairs[(r.symbol, row.strategy)] = None
        if not pairs and not walkers and not live:
            self.notify("Nothing to dump yet: run a backtest (b) or a walker (w) first.", severity="warning")
            return
        symbols_of: dict[str, set[str]] = {}
        for symbol, strategy in pairs:
            symbols_of.setdefault(strategy, set()).add(symbol)
        written: list[str] = []
        root = self.dump_dir
        for symbol, strategy in pairs:
            several = len(symbols_of[strategy]) > 1
            sub = (lambda kind: root / kind / symbol) if several else (lambda kind: root / kind)  # noqa: B023
            paths = (
                engine.Backtest.dump(symbol, strategy, path=str(sub("backtest"))),
                engine.Schedule.dump(symbol, strategy, True, path=str(sub("schedule"))),
                engine.Performance.dump(symbol, strategy, True, path=str(sub("performance"))),
                engine.Partial.dump(symbol, strategy, True, path=str(root / "partial")),
                engine.Risk.dump(symbol, strategy, True, path=str(root / "risk")),
            )
            written.extend(p for p in paths if p)
        for strategy in symbols_of:
            path = engine.Heat.dump(strategy, True, path=str(root / "heatmap"))
            if path:
                written.append(path)
        for w in walkers:
            several = sum(1 for x in walkers if x.name == w.name) > 1
            folder = root / "walker" / w.symbol if several else root / "walker"
            try:
                path = engine.Walker.dump(w.symbol, w.name, path=str(folder))
            except ValueError:  # stopped before any strategy was tested: nothing to report
                continue
            if path:
                written.append(path)
        for r in live:  # live reports have their own folder: their names would meet the backtest's
            several = sum(1 for x in live if x.name == r.name) > 1
            folder = root / "live" / r.symbol if several else root / "live"
            paths = (
                engine.Live.dump(r.symbol, r.name, path=str(folder)),
                engine.Schedule.dump(r.symbol, r.name, False, path=str(folder / "schedule")),
                engine.Performance.dump(r.symbol, r.name, False, path=str(folder / "performance")),
                engine.Partial.dump(r.symbol, r.name, False, path=str(root / "live" / "partial")),
                engine.Risk.dump(r.symbol, r.name, False, path=str(root / "live" / "risk")),
            )
            written.extend(p for p in paths if p)
        self.notify(f"{len(written)} reports written to {root}/", title="Reports")

    def action_switch_tab(self, step: int) -> None:
        screen = self._dashboard()
        if screen is None or screen is not self.screen:
            return
        tabs = screen.query_one("#analysis", TabbedContent)
        ids = [pane.id for pane in tabs.query("TabPane") if pane.id]
        if tabs.active in ids:
            tabs.active = ids[(ids.index(tabs.active) + step) % len(ids)]

    def action_open_reports(self) -> None:
        self.push_screen(ReportsScreen(self.dump_dir))

    # ------------------------------------------------------------------ look, help, quit
    def action_cycle_theme(self) -> None:
        names = list(THEME_NAMES)
        nxt = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else DEFAULT_THEME
        self.theme = nxt
        self._remember({"theme": nxt})
        self.notify(f"Theme: {nxt}", timeout=2)

    def action_open_help(self) -> None:
        self.push_screen(HelpScreen(self.keys))

    def rebind(self, cid: str, key: str) -> str | None:
        """Move command ``cid`` to ``key``; returns why not, or None when done (and saved)."""
        keymap = {c: k for c, k in self.keys.items() if c != cid}
        taken = next((c for c, k in keymap.items() if key in k.split(",")), None)
        if taken is not None:
            return f"{key} is already {taken}'s key; rebind {taken} first"
        keymap[cid] = key
        problems = validate_keymap(keymap)
        if problems:
            return problems[0].replace("[keys] ", "")
        self.keys = effective_keys(keymap)
        self.set_keymap(self.keys)
        defaults = effective_keys({})
        remaps = {c: k for c, k in self.keys.items() if k != defaults[c]}
        if self.project is not None:
            self.project.keys = remaps
            if self.save_settings_enabled:
                try:
                    from .settings import save_settings

                    save_settings(self.project, keys={**{c: None for c in defaults}, **remaps})
                except Exception as exc:
                    return f"Rebound for this session, but could not save it: {exc}"
        return None

    async def on_unmount(self) -> None:
        """ccxt's HTTP sessions belong to this event loop: close them before it ends."""
        await engine.close_ccxt_exchanges()

    def action_request_quit(self) -> None:
        live = self.state.active_live_runs()
        if not live:
            self.exit(0)
            return
        self.push_screen(
            ConfirmScreen(
                f"Quit while {len(live)} live run(s) are active?",
                "Open positions stay saved on disk and resume the next time their strategy runs live.",
                yes="Quit",
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
            from .settings import save_settings

            save_settings(self.project, ui=ui)
        except Exception as exc:  # settings are a convenience: never lose the session over them
            self.notify(f"Could not save settings: {exc}", severity="warning")
