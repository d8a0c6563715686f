"""The SQLite memory backend (the default): one file, WAL, numbered migrations; FTS5 for
BM25; vectors as float32 blobs with a sqlite-vec index of their signs (binary
quantization) that proposes candidates, rescored by exact cosine distance.

The file carries `PRAGMA application_id`, so a file that is not ours is refused untouched.
Python builds whose sqlite3 cannot load extensions use `sqlean` (the embed extra) instead;
both read and write the same file format.
The SQL it shares with PostgreSQL lives in `islands.memory.sql`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from islands.errors import InvalidInput
from islands.memory.embed import Embedder
from islands.memory.sql import COLUMNS, UPDATABLE, SqlStore, memory_row
from islands.memory.store import MEMORY_FIELDS, Memory

__all__ = ["MIGRATIONS", "SqliteStore"]

APPLICATION_ID = 0x15A1D5  # PRAGMA application_id of an islands memory file


def _run(db: sqlite3.Connection, script: str) -> None:
    """Statements one by one, inside the caller's transaction (executescript would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _m001_initial(db: sqlite3.Connection) -> None:
    _run(
        db,
        """
        CREATE TABLE episodes (id INTEGER PRIMARY KEY, text TEXT NOT NULL, source TEXT NOT NULL DEFAULT '',
                               created REAL NOT NULL);
        CREATE TABLE memories (id INTEGER PRIMARY KEY, text TEXT NOT NULL, summary TEXT NOT NULL,
                               episode_ids TEXT NOT NULL DEFAULT '[]', created REAL NOT NULL, valid_from REAL NOT NULL,
                               valid_to REAL, last_accessed REAL, importance REAL NOT NULL DEFAULT 1.0,
                               surprise REAL NOT NULL DEFAULT 0.0, access_count INTEGER NOT NULL DEFAULT 0,
                               model TEXT NOT NULL DEFAULT '', embedding BLOB, replaced_by INTEGER REFERENCES memories(id));
        CREATE VIRTUAL TABLE memories_fts USING fts5(text, summary, content='memories', content_rowid='id',
                                                     tokenize='porter unicode61');
        CREATE TABLE "values" (name TEXT PRIMARY KEY, weight REAL NOT NULL, curve TEXT NOT NULL, rate REAL NOT NULL,
                               level REAL NOT NULL DEFAULT 0.0, updated REAL NOT NULL);
        """
    )


def _m002_meta(db: sqlite3.Connection) -> None:
    """Store-wide facts (which embedder wrote the vectors, their dimension)."""
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def _m003_kind(db: sqlite3.Connection) -> None:
    """What a memory is ("", "turn", "reflection"), instead of reading it from the summary."""
    db.execute("ALTER TABLE memories ADD COLUMN kind TEXT NOT NULL DEFAULT ''")
    db.execute("UPDATE memories SET kind = 'reflection' WHERE summary LIKE 'reflection of %'")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m001_initial, _m002_meta, _m003_kind]


def _driver(need_extensions: bool) -> ModuleType:
    """The sqlite3 module to use: the standard one unless vectors need extension loading
    that this Python's build lacks."""
    if not need_extensions or hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        import sqlean
    except ImportError:
        raise InvalidInput("vectors on SQLite need sqlite-vec and an sqlite3 that loads extensions: "
                           "pip install 'islands[embed]' (or use --embedder none)") from None
    return sqlean  # type: ignore[no-any-return]


class SqliteStore(SqlStore):
    exact_scan = 1024  # up to this many memories (by id), vectors are searched by exact cosine over every row

    def __init__(self, path: Path, embedder: Embedder | None = None) -> None:
        self.path = path
        self.location = str(path)
        self.embedder = embedder
        self.sql = _driver(embedder is not None)
        self.db_errors = (self.sql.Error,)
        self._lock = threading.RLock()
        self._depth = 0
        if path.is_dir():
            raise InvalidInput(f"{path} is a directory, not a memory database")
        try:  # autocommit mode: transaction() says BEGIN IMMEDIATE and COMMIT itself, DDL included
            self.db = self.sql.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        except self.sql.Error as e:
            raise InvalidInput(f"cannot open {path}: {e}") from None
        try:
            try:
                self._check_ours()
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
            except self.sql.DatabaseError as e:
                if "locked" in str(e) or "unable to open" in str(e):
                    raise InvalidInput(f"cannot open {path}: {e}") from None
                raise InvalidInput(f"{path} is not an islands memory database ({e})") from None
            if embedder is not None:
                self._load_vec()
            self.migrate()
        except BaseException:
            self.db.close()
            raise

    def _load_vec(self) -> None:
        try:
            import sqlite_vec

            self.db.enable_load_extension(True)
            sqlite_vec.load(self.db)
            self.db.enable_load_extension(False)
        except (ImportError, AttributeError, self.sql.OperationalError) as e:
            raise InvalidInput(f"vectors on SQLite need sqlite-vec ({e}): pip install 'islands[embed]' "
                               "(or use --embedder none)") from None

    def _check_ours(self) -> None:
        app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
        tables = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id == 0 and tables == 0:
            self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        elif app_id != APPLICATION_ID:
            raise InvalidInput(f"{self.path} is not an islands memory database (left untouched)")

    def migrate(self) -> None:
        """Apply the steps not yet recorded, in one write transaction (BEGIN IMMEDIATE), so
        two processes opening a new file do not both apply them."""
        with self.transaction():
            self.db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY)")
            done = {r[0] for r in self.db.execute("SELECT name FROM migrations")}
            for step in MIGRATIONS:
                if step.__name__ not in done:
                    step(self.db)
                    self.db.execute("INSERT INTO migrations (name) VALUES (?)", (step.__name__,))

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:  # nested: part of the outer transaction
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self.db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")
            finally:
                self._depth = 0

    # -- episodes and memories ----------------------------------------------------------------

    def _insert_memory(self, row: dict[str, Any], vector: np.ndarray | None) -> int:
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO memories (text, summary, episode_ids, created, valid_from, valid_to, last_accessed, importance, "
                "surprise, access_count, model, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row["text"], row["summary"], json.dumps(row["episode_ids"]), row["created"], row["valid_from"],
                 row["valid_to"], row["last_accessed"], row["importance"], row["surprise"], row["access_count"], row["model"],
                 row.get("kind", "")),
            )
            mid = int(cur.lastrowid or 0)
            self.db.execute("INSERT INTO memories_fts (rowid, text, summary) VALUES (?, ?, ?)", (mid, row["text"], row["summary"]))
            if vector is not None:
                self._set_vectors([mid], vector[None, :])
        return mid

    def update(self, memory_id: int, **fields: Any) -> None:
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise InvalidInput(f"cannot update {min(unknown)!r} of a memory")
        if "episode_ids" in fields:
            fields["episode_ids"] = json.dumps(fields["episode_ids"])
        with self.transaction():
            old = self.db.execute("SELECT text, summary FROM memories WHERE id = ?", (memory_id,)).fetchone()
            if old is None:
                raise InvalidInput(f"no memory with id {memory_id}")
            if "text" in fields or "summary" in fields:  # keep the external-content FTS index in step
                self.db.execute("INSERT INTO memories_fts (memories_fts, rowid, text, summary) VALUES ('delete', ?, ?, ?)",
                                (memory_id, *old))
            sets = ", ".join(f"{k} = ?" for k in fields)
            self.db.execute(f"UPDATE memories SET {sets} WHERE id = ?", (*fields.values(), memory_id))
            if "text" in fields:  # the old vector described the old text
                self.db.execute("UPDATE memories SET embedding = NULL WHERE id = ?", (memory_id,))
            if "text" in fields or "summary" in fields:
                self.db.execute("INSERT INTO memories_fts (rowid, text, summary) SELECT id, text, summary FROM memories WHERE id = ?",
                                (memory_id,))

    def _match(self, words: list[str], limit: int, include_invalid: bool, all_words: bool) -> list[Memory]:
        sql = (
            f"SELECT {', '.join('m.' + c for c in MEMORY_FIELDS)} FROM memories_fts "
            "JOIN memories m ON m.id = memories_fts.rowid WHERE memories_fts MATCH ? "
            + ("" if include_invalid else "AND m.valid_to IS NULL ") + "ORDER BY bm25(memories_fts, 1.0, 0.5) LIMIT ?"
        )
        terms = [f'"{w}"' for w in words]
        return [memory_row(r) for r in self.db.execute(sql, ((" " if all_words else " OR ").join(terms), limit))]

    def _nearest(self, vector: np.ndarray, limit: int, include_invalid: bool) -> list[tuple[Memory, float]]:
        if not self._has_vec_table():
            return []
        blob = np.asarray(vector, dtype=np.float32).tobytes()
        valid = "" if include_invalid else "AND valid_to IS NULL "
        if (self.db.execute("SELECT max(id) FROM memories").fetchone()[0] or 0) <= self.exact_scan:
            # few memories: exact cosine distance over all of them is quicker than proposing by sign bits
            rows = self.db.execute(f"SELECT {COLUMNS}, vec_distance_cosine(embedding, ?) AS d FROM memories "
                                   f"WHERE embedding IS NOT NULL {valid}ORDER BY d LIMIT ?", (blob, limit))
            return [(memory_row(r[:-1]), 1.0 - float(r[-1])) for r in rows]
        # the sign bits propose 8x the candidates; exact cosine distance ranks them
        candidates = [r[0] for r in self.db.execute(
            "SELECT rowid FROM memories_vec WHERE embedding MATCH vec_quantize_binary(?) AND k = ?", (blob, min(4096, max(64, limit * 8))))]
        rows = self.db.execute(
            f"SELECT {COLUMNS}, vec_distance_cosine(embedding, ?) AS d FROM memories "
            f"WHERE id IN (SELECT value FROM json_each(?)) AND embedding IS NOT NULL {valid}ORDER BY d LIMIT ?",
            (blob, json.dumps(candidates), limit),
        )
        return [(memory_row(r[:-1]), 1.0 - float(r[-1])) for r in rows]

    # -- meta and vectors ---------------------------------------------------------------------

    def _has_vec_table(self) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'memories_vec'").fetchone() is not None

    def _reset_vectors(self, dim: int) -> None:
        if dim % 8:
            raise InvalidInput(f"embedding dimension {dim} is not a multiple of 8")
        with self.transaction():
            self.db.execute("DROP TABLE IF EXISTS memories_vec")
            self.db.execute("UPDATE memories SET embedding = NULL WHERE embedding IS NOT NULL")
            self.db.execute(f"CREATE VIRTUAL TABLE memories_vec USING vec0(embedding bit[{dim}])")

    def _set_vectors(self, ids: list[int], vectors: np.ndarray) -> None:
        blobs = [np.asarray(v, dtype=np.float32).tobytes() for v in vectors]
        with self.transaction():
            self.db.executemany("UPDATE memories SET embedding = ? WHERE id = ?", list(zip(blobs, ids)))
            self.db.executemany("DELETE FROM memories_vec WHERE rowid = ?", [(i,) for i in ids])
            self.db.executemany("INSERT INTO memories_vec (rowid, embedding) VALUES (?, vec_quantize_binary(?))", list(zip(ids, blobs)))

    def vector(self, memory_id: int) -> np.ndarray | None:
        row = self.db.execute("SELECT embedding FROM memories WHERE id = ?", (memory_id,)).fetchone()
        return None if row is None or row[0] is None else np.frombuffer(row[0], dtype=np.float32).copy()
