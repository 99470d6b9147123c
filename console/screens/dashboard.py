"""The dashboard: runs, progress and equity on the left; positions, scheduled entries, the signal
log and the later-feature tabs on the right; the key footer below."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from ..bridge import EngineBridge
from ..messages import EngineBatch
from ..widgets.header import BtkHeader
from ..widgets.panes import (
    EquityPane,
    LaterPane,
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
                with Vertical(id="more", classes="pane"), TabbedContent(id="later"):
                    with TabPane("Walker", id="tab-walker"):
                        yield LaterPane("Walker leaderboard: strategies ranked side by side.", id="leaderboard")
                    with TabPane("Risk", id="tab-risk"):
                        yield LaterPane("Risk rejections: signals your risk profiles refused.", id="risk")
                    with TabPane("Partial", id="tab-partial"):
                        yield LaterPane("Partial milestones: 10 %..100 % of the way to TP or SL.", id="partial")
                    with TabPane("Heatmap", id="tab-heatmap"):
                        yield LaterPane("Heatmap: a strategy's results per symbol.", id="heatmap")
        yield Footer(compact=True, show_command_palette=False)
        yield EngineBridge(interval=self.app.refresh_interval)

    def on_mount(self) -> None:
        self.query_one("#runs-table").focus()
        self.app.redraw(set())

    def on_engine_batch(self, message: EngineBatch) -> None:
        self.app.handle_batch(message.events)

    def on_runs_pane_selected(self, message: RunsPane.Selected) -> None:
        self.app.select_run(message.run_id)
