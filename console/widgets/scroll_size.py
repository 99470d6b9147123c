"""A scrolling widget's virtual size changed without laying out the whole screen.

Textual's ``virtual_size`` is a reactive that asks for a layout of the screen when it changes.
A log or a table that grows by a few lines at each redraw asked for one every redraw: 50-100 ms
each on the dashboard during a busy run, the largest cost of drawing it (issue 14 item 2). A
widget's own place on the screen does not depend on its virtual size; only its scrollbars do. So
while the scrollbars stay as they are (shown or hidden), the new size is set quietly and the
scrollbars and the widget are redrawn; when one would appear or go, the layout is asked for as
before, as it moves the widget's content.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.widget import Widget


def set_virtual_size(widget: Widget, size: Size) -> None:
    """Give ``widget`` (its size set by its styles, not by its content) the virtual ``size``."""
    if size == widget.virtual_size:
        return
    if not widget.is_mounted or not widget.container_size or _bars(widget, widget.virtual_size) != _bars(widget, size):
        widget.virtual_size = size
        return
    widget.set_reactive(Widget.virtual_size, size)
    widget._scroll_update(size)  # what a layout does for a scrolling widget: its scrollbars, clamped offsets
    widget.refresh()


def _bars(widget: Widget, size: Size) -> tuple[bool, bool, bool, bool]:
    """Each comparison Textual's choice of scrollbars (``overflow: auto``) makes with a virtual
    size: the same answers for two sizes mean the same scrollbars."""
    width, height = widget.container_size
    styles = widget.styles
    return (
        size.width > width,
        size.width > width - styles.scrollbar_size_vertical,
        size.height > height,
        size.height > height - styles.scrollbar_size_horizontal,
    )
