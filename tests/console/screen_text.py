"""What the terminal shows, read back from a running app: its lines as text, and the cells of a
piece of text with the colours a 16-colour terminal (TERM=xterm) would draw them in.

The app's compositor renders the screen into strips (what the driver writes); the colours are
downgraded the way Rich downgrades them for a standard 16-colour terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.color import Color, ColorSystem
from rich.style import Style
from textual.app import App


def screen_strips(app: App):
    return app.screen._compositor.render_strips()


def screen_lines(app: App) -> list[str]:
    """Every line of the screen as plain text."""
    return [strip.text for strip in screen_strips(app)]


def screen_text(app: App) -> str:
    return "\n".join(screen_lines(app))


@dataclass(frozen=True, slots=True)
class Cell16:
    """A run of text as a 16-colour terminal draws it: ANSI colour numbers (None: the terminal's
    default colour), after a reverse style swapped them."""

    text: str
    fg: int | None
    bg: int | None


def _number(color: Color | None) -> int | None:
    if color is None or color.is_default:
        return None
    return color.downgrade(ColorSystem.STANDARD).number


def cells16(app: App) -> list[Cell16]:
    out = []
    for strip in screen_strips(app):
        for seg in strip:
            style: Style = seg.style or Style()
            fg, bg = _number(style.color), _number(style.bgcolor)
            if style.reverse:
                fg, bg = bg, fg
            out.append(Cell16(seg.text, fg, bg))
    return out


def cell16_of(app: App, text: str) -> Cell16:
    """The first run of cells whose text contains ``text``."""
    for cell in cells16(app):
        if text in cell.text:
            return cell
    raise AssertionError(f"{text!r} is not on the screen:\n{screen_text(app)}")
