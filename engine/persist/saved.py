"""What the live state folder holds, read without touching it (SPEC 14.2's layout).

A console lists the open positions and waiting limit entries an earlier process saved before any
live run starts (issue 14 item 11). Starting a live run is what restores, checks and quarantines
its documents (``adapters``); this only reads: no lock is taken, nothing is moved, and a document
that cannot be read is named with its reason instead of being listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..model import SignalRow
from .adapters import base_dir

__all__ = ["SavedState", "read_saved_state"]


@dataclass(frozen=True, slots=True)
class SavedState:
    """Saved rows (``is_scheduled``: a limit entry still waiting) and the documents that could not
    be read, with why."""

    folder: Path
    rows: list[SignalRow] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def read_saved_state(folder: str | Path | None = None) -> SavedState:
    """The signal and schedule documents under ``folder`` (default: the live state folder),
    pending positions first; an empty result when the folder does not exist."""
    root = Path(folder) if folder is not None else base_dir()
    state = SavedState(root)
    for domain in ("signal", "schedule"):
        for path in sorted((root / domain).glob("*/*.json")):
            try:
                value = json.loads(path.read_text(encoding="utf-8"))
                if value is None:  # an empty slot: the pair holds nothing
                    continue
                state.rows.append(SignalRow.from_dict(value))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                state.unreadable.append((path, f"{type(exc).__name__}: {exc}"))
    return state
