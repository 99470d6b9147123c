"""The optimizer in the dashboard (issue 19): ``o`` picks one of the project's optimizers and a
symbol, and it runs as ``btk-console optimize`` does (console/optimize_cli.py), in a worker of
this process: data read per range and source, the project's LLM asked for each strategy, the
program and its markdown trace written under ``<dump>/optimizer``. Its progress (sources read of
ranges x sources, SPEC 13.2) is a row in the Progress pane; the trace (each strategy's prompt and
answer, and the program) is a report the browser (``r``) lists.

The generated program is never run here: it executes what the model wrote, so it runs only when
the user asks, in a subprocess (``btk-console optimize --run`` or ``python <program>``).
"""

from __future__ import annotations

from typing import Any

import engine
from engine import load_llm_settings, set_llm_settings

from .messages import RunFinished
from .state import Part, RunView, run_id

BtkApp = Any  # console/app.py's app (not imported: it imports this module)


def optimizer_names() -> list[str]:
    return [s.optimizer_name for s in engine.list_optimizers()]


def descriptions() -> dict[str, str]:
    """What each optimizer writes, for the start dialog's list."""
    out = {}
    for s in engine.list_optimizers():
        n = len(s.range_train) * len(s.sources)
        out[s.optimizer_name] = (
            f"{n} strategies ({len(s.range_train)} ranges x {len(s.sources)} sources) · "
            f"tested {s.range_test.start_date:%Y-%m-%d}..{s.range_test.end_date:%Y-%m-%d}"
        )
    return out


def start(app: BtkApp, symbol: str, name: str) -> bool:
    """Start optimizer ``name`` on ``symbol`` in a worker; a refusal is a notification."""
    rid = run_id("optimizer", symbol, name)
    old = app.state.runs.get(rid)
    if old is not None and old.is_active:
        app.notify(f"{name} on {symbol} is already running", severity="warning", markup=False)
        return False
    schema = next((s for s in engine.list_optimizers() if s.optimizer_name == name), None)
    if schema is None:
        app.notify(f"optimizer {name} is not registered", title="Cannot start", severity="error", markup=False)
        return False
    try:  # [llm] of the project's btk.toml, the environment on top (as btk-console optimize)
        settings = load_llm_settings(app.project.source if app.project else None)
    except ValueError as exc:
        app.notify(str(exc), title="Cannot start the optimizer", severity="error", timeout=10, markup=False)
        return False
    # the engine's LLM settings too: a project's get_prompt builds its client from them
    # (engine.OllamaClient() with no arguments), as under btk-console optimize
    set_llm_settings(settings)
    run = RunView(
        id=rid,
        mode="optimizer",
        symbol=symbol,
        name=name,
        exchange="",
        status="running",
        total=len(schema.range_train) * len(schema.sources),
        started=app.clock().timestamp(),
    )
    app.state.add_run(run)
    app.session.selected = rid
    app.run_worker(_drive(app, run, settings), name=rid, group="runs", exit_on_error=False)
    return True


async def _drive(app: BtkApp, run: RunView, settings: engine.LlmSettings) -> None:
    """Generate and write the program; progress events move the run's row as they come."""

    def progress(ev: engine.OptimizerProgressEvent) -> None:
        if ev.optimizer_name != run.name or ev.symbol != run.symbol:
            return  # another optimizer run's
        run.processed, run.total, run.progress = ev.processed_sources, ev.total_sources, min(ev.progress, 1.0)
        app._show(Part.PROGRESS | Part.RUNS)

    unlisten = engine.listen_optimizer_progress(progress)
    try:
        path = await engine.Optimizer.dump(run.symbol, run.name, app.dump_dir / "optimizer", settings=settings)
    except Exception as exc:  # the model, a source or the project's get_prompt failed: the run says why
        app.post_message(RunFinished(run.id, exc))
        return
    finally:
        unlisten()
    app.notify(
        f"Program written: {path}\nIts trace (each strategy's prompt and answer, and the program): "
        f"{path.with_suffix('.md').name}, in the reports (r). Run it with: btk-console optimize "
        f"--optimizer {run.name} --symbol {run.symbol} --run",
        title=f"Optimizer {run.name} · {run.symbol}",
        timeout=20,
        markup=False,
    )
    app.post_message(RunFinished(run.id, None))
