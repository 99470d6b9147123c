"""The reports browser: the markdown files under the dump folder, newest first, read in-app."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, MarkdownViewer, OptionList, Static
from textual.widgets.option_list import Option


def report_files(root: Path) -> list[Path]:
    """Every .md file under ``root``, newest first (ties by name, so the order is stable)."""
    if not root.exists():
        return []
    files = [p for p in root.rglob("*.md") if p.is_file()]
    return sorted(files, key=lambda p: (-p.stat().st_mtime, str(p)))


class ReportsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, root: Path) -> None:
        super().__init__(id="reports-screen")
        self.root = root
        self.files: list[Path] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="reports-body"):
            yield OptionList(id="report-list")
            yield MarkdownViewer("", id="report-view", show_table_of_contents=False)
        yield Static("", id="report-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#report-list").border_title = f"Reports in {self.root}"
        self.action_reload()

    def action_reload(self) -> None:
        self.files = report_files(self.root)
        options = self.query_one("#report-list", OptionList)
        options.clear_options()
        for path in self.files:
            when = datetime.fromtimestamp(path.stat().st_mtime).strftime("%m-%d %H:%M")
            options.add_option(Option(f"{path.relative_to(self.root)}  [dim]{when}[/dim]", id=str(path)))
        empty = self.query_one("#report-empty", Static)
        empty.display = not self.files
        empty.update(f"No reports under {self.root} yet: press d on the dashboard to write them.")
        self.query_one("#report-view").display = False
        options.focus()
        if self.files:
            options.highlighted = 0

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        viewer = self.query_one("#report-view", MarkdownViewer)
        viewer.display = True
        viewer.border_title = Path(str(event.option.id)).name
        await viewer.document.load(Path(str(event.option.id)))
        viewer.focus()

    def action_back(self) -> None:
        viewer = self.query_one("#report-view", MarkdownViewer)
        if viewer.display:
            viewer.display = False
            self.query_one("#report-list", OptionList).focus()
        else:
            self.dismiss(None)
