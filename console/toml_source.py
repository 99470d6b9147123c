"""Reading a TOML file so that every message can say where: file, line and key path.

``tomllib`` parses but gives no positions for keys; the light line scanner here finds the line of a
table or key in a file tomllib has accepted, and ``TomlSource.error`` builds the one-line
``btk.toml line 7: [frames.jan] start: expected ...`` messages the console and the CLI show.
The project loader and the settings reader use it (nothing rewrites a TOML file by its text).
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

PROJECT_FILE = "btk.toml"
BOM = "\ufeff"
_NAMED_SECTIONS = ("exchanges", "frames", "walkers")  # sections whose sub-tables are named schemas


class ProjectError(Exception):
    """A project could not be loaded; the message names the file, the key and what was expected."""


# --------------------------------------------------------------------------- paths and values


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def describe(value: Any) -> str:
    """A TOML value with its TOML type name, for "expected X, got Y" messages."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"string {json.dumps(shown, ensure_ascii=False)}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, datetime):
        return f"datetime {value.isoformat()}"
    if isinstance(value, date):
        return f"date {value.isoformat()}"
    if isinstance(value, time):
        return f"time {value.isoformat()}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _quote_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def key_path(path: Sequence[str]) -> str:
    """``("frames", "jan", "start")`` -> ``[frames.jan] start``: the table as its header, then the key."""
    if not path:
        return "(top level)"
    depth = 2 if path[0] in _NAMED_SECTIONS and len(path) >= 2 else 1
    table = "[" + ".".join(_quote_key(p) for p in path[:depth]) + "]"
    rest = ".".join(_quote_key(p) for p in path[depth:])
    return f"{table} {rest}" if rest else table


def _suggest(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- where keys are


@dataclass(slots=True)
class TomlLine:
    """One physical line of a TOML file as far as finding keys (and rewriting tables) needs."""

    number: int  # 1-based
    kind: str  # "header", "array-header", "key", "value" (continues a value), "comment", "blank", "other"
    path: tuple[str, ...] = ()  # a header's table, or a key's full path (table + dotted key)
    table: tuple[str, ...] = ()  # the table the line belongs to


_BARE_KEY = r"[A-Za-z0-9_-]+"
_KEY_PART = r"(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_DOTTED_KEY = rf"{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART})*"
_HEADER_RE = re.compile(rf"^[ \t]*(\[\[?)[ \t]*({_DOTTED_KEY})[ \t]*(\]\]?)[ \t]*(?:#.*)?$")
_KEY_RE = re.compile(rf"^[ \t]*({_DOTTED_KEY})[ \t]*=")


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = []
    for raw in re.findall(_KEY_PART, dotted):
        if raw[0] in "\"'":
            try:
                parts.append(tomllib.loads(f"k = {raw}")["k"])
            except tomllib.TOMLDecodeError:
                parts.append(raw[1:-1])
        else:
            parts.append(raw)
    return tuple(parts)


class _ValueLexer:
    """Tracks strings and brackets across lines, so a multi-line array or string is not taken
    for headers and keys (a line ``[1, 2]`` inside an array is not a table)."""

    def __init__(self) -> None:
        self.quote: str | None = None
        self.depth = 0

    @property
    def pending(self) -> bool:
        return self.depth > 0 or self.quote is not None

    def feed(self, text: str) -> None:
        i, n = 0, len(text)
        while i < n:
            q = self.quote
            if q is not None:
                if len(q) == 3:
                    if text.startswith(q, i):
                        self.quote = None
                        i += 3
                        while i < n and text[i] == q[0]:  # up to two quotes may end the content
                            i += 1
                        continue
                    i += 2 if (q == '"""' and text[i] == "\\") else 1
                    continue
                if q == '"' and text[i] == "\\":
                    i += 2
                    continue
                if text[i] == q:
                    self.quote = None
                i += 1
                continue
            c = text[i]
            if c == "#":
                break
            if text.startswith('"""', i) or text.startswith("'''", i):
                self.quote = text[i : i + 3]
                i += 3
                continue
            if c in "\"'":
                self.quote = c
            elif c in "[{":
                self.depth += 1
            elif c in "]}":
                self.depth = max(0, self.depth - 1)
            i += 1
        if self.quote in ('"', "'"):  # single-line strings end with the line (else tomllib complains)
            self.quote = None


def scan_toml(text: str) -> list[TomlLine]:
    """Classify every line of a TOML text: headers and keys with their paths.

    tomllib gives no positions, so messages find the line of a key by this scan. It is a light
    lexer, not a parser: good enough for files tomllib has accepted. A leading UTF-8 BOM is skipped.
    """
    text = text.removeprefix(BOM)
    out: list[TomlLine] = []
    table: tuple[str, ...] = ()
    lexer = _ValueLexer()
    for number, line in enumerate(text.splitlines(), 1):
        if lexer.pending:
            lexer.feed(line)
            out.append(TomlLine(number, "value", (), table))
            continue
        stripped = line.strip()
        if not stripped:
            out.append(TomlLine(number, "blank", (), table))
        elif stripped.startswith("#"):
            out.append(TomlLine(number, "comment", (), table))
        elif (m := _HEADER_RE.match(line)) and len(m.group(1)) == len(m.group(3)):
            table = _split_key(m.group(2))
            out.append(TomlLine(number, "array-header" if m.group(1) == "[[" else "header", table, table))
        elif m := _KEY_RE.match(line):
            out.append(TomlLine(number, "key", table + _split_key(m.group(1)), table))
            lexer.feed(line[m.end() :])
        else:
            out.append(TomlLine(number, "other", (), table))
    return out


class TomlSource:
    """A TOML file being read: its name for messages and where its keys are."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.name = display_path(path)
        self.lines = scan_toml(text)
        self._first: dict[tuple[str, ...], int] = {}
        for line in self.lines:
            if line.kind in ("header", "array-header", "key"):
                self._first.setdefault(line.path, line.number)

    def line_of(self, path: Sequence[str]) -> int | None:
        """The line of a key or table: exact, else the first line inside it (a table only implied
        by ``[a.b]``), else the nearest enclosing key (a key inside an inline table)."""
        path = tuple(path)
        if path in self._first:
            return self._first[path]
        inside = [n for p, n in self._first.items() if p[: len(path)] == path]
        if inside:
            return min(inside)
        for cut in range(len(path) - 1, 0, -1):
            if path[:cut] in self._first:
                return self._first[path[:cut]]
        return None

    def error(self, path: Sequence[str], message: str) -> ProjectError:
        """``btk.toml line 7: [frames.jan] start: expected ...`` (the line left out when unknown)."""
        line = self.line_of(path) if path else None
        where = f"{self.name} line {line}" if line else self.name
        return ProjectError(f"{where}: {key_path(path)}: {message}" if path else f"{where}: {message}")


def read_toml(path: Path) -> tuple[dict[str, Any], TomlSource]:
    """Read and parse a TOML file; every failure is a ProjectError naming the file (and line)."""
    name = display_path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ProjectError(f"{name}: no such file (expected a {PROJECT_FILE} project file)") from None
    except IsADirectoryError:
        raise ProjectError(f"{name}: is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ProjectError(f"{name}: cannot read it: {exc.strerror or exc}") from None
    return parse_toml(text, path), TomlSource(path, text)


def parse_toml(text: str, path: Path) -> dict[str, Any]:
    """``tomllib.loads`` with its position moved to the front: ``btk.toml line 7, column 12: ...``.

    A UTF-8 byte-order mark (Windows editors write one) is skipped: TOML forbids it, tomllib calls it
    an "Invalid statement", and it is invisible in every editor. It is not a newline, so line numbers
    stay right."""
    try:
        return tomllib.loads(text.removeprefix(BOM))
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.fullmatch(r"(?s)(.*) \(at line (\d+), column (\d+)\)", message)
        if m:
            raise ProjectError(f"{display_path(path)} line {m[2]}, column {m[3]}: {m[1]}") from None
        m = re.fullmatch(r"(?s)(.*) \(at end of document\)", message)
        if m:
            raise ProjectError(f"{display_path(path)} at the end of the file: {m[1]}") from None
        raise ProjectError(f"{display_path(path)}: {message}") from None
