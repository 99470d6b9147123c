"""How a run's state reads in the panes: a run that finished while its strategy raised is not a
plain green "done" (issue 14 item 7). Its errors are counted as they arrive (``RunView.errors``);
the Runs pane says "12 err", the Progress pane and the header "done · 12 errors", in the theme's
warning colour, and the log viewer (``e``) lists each with its traceback."""

from __future__ import annotations

from ..state import RunView
from .base import FINISHED_STYLE


def with_errors(run: RunView) -> bool:
    """A run that ended (done or stopped) after errors it did not fail on."""
    return run.errors > 0 and run.status in ("done", "stopped")


def outcome(run: RunView) -> tuple[str, str]:
    """The words and the theme colour name of a finished run's state ("done · 12 errors")."""
    if with_errors(run):
        return f"{run.status} · {run.errors} error{'s' if run.errors > 1 else ''}", "warning"
    return run.status, FINISHED_STYLE.get(run.status, "foreground")


def short_outcome(run: RunView, room: int = 7) -> str:
    """The same in a column of ``room`` cells: "12 err", else the bare count."""
    text = f"{run.errors} err"
    return text if len(text) <= room else str(run.errors)[:room]
