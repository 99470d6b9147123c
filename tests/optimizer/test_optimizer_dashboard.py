"""The optimizer in the dashboard (issue 19): ``o`` opens the start dialog on the project's
optimizers, the run writes its program through the real ``ollama`` client against the loopback
server (tests/optimizer/ollama_server.py), its progress is a row of the Progress pane while the
model is held, and its trace is a report the browser lists. Waits are on the app's state (the
server's ``hold`` is released by the test), never on a timer."""

from __future__ import annotations

import asyncio

from dashboard_wait import progress_text, until
from ollama_server import FakeOllama
from test_optimize_cli import CODE, project

from console.app import BtkApp
from console.project import load_project
from console.screens.dialogs import StartDialog

RID = "optimizer:BTCUSDT:writer"


async def test_o_writes_strategies_with_progress_and_the_trace_in_the_reports(tmp_path, monkeypatch) -> None:
    server = FakeOllama(fallback=lambda messages: CODE, hold=asyncio.Event())
    await server.start()
    try:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        monkeypatch.delenv("BTK_LLM_MODEL", raising=False)
        monkeypatch.setenv("BTK_SETTINGS", str(tmp_path / "user-settings.toml"))
        root = project(tmp_path)
        app = BtkApp(load_project(str(root / "btk.toml")), save_settings=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("o")
            await until(pilot, lambda: isinstance(app.screen, StartDialog))
            assert app.screen.mode == "optimizer"
            await pilot.press("enter")  # the first optimizer, the first symbol
            await until(pilot, lambda: RID in app.state.runs)
            run = app.state.runs[RID]
            assert run.total == 2  # two training ranges x one source (SPEC 13.2)
            await until(pilot, lambda: len(server.requests) == 1)  # the model is asked, and held
            await until(pilot, lambda: "writer" in progress_text(app) and "0/2" in progress_text(app))
            assert run.status == "running"
            server.hold.set()
            await until(pilot, lambda: run.status != "running")
            assert run.status == "done", run.error
            assert (run.processed, run.total, run.progress) == (2, 2, 1.0)
            await until(pilot, lambda: "done" in progress_text(app) and "2/2" in progress_text(app))
            program = root / "dump" / "optimizer" / "writer_BTCUSDT.py"
            trace = program.with_suffix(".md")
            assert program.is_file() and trace.is_file()
            assert "def get_signal" in trace.read_text()  # the model's answer, kept with the code
            assert any(str(program) in n.message for n in app._notifications)
            assert {r["model"] for r in server.requests} == {"test-model"}  # [llm] of btk.toml
            await pilot.press("s")  # an optimizer that ended is not a running run
            await pilot.press("r")
            await until(pilot, lambda: app.screen.id != "dashboard" and app.screen.query("#report-list"))
            listed = app.screen.query_one("#report-list")
            names = [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)]
            assert any("writer_BTCUSDT" in n for n in names), names
    finally:
        await server.stop()


async def test_a_project_without_optimizers_says_how_to_add_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BTK_SETTINGS", str(tmp_path / "user-settings.toml"))
    app = BtkApp(load_project(None), save_settings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o")
        await until(pilot, lambda: any("engine.add_optimizer" in n.message for n in app._notifications))
        assert not isinstance(app.screen, StartDialog)
