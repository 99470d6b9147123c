"""What the console remembers (theme, key bindings, last start-dialog choices), saved as TOML.

The console never writes the user's btk.toml: that file is theirs, with their comments and layout,
and it is often under version control. A project's remembered state goes to a file of the
console's own beside it (``btk.ui.toml``, see ``ui_state_path``); the demo, which has no file of
its own, uses the per-user file (``$BTK_SETTINGS``, else ``$XDG_CONFIG_HOME/btk/settings.toml``,
else ``~/.config/btk/settings.toml``).

A user may still write ``[ui]`` and ``[keys]`` tables in btk.toml by hand: they are read as the
project's defaults, and what the console saved overrides them (the project loader says so in its
notes when it does, so a hand edit that seems ignored has an explanation). Because the console
owns its file whole, saving is a plain render with tomli-w and one atomic replace: no text surgery.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import tomli_w

from engine import write_atomic

from .sections import check_keys_section, check_ui_section
from .toml_source import PROJECT_FILE, ProjectError, TomlSource, display_path, parse_toml

__all__ = [
    "SETTINGS_ENV",
    "UI_STATE_FILE",
    "SettingsWrite",
    "load_settings",
    "merge_settings",
    "save_settings",
    "ui_state_path",
    "user_settings_path",
    "write_settings",
]

SETTINGS_ENV = "BTK_SETTINGS"
TABLES = ("ui", "keys")
UI_STATE_FILE = "btk.ui.toml"
NEW_FILE_HEADER = (
    "# What btk-console remembers (theme, key bindings, last choices): written by btk-console.\n"
    "# Safe to edit or delete (the console starts from its defaults and btk.toml's [ui]/[keys]).\n"
)
log = logging.getLogger(__name__)


def user_settings_path() -> Path:
    """The per-user settings file (it need not exist yet: the first save creates it)."""
    explicit = os.environ.get(SETTINGS_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"  # relative: ignored (XDG spec)
    return base / "btk" / "settings.toml"


def ui_state_path(project_file: Path) -> Path:
    """Where a btk.toml project's console state is saved: beside the project file, never in it."""
    return project_file.parent / UI_STATE_FILE


def merge_settings(
    declared: Mapping[str, Any], saved: Mapping[str, Any], what: str, source: str, notes: list[str]
) -> dict[str, Any]:
    """btk.toml's hand-written ``[ui]``/``[keys]`` (``declared``) with the console's saved state
    over it; a declared value the saved one replaces gets a note naming both files, so a hand edit
    that seems to be ignored explains itself. Nested tables (a dialog's last choices) merge by key."""
    merged: dict[str, Any] = copy.deepcopy(dict(declared))
    for key, value in saved.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merged[key] = {**old, **value}
            continue
        if key in merged and old != value and not isinstance(old, dict):
            notes.append(f"{PROJECT_FILE} [{what}] {key} = {old!r} is overridden by {source} ({value!r})")
        merged[key] = copy.deepcopy(value)
    return merged


def _read_text(path: Path) -> str | None:
    name = display_path(path)
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ProjectError(f"{name}: cannot read it: {exc.strerror or exc}") from None


def load_settings(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``([ui], [keys])`` of a settings file or btk.toml; a missing file is simply empty settings.

    A corrupt file is a ProjectError naming it (and the line), which the console shows before
    carrying on with its defaults.
    """
    path = Path(path)
    text = _read_text(path)
    if text is None:
        return {}, {}
    data = parse_toml(text, path)
    src = TomlSource(path, text)
    return check_ui_section(src, data.get("ui", {})), check_keys_section(src, data.get("keys", {}))


@dataclass(slots=True)
class SettingsWrite:
    """The outcome of a save: where, and the tables now in the file."""

    path: Path
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    """Tuples as lists, so what tomllib reads back compares equal to what was meant."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _merge(current: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Shallow merge: new values win; ``None`` removes a key (TOML has no null)."""
    merged = {**current, **{k: _plain(v) for k, v in new.items()}}
    return {k: v for k, v in merged.items() if v is not None}


def write_settings(
    path: str | os.PathLike[str], *, ui: Mapping[str, Any] | None = None, keys: Mapping[str, Any] | None = None
) -> SettingsWrite:
    """Merge ``ui`` / ``keys`` into the console's settings file and write it whole.

    The file is the console's own (a project's ``btk.ui.toml`` or the per-user file), so it is
    rendered by tomli-w and replaced atomically; a btk.toml is refused (the console never writes
    the user's project file). A file that does not parse is never overwritten: that is a
    ProjectError naming it, which the console shows.
    """
    path = Path(path)
    if path.is_symlink():  # replace the file the link points at, not the link
        path = path.resolve()
    name = display_path(path)
    if path.name == PROJECT_FILE:
        raise ProjectError(f"{name}: the console does not write a project file; its settings go to {UI_STATE_FILE}")
    text = _read_text(path)
    data = parse_toml(text, path) if text is not None else {}
    updates: dict[str, dict[str, Any]] = {}
    for table, new in (("ui", ui), ("keys", keys)):
        if new is None:
            continue
        current = data.get(table, {})
        if not isinstance(current, dict):
            raise ProjectError(f"{name}: [{table}] is not a table; fix it by hand before the console can save settings")
        updates[table] = _merge(current, new)
    tables = {t: copy.deepcopy(updates.get(t, data.get(t, {}))) for t in TABLES}
    if not updates:
        return SettingsWrite(path, tables)
    expected = {**data, **updates}
    new_text = NEW_FILE_HEADER + "\n" + tomli_w.dumps(expected)
    if parse_toml(new_text, path) != expected:  # tomli-w and tomllib disagree: keep the old file
        raise ProjectError(f"{name}: the settings could not be written back faithfully; the file was not changed")
    _atomic_write(path, new_text)
    return SettingsWrite(path, tables)


class SettingsOwner(Protocol):
    """What ``save_settings`` reads and updates: a loaded ``Project`` (typed structurally, so this
    module does not import the loader that imports it)."""

    settings_path: Path
    ui: dict[str, Any]
    keys: dict[str, str]
    notes: list[str]


def save_settings(
    project: SettingsOwner, *, ui: Mapping[str, Any] | None = None, keys: Mapping[str, Any] | None = None
) -> Path:
    """Save into the project's settings file (``btk.ui.toml`` beside its btk.toml, or the per-user
    file for the demo) and update ``project.ui`` / ``project.keys`` with what was saved over them."""
    result = write_settings(project.settings_path, ui=ui, keys=keys)
    for table, new in (("ui", ui), ("keys", keys)):
        if new is not None:
            current = project.ui if table == "ui" else project.keys
            merged = _merge(current, new)
            merged.update(result.tables[table])
            if table == "ui":
                project.ui = merged
            else:
                project.keys = merged
    return result.path


def _atomic_write(path: Path, text: str) -> None:
    """Replace the file atomically (``engine.persist.atomic``): a crash leaves the old file or the
    new one; a failure is a ``ProjectError`` naming the file, and leaves the old file as it was."""
    name = display_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    except OSError as exc:
        raise ProjectError(f"{name}: cannot save settings: {exc.strerror or exc}") from None
