"""A custom persistence adapter (SPEC 14.3) for tests: every document in one SQLite table.

Swap it in for all four kinds of live state with ``use_sqlite_store()``. Each store writes one
document per transaction (``replace`` then commit), so a crash at any moment leaves the old or the
new document: in WAL mode a transaction counts once its commit record is in the write-ahead log,
and the next connection ignores anything after the last one. ``synchronous=NORMAL`` skips the
fsync per commit (a process crash loses nothing; a power cut may lose the last commits, never the
database). The database is ``state.sqlite`` in the persist base dir (``./dump/data`` by default).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import engine as e

__all__ = ["DB_NAME", "SqliteStore", "read_documents", "use_sqlite_store"]

DB_NAME = "state.sqlite"


class SqliteStore:
    """``SqliteStore(entity_name, base_dir)``: the documents of one entity are the rows of table
    ``docs`` whose ``entity`` is ``entity_name``; the body is the document's JSON text."""

    def __init__(self, entity_name: str, base_dir: str | os.PathLike[str]) -> None:
        self.entity = entity_name
        Path(base_dir).mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(Path(base_dir) / DB_NAME)
        self.db.execute("pragma journal_mode = wal")
        self.db.execute("pragma synchronous = normal")
        with self.db:
            self.db.execute(
                "create table if not exists docs (entity text, id text, body text, primary key (entity, id))"
            )

    async def wait_for_init(self, initial: bool) -> None:
        pass  # an interrupted transaction is rolled back by SQLite itself when the file is opened

    async def has_value(self, entity_id: str) -> bool:
        cur = self.db.execute("select 1 from docs where entity = ? and id = ?", (self.entity, entity_id))
        return cur.fetchone() is not None

    async def read_value(self, entity_id: str) -> Any:
        cur = self.db.execute("select body from docs where entity = ? and id = ?", (self.entity, entity_id))
        return json.loads(cur.fetchone()[0])

    async def write_value(self, entity_id: str, value: Any) -> None:
        body = json.dumps(value)
        with self.db:  # one transaction: committed on leaving the block, rolled back on an error
            self.db.execute("replace into docs values (?, ?, ?)", (self.entity, entity_id, body))
            self.before_commit(entity_id)

    def before_commit(self, entity_id: str) -> None:
        """Called inside the write's transaction, just before it commits (a hook for crash tests)."""


def use_sqlite_store(cls: type = SqliteStore) -> None:
    """Store the signal, schedule, risk and partial state with ``cls`` from now on."""
    for adapter in (e.PersistSignalAdapter, e.PersistScheduleAdapter, e.PersistRiskAdapter, e.PersistPartialAdapter):
        adapter.use_adapter(cls)


def read_documents(db_path: str | os.PathLike[str]) -> list[tuple[str, str, str]]:
    """``(entity, id, body)`` of every stored document, after SQLite's own integrity check."""
    db = sqlite3.connect(db_path)
    try:
        [(check,)] = db.execute("pragma integrity_check").fetchall()
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check of {db_path}: {check}")
        if not db.execute("select 1 from sqlite_master where type = 'table' and name = 'docs'").fetchone():
            return []  # created by a store whose first transaction never committed
        return db.execute("select entity, id, body from docs order by entity, id").fetchall()
    finally:
        db.close()
