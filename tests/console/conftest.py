"""Console test helpers: a fixed clock, the demo project, and a project whose strategy the test can
hold and release (so a run is "running" for exactly as long as a test needs)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import engine
from console.app import BtkApp
from console.project import Project, load_project

FIXED_NOW = datetime(2026, 11, 21, 12, 3, 41)


def fixed_clock() -> datetime:
    return FIXED_NOW


def demo_app(**kw) -> BtkApp:
    """The embedded demo project with a frozen wall clock and no settings written."""
    kw.setdefault("clock", fixed_clock)
    kw.setdefault("save_settings", False)
    return BtkApp(load_project(None), **kw)


class Gate:
    """A strategy that waits on ``gate.open`` before answering: tests decide when it moves."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.calls = 0

    async def get_signal(self, symbol, when, price):
        self.calls += 1
        await self.open.wait()
        return None


def gated_project(root: Path, gate: Gate, days: int = 3) -> Project:
    engine.add_synthetic_exchange("sim", seed=1)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    engine.add_frame("f", "1m", start, start + timedelta(days=days))
    engine.add_strategy("gated", "1m", gate.get_signal)
    return Project(
        name="gated",
        source=None,
        root=root,
        dump_dir=root / "dump",
        exchanges=["sim"],
        strategies=["gated"],
        frames=["f"],
        walkers=[],
        symbols=["BTCUSDT"],
        default_exchange="sim",
        default_frame="f",
        settings_path=root / "settings.toml",
        symbol_list_is_strict=False,
    )


async def wait_until(pilot, predicate, limit: float = 30.0) -> None:
    """Let the app run until ``predicate()`` holds (the event loop, not the wall clock, decides)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


async def flush_bridge(pilot) -> None:
    """Fold in what the bridge holds now (instead of waiting for its next timed flush)."""
    from console.bridge import EngineBridge

    app = pilot.app
    app.handle_batch(app.screen.query_one(EngineBridge).drain())
    await pilot.pause()


async def finish_runs(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.state.runs and not any(r.is_active for r in app.state.runs.values()))
    await app.workers.wait_for_complete()
    await pilot.pause()
    await flush_bridge(pilot)  # one last redraw from the final state


@pytest.fixture
def no_settings(tmp_path, monkeypatch):
    """Never touch the real per-user settings file."""
    monkeypatch.setenv("BTK_SETTINGS", str(tmp_path / "user-settings.toml"))
    return tmp_path / "user-settings.toml"
