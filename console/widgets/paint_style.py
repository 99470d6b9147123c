"""A widget's Rich style worked out once a paint instead of once a line.

Textual's ``DOMNode.rich_style`` is not cached: each read walks the widget's ancestors and blends
their backgrounds and colours (~35 us in the dashboard's depth). A widget of the Line API reads it
for each line it draws (DataTable's ``render_line`` passes it on, the equity chart keys its lines
on it), so the paint that shows a fast run done read it once a line of the equity chart, the log
and the tables. Within one ``render_lines`` call the styles do not change, so the first read
there serves the rest of that call; outside a paint every read works it out afresh, as before.
"""

from __future__ import annotations

from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip


class StyleOncePerPaint:
    """Mixin for a widget class (before its widget base): ``rich_style`` read during its own
    ``render_lines`` is worked out at the first read and kept until that call returns."""

    _painting = False
    _paint_style: Style | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        self._painting, self._paint_style = True, None
        try:
            return super().render_lines(crop)  # type: ignore[misc]
        finally:
            self._painting, self._paint_style = False, None

    @property
    def rich_style(self) -> Style:
        if not self._painting:
            return super().rich_style  # type: ignore[misc]
        style = self._paint_style
        if style is None:
            style = self._paint_style = super().rich_style  # type: ignore[misc]
        return style
