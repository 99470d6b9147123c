"""Reloading the project after an edit (``ctrl+r``): btk.toml and its strategy files again,
without leaving the console (issue 14, "Reload").

Why it is careful: the engine's registries are global and ``load_project`` assumes a clean engine;
a load that fails part way leaves what it registered so far (console/project.py). So a reload
takes a copy of every registration (``engine.registrations()``) and of the brokers, forgets the
registrations, loads, and when the load fails puts the copy back exactly: the console goes on
with the old project, whole. When it succeeds, what a run still going uses and the new project no
longer has (a strategy renamed, an exchange removed) is added back from the copy, so runs in
progress finish as they started. Plain code, no Textual: the app shows the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import engine

from .project import Project, load_project
from .state import RunView
from .toml_source import ProjectError


@dataclass(frozen=True, slots=True)
class Reloaded:
    """A reload's outcome: the new project, or why not (the old one is still registered)."""

    project: Project | None
    error: str | None = None
    kept: tuple[str, ...] = field(default_factory=tuple)  # old names kept for runs still going


def in_use(runs: Iterable[RunView], saved: engine.Registrations) -> dict[str, set[str]]:
    """Kind -> names the active runs need: their strategy, exchange and frame; a walker's own
    schema and every strategy it tests; the risk profiles of those strategies."""
    need: dict[str, set[str]] = {k: set() for k in ("strategy", "exchange", "frame", "walker", "risk")}
    walkers = dict(next((items for kind, items in saved.kinds if kind == "walker"), ()))
    for run in runs:
        if not run.is_active:
            continue
        need["exchange"].add(run.exchange)
        if run.frame:
            need["frame"].add(run.frame)
        if run.mode == "walker":
            need["walker"].add(run.name)
            schema = walkers.get(run.name)
            if schema is not None:
                need["strategy"].update(schema.strategies)
        else:
            need["strategy"].add(run.name)
    strategies = dict(next((items for kind, items in saved.kinds if kind == "strategy"), ()))
    for name in list(need["strategy"]):
        schema = strategies.get(name)
        if schema is not None:
            need["risk"].update(schema.risk_names)
    return need


def reload_project(project: Project, runs: Iterable[RunView]) -> Reloaded:
    """Load ``project``'s btk.toml again; on any failure the registrations are as before."""
    if project.source is None:
        return Reloaded(None, "The demo has no btk.toml to reload: it is built in.")
    runs = list(runs)
    saved = engine.registrations()
    brokers = engine.list_brokers()
    engine.restore_registrations(engine.Registrations(()))  # a clean engine for load_project
    try:
        fresh = load_project(project.source)
    except Exception as exc:  # a ProjectError names the file and line; anything else its type
        engine.restore_registrations(saved)
        for broker in brokers:  # a [broker] registered before the failure is undone too
            engine.add_broker(broker, replace=True)
        text = str(exc) if isinstance(exc, ProjectError) else f"{type(exc).__name__}: {exc}"
        return Reloaded(None, text)
    need = in_use(runs, saved)
    now = engine.registrations()
    kept = tuple(
        f"{kind} {name}" for kind, names in need.items() for name in sorted(names) if name not in now.names(kind)
    )
    engine.restore_registrations(saved, only=need)
    return Reloaded(fresh, None, kept)
