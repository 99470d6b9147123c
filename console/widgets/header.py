"""The one-line header: mode, selected run, its simulated clock, its state, and the wall clock."""

from __future__ import annotations

from datetime import datetime

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from ..state import RunView
from .base import FINISHED_STYLE, hhmm, same_cell, theme_style


class BtkHeader(Static):
    DEFAULT_CSS = "BtkHeader { height: 1; background: $panel; color: $foreground; padding: 0 1; }"

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
        says where the engine is when it is not in this process ("attached to daemon pid N")."""
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
        else:
            text.append(" · ")
            if not (live and run.mode == "live"):  # the badge already says it
                mode_style = theme_style(self, "error" if run.mode == "live" else "accent", bold=True)
                text.append(run.mode.upper(), style=mode_style)
                text.append(" · ")
            text.append(f"{run.symbol} · {run.name}")
            clock = run.clock_ms()
            if clock:
                text.append(f" · {hhmm(clock, with_date=True)} UTC")
            state_style = {**FINISHED_STYLE, "running": "accent"}.get(run.status, "foreground")
            text.append(" · ")
            text.append(run.status, style=theme_style(self, state_style))
            if run.error:
                text.append(f": {run.error}", style=theme_style(self, "error"))
        clock_text = wall.strftime("%H:%M:%S")
        width = max(self.size.width - 2, 0)
        pad = width - len(text.plain) - len(clock_text)
        if pad > 0:
            text.append(" " * pad)
            text.append(clock_text, style="dim")
        shown = self._shown
        if shown is None or not same_cell(shown, text):  # an idle session redraws once a second
            self._shown = text
            # the clock ticking changes no size: only the line is drawn again, no layout
            self.update(text, layout=shown is None or text.cell_len != shown.cell_len)
