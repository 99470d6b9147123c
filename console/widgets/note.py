"""A pane's empty-state note drawn by the widget that shows the pane's content (console/widgets/base.py
``Pane``), so a pane that fills or empties lays nothing out again."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

NOTE_CLASS = "pane-note"
"""The component class a ``NoteHolder`` widget declares, styled ``color: $text-muted`` (Textual
collects component classes and default CSS from widget classes only, not from a mixin)."""


def note_css(widget_type: str) -> str:
    """The default CSS of a ``NoteHolder`` widget type for its note's colour."""
    return f"{widget_type} > .{NOTE_CLASS} {{ color: $text-muted; }}"


class NoteHolder:
    """A pane's body widget that draws the pane's empty-state note in its own lines (``Pane``):
    muted, one cell in from each side, wrapped to the widget's width, in place of its content.
    The widget declares ``NOTE_CLASS`` among its component classes, with ``note_css``, and puts
    this class before its widget base (``render_line`` here comes first)."""

    note: str | None = None
    _note_strips: tuple[tuple[object, ...], list[Strip]] | None = None  # (what they were drawn for, the lines)

    def render_line(self, y: int) -> Strip:
        """The note's line ``y`` while there is a note, else the widget's own line (a widget that
        works its style or width out its own way checks ``note`` in its own ``render_line``)."""
        widget: Any = self
        if self.note is not None:
            return self.note_line(y, widget.size.width, widget.rich_style)
        return super().render_line(y)  # type: ignore[misc]

    def show_note(self, note: str | None) -> None:
        if note != self.note:
            self.note = note
            self.refresh()  # type: ignore[attr-defined]

    def note_line(self, y: int, width: int, base: Style) -> Strip:
        """Line ``y`` of the note, ``width`` cells wide, over the widget's style ``base``."""
        assert self.note is not None
        widget: Any = self
        key = (self.note, width, base, widget.app.theme)
        if self._note_strips is None or self._note_strips[0] != key:
            # Textual's own colour for the class (``$text-muted`` is a contrast colour at 60 %,
            # blended over what lies under the widget)
            style = base + Style(color=widget.get_component_rich_style(NOTE_CLASS).color)
            lines = Text(self.note).wrap(widget.app.console, max(1, width - 2))
            strips = [Strip([Segment(f" {line.plain} ", style)]).crop_extend(0, width, base) for line in lines]
            self._note_strips = (key, strips)
        strips = self._note_strips[1]
        return strips[y] if y < len(strips) else Strip.blank(width, base)
