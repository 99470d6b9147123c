"""One scrolling body for the screens that are read from top to bottom: the log viewer
(screens/logs.py) and the report viewer (screens/reports.py).

Issue 14 item 3: a report's closing statistics were out of reach because nothing that scrolled
could take the focus. Both readers take it here and answer the keys a reader expects (arrows,
PgUp/PgDn, Home/End and the pager's j/k, Space, g/G). Each scroll is immediate, so a held key
never queues animations. One class, so the two readers cannot drift apart (the review's D4).
"""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import VerticalScroll

__all__ = ["ScrollBody"]


class ScrollBody(VerticalScroll, can_focus=True):
    """A focusable scroll container whose content is read with the keyboard."""

    BINDINGS = [
        Binding("up,k", "line(-1)", "Up", show=False),
        Binding("down,j", "line(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("home,g", "edge(0)", "Top", show=False),
        Binding("end,G", "edge(1)", "End", show=False),
    ]

    def action_line(self, step: int) -> None:
        self.scroll_relative(y=step, animate=False)

    def action_page(self, step: int) -> None:
        self.scroll_relative(y=step * max(1, self.scrollable_content_region.height - 1), animate=False)

    def action_edge(self, end: int) -> None:
        if end:
            self.scroll_end(animate=False)
        else:
            self.scroll_home(animate=False)
