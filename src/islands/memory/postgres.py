"""The PostgreSQL memory backend: the same records and recall as the SQLite store, in a
schema `islands` of any database; full-text search with tsvector (`ts_rank_cd`), vectors
in a pgvector column with an HNSW cosine index. Needs the `postgres` extra (psycopg) and
the server's `vector` extension.

    store = MemoryStore.open("postgresql://user:pw@127.0.0.1:5432/db")

Numbered migrations are recorded in `islands.migrations` (taken under an advisory lock,
so two processes opening a new database at once do not race). A database whose `islands`
schema was not made by us is refused, untouched.
The SQL it shares with SQLite lives in `islands.memory.sql`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from islands.errors import InvalidInput
from islands.memory.embed import Embedder
from islands.memory.sql import COLUMNS, UPDATABLE, SqlStore, memory_row
from islands.memory.store import Memory, StoreUnreachable

__all__ = ["MIGRATIONS", "PostgresStore"]

_LOCK_KEY = 0x15A1D5  # advisory lock held while migrating

MIGRATIONS: list[tuple[str, str]] = [
    ("m001_initial", """
        CREATE EXTENSION IF NOT EXISTS vector;
        CREATE TABLE islands.episodes (id BIGSERIAL PRIMARY KEY, text TEXT NOT NULL, source TEXT NOT NULL DEFAULT '',
                                       created DOUBLE PRECISION NOT NULL);
        CREATE TABLE islands.memories (
            id BIGSERIAL PRIMARY KEY, text TEXT NOT NULL, summary TEXT NOT NULL, episode_ids JSONB NOT NULL DEFAULT '[]',
            created DOUBLE PRECISION NOT NULL, valid_from DOUBLE PRECISION NOT NULL, valid_to DOUBLE PRECISION,
            last_accessed DOUBLE PRECISION, importance DOUBLE PRECISION NOT NULL DEFAULT 1.0,
            surprise DOUBLE PRECISION NOT NULL DEFAULT 0.0, access_count INTEGER NOT NULL DEFAULT 0,
            model TEXT NOT NULL DEFAULT '', embedding vector, replaced_by BIGINT REFERENCES islands.memories(id),
            tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text || ' ' || summary)) STORED);
        CREATE INDEX memories_tsv ON islands.memories USING GIN (tsv) WITH (fastupdate = off);  -- no pending list to scan
        CREATE INDEX memories_valid ON islands.memories (id) WHERE valid_to IS NULL;
        CREATE TABLE islands."values" (name TEXT PRIMARY KEY, weight DOUBLE PRECISION NOT NULL, curve TEXT NOT NULL,
                                       rate DOUBLE PRECISION NOT NULL, level DOUBLE PRECISION NOT NULL DEFAULT 0.0,
                                       updated DOUBLE PRECISION NOT NULL);
        CREATE TABLE islands.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """),
    ("m002_kind", """
        ALTER TABLE islands.memories ADD COLUMN kind TEXT NOT NULL DEFAULT '';
        UPDATE islands.memories SET kind = 'reflection' WHERE summary LIKE 'reflection of %%';
    """),
]


def _redact(url: str) -> str:
    url = re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", url)


def _vec(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.9g}" for x in np.asarray(v, dtype=np.float32)) + "]"  # 9 digits: float32 exactly


class PostgresStore(SqlStore):
    schema = "islands."
    param = "%s"
    greatest = "GREATEST"

    def __init__(self, url: str, embedder: Embedder | None = None) -> None:
        try:
            import psycopg
        except ImportError:
            raise InvalidInput("PostgreSQL memory needs the postgres extra: pip install 'islands[postgres]'") from None
        self.location = _redact(url)
        self.embedder = embedder
        self.db_errors = (psycopg.Error,)
        self._lock = threading.RLock()
        try:
            self.db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as e:  # no server there, refused, timed out, or not let in
            raise StoreUnreachable(f"cannot connect to {self.location}: {str(e).strip().splitlines()[0]}") from None
        except psycopg.Error as e:  # a URL psycopg cannot read
            raise InvalidInput(f"cannot connect to {self.location}: {str(e).strip().splitlines()[0]}") from None
        try:
            self.migrate()
        except psycopg.Error as e:
            self.db.close()
            raise InvalidInput(f"{self.location}: cannot set up the memory schema: {str(e).strip().splitlines()[0]}") from None
        except BaseException:
            self.db.close()
            raise

    def migrate(self) -> None:
        with self.transaction():
            self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            schema = self.db.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'islands'").fetchone()
            ours = self.db.execute("SELECT to_regclass('islands.migrations')").fetchone()[0]
            if schema and not ours:
                raise InvalidInput(f"{self.location}: the schema 'islands' is not an islands memory store (left untouched)")
            self.db.execute("CREATE SCHEMA IF NOT EXISTS islands")
            self.db.execute("CREATE TABLE IF NOT EXISTS islands.migrations (name TEXT PRIMARY KEY)")
            done = {r[0] for r in self.db.execute("SELECT name FROM islands.migrations")}
            for name, sql in MIGRATIONS:
                if name not in done:
                    self.db.execute(sql)
                    self.db.execute("INSERT INTO islands.migrations (name) VALUES (%s)", (name,))

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock, self.db.transaction():  # nested: a savepoint
            yield

    # -- episodes and memories ----------------------------------------------------------------

    def _insert_memory(self, row: dict[str, Any], vector: np.ndarray | None) -> int:
        with self.transaction():
            got = self.db.execute(
                "INSERT INTO islands.memories (text, summary, episode_ids, created, valid_from, valid_to, last_accessed, "
                "importance, surprise, access_count, model, embedding, kind) "
                "VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s::vector, %s) RETURNING id",
                (row["text"], row["summary"], json.dumps(row["episode_ids"]), row["created"], row["valid_from"], row["valid_to"],
                 row["last_accessed"], row["importance"], row["surprise"], row["access_count"], row["model"],
                 None if vector is None else _vec(vector), row.get("kind", "")),
            ).fetchone()
        return int(got[0])

    def _insert_many(self, rows: list[dict[str, Any]], vectors: np.ndarray | None) -> list[int]:
        """One round trip for a batch (executemany, pipelined)."""
        params = [(r["text"], r["summary"], json.dumps(r["episode_ids"]), r["created"], r["valid_from"], r["valid_to"],
                   r["last_accessed"], r["importance"], r["surprise"], r["access_count"], r["model"],
                   None if vectors is None else _vec(vectors[i]), r.get("kind", "")) for i, r in enumerate(rows)]
        ids: list[int] = []
        with self.transaction(), self.db.cursor() as cur:
            cur.executemany(
                "INSERT INTO islands.memories (text, summary, episode_ids, created, valid_from, valid_to, last_accessed, "
                "importance, surprise, access_count, model, embedding, kind) "
                "VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s::vector, %s) RETURNING id", params, returning=True)
            while True:
                ids.append(int(cur.fetchone()[0]))
                if not cur.nextset():
                    break
        return ids

    def update(self, memory_id: int, **fields: Any) -> None:
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise InvalidInput(f"cannot update {min(unknown)!r} of a memory")
        if "episode_ids" in fields:
            fields["episode_ids"] = json.dumps(fields["episode_ids"])
        sets = ", ".join(f"{k} = %s::jsonb" if k == "episode_ids" else f"{k} = %s" for k in fields)
        if "text" in fields:
            sets += ", embedding = NULL"  # the old vector described the old text
        with self.transaction():
            cur = self.db.execute(f"UPDATE islands.memories SET {sets} WHERE id = %s", (*fields.values(), memory_id))
            if cur.rowcount == 0:
                raise InvalidInput(f"no memory with id {memory_id}")

    def _match(self, words: list[str], limit: int, include_invalid: bool, all_words: bool) -> list[Memory]:
        query = (" " if all_words else " or ").join(words)
        rows = self.db.execute(
            f"SELECT {COLUMNS} FROM islands.memories, websearch_to_tsquery('english', %s) q WHERE tsv @@ q "
            + ("" if include_invalid else "AND valid_to IS NULL ") + "ORDER BY ts_rank_cd(tsv, q) DESC, id LIMIT %s",
            (query, limit),
        )
        return [memory_row(r) for r in rows]

    def _nearest(self, vector: np.ndarray, limit: int, include_invalid: bool) -> list[tuple[Memory, float]]:
        v = _vec(vector)
        rows = self.db.execute(
            f"SELECT {COLUMNS}, 1 - (embedding <=> %s::vector) FROM islands.memories WHERE embedding IS NOT NULL "
            + ("" if include_invalid else "AND valid_to IS NULL ") + "ORDER BY embedding <=> %s::vector LIMIT %s",
            (v, v, limit),
        )
        return [(memory_row(r[:-1]), float(r[-1])) for r in rows]

    # -- meta and vectors ---------------------------------------------------------------------

    def _reset_vectors(self, dim: int) -> None:
        with self.transaction():
            self.db.execute("DROP INDEX IF EXISTS islands.memories_embedding")
            self.db.execute("UPDATE islands.memories SET embedding = NULL WHERE embedding IS NOT NULL")
            self.db.execute(f"ALTER TABLE islands.memories ALTER COLUMN embedding TYPE vector({int(dim)})")
            self.db.execute("CREATE INDEX memories_embedding ON islands.memories USING hnsw (embedding vector_cosine_ops)")

    def _set_vectors(self, ids: list[int], vectors: np.ndarray) -> None:
        with self.transaction(), self.db.cursor() as cur:
            cur.executemany("UPDATE islands.memories SET embedding = %s::vector WHERE id = %s",
                            [(_vec(v), i) for v, i in zip(vectors, ids)])

    def vector(self, memory_id: int) -> np.ndarray | None:
        row = self.db.execute("SELECT embedding::text FROM islands.memories WHERE id = %s", (memory_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        return np.asarray(json.loads(row[0]), dtype=np.float32)
