"""The trade inspector follows a running run (issue 14 "Trade inspector"): it reads the trades
again by itself as the run closes more, at most once a second and only when the run moved,
keeping the user's sort, filter, row under the cursor and scroll. At 80x24 and 160x50.

The strategy closes a trade every few minutes of the frame and stops twice at a gate the test
opens, so "more trades while the inspector is open" happens exactly when the test says."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from conftest import fixed_clock, flush_bridge, sim_project, wait_until
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input

import engine
from console.app import BtkApp
from console.screens.trades import TradesScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]


class Stepper:
    """Opens a trade (long, short, long...) that expires after 2 minutes on each ask, and waits at
    its ``holds`` ask numbers until the test opens the gate of that hold."""

    def __init__(self, holds: tuple[int, ...]) -> None:
        self.asks = 0
        self.gates = {n: asyncio.Event() for n in holds}
        self.waiting: int | None = None

    async def get_signal(self, symbol, when, price):
        self.asks += 1
        gate = self.gates.get(self.asks)
        if gate is not None:
            self.waiting = self.asks
            await gate.wait()
            self.waiting = None
        if self.asks > max(self.gates):
            return None
        side = "long" if self.asks % 2 else "short"
        far = price * 0.01  # TP and SL out of reach: every trade expires after its 2 minutes
        return {
            "position": side,
            "price_take_profit": price + far if side == "long" else price - far,
            "price_stop_loss": price - far if side == "long" else price + far,
            "minute_estimated_time": 2,
            "note": f"step {self.asks}",
        }


def stepper_app(tmp_path, stepper: Stepper) -> BtkApp:
    engine.add_synthetic_exchange("sim", seed=1)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    engine.add_frame("day", "1m", start, start + timedelta(days=1))
    engine.add_strategy("stepper", "1m", stepper.get_signal)
    project = sim_project(tmp_path, "stepper", ["stepper"], "day", ["BTCUSDT"])
    return BtkApp(project, clock=fixed_clock, save_settings=False)


def cursor_trade(table: DataTable) -> str:
    return str(table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value)


@pytest.mark.parametrize("size", SIZES)
async def test_the_inspector_follows_a_running_backtest_and_keeps_sort_filter_and_row(tmp_path, size) -> None:
    stepper = Stepper(holds=(9, 17))
    app = stepper_app(tmp_path, stepper)
    async with app.run_test(size=size) as pilot:
        await pilot.press("b", "enter")
        await wait_until(pilot, lambda: stepper.waiting == 9)
        run = app.state.runs[app.session.selected]
        await wait_until(pilot, lambda: engine.Backtest.get_data(run.symbol, run.name).total_signals >= 7)
        await flush_bridge(pilot)
        await pilot.press("i")
        screen = app.screen
        assert isinstance(screen, TradesScreen)
        await wait_until(pilot, lambda: screen.updates >= 1)  # the trades are read in a worker
        first = len(screen.trades)
        assert first >= 7 and run.is_active
        # the user's view: newest first, only longs, the cursor on the second row
        await pilot.press("O")
        await pilot.press("slash", *"long", "enter")
        table = screen.query_one("#trades-table", DataTable)
        await pilot.press("down")
        chosen = cursor_trade(table)
        updates = screen.updates

        stepper.gates[9].set()  # four more trades, then the run waits again
        await wait_until(pilot, lambda: stepper.waiting == 17)
        await wait_until(pilot, lambda: len(screen.trades) > first)  # no key pressed: it followed
        assert screen.updates > updates
        assert len(screen.trades) == engine.Backtest.get_data(run.symbol, run.name).total_signals
        assert screen.sort_key == "number" and screen.descending
        numbers = [int(str(table.get_cell_at(Coordinate(r, 0)))) for r in range(table.row_count)]
        assert numbers == sorted(numbers, reverse=True)
        assert screen.query_one("#trades-filter", Input).value == "long"
        assert all(t.side == "long" for t in screen.shown) and len(screen.shown) < len(screen.trades)
        assert cursor_trade(table) == chosen  # the same trade under the cursor, a row lower now
        assert table.cursor_row > 1

        await flush_bridge(pilot)  # every trade of the held run folded into the state
        screen._follow_run()
        idle = screen.updates  # nothing moves now: the interval's look reads nothing again
        for _ in range(3):
            screen._follow_run()
        assert screen.updates == idle

        stepper.gates[17].set()  # the run ends: its last trades come in by themselves
        await wait_until(pilot, lambda: not app.state.runs[run.id].is_active)
        await flush_bridge(pilot)
        final = engine.Backtest.get_data(run.symbol, run.name).total_signals
        await wait_until(pilot, lambda: len(screen.trades) == final)
        assert cursor_trade(table) == chosen and screen.descending
