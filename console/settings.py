"""What the console remembers (theme, key bindings, last start-dialog choices), saved as TOML.

A btk.toml project keeps its settings in its own ``[ui]`` and ``[keys]`` tables; the demo, which
has no file of its own, uses the per-user file (``$BTK_SETTINGS``, else
``$XDG_CONFIG_HOME/btk/settings.toml``, else ``~/.config/btk/settings.toml``).

Why saving is surgical: a btk.toml is the user's file, with their comments and layout. Saving a
theme must not reformat it. So only the text of the ``[ui]`` / ``[keys]`` tables is replaced (or
appended), rendered by tomli-w, and the result is re-parsed and compared with what was intended
before it atomically replaces the file. Comments *inside* those two tables are not kept: the
console owns them. When the file defines a table in a form that cannot be cut out safely (an inline
table ``ui = {...}``, dotted keys ``ui.theme = ...``), the whole file is rewritten by tomli-w and a
warning says that its comments were lost.
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
from .toml_source import ProjectError, TomlSource, display_path, parse_toml, scan_toml

__all__ = ["SETTINGS_ENV", "SettingsWrite", "load_settings", "save_settings", "user_settings_path", "write_settings"]

SETTINGS_ENV = "BTK_SETTINGS"
TABLES = ("ui", "keys")
NEW_FILE_HEADER = "# Settings of the btk console: written by btk-console, safe to edit.\n"
log = logging.getLogger(__name__)


def user_settings_path() -> Path:
    """The per-user settings file (it need not exist yet: the first save creates it)."""
    explicit = os.environ.get(SETTINGS_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"  # relative: ignored (XDG spec)
    return base / "btk" / "settings.toml"


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
    """The outcome of a save: where, whether the file's comments survived, and the saved tables."""

    path: Path
    comments_kept: bool
    warning: str | None = None
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
    """Merge ``ui`` / ``keys`` into the file's ``[ui]`` / ``[keys]`` tables and write it back.

    Everything outside the two tables is kept byte for byte when the tables can be cut out
    safely; otherwise the whole file is rewritten (``comments_kept`` false, ``warning`` set).
    A file that does not parse is never overwritten: that is a ProjectError.
    """
    path = Path(path)
    if path.is_symlink():  # replace the file the link points at, not the link
        path = path.resolve()
    name = display_path(path)
    text = _read_text(path)
    original = NEW_FILE_HEADER if text is None else text
    data = parse_toml(original, path)
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
        return SettingsWrite(path, True, None, tables)
    expected = {**data, **updates}

    new_text = _rewrite_tables(original, updates)
    if new_text is not None and _parses_to(new_text, expected):
        result = SettingsWrite(path, True, None, tables)
    else:
        new_text = tomli_w.dumps(expected)
        if not _parses_to(new_text, expected):
            raise ProjectError(f"{name}: the settings could not be written back faithfully; the file was not changed")
        warning = (
            f"{name}: [ui]/[keys] are written in a form that cannot be replaced in place "
            "(an inline table or dotted keys); the file was rewritten and its comments were not kept"
        )
        result = SettingsWrite(path, False, warning, tables)
    _atomic_write(path, new_text)
    return result


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
    """Save into the project's settings file (its btk.toml, or the per-user file for the demo).

    ``project.ui`` / ``project.keys`` are updated to what was saved. A fallback rewrite that lost
    comments is logged and added to ``project.notes`` (once), where the console can show it.
    """
    result = write_settings(project.settings_path, ui=ui, keys=keys)
    project.ui = result.tables["ui"]
    project.keys = result.tables["keys"]
    if result.warning:
        log.warning(result.warning)
        if result.warning not in project.notes:
            project.notes.append(result.warning)
    return result.path


# --------------------------------------------------------------------------- the text surgery


def _parses_to(text: str, expected: dict[str, Any]) -> bool:
    try:
        return parse_toml(text, Path("settings")) == expected
    except ProjectError:
        return False


def _rewrite_tables(text: str, updates: Mapping[str, dict[str, Any]]) -> str | None:
    """``text`` with each table of ``updates`` re-rendered in place, or None when unsafe."""
    for table, content in updates.items():
        replaced = _rewrite_table(text, table, content)
        if replaced is None:
            return None
        text = replaced
    return text


def _rewrite_table(text: str, table: str, content: dict[str, Any]) -> str | None:
    newline = "\r\n" if "\r\n" in text else "\n"
    rendered = tomli_w.dumps({table: content}).replace("\n", newline)
    lines = text.splitlines(keepends=True)
    scanned = scan_toml(text)
    if len(scanned) != len(lines):  # a lone \r or other oddity: do not guess
        return None

    # Blocks: a [table] or [table.sub] header up to the next header, minus the blank lines and
    # comments just before that next header (they introduce it, so they stay with it).
    blocks: list[tuple[int, int]] = []
    start: int | None = None
    for i, line in enumerate([*scanned, None]):
        is_header = line is None or line.kind in ("header", "array-header")
        if not is_header:
            continue
        if start is not None:
            end = i
            while end > start + 1 and scanned[end - 1].kind in ("blank", "comment"):
                end -= 1
            blocks.append((start, end))
            start = None
        if line is not None and line.path[:1] == (table,):
            if line.kind == "array-header":
                return None
            start = i
    inside = {i for a, b in blocks for i in range(a, b)}
    for i, line in enumerate(scanned):
        if line.kind == "key" and line.path[:1] == (table,) and i not in inside:
            return None  # ui = {...} or ui.theme = ... : cannot be cut out as a block

    if not blocks:
        body = text
        if body and not body.endswith(("\n", "\r")):
            body += newline
        if body.strip():
            body += newline
        return body + rendered
    out: list[str] = []
    first = blocks[0][0]
    for i, line_text in enumerate(lines):
        if i == first:
            out.append(rendered)
        if i not in inside:
            out.append(line_text)
    return "".join(out)


def _atomic_write(path: Path, text: str) -> None:
    """Replace the file atomically (``engine.persist.atomic``): a crash leaves the old file or the
    new one; a failure is a ``ProjectError`` naming the file, and leaves the old file as it was."""
    name = display_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    except OSError as exc:
        raise ProjectError(f"{name}: cannot save settings: {exc.strerror or exc}") from None
