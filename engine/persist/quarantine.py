"""State documents that cannot be trusted are moved aside, never deleted (issue 20, item 3).

A live state document that does not parse, has the wrong shape, or parses into something the
engine must not act on (a NaN price, a take-profit on the wrong side, another strategy's row) may
still be the only record of someone's open position. Deleting it loses the position; restoring it
trades on nonsense; leaving it in place lets the next write overwrite it. So it is moved to

    <state folder>/quarantine/<entity>/<when>-<file>          (the document, byte for byte)
    <state folder>/quarantine/<entity>/<when>-<file>.why.json  (reason, original path, when)

and every (symbol, strategy) whose state includes that entity refuses to trade live until a person
has looked: deleting the quarantined document, or moving it back to its original path, releases
the pair. The sidecar alone does not hold a pair.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..clock import get_clock
from ..log import get_logger
from .atomic import TEMP_PREFIX, write_atomic
from .base import PersistError

__all__ = [
    "QUARANTINE_DIR",
    "PairQuarantinedError",
    "Quarantined",
    "StateQuarantinedError",
    "forget_stuck",
    "held_documents",
    "note_stuck",
    "quarantine_file",
    "quarantine_text",
]

QUARANTINE_DIR = "quarantine"
SIDECAR_SUFFIX = ".why.json"


@dataclass(frozen=True, slots=True)
class Quarantined:
    """One document moved aside: where it was, where it is now, why, and when (engine clock, ms)."""

    entity: str  # e.g. "signal/BTCUSDT_s" or "risk/desk"
    original: Path
    moved_to: Path
    reason: str
    when: int


class StateQuarantinedError(PersistError):
    """A state document failed its checks and was moved to quarantine; one line says which, why,
    where it went and what to do."""

    def __init__(self, item: Quarantined) -> None:
        self.item = item
        super().__init__(
            f"state file {item.original} quarantined: {item.reason}; moved to {item.moved_to}; "
            f"live trading of what it belongs to is held until you inspect it, then delete it or move it back"
        )


class PairQuarantinedError(RuntimeError):
    """``Live.run``/``background`` refused: state of this (symbol, strategy) is in quarantine."""

    def __init__(self, symbol: str, strategy_name: str, documents: list[Path]) -> None:
        self.symbol, self.strategy_name, self.documents = symbol, strategy_name, list(documents)
        shown = ", ".join(str(p) for p in self.documents)
        super().__init__(
            f"live {symbol} {strategy_name} does not start: its saved state is in quarantine ({shown}); "
            f"read the reason next to it ({SIDECAR_SUFFIX}), then delete the file or move it back "
            f"to where it came from, and start again"
        )


def quarantine_dir(base_dir: Path, entity: str) -> Path:
    return base_dir / QUARANTINE_DIR / entity


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y%m%dT%H%M%S") + f"{ms % 1000:03d}Z"


def _free_target(folder: Path, stamp: str, name: str) -> Path:
    """``<stamp>-<name>``, or ``<stamp>-<n>-<name>`` if that is taken (two faults in one ms)."""
    target = folder / f"{stamp}-{name}"
    n = 1
    while target.exists():
        target = folder / f"{stamp}-{n}-{name}"
        n += 1
    return target


def _write_sidecar(item: Quarantined) -> None:
    note = {
        "reason": item.reason,
        "original": str(item.original),
        "moved_to": str(item.moved_to),
        "when": item.when,
        "when_utc": datetime.fromtimestamp(item.when / 1000, tz=UTC).isoformat(),
        "release": "inspect the document; then delete it, or fix it and move it back to 'original'",
    }
    sidecar = item.moved_to.with_name(item.moved_to.name + SIDECAR_SUFFIX)
    write_atomic(sidecar, json.dumps(note, indent=2, ensure_ascii=False) + "\n")


def quarantine_file(base_dir: Path, entity: str, path: Path, reason: str) -> Quarantined:
    """Move ``path`` (a document of ``entity`` under ``base_dir``) into quarantine, with its sidecar.

    A rename within the state folder: the content is not read or rewritten, and a crash leaves the
    document either in place or in quarantine. Raises ``OSError`` if the move fails (the caller must
    then not act on the document either)."""
    when = get_clock().now()
    folder = quarantine_dir(base_dir, entity)
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_target(folder, _stamp(when), path.name)
    os.replace(path, target)
    item = Quarantined(entity, path, target, reason, when)
    _write_sidecar(item)
    get_logger().warning(f"persist {entity}: quarantined {path} -> {target}: {reason}")
    return item


def quarantine_text(base_dir: Path, entity: str, original: Path, text: str, reason: str) -> Quarantined:
    """A copy of a document kept by a custom store (which has no file to move): its text goes to
    quarantine with the sidecar, the store is left as it is, and the pair is held all the same."""
    when = get_clock().now()
    folder = quarantine_dir(base_dir, entity)
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_target(folder, _stamp(when), original.name)
    write_atomic(target, text)  # whole or not at all: a half copy would be held as if it were the document
    item = Quarantined(entity, original, target, reason, when)
    _write_sidecar(item)
    get_logger().warning(f"persist {entity}: quarantined a copy of {original} -> {target}: {reason}")
    return item


_stuck: dict[tuple[Path, str], list[Path]] = {}


def note_stuck(base_dir: Path, entity: str, path: Path) -> None:
    """A document that failed its checks but could not be moved (a read-only folder): it stays in
    place, and this process holds its pair as if it were in quarantine."""
    held = _stuck.setdefault((base_dir, entity), [])
    if path not in held:
        held.append(path)


def forget_stuck() -> None:
    _stuck.clear()


def held_documents(base_dir: Path, entities: Iterable[str]) -> list[Path]:
    """Quarantined documents (not sidecars) of any of ``entities``, oldest name first, and those
    this process could not move aside."""
    found: list[Path] = []
    for entity in entities:
        found.extend(_stuck.get((base_dir, entity), ()))
        try:
            names = sorted(os.listdir(quarantine_dir(base_dir, entity)))
        except (FileNotFoundError, NotADirectoryError):
            continue
        found.extend(
            quarantine_dir(base_dir, entity) / n
            for n in names
            if not n.endswith(SIDECAR_SUFFIX) and not n.startswith(TEMP_PREFIX)  # a write a crash cut short
        )
    return found
