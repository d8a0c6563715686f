"""MemoryStore: one SQLite file (WAL) of episodes (raw input, kept whole), memories (what
mattered, linked to their episodes) and values. Numbered migrations are recorded, so
opening an older file upgrades it; a file that is not ours is refused, untouched.

    store = MemoryStore.open()                      # $ISLANDS_HOME/memory.sqlite
    ep = store.add_episode("The ferry leaves Stromness at 09:00.")
    mem = store.add_memory("ferry leaves Stromness at 09:00", episode_ids=[ep], surprise=4.2)
    store.search("ferry Stromness")                 # BM25 x recency x importance

What it leaves out: dense vectors and PostgreSQL (next), deletion (nothing is silently
deleted: a contradicted memory gets `valid_to` and a link to what replaced it).
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from islands.errors import InvalidInput
from islands.home import islands_home

__all__ = ["MIGRATIONS", "Memory", "MemoryStore"]

APPLICATION_ID = 0x15A1D5  # PRAGMA application_id of an islands memory file

# words that match nearly every memory: left out of queries, so BM25 looks at few rows
STOPWORDS = frozenset(
    "a an the of to in on at for by with from and or but is are was were be been it its this that these those "
    "what which who whom when where why how do does did has have had i you he she we they me my your our".split()
)


def _m001_initial(db: sqlite3.Connection) -> None:
    db.executescript(
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


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m001_initial]


@dataclass
class Memory:
    id: int
    text: str
    summary: str
    episode_ids: list[int]
    created: float
    valid_from: float
    valid_to: float | None
    last_accessed: float | None
    importance: float
    surprise: float
    access_count: int
    model: str
    replaced_by: int | None = None
    score: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.valid_to is None


_COLUMNS = "id, text, summary, episode_ids, created, valid_from, valid_to, last_accessed, importance, surprise, access_count, model, replaced_by"


def _row(r: tuple) -> Memory:  # type: ignore[type-arg]
    return Memory(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12])


class MemoryStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.db = sqlite3.connect(path, timeout=30, check_same_thread=False)
            self._check_ours()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as e:
            raise InvalidInput(f"{path} is not an islands memory database ({e})") from None
        self.migrate()

    @classmethod
    def open(cls, path: Path | str | None = None) -> MemoryStore:
        return cls(Path(path) if path is not None else islands_home() / "memory.sqlite")

    def _check_ours(self) -> None:
        app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
        tables = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id == 0 and tables == 0:
            self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        elif app_id != APPLICATION_ID:
            raise InvalidInput(f"{self.path} is not an islands memory database (left untouched)")

    def migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY)")
        done = {r[0] for r in self.db.execute("SELECT name FROM migrations")}
        for step in MIGRATIONS:
            if step.__name__ not in done:
                with self.db:
                    step(self.db)
                    self.db.execute("INSERT INTO migrations (name) VALUES (?)", (step.__name__,))

    def close(self) -> None:
        self.db.close()

    # -- writing --------------------------------------------------------------------------

    def add_episode(self, text: str, source: str = "") -> int:
        with self.db:
            cur = self.db.execute("INSERT INTO episodes (text, source, created) VALUES (?, ?, ?)", (text, source, time.time()))
        return int(cur.lastrowid or 0)

    def add_memory(self, text: str, *, summary: str | None = None, episode_ids: list[int] | None = None,
                   importance: float = 1.0, surprise: float = 0.0, model: str = "") -> int:
        if not text.strip():
            raise InvalidInput("a memory needs text")
        now = time.time()
        summary = summary if summary is not None else text
        with self.db:
            cur = self.db.execute(
                "INSERT INTO memories (text, summary, episode_ids, created, valid_from, importance, surprise, model) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (text, summary, json.dumps(episode_ids or []), now, now, importance, surprise, model),
            )
            self.db.execute("INSERT INTO memories_fts (rowid, text, summary) VALUES (?, ?, ?)", (cur.lastrowid, text, summary))
        return int(cur.lastrowid or 0)

    def add_memories(self, texts: list[str], *, model: str = "") -> list[int]:
        """Many memories in one transaction (bulk loads, imports of plain text)."""
        now, ids = time.time(), []
        with self.db:
            for text in texts:
                cur = self.db.execute(
                    "INSERT INTO memories (text, summary, created, valid_from, model) VALUES (?, ?, ?, ?, ?)", (text, text, now, now, model)
                )
                self.db.execute("INSERT INTO memories_fts (rowid, text, summary) VALUES (?, ?, ?)", (cur.lastrowid, text, text))
                ids.append(int(cur.lastrowid or 0))
        return ids

    def reinforce(self, memory_id: int, by: float = 1.0) -> None:
        with self.db:
            self.db.execute("UPDATE memories SET importance = importance + ?, last_accessed = ? WHERE id = ?", (by, time.time(), memory_id))

    def supersede(self, old_id: int, new_id: int) -> None:
        """`old_id` stops being valid now; it points at the memory that replaced it."""
        with self.db:
            self.db.execute("UPDATE memories SET valid_to = ?, replaced_by = ? WHERE id = ? AND valid_to IS NULL", (time.time(), new_id, old_id))

    # -- reading --------------------------------------------------------------------------

    def get(self, memory_id: int) -> Memory:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM memories WHERE id = ?", (memory_id,)).fetchone()
        if row is None:
            raise InvalidInput(f"no memory with id {memory_id}")
        return _row(row)

    def episode(self, episode_id: int) -> str:
        row = self.db.execute("SELECT text FROM episodes WHERE id = ?", (episode_id,)).fetchone()
        if row is None:
            raise InvalidInput(f"no episode with id {episode_id}")
        return str(row[0])

    def search(self, query: str, k: int = 5, *, include_invalid: bool = False, touch: bool = True,
               half_life_days: float = 30.0, any_word: bool = False) -> list[Memory]:
        """BM25 matches, re-ranked by recency (half-life) and importance; valid ones only by
        default. Memories with every word of the query come first; with `any_word` (or when
        none has them all) any word will do."""
        words = [w for w in re.findall(r"\w+", query.lower()) if w not in STOPWORDS] or re.findall(r"\w+", query.lower())
        if not words:
            raise InvalidInput("the query has no words")
        sql = (
            f"SELECT {', '.join('m.' + c.strip() for c in _COLUMNS.split(','))}, bm25(memories_fts) FROM memories_fts "
            "JOIN memories m ON m.id = memories_fts.rowid WHERE memories_fts MATCH ? "
            + ("" if include_invalid else "AND m.valid_to IS NULL ") + "ORDER BY bm25(memories_fts) LIMIT ?"
        )
        terms = [f'"{w}"' for w in words[:32]]
        # memories with every word first (few rows to rank); any word only when none has all
        rows = self.db.execute(sql, (" ".join(terms), k * 4)).fetchall() if len(terms) > 1 and not any_word else []
        if not rows:
            rows = self.db.execute(sql, (" OR ".join(terms), k * 4)).fetchall()
        now = time.time()
        found = []
        for rank, r in enumerate(rows):
            mem = _row(r[:-1])
            age_days = (now - (mem.last_accessed or mem.created)) / 86400
            recency = 0.5 ** (age_days / half_life_days)
            # BM25 by rank (its raw values shrink to ~0 in small stores), recency, importance
            mem.score = (1 / (1 + rank)) * (0.5 + 0.5 * recency) * (1 + math.log1p(mem.importance))
            found.append(mem)
        found.sort(key=lambda m: -m.score)
        found = found[:k]
        if touch and found:
            with self.db:
                self.db.executemany("UPDATE memories SET access_count = access_count + 1, last_accessed = ? WHERE id = ?",
                                    [(now, m.id) for m in found])
        return found

    def stats(self) -> dict[str, int]:
        one = lambda sql: int(self.db.execute(sql).fetchone()[0])  # noqa: E731
        return {
            "memories": one("SELECT count(*) FROM memories"),
            "valid_memories": one("SELECT count(*) FROM memories WHERE valid_to IS NULL"),
            "episodes": one("SELECT count(*) FROM episodes"),
            "values": one('SELECT count(*) FROM "values"'),
        }
