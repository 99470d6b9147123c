"""The one-line header: mode, selected run, its simulated clock, its state, and the wall clock."""

from __future__ import annotations

from datetime import datetime

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from ..state import RunView
from .base import FINISHED_STYLE, hhmm, same_cell, theme_style
from .outcome import outcome, with_errors


class BtkHeader(Static):
    DEFAULT_CSS = (
        "BtkHeader { dock: top; width: 100%; height: 1; background: $panel; color: $foreground; padding: 0 1; }"
    )

    _shown: Text | None = None

    def show(
        self,
        run: RunView | None,
        project: str,
        wall: datetime,
        live: int = 0,
        close_only: str | None = None,
        source: str | None = None,
    ) -> None:
        """``live`` counts the active live runs: while any trades, a badge says so whichever run
        is selected, because real money is at stake. ``close_only`` (the live state folder is not
        writable: no new entries) is shown after it until the state is writable again. ``source``
        says where the engine is when it is not in this process ("attached to daemon pid N").

        The line fits the width by priority (issue 14 item 4): the run's state and the wall clock
        always show; the simulated clock loses its year first, then an error detail and the run's
        name are cut with an ellipsis."""
        clock_text = wall.strftime("%H:%M:%S")
        width = self.size.width  # the content width (the padding is not in it)
        text = self._line(run, project, live, close_only, long_clock=True, source=source)
        if width and text.cell_len + 1 + len(clock_text) > width:
            text = self._line(run, project, live, close_only, long_clock=False, source=source)
            over = text.cell_len + 1 + len(clock_text) - width
            error_len = len(run.error) if run is not None and run.error else 0
            cut_error = min(over, max(0, error_len - 12))
            over -= cut_error
            name_len = len(run.name) if run is not None else 0
            cut_name = min(max(over, 0), max(0, name_len - 6))
            if cut_error or cut_name:
                text = self._line(
                    run, project, live, close_only, False, error_len - cut_error, name_len - cut_name, source=source
                )
            if text.cell_len + 1 + len(clock_text) > width:  # a very narrow terminal: cut the end
                text.truncate(max(0, width - 1 - len(clock_text)), overflow="ellipsis")
        pad = width - text.cell_len - len(clock_text)
        if pad > 0:
            text.append(" " * pad)
            text.append(clock_text, style="dim")
        shown = self._shown
        if shown is None or not same_cell(shown, text):  # an idle session redraws once a second
            self._shown = text
            # the clock ticking changes no size: only the line is drawn again, no layout
            self.update(text, layout=shown is None or text.cell_len != shown.cell_len)

    def _line(
        self,
        run: RunView | None,
        project: str,
        live: int,
        close_only: str | None,
        long_clock: bool,
        error_room: int | None = None,
        name_room: int | None = None,
        source: str | None = None,
    ) -> Text:
        text = Text()
        text.append("btk", style="bold")
        if source:
            text.append(f" ⇄ {source}", style=theme_style(self, "accent", bold=True))
        badge = theme_style(self, "error", bold=True) + Style(reverse=True)
        if live:
            text.append(" ")
            text.append(f" ● LIVE{f' ×{live}' if live > 1 else ''} ", style=badge)
        if close_only:
            text.append(" ")
            text.append(f" {close_only} ", style=badge)
        if run is None:
            text.append(f" · {project} · no run selected", style="dim")
            return text
        text.append(" · ")
        if not (live and run.mode == "live"):  # the badge already says it
            mode_style = theme_style(self, "error" if run.mode == "live" else "accent", bold=True)
            text.append(run.mode.upper(), style=mode_style)
            text.append(" · ")
        text.append(f"{run.symbol} · {_cut(run.name, name_room)}")
        clock = run.clock_ms()
        if clock:
            text.append(f" · {hhmm(clock, with_date=True)} UTC" if long_clock else f" · {hhmm(clock)}")
        state_style = {**FINISHED_STYLE, "running": "accent"}.get(run.status, "foreground")
        words = run.status
        if with_errors(run):  # "done · 12 errors" in the warning colour (issue 14 item 7)
            words, state_style = outcome(run)
        text.append(" · ")
        text.append(words, style=theme_style(self, state_style))
        if run.error:
            text.append(f": {_cut(run.error, error_room)}", style=theme_style(self, "error"))
        return text


def _cut(value: str, room: int | None) -> str:
    if room is None or len(value) <= room:
        return value
    return value[: max(room - 1, 1)] + "…"
