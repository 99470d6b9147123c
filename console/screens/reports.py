"""The reports browser: the markdown files under the dump folder, newest first, read in-app."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Markdown, OptionList, Static
from textual.widgets.option_list import Option

from ..widgets.scroll_body import ScrollBody


def table_widths(markdown: str) -> list[int]:
    """The natural width of each pipe table in ``markdown``, in document order.

    Textual lays a markdown table out in the width it is given and cuts its cells short; report
    tables are wide (ids, prices, times), so each one is given its own natural width instead and
    the viewer scrolls sideways.
    """
    out: list[int] = []
    widths: list[int] | None = None
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):  # skip the |---| separator row
                sizes = [cell_len(c) for c in cells]
                widths = sizes if widths is None else [max(a, b) for a, b in zip(widths, sizes)]
        elif widths is not None:
            out.append(sum(w + 2 for w in widths) + len(widths) - 1 + 2)  # padding, gutters, edges
            widths = None
    return out


class ReportViewer(ScrollBody):
    """The report: a markdown document in the scrolling body the log viewer also uses.

    Textual's MarkdownViewer could not take focus (its document could, but the document did not
    scroll), so arrows, PageDown and End did nothing and a report's closing statistics were out
    of reach (issue 14 item 3); the viewer is now the focusable ``ScrollBody`` around a document
    that never takes the focus."""

    DEFAULT_CSS = "ReportViewer { height: 1fr; scrollbar-gutter: stable; background: $surface; }"

    def compose(self) -> ComposeResult:
        document = Markdown(id="report-doc")
        document.can_focus = False  # focus stays on the body, which is what scrolls
        yield document

    @property
    def document(self) -> Markdown:
        return self.query_one("#report-doc", Markdown)


def report_files(root: Path) -> list[Path]:
    """Every .md file under ``root``, newest first (ties by name, so the order is stable)."""
    if not root.exists():
        return []
    files = [p for p in root.rglob("*.md") if p.is_file()]
    return sorted(files, key=lambda p: (-p.stat().st_mtime, str(p)))


def report_label(relative: Path) -> tuple[str | tuple[str, str], ...]:
    """A report's name for the list: its kind and file first (``backtest/demo-meanrev.md``),
    then, dimmed, the exchange, frame and symbol it is keyed by; a narrow screen cuts the
    dimmed part, not the name."""
    parts = relative.parts
    if len(parts) <= 2:
        return (relative.as_posix(),)
    return (f"{parts[0]}/{parts[-1]}", "  ", ("/".join(parts[1:-1]), "dim"))


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
            yield ReportViewer(id="report-view")
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
            label = Text.assemble((when, "dim"), "  ", *report_label(path.relative_to(self.root)))
            label.no_wrap, label.overflow = True, "ellipsis"
            options.add_option(Option(label, id=str(path)))
        empty = self.query_one("#report-empty", Static)
        empty.display = not self.files
        empty.update(f"No reports under {self.root} yet: press d on the dashboard to write them.")
        self.query_one("#report-view").display = False
        options.display = True
        options.focus()
        if self.files:
            options.highlighted = 0

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        viewer = self.query_one("#report-view", ReportViewer)
        viewer.display = True
        self.query_one("#report-list").display = False  # the report gets the whole width
        path = Path(str(event.option.id))
        viewer.border_title = f"{path.relative_to(self.root).as_posix()}  (Esc: back)"
        await viewer.document.load(path)
        widths = table_widths(path.read_text(encoding="utf-8"))
        # by type name: Textual exports no MarkdownTable class (it lives in a private module)
        for table, width in zip(viewer.query("MarkdownTable"), widths):
            table.styles.width = width
        document = viewer.document
        # the document's own padding sits around the tables; it fills the viewer when they are narrow
        document.styles.width = max(widths, default=0) + document.styles.gutter.width
        document.styles.min_width = "100%"
        viewer.scroll_home(animate=False)
        viewer.focus()

    def action_back(self) -> None:
        viewer = self.query_one("#report-view", ReportViewer)
        if viewer.display:
            viewer.display = False
            options = self.query_one("#report-list", OptionList)
            options.display = True
            options.focus()
        else:
            self.dismiss(None)
