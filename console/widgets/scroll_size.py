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
    if not scrollbars_stay(widget, widget.virtual_size, size):
        widget.virtual_size = size
        return
    widget.set_reactive(Widget.virtual_size, size)
    resized_quietly(widget)


def resized_quietly(widget: Widget) -> None:
    """What a layout does for a scrolling widget whose virtual size changed and whose scrollbars
    stay: its scrollbars, clamped offsets and where the thumbs are (Textual moves them as the
    offset changes, not as the size does), and a repaint."""
    size = widget.virtual_size
    widget._scroll_update(size)
    if widget.show_vertical_scrollbar:
        widget.vertical_scrollbar.position = widget.scroll_y
    if widget.show_horizontal_scrollbar:
        widget.horizontal_scrollbar.position = widget.scroll_x
    widget.refresh()


def scrollbars_stay(widget: Widget, old: Size, new: Size) -> bool:
    """The widget is on screen, the scrollbars it shows are the ones its virtual size ``old`` asks
    for (no layout is pending that would change them), and ``new`` asks for the same."""
    if not widget.is_mounted or not widget.display or not widget.container_size:
        return False
    bars = _bars(widget, old)
    return bars == _bars(widget, new) and bars == (widget.show_horizontal_scrollbar, widget.show_vertical_scrollbar)


def bars_fixed(widget: Widget) -> bool:
    """Does no virtual size change the widget's scrollbars (neither axis ``overflow: auto``)?"""
    styles = widget.styles
    return styles.overflow_x != "auto" and styles.overflow_y != "auto"


def bars_would_change(widget: Widget, size: Size) -> bool:
    """Would ``size`` as the widget's virtual size ask for other scrollbars than the size it has
    now asks for? Not while it waits for a layout (just shown: no room known yet): that layout
    gives it the scrollbars its size asks for, and a size set again before it changes nothing
    (a fast run's batches drew the Signals log five times in 20 ms for one scrollbar)."""
    if not widget.is_mounted or not widget.display or not widget.container_size:
        return False
    return _bars(widget, widget.virtual_size) != _bars(widget, size)


def _bars(widget: Widget, size: Size) -> tuple[bool, bool]:
    """The (horizontal, vertical) scrollbars Textual gives ``widget`` for the virtual ``size``
    (``Widget._refresh_scrollbars``): ``overflow: scroll`` shows one whatever the size, ``hidden``
    never, ``auto`` when the content is larger than the room, the other bar's room counted."""
    width, height = widget.container_size
    styles = widget.styles
    across, down = styles.overflow_x, styles.overflow_y
    horizontal = across == "scroll" or (across == "auto" and size.width > width)
    vertical = down == "scroll" or (down == "auto" and size.height > height)
    if across == "auto" and vertical and not horizontal:
        horizontal = size.width > width - styles.scrollbar_size_vertical
    if down == "auto" and horizontal and not vertical:
        vertical = size.height > height - styles.scrollbar_size_horizontal
    return horizontal, vertical
