"""Console test helpers: a fixed clock, the demo project, and a project whose strategy the test can
hold and release (so a run is "running" for exactly as long as a test needs)."""

from __future__ import annotations

import asyncio
import os
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


def sim_project(root: Path, name: str, strategies: list[str], frame: str, symbols: list[str]) -> Project:
    """A project over the registered exchange ``sim``, one frame, no walker and no btk.toml."""
    return Project(
        name=name,
        source=None,
        root=root,
        dump_dir=root / "dump",
        exchanges=["sim"],
        strategies=strategies,
        frames=[frame],
        walkers=[],
        symbols=symbols,
        default_exchange="sim",
        default_frame=frame,
        settings_path=root / "settings.toml",
        symbol_list_is_strict=False,
    )


def gated_project(root: Path, gate: Gate, days: int = 3) -> Project:
    engine.add_synthetic_exchange("sim", seed=1)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    engine.add_frame("f", "1m", start, start + timedelta(days=days))
    engine.add_strategy("gated", "1m", gate.get_signal)
    return sim_project(root, "gated", ["gated"], "f", ["BTCUSDT"])


async def wait_until(pilot, predicate, limit: float = 180.0) -> None:
    """Let the app run until ``predicate()`` holds. ``limit`` is only a safety net against a hang
    (generous: a loaded 2-core machine ran the demo walker for over 30 s); the wait itself ends
    on the condition, and a wait that took long is reported in the test's output."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > limit:
            raise AssertionError(f"the app did not get there in {limit:.0f} s (a safety limit; is it stuck?)")
        await pilot.pause(0.02)
    if loop.time() - start > 10:
        print(f"wait_until: {loop.time() - start:.1f} s")


async def flush_bridge(pilot) -> None:
    """Fold in what the bridge holds now (instead of waiting for its next timed flush)."""
    dashboard = pilot.app.dashboard
    dashboard.fold(dashboard.drain())
    await pilot.pause()


async def finish_runs(pilot) -> None:
    app = pilot.app
    # a safety net only (a loaded 2-core machine took 30 s for the demo's six runs)
    await wait_until(pilot, lambda: app.state.runs and not any(r.is_active for r in app.state.runs.values()), limit=120)
    await wait_until(pilot, lambda: not app.history_due)  # kept once the screen showed them done
    await app.workers.wait_for_complete()
    await pilot.pause()
    await flush_bridge(pilot)  # one last redraw from the final state


async def backtest_demo(pilot) -> None:
    """``b`` and Enter on the demo (its three strategies), then every run to its end, drawn."""
    await pilot.press("b")
    await pilot.pause()
    await pilot.press("enter")
    await finish_runs(pilot)


FIXTURE_PROJECT = Path(__file__).parent / "projects" / "working"


@pytest.fixture
def user_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never read the real per-user settings file: this one, in the test's folder, instead."""
    path = tmp_path / "user" / "settings.toml"
    monkeypatch.setenv("BTK_SETTINGS", str(path))
    return path


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A copy of the working fixture project (so __pycache__ and dump/ stay out of the repo)."""
    import shutil

    target = tmp_path / "proj"
    shutil.copytree(FIXTURE_PROJECT, target, ignore=shutil.ignore_patterns("__pycache__", "out"))
    return target


class StateDisk:
    """Live state writes fail with OS error ``error`` (an errno) while it is set: the rename inside
    the persist module raises a real ``OSError`` naming the document."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import aiofiles.os

        import engine.persist.base as persist_base

        self.error: int | None = None
        real_replace = aiofiles.os.replace

        async def replace(src, dst):
            if self.error is not None:
                raise OSError(self.error, os.strerror(self.error), str(dst))
            await real_replace(src, dst)

        monkeypatch.setattr(persist_base.aiofiles.os, "replace", replace)


@pytest.fixture
def state_disk(monkeypatch) -> StateDisk:
    return StateDisk(monkeypatch)


@pytest.fixture
def no_settings(tmp_path, monkeypatch):
    """Never touch the real per-user settings file."""
    monkeypatch.setenv("BTK_SETTINGS", str(tmp_path / "user-settings.toml"))
    return tmp_path / "user-settings.toml"


class SteppedClock:
    """Live time that moves only when a test says so: every ``sleep`` waits for ``step()``, which
    moves time on by the sleep's length and lets the live loop tick once more."""

    def __init__(self, start_ms: int) -> None:
        self.t = start_ms
        self._sleepers: list[tuple[float, asyncio.Future]] = []
        self._someone_sleeps: asyncio.Event | None = None

    def now(self) -> int:
        return self.t

    async def sleep(self, ms: float) -> None:
        entry = (ms, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        if self._someone_sleeps is not None:
            self._someone_sleeps.set()
        try:
            await entry[1]
        finally:
            if entry in self._sleepers:  # cancelled (a stop woke the loop): forget it
                self._sleepers.remove(entry)

    @property
    def sleeping(self) -> int:
        return len(self._sleepers)

    async def until_sleeping(self) -> None:
        """Wait (on the event loop) until the live loop is between ticks."""
        while not self._sleepers:
            self._someone_sleeps = asyncio.Event()
            await self._someone_sleeps.wait()

    def step(self) -> None:
        sleepers, self._sleepers = self._sleepers, []
        if sleepers:
            self.t += int(max(ms for ms, _ in sleepers))
        for _, fut in sleepers:
            if not fut.done():
                fut.set_result(None)


LIVE_T0 = int(datetime(2024, 3, 1, 12, 0, tzinfo=UTC).timestamp() * 1000)


def live_app(dump_dir: Path, signals: list | None = None, minutes: int = 600, **kw) -> BtkApp:
    """The demo project plus a ``probe`` strategy that opens one long position at its first call
    (TP +2 %, SL -2 %, ``minutes`` to live), with the live dialog preselecting it."""
    project = load_project(None)
    answers = list(signals) if signals is not None else ["long"]

    def probe(symbol, when, price):
        side = answers.pop(0) if answers else None
        if side is None:
            return None
        up, down = (1.02, 0.98) if side == "long" else (0.98, 1.02)
        return {
            "position": side,
            "price_take_profit": round(price * up, 2),
            "price_stop_loss": round(price * down, 2),
            "minute_estimated_time": minutes,
            "note": "probe",
        }

    engine.add_strategy("probe", "1m", probe)
    project.strategies.append("probe")
    project.ui["last_live"] = {"symbol": "BTCUSDT", "strategy": "probe", "exchange": project.default_exchange}
    kw.setdefault("clock", fixed_clock)
    kw.setdefault("save_settings", False)
    return BtkApp(project, dump_dir=dump_dir, **kw)


async def start_live(pilot, clock: SteppedClock) -> None:
    """``l`` then Enter (the probe is preselected), then wait for the first tick to be shown."""
    await pilot.press("l")
    await pilot.press("enter")
    await wait_until(pilot, lambda: clock.sleeping)
    await flush_bridge(pilot)


async def live_tick(pilot, clock: SteppedClock, n: int = 1) -> None:
    """Let the live loop tick ``n`` more times (a minute each), then redraw."""
    for _ in range(n):
        clock.step()
        await wait_until(pilot, lambda: clock.sleeping)
    await flush_bridge(pilot)


async def save_a_short_position(data_dir: Path) -> None:
    """What a process that died at LIVE_T0 left on disk: the probe short at 63,000, open 90 minutes."""
    from engine.model import SignalRow

    engine.set_base_dir(data_dir)
    saved = SignalRow(
        id="saved-before-the-crash",
        position="short",
        price_open=63_000.0,
        price_take_profit=60_000.0,
        price_stop_loss=66_000.0,
        minute_estimated_time=1440,
        symbol="BTCUSDT",
        exchange_name="demo-synthetic",
        strategy_name="probe",
        scheduled_at=LIVE_T0 - 90 * 60_000,
        pending_at=LIVE_T0 - 90 * 60_000,
        is_scheduled=False,
    )
    await engine.PersistSignalAdapter.write_signal_data(saved, "BTCUSDT", "probe")


try:  # a fixture: daemons the test starts, always stopped
    from daemons import place
except ModuleNotFoundError:  # imported as tests.console.conftest (tests/exchanges reuses its helpers)
    from tests.console.daemons import place  # noqa: F401
