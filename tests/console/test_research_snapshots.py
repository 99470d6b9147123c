"""The Research tab and the sweep dialog as SVG snapshots at 80x24 and 160x50: a small grid sweep
(6 sets of a 4-day synthetic frame, one worker) run to its end, so every number on screen is a
function of the results table; notifications (which name the temporary folder) are cleared first.
Update after an intended change with ``--snapshot-update`` and look at the SVGs."""

from __future__ import annotations

from pathlib import Path

from conftest import wait_until
from test_research_tab import finished, research_app, sweep_from_dialog

from console.research.dialog import SweepDialog


def _swept(zoom: bool = False, view_presses: int = 0):
    async def run_before(pilot) -> None:
        await sweep_from_dialog(pilot, metric="total_pnl", workers="1")
        pane = await finished(pilot)
        pane.query_one("#research-board").focus()
        for _ in range(view_presses):
            await pilot.press("v")
        if zoom:
            await pilot.press("z")
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


def test_research_tab_at_80x24(snap_compare, tmp_path: Path, no_settings) -> None:
    assert snap_compare(research_app(tmp_path), terminal_size=(80, 24), run_before=_swept())


def test_research_tab_zoomed_at_80x24(snap_compare, tmp_path: Path, no_settings) -> None:
    assert snap_compare(research_app(tmp_path), terminal_size=(80, 24), run_before=_swept(zoom=True))


def test_research_heat_map_zoomed_at_80x24(snap_compare, tmp_path: Path, no_settings) -> None:
    assert snap_compare(research_app(tmp_path), terminal_size=(80, 24), run_before=_swept(zoom=True, view_presses=1))


def test_research_tab_at_160x50(snap_compare, tmp_path: Path, no_settings) -> None:
    assert snap_compare(research_app(tmp_path), terminal_size=(160, 50), run_before=_swept())


def test_sweep_dialog_at_80x24(snap_compare, tmp_path: Path, no_settings) -> None:
    async def run_before(pilot) -> None:
        await pilot.press("S")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, SweepDialog))
        await pilot.pause()

    assert snap_compare(research_app(tmp_path), terminal_size=(80, 24), run_before=run_before)
