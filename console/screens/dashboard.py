"""The dashboard: runs, progress and equity on the left; positions, scheduled entries, the signal
log and the tabs of analysis panes (walker leaderboard, risk, partial, heatmap) on the right; the
key footer below."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from ..bridge import EngineBridge
from ..messages import EngineBatch
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


class DashboardScreen(Screen):
    def compose(self) -> ComposeResult:
        yield BtkHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield RunsPane()
                yield ProgressPane()
                yield EquityPane()
            with Vertical(id="right"):
                yield PositionsPane()
                yield ScheduledPane()
                yield SignalsPane()
                with TabbedContent(id="analysis"):
                    with TabPane("Walker", id="tab-walker"):
                        yield LeaderboardPane()
                    with TabPane("Risk", id="tab-risk"):
                        yield RiskPane()
                    with TabPane("Partial", id="tab-partial"):
                        yield PartialPane()
                    with TabPane("Heatmap", id="tab-heatmap"):
                        yield HeatmapPane()
        yield Footer(compact=True, show_command_palette=False)
        yield EngineBridge(interval=self.app.refresh_interval)

    def on_mount(self) -> None:
        self.query_one("#runs-table").focus()
        self.app.redraw(set())

    def on_engine_batch(self, message: EngineBatch) -> None:
        self.app.handle_batch(message.take())

    def on_runs_pane_selected(self, message: RunsPane.Selected) -> None:
        self.app.select_run(message.run_id)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-heatmap":  # the heatmap is only computed while it is shown
            self.app.redraw({"heatmap"})
