"""Shape checks of btk.toml tables that both the project loader and the settings file use.

They live apart from ``project.py`` and ``settings.py`` so neither imports the other to check a
``[keys]`` or ``[ui]`` table: the loader reads settings, and the settings code needs only these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .toml_source import TomlSource, _quote_key, _suggest, describe

__all__ = ["check_keys_section", "check_known_keys", "check_table", "check_ui_section"]


def check_table(src: TomlSource, path: Sequence[str], value: Any, what: str = "a table") -> dict[str, Any]:
    if not isinstance(value, dict):
        header = "[" + ".".join(_quote_key(p) for p in path) + "]"
        raise src.error(path, f"expected {what} (a {header} section), got {describe(value)}")
    return value


def check_known_keys(src: TomlSource, path: Sequence[str], table: dict[str, Any], known: Sequence[str]) -> None:
    """Unknown keys are errors, not silently ignored: a typo must not become a default."""
    for key in table:
        if key not in known:
            hint = _suggest(key, known)
            message = f"unknown key; known keys: {', '.join(known)}"
            raise src.error((*path, key), message + (f" (did you mean {hint}?)" if hint else ""))


def check_keys_section(src: TomlSource, value: Any) -> dict[str, str]:
    """``[keys]``: binding id -> key string. Which ids exist is the console's business."""
    table = check_table(src, ("keys",), value)
    for binding, key in table.items():
        if not isinstance(key, str) or not key:
            raise src.error(("keys", binding), f'expected a key such as "b" or "f5", got {describe(key)}')
    return dict(table)


def check_ui_section(src: TomlSource, value: Any) -> dict[str, Any]:
    """``[ui]``: whatever the console remembers; only its shape (a table) is checked here."""
    return dict(check_table(src, ("ui",), value))
