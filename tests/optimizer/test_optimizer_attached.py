"""Issue 17 "every key works the same" for ``o`` (issue 19's optimizer): in an attached console the
daemon writes the program. A real daemon subprocess (tests/console/daemon_child.py) serves a btk.toml
project that registers an optimizer; its model is the loopback Ollama server of this test
(tests/optimizer/ollama_server.py), held until the test has seen the run's progress on the
attached dashboard. Waits are on the app's state and the server's requests, never on a timer."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest
from dashboard_wait import progress_text, until
from ollama_server import FakeOllama
from test_optimize_cli import CODE, project

from console.attach import AttachedApp, fetch
from console.client import DaemonClient, DaemonError, Endpoint
from console.screens.dialogs import StartDialog
from tests.console.daemons import _run_cli, place  # noqa: F401 (place: the daemons fixture)

RID = "optimizer:BTCUSDT:writer"


@pytest.fixture
async def model():
    server = FakeOllama(fallback=lambda messages: CODE, hold=asyncio.Event())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_attached_o_has_the_daemon_write_the_program_with_its_progress_on_the_dashboard(
    place,  # noqa: F811
    model,
    tmp_path,
    monkeypatch,
) -> None:
    monkeypatch.delenv("BTK_LLM_MODEL", raising=False)  # the project's [llm] model, as in process
    (tmp_path / "project").mkdir()
    root = project(tmp_path / "project")
    d = place("--config", str(root / "btk.toml"), env={"OLLAMA_HOST": model.url})
    d.wait_ready()
    endpoint = Endpoint.for_dump(d.dump)
    info, daemon = await fetch(endpoint)
    assert list(info["optimizers"]) == ["writer"]
    app = AttachedApp(endpoint, info, daemon)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.connected)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, StartDialog))
        dialog = app.screen
        assert dialog.mode == "optimizer" and "writer" in dialog.strategies  # the daemon's optimizers
        await pilot.press("enter")  # the first optimizer, the first symbol
        await until(pilot, lambda: RID in app.state.runs)
        run = app.state.runs[RID]
        assert run.total == 2 and run.mode == "optimizer"  # two training ranges x one source (SPEC 13.2)
        await until(pilot, lambda: len(model.requests) == 1)  # the daemon asks the model, held
        await until(pilot, lambda: "writer" in progress_text(app) and "0/2" in progress_text(app))
        assert run.status == "running"

        await pilot.press("s")  # it cannot be stopped midway, attached as in process
        assert any("cannot be stopped midway" in n.message for n in app._notifications)
        async with DaemonClient(endpoint) as c:
            with pytest.raises(DaemonError, match="cannot be stopped midway") as refused:
                await c.stop(RID)
            assert refused.value.status == 409
            with pytest.raises(DaemonError, match="optimizer run: it has no trades or statistics"):
                await c.get(f"/v1/runs/{quote(RID, safe='')}/statistics")

        model.hold.set()
        await until(pilot, lambda: run.status != "running")
        assert run.status == "done", run.error
        assert (run.processed, run.total, run.progress) == (2, 2, 1.0)
        await until(pilot, lambda: "done" in progress_text(app) and "2/2" in progress_text(app))
        program = d.dump / "optimizer" / "writer_BTCUSDT.py"
        assert program.is_file() and "def get_signal" in program.with_suffix(".md").read_text()
        await until(pilot, lambda: any(str(program) in n.message for n in app._notifications))
        assert {r["model"] for r in model.requests} == {"test-model"}  # the project's [llm], in the daemon
        assert not (root / "dump" / "optimizer").exists()  # written by the daemon, in its dump folder only
        await pilot.press("x")
    code, out, _err = await asyncio.to_thread(_run_cli, ["status", "--dump-dir", str(d.dump)])
    assert code == 0 and f"{RID}  done -> {program}" in out  # a script sees where the program is

    # a console attaching now sees the finished run and is not told again that it ended
    again = AttachedApp(endpoint, *(await fetch(endpoint)))
    async with again.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: RID in again.state.runs and again.state.runs[RID].status == "done")
        await pilot.pause()
        assert not any(str(program) in n.message for n in again._notifications)
        await pilot.press("x")


async def test_a_read_only_console_may_not_start_an_optimizer(place, model, tmp_path) -> None:  # noqa: F811
    (tmp_path / "project").mkdir()
    root = project(tmp_path / "project")
    d = place("--config", str(root / "btk.toml"), env={"OLLAMA_HOST": model.url})
    d.wait_ready()
    endpoint = Endpoint.for_dump(d.dump)
    viewer = AttachedApp(endpoint, *(await fetch(endpoint)), read_only=True)
    async with viewer.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: viewer.connected)
        await pilot.press("o")
        await pilot.pause()
        assert viewer.screen is viewer.dashboard
        assert any("--read-only" in n.message for n in viewer._notifications)
    async with DaemonClient(endpoint, read_only=True) as c:
        with pytest.raises(DaemonError, match="read-only console"):
            await c.start(mode="optimizer", symbol="BTCUSDT", optimizer="writer")
        assert (await c.status())["runs"] == [] and not model.requests
