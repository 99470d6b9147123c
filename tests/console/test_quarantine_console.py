"""Issue 20, item 3, as the user sees it: a live pair whose saved state is quarantined says so (a
notification and an ERROR line in the console; one stderr line per fault headless) and does not
trade, while the other pairs do."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from conftest import LIVE_T0, SteppedClock, live_app, wait_until

import engine
from console import headless_live
from console.project import load_project

RID = "live:BTCUSDT:probe"


def save_nan_position(data_dir: Path) -> tuple[Path, str]:
    """A saved probe position whose entry price is NaN (valid JSON to Python, meaningless to trade)."""
    path = data_dir / "signal" / "BTCUSDT_probe" / "BTCUSDT.json"
    path.parent.mkdir(parents=True)
    row = {
        "id": "nan-entry",
        "position": "long",
        "price_open": float("nan"),
        "price_take_profit": 64000.0,
        "price_stop_loss": 62000.0,
        "minute_estimated_time": 1440,
        "symbol": "BTCUSDT",
        "exchange_name": "demo-synthetic",
        "strategy_name": "probe",
        "scheduled_at": LIVE_T0 - 60_000,
        "pending_at": LIVE_T0 - 60_000,
        "is_scheduled": False,
        "note": "",
    }
    text = json.dumps(row)
    path.write_text(text)
    return path, text


def held(dump: Path) -> list[Path]:
    folder = dump / "data" / "quarantine" / "signal" / "BTCUSDT_probe"
    return [p for p in folder.iterdir() if not p.name.endswith(".why.json")]


async def test_the_console_shows_a_quarantined_pair_and_refuses_it_until_released(tmp_path, no_settings) -> None:
    dump = tmp_path / "dump"
    path, text = save_nan_position(dump / "data")
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    app = live_app(dump)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("l")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.runs.get(RID) is not None and not app.state.runs[RID].is_active)
        [moved] = held(dump)
        assert moved.read_text() == text and not path.exists()
        notices = [n for n in app._notifications if "quarantined" in n.title]
        assert notices and notices[-1].title == "BTCUSDT probe: saved state quarantined, not trading"
        assert str(moved) in notices[-1].message and "move it back" in notices[-1].message
        assert any(line.kind == "ERROR" and "quarantine" in line.detail for line in app.state.log)
        assert app.state.runs[RID].status == "failed"

        # pressing l again: refused at once, with the same notice
        before = len(notices)
        await pilot.press("l")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len([n for n in app._notifications if "quarantined" in n.title]) > before)


async def test_headless_live_holds_the_quarantined_pair_and_trades_the_other(tmp_path) -> None:
    load_project(None)
    engine.add_strategy(
        "probe",
        "1m",
        lambda symbol, when, price: {
            "position": "long",
            "price_take_profit": price * 1.02,
            "price_stop_loss": price * 0.98,
            "minute_estimated_time": 600,
        },
    )
    path, _ = save_nan_position(tmp_path / "data")
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    out, err = io.StringIO(), io.StringIO()
    pairs = [("BTCUSDT", "probe"), ("ETHUSDT", "probe")]
    task = asyncio.ensure_future(
        headless_live.run_live(pairs, "demo-synthetic", tmp_path, out, err, install_signals=False)
    )
    await asyncio.wait_for(clock.until_sleeping(), timeout=60)  # a safety net: ETHUSDT ticked once
    engine.Live.stop("ETHUSDT", "probe")
    code = await asyncio.wait_for(task, timeout=60)
    assert code == 1  # a pair did not run
    opened = [line for line in out.getvalue().splitlines() if " OPENED " in line]
    assert opened and opened[0].startswith("ETHUSDT probe LONG")
    lines = err.getvalue().splitlines()
    assert len(lines) == 2, lines  # the document moved aside, and the pair held
    assert str(path) in lines[0] and "quarantined" in lines[0] and "price_open must be a finite number" in lines[0]
    assert "BTCUSDT probe does not start" in lines[1] and str(held(tmp_path)[0]) in lines[1]

    # the next start: the pair is refused before anything runs, the other one carries on
    out, err = io.StringIO(), io.StringIO()
    task = asyncio.ensure_future(
        headless_live.run_live(pairs, "demo-synthetic", tmp_path, out, err, install_signals=False)
    )
    await asyncio.wait_for(clock.until_sleeping(), timeout=60)
    engine.Live.stop("ETHUSDT", "probe")
    assert await asyncio.wait_for(task, timeout=60) == 1
    assert any(line.startswith("ETHUSDT probe RESTORED LONG") for line in out.getvalue().splitlines())
    [line] = err.getvalue().splitlines()
    assert "BTCUSDT probe does not start" in line and "delete the file or move it back" in line
