"""Loading a project: what the console and the headless commands run.

Today that is the embedded demo project; btk.toml projects (tomllib, strategy modules, settings
written back with tomli-w) arrive with the interactive console.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class ProjectError(Exception):
    """A project could not be loaded; the message names the file, the key and what was expected."""


@dataclass(slots=True)
class Project:
    name: str
    exchange: str
    frame: str
    strategies: list[str]
    symbols: list[str]
    symbol_list_is_strict: bool = False  # the synthetic feed trades any symbol
    source: Path | None = None
    notes: list[str] = field(default_factory=list)


def load_demo(days: int | None = None) -> Project:
    from . import demo

    info = demo.register()
    frame = demo.ensure_frame(days) if days else info["frame"]
    return Project(
        name="demo",
        exchange=info["exchange"],
        frame=frame,
        strategies=list(info["strategies"]),
        symbols=list(info["symbols"]),
    )


def load_project(config: str | None = None, *, days: int | None = None) -> Project:
    """The project of ``config`` (a btk.toml), else ./btk.toml, else the embedded demo."""
    if config is not None:
        path = Path(config)
        if not path.exists():
            raise ProjectError(f"{path}: no such file (expected a btk.toml project file)")
        raise ProjectError(f"{path}: btk.toml projects are not supported yet; run without --config for the demo")
    return load_demo(days)
