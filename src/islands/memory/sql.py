"""SqlStore: the storage primitives the SQL backends share, written once.

SQLite and PostgreSQL differ in full-text search, vectors, transactions and set-up (their
own modules); the rest is the same SQL, written here with the driver's parameter marker
`self.param` (`?` for SQLite, `%s` for PostgreSQL) and table names under `self.schema`
("" for SQLite, "islands." for PostgreSQL). Nothing rewrites the SQL after it is written,
so an operator that looks like a marker (jsonb's `?`) is left alone.
"""

from __future__ import annotations

import json
import time
from typing import Any

from islands.errors import InvalidInput
from islands.memory.store import MEMORY_FIELDS, Memory, MemoryStore

__all__ = ["COLUMNS", "UPDATABLE", "SqlStore", "memory_row"]

COLUMNS = ", ".join(MEMORY_FIELDS)
UPDATABLE = {"text", "summary", "episode_ids", "valid_to", "last_accessed", "importance", "surprise", "access_count",
             "replaced_by"}


def memory_row(r: tuple[Any, ...]) -> Memory:
    """A memory from a row of COLUMNS (episode ids: JSON text in SQLite, jsonb in PostgreSQL)."""
    ids = json.loads(r[3]) if isinstance(r[3], str) else list(r[3])
    return Memory(int(r[0]), r[1], r[2], ids, r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
                  None if r[12] is None else int(r[12]), r[13])


class SqlStore(MemoryStore):
    db: Any  # the driver's connection
    schema = ""  # prefix of every table name
    param = "?"  # the driver's parameter marker
    greatest = "max"  # the two-argument maximum

    def _exec(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        return self.db.execute(sql, params)

    def _exec_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        cur = self.db.cursor()
        try:
            cur.executemany(sql, rows)
        finally:
            cur.close()

    def add_episode(self, text: str, source: str = "", created: float | None = None) -> int:
        p = self.param
        with self.transaction():
            row = self._exec(f"INSERT INTO {self.schema}episodes (text, source, created) VALUES ({p}, {p}, {p}) RETURNING id",
                             (text, source, created if created is not None else time.time())).fetchone()
        return int(row[0])

    def get(self, memory_id: int) -> Memory:
        p = self.param
        row = self._exec(f"SELECT {COLUMNS} FROM {self.schema}memories WHERE id = {p}", (memory_id,)).fetchone()
        if row is None:
            raise InvalidInput(f"no memory with id {memory_id}")
        return memory_row(row)

    def episode(self, episode_id: int) -> str:
        p = self.param
        row = self._exec(f"SELECT text FROM {self.schema}episodes WHERE id = {p}", (episode_id,)).fetchone()
        if row is None:
            raise InvalidInput(f"no episode with id {episode_id}")
        return str(row[0])

    def episodes(self) -> list[tuple[int, str, str, float]]:
        rows = self._exec(f"SELECT id, text, source, created FROM {self.schema}episodes ORDER BY id")
        return [(int(r[0]), r[1], r[2], r[3]) for r in rows]

    def episodes_from(self, prefix: str) -> list[tuple[int, str, str, float]]:
        p = self.param
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return [(int(r[0]), r[1], r[2], r[3]) for r in self._exec(
            f"SELECT id, text, source, created FROM {self.schema}episodes WHERE source LIKE {p} ESCAPE '\\' ORDER BY id", (like,))]

    def delete_episodes(self, ids: list[int]) -> None:
        p = self.param
        with self.transaction():
            self._exec_many(f"DELETE FROM {self.schema}episodes WHERE id = {p}", [(i,) for i in ids])

    def memories(self, valid_only: bool = True) -> list[Memory]:
        where = "WHERE valid_to IS NULL " if valid_only else ""
        return [memory_row(r) for r in self._exec(f"SELECT {COLUMNS} FROM {self.schema}memories {where}ORDER BY id")]

    def _bump(self, memory_id: int, by: float, now: float) -> None:
        p = self.param
        with self.transaction():
            self._exec(f"UPDATE {self.schema}memories SET importance = importance + {p}, last_accessed = {p} WHERE id = {p}",
                       (by, now, memory_id))

    def _touch(self, ids: list[int], now: float) -> None:
        p = self.param
        with self.transaction():
            self._exec_many(f"UPDATE {self.schema}memories SET access_count = access_count + 1, last_accessed = {p} WHERE id = {p}",
                            [(now, i) for i in ids])

    def stats(self) -> dict[str, int]:
        s = self.schema
        row = self._exec(
            f"SELECT (SELECT count(*) FROM {s}memories), (SELECT count(*) FROM {s}memories WHERE valid_to IS NULL), "
            f'(SELECT count(*) FROM {s}episodes), (SELECT count(*) FROM {s}"values")'
        ).fetchone()
        return dict(zip(("memories", "valid_memories", "episodes", "values"), map(int, row)))

    def _mark(self) -> tuple[int, int]:
        row = self._exec(f"SELECT (SELECT coalesce(max(id), 0) FROM {self.schema}memories), "
                         f"(SELECT coalesce(max(id), 0) FROM {self.schema}episodes)").fetchone()
        return int(row[0]), int(row[1])

    def get_meta(self, key: str) -> str | None:
        p = self.param
        row = self._exec(f"SELECT value FROM {self.schema}meta WHERE key = {p}", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        p = self.param
        with self.transaction():
            self._exec(f"INSERT INTO {self.schema}meta (key, value) VALUES ({p}, {p}) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                       (key, value))

    def _without_vectors(self) -> list[tuple[int, str]]:
        rows = self._exec(f"SELECT id, text FROM {self.schema}memories WHERE embedding IS NULL ORDER BY id")
        return [(int(r[0]), str(r[1])) for r in rows]

    # -- values -------------------------------------------------------------------------------

    def put_value(self, name: str, weight: float, curve: str, rate: float, level: float | None = None) -> None:
        p = self.param
        keep = "" if level is None else ", level = excluded.level"
        with self.transaction():
            self._exec(
                f'INSERT INTO {self.schema}"values" (name, weight, curve, rate, level, updated) VALUES ({p}, {p}, {p}, {p}, {p}, {p}) '
                "ON CONFLICT (name) DO UPDATE SET weight = excluded.weight, curve = excluded.curve, rate = excluded.rate, "
                f"updated = excluded.updated{keep}",
                (name, weight, curve, rate, level or 0.0, time.time()),
            )

    def get_value(self, name: str) -> tuple[str, float, str, float, float] | None:
        p = self.param
        row = self._exec(f'SELECT name, weight, curve, rate, level FROM {self.schema}"values" WHERE name = {p}', (name,)).fetchone()
        return None if row is None else tuple(row)

    def list_values(self) -> list[tuple[str, float, str, float, float]]:
        return [tuple(r) for r in self._exec(f'SELECT name, weight, curve, rate, level FROM {self.schema}"values" ORDER BY name')]

    def add_level(self, name: str, amount: float) -> None:
        p = self.param
        with self.transaction():
            self._exec(f'UPDATE {self.schema}"values" SET level = {self.greatest}(0, level + {p}), updated = {p} WHERE name = {p}',
                       (amount, time.time(), name))
