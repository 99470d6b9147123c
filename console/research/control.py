"""``S`` on the dashboard: the sweep dialog, then the sweep in the Research tab.

The app calls ``start_sweep(app)``; this module owns the rest, so app.py and the dashboard stay as
they were but for a line each (issue 18 "Console and CLI": a Research tab in the dashboard).
"""

from __future__ import annotations

from typing import Any

from ..project import Project
from ..state import Part
from ..sweep_cli import build_parser, make_sweep, table_path, worker_setup
from .dialog import SweepDialog, SweepForm
from .pane import ResearchPane, sweepable
from .runner import SweepJob

__all__ = ["ResearchPane", "build_job", "start_sweep", "sweepable"]


def build_job(project: Project, dump_dir: Any, form: SweepForm) -> SweepJob:
    """The job the dialog's fields ask for, checked as ``btk-console sweep`` checks its command line
    (raises its SweepUsageError or engine's SweepError with the same message)."""
    if project.source is None and not project.is_demo:
        raise ValueError("a sweep from the console needs a btk.toml project (its process loads the same file)")
    config = str(project.source) if project.source is not None else None
    argv = [*form.argv(), "--dump-dir", str(dump_dir)]
    if config is not None:
        argv += ["--config", config]
    args = build_parser().parse_args(argv)
    sweep, heat = make_sweep(args, project)
    table = table_path(args, project, sweep)
    frame = args.frame or project.default_frame
    setup = worker_setup(args.config)
    return SweepJob(sweep, table, table.with_suffix(".md"), setup, args.workers, "local", heat, frame)


def start_sweep(app: Any) -> None:
    """Ask what to sweep (the last choice comes back), then start it in the Research tab."""
    project: Project | None = app.project
    dashboard = app.dashboard
    if project is None or dashboard is None:
        return
    names = sweepable(project.strategies)
    if not names:
        app.notify(
            "No strategy of this project declares params: add params={...} to add_strategy to sweep it.",
            severity="warning",
            markup=False,
        )
        return
    pane = dashboard.query_one(ResearchPane)
    if pane.running:
        app.notify("A sweep is running: x in the Research tab stops it.", severity="warning", markup=False)
        return
    last = getattr(app, "_last_sweep_form", None)

    def build(form: SweepForm) -> SweepJob:
        job = build_job(project, app.dump_dir, form)
        app._last_sweep_form = form
        return job

    def chosen(job: SweepJob | None) -> None:
        if job is None:
            return
        pane.start(job)
        dashboard.show(Part.NONE, reveal=ResearchPane)

    app.push_screen(
        SweepDialog(
            strategies=names,
            symbols=project.symbols,
            exchanges=project.exchanges,
            frames=project.frames,
            build=build,
            last=last,
        ),
        chosen,
    )
