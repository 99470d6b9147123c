"""The dashboard: runs, progress and equity on the left; positions, scheduled entries, the signal
log and the tabs of analysis panes (walker leaderboard, risk, partial, heatmap) on the right; the
key footer below.

The screen is the controller of its panes. It reacts to typed messages from below: the bridge's
``EngineBatch`` (fold it into the session, redraw what changed), the Runs pane's ``Selected``
(follow the cursor) and a tab coming to the front. The app, above, changes the session (a run
started, ended or is stopping) and calls ``show(parts)``: a call, not a message, so the redraw
happens where it did when the app drew the panes itself (a finished run's last redraw lands
before anything queued after it). Which pane draws which ``Part`` of the state is declared once,
below, by pane type; nothing outside this screen touches its widgets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Footer, TabbedContent, TabPane

import engine

from ..bridge import EngineBridge
from ..messages import EngineBatch
from ..research.pane import ResearchPane
from ..session import Session
from ..state import SELECTION, Part
from ..widgets.account import AccountPane
from ..widgets.base import Pane
from ..widgets.events import PartialPane, RiskPane
from ..widgets.header import BtkHeader
from ..widgets.heatmap import HeatmapPane
from ..widgets.leaderboard import LeaderboardPane
from ..widgets.panes import (
    EquityPane,
    PositionsPane,
    ProgressPane,
    RunsPane,
    ScheduledPane,
    SignalsPane,
)

RUN_PANES: tuple[tuple[Part, type[Any]], ...] = (
    (Part.POSITIONS, PositionsPane),
    (Part.SCHEDULED, ScheduledPane),
    (Part.LOG, SignalsPane),
    (Part.EQUITY, EquityPane),
    (Part.WALKER, LeaderboardPane),
    (Part.RISK, RiskPane),
    (Part.PARTIAL, PartialPane),
    (Part.ACCOUNT, AccountPane),
)
"""The panes drawn from (state, selected run), each with the part of the state it shows."""

ANALYSIS_TABS: tuple[tuple[str, str, type[Widget]], ...] = (
    ("Walker", "tab-walker", LeaderboardPane),
    ("Risk", "tab-risk", RiskPane),
    ("Partial", "tab-partial", PartialPane),
    ("Heatmap", "tab-heatmap", HeatmapPane),
)
"""The analysis tabs: title, tab id, and the pane each holds."""

RESEARCH_TAB = ("Research", "tab-research", ResearchPane)
"""Shown when the project has a strategy that declares params: a sweep's progress and results
(console/research/)."""

TAB_OF = {pane: tab for _, tab, pane in (*ANALYSIS_TABS, RESEARCH_TAB)}

PART_OF_TAB = {TAB_OF[pane]: part for part, pane in RUN_PANES if pane in TAB_OF} | {TAB_OF[HeatmapPane]: Part.HEATMAP}
"""What to draw when a tab comes to the front: its pane is drawn only while it is shown."""

RESTYLED = (SignalsPane, RiskPane, PartialPane)
"""Panes whose shown lines carry theme colours: drawn again after a theme change."""

SELECTION_SETTLE_S = 0.1
"""The panes follow the selection when no other selection came for this long (a held arrow key
repeats faster), so a burst of key repeats costs one redraw of them, for the last selection."""


FOLD_SLICE = 1_000
"""Events folded at a time: a batch of the usual size (a busy strategy's quarter of a second) is
folded whole, as before."""
FOLD_BUDGET_S = 0.02
"""How long one turn of folding may hold the event loop before the rest waits for the next turn."""


class DashboardScreen(Screen):
    ALLOW_IN_MAXIMIZED_VIEW = "Footer, BtkHeader"  # a zoomed pane keeps the header's run and clock

    def __init__(
        self,
        session: Session,
        *,
        project_name: str,
        wall_clock: Callable[[], datetime],
        refresh_interval: float = 0.25,
        research: bool = False,
    ) -> None:
        super().__init__()
        self.session = session
        self.tabs = (*ANALYSIS_TABS, RESEARCH_TAB) if research else ANALYSIS_TABS
        self.project_name = project_name
        self.source: str | None = None  # where the engine runs when not here (console/attach.py)
        self.wall_clock = wall_clock
        self.refresh_interval = refresh_interval
        self._selection_timer: Timer | None = None
        # the run under the Runs cursor as this screen last knew it: a selection the app made (a
        # walker or live run starting) differs from it, and the cursor is moved there; comparing
        # with the cursor itself would move it back from a key press whose Selected is queued
        self._cursor_run: str | None = None
        self._undrawn = Part.NONE  # parts that folded batches changed since the panes were last drawn
        self._drawn_early = Part.NONE  # empty panes drawn as a fold changed them, since the last drawing
        self._backlog: list[Any] = []  # events taken from the bridge and not folded yet (``_fold_some``)

    def compose(self) -> ComposeResult:
        yield BtkHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield RunsPane()
                yield ProgressPane()
                yield AccountPane()  # shown while there is an account (live)
                yield EquityPane()
            with Vertical(id="right"):
                yield PositionsPane()
                yield ScheduledPane()
                yield SignalsPane()
                with TabbedContent(id="analysis"):
                    for title, tab, pane in self.tabs:
                        with TabPane(title, id=tab):
                            yield pane()
        yield Footer(compact=True, show_command_palette=False)
        self.bridge = EngineBridge(interval=self.refresh_interval)
        yield self.bridge

    def on_mount(self) -> None:
        self.query_one(RunsPane).query_one(DataTable).focus()
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        # after the mount (``redraw`` draws nothing before): what the session held as the screen
        # came up (saved live positions listed at start-up) is drawn at once
        self.call_after_refresh(self.redraw, Part.ALL)

    # ------------------------------------------------------------------ messages
    @on(EngineBatch)
    async def _engine_batch(self, message: EngineBatch) -> None:
        started = time.perf_counter()
        self._undrawn |= self._fold_some(message.take(), started)
        if self._backlog:  # the rest in another turn of the loop, behind whatever waits (a key press)
            await asyncio.sleep(0)
            self.post_message(EngineBatch(self.bridge.drain, message.draw))
        if message.draw and self.bridge.may_draw():
            parts, self._undrawn, self._drawn_early = self._undrawn, Part.NONE, Part.NONE
            self.redraw(parts | Part.HEADER)  # the header always: its clock moves
            self.bridge.drew(time.perf_counter() - started)
        else:
            self._draw_layout_changes()

    def _draw_layout_changes(self) -> None:
        """Draw now the panes whose drawing would lay out the screen: an empty pane whose note is
        a line of its own (``Pane.NOTE_IN_BODY``: the Account pane) that folded events changed
        (once between two drawings), and a pane whose scrollbar would come or go
        (``Pane.scrollbar_due``). Both change what is laid out, which Textual
        does for the whole screen: done here it happens early in a run, not in the paint that
        shows a short run done (then a whole screen's paint, not its changes). The dashboard's
        own panes do neither as a backtest fills them (notes drawn in their bodies, logs with a
        scrollbar from the start): nothing is laid out while a run goes on."""
        shown_tab = self.query_one(TabbedContent).active
        state, run = self.session.state, self.session.selected
        due = Part.NONE
        for part, kind in RUN_PANES:
            if part not in self._undrawn or TAB_OF.get(kind, shown_tab) != shown_tab:
                continue
            pane = self.query_one(kind)
            if (pane.fills_with_layout and part not in self._drawn_early) or pane.scrollbar_due(state, run):
                due |= part
        if due:
            self._undrawn &= ~due
            self._drawn_early |= due
            self.redraw(due)

    @on(RunsPane.Selected)
    def _run_selected(self, message: RunsPane.Selected) -> None:
        self.select(message.run_id)

    @on(SignalsPane.TradePicked)
    def _trade_picked(self, message: SignalsPane.TradePicked) -> None:
        self.query_one(EquityPane).pick_trade(message.signal_id, self.session.state, self.session.selected)

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        part = PART_OF_TAB.get(event.pane.id or "")
        if part is not None:  # an analysis pane is drawn only while it is shown (``redraw``)
            self.redraw(part)

    # ------------------------------------------------------------------ what the app asks
    def show(self, parts: Part, reveal: type[Widget] | None = None) -> None:
        """The app changed the session: redraw ``parts``; ``reveal`` is the type of a pane whose
        analysis tab comes to the front (a walker's leaderboard as it starts)."""
        if not self.is_mounted:
            return
        if reveal is not None:
            self.query_one(TabbedContent).active = TAB_OF[reveal]
        self.redraw(parts)

    def _fold_some(self, events: list[Any], started: float) -> Part:
        """Fold the backlog, then ``events``, ``FOLD_SLICE`` at a time until ``FOLD_BUDGET_S`` has
        passed since ``started``; what is left stays in the backlog for another turn. A fast run
        hands the console thousands of events a batch: folded at once they held the event loop
        for ~0.4 s, and a key pressed meanwhile waited that long (issue 14 item 2)."""
        todo = self._backlog + events if self._backlog else events
        now = engine.get_clock().now()
        changed = Part.NONE
        i, n = 0, len(todo)
        while True:  # once at least: folding nothing still polls the runs' progress
            j = i + FOLD_SLICE if i + FOLD_SLICE < n else n
            changed |= self.session.fold(todo[i:j], now)
            i = j
            if i >= n or time.perf_counter() - started > FOLD_BUDGET_S:
                break
        self._backlog = todo[i:]
        return changed

    def catch_up(self) -> bool:
        """Fold what the bridge holds after the backlog, for one turn's budget; True when nothing
        is left (a finished run is shown done once its last events are in its numbers)."""
        self._undrawn |= self._fold_some(self.bridge.drain(), time.perf_counter())
        return not self._backlog

    def fold(self, events: list[Any]) -> None:
        """Fold in the backlog and a batch of engine events, and redraw what they and the batches
        folded since the last drawing changed (the header always: its clock moves)."""
        parts, self._undrawn = self._undrawn, Part.NONE
        events, self._backlog = self._backlog + events, []
        self.redraw(parts | self.session.fold(events, engine.get_clock().now()) | Part.HEADER)

    def drain(self) -> list[Any]:
        """Every event not folded yet, oldest first: the backlog, then what the bridge holds."""
        events, self._backlog = self._backlog + self.bridge.drain(), []
        return events

    def toggle_zoom(self) -> bool:
        """Fill the screen with the pane that has the focus, or bring the dashboard back (issue 14
        item 4: at 80x24 a pane's columns or lines that do not fit are read zoomed). Returns
        whether a pane is zoomed now."""
        if self.maximized is not None:
            self.minimize()
            return False
        chain = self.focused.ancestors_with_self if self.focused is not None else []
        pane = next((w for w in chain if isinstance(w, Pane)), None)
        if pane is None:
            return False
        return self.maximize(pane, container=False)

    def toggle_chart(self) -> str:
        """``v``: the Equity pane shows the candles of the selected run, or its equity again."""
        return self.query_one(EquityPane).toggle_view(self.session.state, self.session.selected)

    def switch_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [tab for _, tab, _ in self.tabs]
        if tabs.active in ids:
            tabs.active = ids[(ids.index(tabs.active) + step) % len(ids)]

    # ------------------------------------------------------------------ selection and redraws
    def select(self, rid: str | None) -> None:
        """The header follows the selection at once; the panes of the run follow once the keys
        stop (key repeats queued behind a slow redraw would otherwise redraw every pane once per
        key, for runs nobody looks at any more)."""
        self._cursor_run = rid
        if rid == self.session.selected:
            return
        self.session.selected = rid
        self.redraw(Part.HEADER)
        if self._selection_timer is None:
            self._selection_timer = self.set_timer(SELECTION_SETTLE_S, self._selection_settled, name="selection")
        else:
            self._selection_timer.reset()

    def _selection_settled(self) -> None:
        self._selection_timer = None
        self.redraw(SELECTION)

    def redraw(self, parts: Part) -> None:
        """Draw ``parts`` of the session's state again; ``Part.ALL`` draws every pane. An analysis
        pane is drawn only while its tab is shown (``_tab_activated`` draws it when it comes to
        the front): filled for the first time while hidden (a short run's panes are first drawn
        at its end), a pane showed its table instead of its empty line, and that change of
        ``display`` laid out the whole screen in the run's last paint."""
        if not self.is_mounted:
            return
        state, run = self.session.state, self.session.selected
        now = self.wall_clock()
        if Part.RUNS in parts:
            runs = self.query_one(RunsPane)
            runs.sync(state)
            if run is not None and run != self._cursor_run and run in state.runs:
                self._cursor_run = run
                runs.highlight(run)
        if Part.PROGRESS in parts:
            self.query_one(ProgressPane).refresh_from(state, now.timestamp())
        shown_tab = self.query_one(TabbedContent).active
        for part, pane in RUN_PANES:
            if part in parts and TAB_OF.get(pane, shown_tab) == shown_tab:
                self.query_one(pane).refresh_from(state, run)
        if parts & (Part.HEATMAP | Part.EQUITY) and shown_tab == TAB_OF[HeatmapPane]:
            self.query_one(HeatmapPane).refresh_from(state, run)
        live = len(state.active_live_runs())
        selected = state.runs.get(run) if run else None
        self.query_one(BtkHeader).show(selected, self.project_name, now, live, state.alert(), self.source)

    def _theme_changed(self, _theme: Any) -> None:
        if self.is_mounted:
            state, run = self.session.state, self.session.selected
            for pane in RESTYLED:
                self.query_one(pane).restyle(state, run)
            self.query_one(RunsPane).sync(state)
            self.redraw(Part.ALL)
