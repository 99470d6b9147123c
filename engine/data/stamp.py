"""What a full check of a catalog file found, kept beside it so backtests need not redo it.

Every backtest placed a year of catalog candles through SPEC 3.5's sanity check (docs/behaviour.md
3.5) again, although the catalog checked them when it wrote the file. The catalog now records what
that check found in a small stamp, ``<SYMBOL>-1m.checked`` beside ``<SYMBOL>-1m.arrow``, keyed to
the file it describes: its inode, size and modification time (ns), and a hash of its first and
last 64 KiB (the first rows, the last rows and the footer with the coverage). A file replaced,
rewritten or touched by anything no longer matches its stamp, and is checked again on its next open
(the stamp is then written again); a stamp that does not match, cannot be read or is missing is
never trusted. Nothing is ever trusted that the check did not find: a file with one bad candle
gets a stamp that says so, and the engine checks (and poisons) its candles as it always did.

The stamp keeps facts, not a verdict: whether every row is well formed (whole minutes, strictly
ascending, every value finite, prices above zero, volume not negative, OHLC consistent) and the
lowest and highest price. SPEC 3.5's remaining rule (no price below reference / factor) depends on
the configuration and on which candles are asked for; when the lowest price is at least the
highest / factor, no slice of the file can break it (a slice's reference lies between the two), so
the engine's check of any slice would find nothing: that is the one case it is skipped
(``Checked.passes``), and the outcome is the same as running it.

The stamp also keeps where the six column buffers start in the file and the coverage: a stamped
file is then opened with ``mmap`` and numpy views at those offsets, without importing pyarrow
(about 50 ms of a fresh process's start). What the stamp says about the layout is as trustworthy as
what it says about the candles: it is read only for the exact version of the file it was written for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.model import MINUTE_MS, CandleColumns

__all__ = ["Checked", "Stamp", "check_columns", "load_stamp", "save_stamp", "stamp_path"]

STAMP_SUFFIX = ".checked"
RULES_VERSION = 1  # bump when the facts or what they mean change: older stamps are then ignored
_EDGE = 64 * 1024


@dataclass(frozen=True, slots=True)
class Checked:
    """The facts a full check of a file's candles found (see the module docstring)."""

    rows: int
    clean: bool  # every row well formed (whole minutes, ascending, finite, positive, consistent)
    low: float  # the lowest open/high/low/close (NaN when there is none)
    high: float  # the highest open/high/low/close

    def passes(self, factor: float) -> bool:
        """True when SPEC 3.5's check of any slice of these candles finds nothing under ``factor``
        (CC_GET_CANDLES_PRICE_ANOMALY_THRESHOLD_FACTOR)."""
        return self.clean and self.rows > 0 and self.low >= self.high / factor


@dataclass(frozen=True, slots=True)
class Stamp:
    """A stamp that matches its file: the facts, and (when recorded) the layout and coverage."""

    checked: Checked
    offsets: tuple[int, ...] | None  # byte offset of each column's values, in the catalog's field order
    coverage: bytes | None  # the coverage JSON of the file's schema metadata


def check_columns(cols: CandleColumns) -> Checked:
    """Check every row of ``cols`` once (a few vectorised passes over the columns)."""
    from engine.candles import ohlc_problems

    n = len(cols)
    if n == 0:
        return Checked(0, False, math.nan, math.nan)
    ts = cols.timestamp
    prices = (cols.open, cols.high, cols.low, cols.close)
    with np.errstate(invalid="ignore"):
        low = min(float(x.min()) for x in prices)  # NaN anywhere makes this NaN, and not clean below
        high = max(float(x.max()) for x in prices)
        vmin, vmax = float(cols.volume.min()), float(cols.volume.max())
    clean = (
        not (ts % MINUTE_MS).any()
        and bool((ts[1:] > ts[:-1]).all())
        and low > 0
        and math.isfinite(high)
        and vmin >= 0
        and math.isfinite(vmax)
        and not ohlc_problems(*prices, cols.volume).any()
    )
    return Checked(n, bool(clean), low, high)


def stamp_path(path: Path) -> Path:
    return path.with_name(path.stem + STAMP_SUFFIX)


def _edges(head: bytes, tail: bytes) -> str:
    return hashlib.blake2b(head + tail, digest_size=16).hexdigest()


def edges_of(data: bytes | memoryview) -> str:
    """The edge hash of a file's content held in memory (what ``_key`` reads from the disk)."""
    view = memoryview(data).cast("B")
    return _edges(bytes(view[:_EDGE]), bytes(view[max(_EDGE, len(view) - _EDGE) :]))


def _key(path: Path, st: os.stat_result) -> dict[str, object]:
    """What ties a stamp to one version of one file."""
    with open(path, "rb") as handle:
        head = handle.read(_EDGE)
        handle.seek(max(_EDGE, st.st_size - _EDGE))
        tail = handle.read(_EDGE)
    return {"ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "edges": _edges(head, tail)}


def save_stamp(
    path: Path,
    st: os.stat_result,
    checked: Checked,
    content: bytes | memoryview | None = None,
    *,
    offsets: tuple[int, ...] | None = None,
    coverage: bytes | None = None,
) -> None:
    """Record ``checked`` for the version ``st`` of ``path`` (best effort: a catalog on a read-only
    disk works, it is only checked on every open). With ``content`` (what the caller wrote), nothing
    is recorded unless the file on disk is still that content (another writer may have replaced it)."""
    from engine.persist.atomic import write_atomic

    key = _key(path, st)
    if content is not None and (key["size"] != memoryview(content).nbytes or key["edges"] != edges_of(content)):
        return
    doc = {"rules": RULES_VERSION, "file": key, "rows": checked.rows, "clean": checked.clean}
    doc |= {"low": checked.low, "high": checked.high}
    if offsets is not None and coverage is not None:
        doc |= {"offsets": list(offsets), "coverage": coverage.decode()}
    with contextlib.suppress(OSError):
        write_atomic(stamp_path(path), json.dumps(doc, sort_keys=True).encode())


def load_stamp(path: Path, st: os.stat_result) -> Stamp | None:
    """What was recorded for exactly the version ``st`` of ``path``, or None (missing, stale,
    unreadable, or written by other rules)."""
    try:
        doc = json.loads(stamp_path(path).read_bytes())
        if doc.get("rules") != RULES_VERSION or doc.get("file") != _key(path, st):
            return None
        checked = Checked(int(doc["rows"]), bool(doc["clean"]), float(doc["low"]), float(doc["high"]))
        offsets = doc.get("offsets")
        offsets = None if offsets is None else tuple(int(x) for x in offsets)
        coverage = doc.get("coverage")
        return Stamp(checked, offsets, None if coverage is None else str(coverage).encode())
    except (OSError, ValueError, KeyError, TypeError):
        return None
