"""The header's mode word never touches the symbol (the review saw ``BACKTESTBTCUSDT`` at 80x24).

In a terminal the header is `` btk · BACKTEST · BTCUSDT · ...``: the mode is followed by a space
in the plain style, then the separator. The review read it off a PNG made from the SVG snapshot,
where the renderer's fallback font draws bold letters wider than a cell; the terminal's cells
(checked here, and in tmux at 80x24 TERM=xterm and 160x50) keep them apart. Checked while the
run goes on (the header is at its longest) and after it, at both sizes."""

from __future__ import annotations

import pytest
from conftest import Gate, gated_project, wait_until
from screen_text import screen_lines, screen_strips

from console.app import BtkApp

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]


def header_cells(app) -> list[tuple[str, object]]:
    """The header's cells: each character with its style, as the terminal gets them."""
    strip = screen_strips(app)[0]
    return [(ch, seg.style) for seg in strip for ch in seg.text]


def assert_apart(app) -> None:
    line = screen_lines(app)[0]
    assert " BACKTEST · BTCUSDT · " in line, line
    cells = header_cells(app)
    text = "".join(ch for ch, _ in cells)
    at = text.index("BACKTEST") + len("BACKTEST")
    mode_style = cells[at - 1][1]
    space, space_style = cells[at]
    assert space == " " and space_style != mode_style, "the space after the mode is drawn as the mode"
    assert text[at : at + 3] == " · "


@pytest.mark.parametrize("size", SIZES)
async def test_the_mode_and_the_symbol_are_apart_running_and_done(tmp_path, no_settings, size) -> None:
    gate = Gate()
    app = BtkApp(gated_project(tmp_path, gate), save_settings=False)
    async with app.run_test(size=size) as pilot:
        await pilot.press("b", "enter")
        await wait_until(pilot, lambda: gate.calls > 0 and app.session.selected is not None)
        await wait_until(pilot, lambda: "running" in screen_lines(app)[0])
        assert_apart(app)
        gate.open.set()
        await wait_until(pilot, lambda: not app.state.runs[app.session.selected].is_active)
        await wait_until(pilot, lambda: " done" in screen_lines(app)[0])
        assert_apart(app)
