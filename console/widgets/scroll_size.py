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
    if not scrollbars_stay(widget, size):
        widget.virtual_size = size
        return
    widget.set_reactive(Widget.virtual_size, size)
    widget._scroll_update(size)  # what a layout does for a scrolling widget: its scrollbars, clamped offsets
    # and where the thumbs are (Textual moves them as the offset changes, not as the size does)
    if widget.show_vertical_scrollbar:
        widget.vertical_scrollbar.position = widget.scroll_y
    if widget.show_horizontal_scrollbar:
        widget.horizontal_scrollbar.position = widget.scroll_x
    widget.refresh()


def scrollbars_stay(widget: Widget, size: Size) -> bool:
    """The widget is on screen, the scrollbars it shows are the ones its size asks for (no layout
    is pending that would change them), and the new size asks for the same."""
    if not widget.is_mounted or not widget.display or not widget.container_size:
        return False
    if _bars(widget, widget.virtual_size) != _bars(widget, size):
        return False
    width, height = widget.container_size
    styles = widget.styles
    if styles.overflow_y == "auto" and widget.show_vertical_scrollbar != (size.height > height):
        return False
    return not (styles.overflow_x == "auto" and widget.show_horizontal_scrollbar != (size.width > width))


def bars_would_change(widget: Widget, size: Size) -> bool:
    """Would ``size`` as the widget's virtual size ask for other scrollbars than the size it has
    now asks for? Not while it waits for a layout (just shown: no room known yet): that layout
    gives it the scrollbars its size asks for, and a size set again before it changes nothing
    (a fast run's batches drew the Signals log five times in 20 ms for one scrollbar)."""
    if not widget.is_mounted or not widget.display or not widget.container_size:
        return False
    return _bars(widget, widget.virtual_size) != _bars(widget, size)


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
