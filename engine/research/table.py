"""The results table of a sweep: SQLite (standard library), one row per (parameter set, symbol, window).

A row is written by the parent as soon as its backtest finishes and committed at once, so a sweep
killed at any moment keeps every finished row; the next run with the same table skips them. The
table remembers what sweep it belongs to (``sweep_meta``): resuming it with other settings is
refused instead of mixing two sweeps in one table.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..model import TradeMetrics

__all__ = ["STAT_COLUMNS", "ResultRow", "ResultsTable", "SweepError"]

STAT_COLUMNS = (
    "trades",
    "cancelled",
    "total_signals",
    *(f.name for f in dataclasses.fields(TradeMetrics)),
)
"""SPEC 12.2's statistics over every closed trade of the run (with btk's compounded return and
maximum drawdown), plus counts."""

_INT_STATS = {"trades", "cancelled", "total_signals", "win_count", "loss_count"}


class SweepError(ValueError):
    """A sweep cannot start or go on: the message says which setting or which table."""


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One backtest of one parameter set on one symbol over one window."""

    trial: int
    symbol: str
    window: int
    params: Mapping[str, Any]
    window_start: int
    window_end: int
    stats: Mapping[str, Any]
    feasible: bool
    error: str | None
    seed: int
    btk_version: str
    daily: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Sum of the pnl percentages of the trades closed on each day of the window (for PBO, DSR, equity)."""

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.trial, self.symbol, self.window)


def params_json(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"))


class ResultsTable:
    """The SQLite file of one sweep."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        stats = ", ".join(f"{c} {'INTEGER' if c in _INT_STATS else 'REAL'}" for c in STAT_COLUMNS)
        self.db.execute("CREATE TABLE IF NOT EXISTS sweep_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS results (trial INTEGER NOT NULL, symbol TEXT NOT NULL, "
            "window INTEGER NOT NULL, params TEXT NOT NULL, window_start INTEGER NOT NULL, "
            f"window_end INTEGER NOT NULL, {stats}, feasible INTEGER NOT NULL, error TEXT, "
            "seed INTEGER NOT NULL, btk_version TEXT NOT NULL, daily BLOB NOT NULL, "
            "PRIMARY KEY (trial, symbol, window))"
        )
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ResultsTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- which sweep ---------------------------------------------------------------------------
    def claim(self, fingerprint: Mapping[str, Any]) -> None:
        """Tie the table to a sweep, or check it already is tied to this one."""
        text = json.dumps(fingerprint, sort_keys=True)
        found = self.db.execute("SELECT value FROM sweep_meta WHERE key='sweep'").fetchone()
        if found is None:
            self.db.execute("INSERT INTO sweep_meta VALUES ('sweep', ?)", (text,))
            self.db.commit()
            return
        if found[0] != text:
            old, new = json.loads(found[0]), json.loads(text)
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise SweepError(
                f"results table {self.path} belongs to another sweep (differs in: {', '.join(diff)}); "
                "use another path to start a new sweep"
            )

    # -- rows ------------------------------------------------------------------------------------
    def done_keys(self) -> set[tuple[int, str, int]]:
        return {(t, s, w) for t, s, w in self.db.execute("SELECT trial, symbol, window FROM results")}

    def add(self, row: ResultRow) -> None:
        stats = [row.stats.get(c) for c in STAT_COLUMNS]
        values = [
            row.trial,
            row.symbol,
            row.window,
            params_json(row.params),
            row.window_start,
            row.window_end,
            *stats,
            int(row.feasible),
            row.error,
            row.seed,
            row.btk_version,
            np.ascontiguousarray(row.daily, dtype=np.float64).tobytes(),
        ]
        marks = ", ".join("?" * len(values))
        self.db.execute(f"INSERT OR REPLACE INTO results VALUES ({marks})", values)
        self.db.commit()

    def rows(self, where: str = "", args: tuple[Any, ...] = ()) -> Iterator[ResultRow]:
        cols = "trial, symbol, window, params, window_start, window_end, " + ", ".join(STAT_COLUMNS)
        cols += ", feasible, error, seed, btk_version, daily"
        sql = f"SELECT {cols} FROM results {where} ORDER BY trial, symbol, window"
        n = len(STAT_COLUMNS)
        for r in self.db.execute(sql, args):
            yield ResultRow(
                trial=r[0],
                symbol=r[1],
                window=r[2],
                params=json.loads(r[3]),
                window_start=r[4],
                window_end=r[5],
                stats=dict(zip(STAT_COLUMNS, r[6 : 6 + n])),
                feasible=bool(r[6 + n]),
                error=r[7 + n],
                seed=r[8 + n],
                btk_version=r[9 + n],
                daily=np.frombuffer(r[10 + n], dtype=np.float64),
            )

    def dump(self) -> list[tuple[Any, ...]]:
        """Every row as stored, in key order (what tests compare between two sweeps)."""
        return list(self.db.execute("SELECT * FROM results ORDER BY trial, symbol, window"))

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
