"""Markdown building blocks shared by every report: the column type, tables, and writing a file.

A report is a list of lines joined with ``\\n``; a table is a header row of labels, a ``---``
separator row and one row per item, each written as ``| a | b | c |`` (SPEC 12.1).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..persist.atomic import write_atomic

__all__ = [
    "Column",
    "always_visible",
    "escape_cell",
    "render_table",
    "truncation_lines",
    "visible_columns",
    "write_report",
]


def always_visible() -> bool:
    """Default ``is_visible`` of a column."""
    return True


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: a stable ``key`` (unique in its list), the header ``label``, a
    ``format(item, index) -> str`` cell renderer and an ``is_visible() -> bool`` switch that is
    asked at render time (so the Note columns follow CC_REPORT_SHOW_SIGNAL_NOTE as it is now)."""

    key: str
    label: str
    format: Callable[[Any, int], str]
    is_visible: Callable[[], bool] = always_visible
    column: Callable[[Any], list[str] | None] | None = None
    """The same cells for a whole packed chunk of items at once (``PackedView.segments``), oldest
    first, from its columns: ``format`` applied to the values the chunk's objects would hold, with
    no object built (a report of every trade of a year renders ~5,000 rows). None where it cannot
    (the generic path then formats the objects). Only the built-in columns have one; columns a
    user configures are rebuilt without it."""


def visible_columns(columns: Iterable[Column]) -> list[Column]:
    """The columns whose ``is_visible()`` is true, in order."""
    return [c for c in columns if c.is_visible()]


def escape_cell(text: str) -> str:
    """Keep a cell on one table row: a ``|`` or a line break inside free text (a note, a risk
    comment) would otherwise split the row. Text without them is returned unchanged."""
    if "|" not in text and "\n" not in text and "\r" not in text:
        return text
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("|", "\\|")


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_table(columns: Iterable[Column], items: Iterable[Any]) -> str:
    """Header, separator and one row per item over the visible columns (SPEC 12.1).

    ``format`` receives the item and its 0-based position in ``items``.
    """
    shown = visible_columns(columns)
    lines = [_row([escape_cell(c.label) for c in shown]), _row(["---"] * len(shown))]
    bars = len(shown) - 1  # the " | " between cells: a row holding more "|" has one inside a cell
    append = lines.append
    for cells in _cell_rows(shown, items):
        joined = " | ".join(cells)
        if joined.count("|") != bars or "\n" in joined or "\r" in joined:  # rare: escape cell by cell
            joined = " | ".join([escape_cell(c) for c in cells])
        append("| " + joined + " |")
    return "\n".join(lines)


def _cell_rows(shown: list[Column], items: Iterable[Any]) -> Iterator[Sequence[str]]:
    """Each item's cells, in order. A packed view whose every shown column can read a packed chunk
    is rendered a chunk at a time from its columns (``Column.column``); anything else (objects, a
    chunk that keeps some results whole, any other column) item by item through ``format``."""
    formats = [c.format for c in shown]
    readers = [c.column for c in shown]
    segments = getattr(items, "segments", None)
    if segments is None or None in readers:
        for index, item in enumerate(items):
            yield [str(f(item, index)) for f in formats]
        return
    index = 0
    for chunk, objects, count in segments():
        cols = None if chunk is None else [read(chunk) for read in readers]
        if cols is None or None in cols:
            for item in objects():
                yield [str(f(item, index)) for f in formats]
                index += 1
            continue
        yield from zip(*(col[::-1][:count] for col in cols))  # the chunk's ``count`` newest, newest first
        index += count


def truncation_lines(
    stored: int, seen: int, noun: str, *, per: str = "", cap_name: str = "CC_MAX_REPORT_EVENTS"
) -> list[str]:
    """The btk line that says a report covers only the newest part of what happened, followed by
    a blank line; no lines at all when nothing was cut.

    Example: ``*Statistics over the newest 250 of 7,103 closed signals (CC_MAX_REPORT_EVENTS).*``;
    ``per="symbol"`` says the cap applies per symbol (the heatmap); ``cap_name`` names the limit.
    """
    if seen <= stored:
        return []
    cap = cap_name + (f" per {per}" if per else "")
    return [f"*Statistics over the newest {stored:,} of {seen:,} {noun} ({cap}).*", ""]


def report_page(
    title: str,
    *,
    empty: str | None,
    table: str = "",
    truncation: Sequence[str] = (),
    summary: Sequence[str] = (),
) -> str:
    """The page every report shares: the title; then ``empty`` alone when there is nothing to
    show, else the cut note (if any), the table and the summary lines."""
    if empty is not None:
        return "\n".join([title, "", empty])
    return "\n".join([title, "", *truncation, table, "", *summary])


def table_report(
    title: str,
    *,
    empty: str,
    columns: Iterable[Column],
    items: Sequence[Any],
    seen: int,
    noun: str,
    summary: Callable[[], Sequence[str]],
) -> str:
    """A report of one table of stored items (newest first): ``empty`` when there are none, else
    the cut note (when ``seen`` exceeds what is stored), the table and the ``summary`` lines."""
    if not items:
        return report_page(title, empty=empty)
    return report_page(
        title,
        empty=None,
        truncation=truncation_lines(len(items), seen, noun),
        table=render_table(columns, items),
        summary=summary(),
    )


def write_report(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` (UTF-8), creating the directory, and return the path.

    The file is replaced atomically (``persist.atomic``), so a reader such as the console's report
    browser never sees half a report. I/O errors propagate: the ``dump`` facades decide whether to
    log or raise (SPEC 12.1 says they log).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, text)
    return target
