"""Open one sweep report in the reports browser (``ReportsScreen``), at that report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..screens.reports import ReportsScreen


class SweepReportScreen(ReportsScreen):
    """The reports browser of the folder holding ``report``, opened at it (Esc: the list of the
    folder's reports; Esc again: the dashboard)."""

    def __init__(self, report: Path) -> None:
        super().__init__(report.parent)
        self.report = report

    def on_mount(self) -> None:
        super().on_mount()
        options = self.query_one("#report-list")
        ids = [str(p) for p in self.files]
        if str(self.report) in ids:
            options.highlighted = ids.index(str(self.report))
            options.action_select()


def open_report(app: Any, report: Path) -> None:
    app.push_screen(SweepReportScreen(report))
