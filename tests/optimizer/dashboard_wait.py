"""What the optimizer's dashboard tests (in process and attached) share: waiting on the app and
reading its Progress pane."""

from __future__ import annotations

import asyncio

from console.widgets.panes import ProgressPane

SAFETY = 60.0  # seconds: only a hung run or daemon ever reaches it


async def until(pilot, ok) -> None:
    """Let the app run until ``ok()`` holds (SAFETY is a net against a hang, not a timing)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not ok():
        assert loop.time() - start < SAFETY, "the app did not get there (a safety limit; is it stuck?)"
        await pilot.pause(0.02)


def progress_text(app) -> str:
    """The Progress pane's first column, row after row."""
    table = app.dashboard.query_one(ProgressPane).table
    return " ".join(str(table.get_cell_at((row, 0))) for row in range(table.row_count))
