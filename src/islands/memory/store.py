"""MemoryStore: the interface every memory backend keeps, and what they share — hybrid
recall (BM25 and dense vectors fused by reciprocal rank, weighted by recency and
importance), embedding on write, recomputing vectors when the embedder changes.

    store = MemoryStore.open()                          # SQLite: $ISLANDS_HOME/memory.sqlite
    store = MemoryStore.open("postgresql://127.0.0.1:5433/islands")   # PostgreSQL + pgvector
    ep = store.add_episode("The ferry leaves Stromness at 09:00.")
    mem = store.add_memory("ferry leaves Stromness at 09:00", episode_ids=[ep], surprise=4.2)
    store.search("when does the boat sail")             # BM25 + dense, fused by rank

Records: episodes (raw input, kept whole), memories (what mattered, linked to episodes)
and values. Nothing is silently deleted: a contradicted memory gets `valid_to` and a link
to what replaced it. Backends: `islands.memory.sqlite`, `islands.memory.postgres`.
"""

from __future__ import annotations

import math
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from islands.errors import InvalidInput, IslandsError
from islands.memory.embed import Embedder
from islands.memory.recall import ChatIndex, RecallParams, recall

__all__ = ["MEMORY_FIELDS", "Memory", "MemoryStore", "Recall", "Storage", "StoreUnreachable", "ValueTable", "query_words"]

# words that match nearly every memory: left out of queries, so BM25 looks at few rows
STOPWORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "by",
        "with",
        "from",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "whom",
        "when",
        "where",
        "why",
        "how",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "me",
        "my",
        "your",
        "our",
    }
)
MEMORY_FIELDS = (
    "id",
    "text",
    "summary",
    "episode_ids",
    "created",
    "valid_from",
    "valid_to",
    "last_accessed",
    "importance",
    "surprise",
    "access_count",
    "model",
    "replaced_by",
    "kind",
)
EmbedderChoice = Embedder | str | None


class StoreUnreachable(IslandsError):
    """The memory database could not be reached (a PostgreSQL server down, refusing, or
    not letting us in): not the caller's input, so not InvalidInput."""


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
    kind: str = ""  # "" (a memory), "turn" (a conversation turn), "reflection" (written in sleep)
    score: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)  # how search found it: bm25_rank, dense_rank, similarity

    @property
    def valid(self) -> bool:
        return self.valid_to is None


def query_words(query: str) -> list[str]:
    """The words a query is matched on: stopwords dropped unless nothing else is left."""
    words = re.findall(r"\w+", query.lower())
    return [w for w in words if w not in STOPWORDS] or words


class Storage(ABC):
    """Storage: episodes, memories, vectors and store-wide facts. Backends implement the
    primitives; writing (embedding on write, reinforcement, supersession, re-embedding
    when the embedder changes) is shared."""

    location: str
    embedder: Embedder | None = None
    _lock: threading.RLock  # held by transactions and by search's reads
    db_errors: tuple[type[Exception], ...] = ()  # the backend's database errors

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- storage primitives (per backend) ---------------------------------------------------

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """All writes inside commit together or not at all; nests."""

    @abstractmethod
    def add_episode(self, text: str, source: str = "", created: float | None = None) -> int: ...

    @abstractmethod
    def _insert_memory(self, row: dict[str, Any], vector: np.ndarray | None) -> int: ...

    def _insert_many(self, rows: list[dict[str, Any]], vectors: np.ndarray | None) -> list[int]:
        """A batch of rows (backends with round trips do it in one)."""
        return [self._insert_memory(row, None if vectors is None else vectors[i]) for i, row in enumerate(rows)]

    @abstractmethod
    def update(self, memory_id: int, **fields: Any) -> None:
        """Set columns of one memory (importance, episode_ids, valid_to, replaced_by, ...)."""

    @abstractmethod
    def get(self, memory_id: int) -> Memory: ...

    @abstractmethod
    def episode(self, episode_id: int) -> str: ...

    @abstractmethod
    def episodes(self) -> list[tuple[int, str, str, float]]:
        """(id, text, source, created) of every episode, oldest first."""

    @abstractmethod
    def episodes_from(self, prefix: str) -> list[tuple[int, str, str, float]]:
        """(id, text, source, created) of the episodes whose source starts with `prefix`."""

    @abstractmethod
    def delete_episodes(self, ids: list[int]) -> None: ...

    @abstractmethod
    def memories(self, valid_only: bool = True) -> list[Memory]:
        """Memories by id."""

    @abstractmethod
    def _match(self, words: list[str], limit: int, include_invalid: bool, all_words: bool) -> list[Memory]:
        """Full-text matches (every word, or any word), best BM25 first."""

    @abstractmethod
    def _nearest(self, vector: np.ndarray, limit: int, include_invalid: bool) -> list[tuple[Memory, float]]:
        """(memory, cosine similarity) nearest to `vector`, best first."""

    @abstractmethod
    def _touch(self, ids: list[int], now: float) -> None: ...

    @abstractmethod
    def _bump(self, memory_id: int, by: float, now: float) -> None:
        """importance += by (in SQL: concurrent reinforcements add up), last_accessed = now."""

    @abstractmethod
    def stats(self) -> dict[str, int]: ...

    @abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None: ...

    @abstractmethod
    def _reset_vectors(self, dim: int) -> None:
        """Forget every vector; ready for vectors of `dim` dimensions."""

    @abstractmethod
    def _without_vectors(self) -> list[tuple[int, str]]:
        """(id, text) of memories that have no vector yet."""

    @abstractmethod
    def _set_vectors(self, ids: list[int], vectors: np.ndarray) -> None: ...

    @abstractmethod
    def vector(self, memory_id: int) -> np.ndarray | None: ...

    @abstractmethod
    def _mark(self) -> tuple[int, int]:
        """(highest memory id, highest episode id): what changes when either is added."""

    # -- shared: writing --------------------------------------------------------------------

    def _embed(self, texts: list[str]) -> np.ndarray | None:
        return self.embedder.embed(texts) if self.embedder is not None and texts else None

    def add_memory(
        self,
        text: str,
        *,
        summary: str | None = None,
        episode_ids: list[int] | None = None,
        importance: float = 1.0,
        surprise: float = 0.0,
        model: str = "",
        created: float | None = None,
        valid_from: float | None = None,
        valid_to: float | None = None,
        last_accessed: float | None = None,
        access_count: int = 0,
        vector: np.ndarray | None = None,
        kind: str = "",
    ) -> int:
        if not text.strip():
            raise InvalidInput("a memory needs text")
        now = time.time()
        created = created if created is not None else now
        row = {
            "text": text,
            "summary": summary if summary is not None else text,
            "episode_ids": list(episode_ids or []),
            "created": created,
            "valid_from": valid_from if valid_from is not None else created,
            "valid_to": valid_to,
            "last_accessed": last_accessed,
            "importance": importance,
            "surprise": surprise,
            "access_count": access_count,
            "model": model,
            "kind": kind,
        }
        if vector is None:
            embedded = self._embed([text])
            vector = embedded[0] if embedded is not None else None
        return self._insert_memory(row, vector)

    def add_memories(
        self, texts: list[str], *, model: str = "", batch: int = 256, progress: Callable[[int, int], None] | None = None
    ) -> list[int]:
        """Many memories, embedded in batches, one transaction (bulk loads)."""
        if any(not t.strip() for t in texts):
            raise InvalidInput("a memory needs text")
        ids: list[int] = []
        now = time.time()
        with self.transaction():
            for lo in range(0, len(texts), batch):
                chunk = texts[lo : lo + batch]
                rows: list[dict[str, Any]] = [
                    {
                        "text": t,
                        "summary": t,
                        "episode_ids": [],
                        "created": now,
                        "valid_from": now,
                        "valid_to": None,
                        "last_accessed": None,
                        "importance": 1.0,
                        "surprise": 0.0,
                        "access_count": 0,
                        "model": model,
                        "kind": "",
                    }
                    for t in chunk
                ]
                ids += self._insert_many(rows, self._embed(chunk))
                if progress:
                    progress(len(ids), len(texts))
        return ids

    def reinforce(self, memory_id: int, by: float = 1.0) -> None:
        self.get(memory_id)  # an unknown id is an error, not a no-op
        self._bump(memory_id, by, time.time())

    def supersede(self, old_id: int, new_id: int) -> None:
        """`old_id` stops being valid now; it points at the memory that replaced it."""
        with self.transaction():
            self.get(new_id)
            if self.get(old_id).valid_to is None:
                self.update(old_id, valid_to=time.time(), replaced_by=new_id)

    def sync_vectors(self, progress: Callable[[int, int], None] | None = None, batch: int = 256) -> int:
        """Give every memory a vector from the current embedder; when the store's vectors
        came from another embedder, all are recomputed. Returns how many were embedded."""
        if self.embedder is None:
            return 0
        if self.get_meta("embedder") != self.embedder.name:
            with self.transaction():
                self._reset_vectors(self.embedder.dim)
                self.set_meta("embedder", self.embedder.name)
                self.set_meta("embedding_dim", str(self.embedder.dim))
        todo = self._without_vectors()
        for lo in range(0, len(todo), batch):
            chunk = todo[lo : lo + batch]
            vectors = self.embedder.embed([text for _, text in chunk])
            with self.transaction():
                self._set_vectors([i for i, _ in chunk], vectors)
            if progress:
                progress(min(lo + batch, len(todo)), len(todo))
        return len(todo)


class ValueTable(ABC):
    """Values: (name, weight, curve, rate, level) rows, what `islands.memory.values` reads."""

    @abstractmethod
    def put_value(self, name: str, weight: float, curve: str, rate: float, level: float | None = None) -> None:
        """Insert or update a value (`level` None keeps the current level, 0 for a new one)."""

    @abstractmethod
    def get_value(self, name: str) -> tuple[str, float, str, float, float] | None: ...

    @abstractmethod
    def list_values(self) -> list[tuple[str, float, str, float, float]]: ...

    @abstractmethod
    def add_level(self, name: str, amount: float) -> None:
        """level = max(0, level + amount)."""


class Recall(Storage):
    """Recall over the storage: BM25, vectors and conversation structure fused
    (`islands.memory.recall`), so every backend ranks the same way."""

    min_similarity = 0.3  # dense hits below this cosine similarity are not recalled
    recall_params = RecallParams()
    _chat_index: tuple[tuple[int, int], ChatIndex] | None = None

    def chat_index(self) -> ChatIndex:
        """The structure of imported conversations, rebuilt when memories or episodes were added."""
        mark = self._mark()
        if self._chat_index is None or self._chat_index[0] != mark:
            self._chat_index = (mark, ChatIndex(self))
        return self._chat_index[1]

    def search(
        self,
        query: str,
        k: int = 5,
        *,
        include_invalid: bool = False,
        touch: bool = True,
        half_life_days: float = 30.0,
        any_word: bool = False,
        dense: bool = True,
        params: RecallParams | None = None,
    ) -> list[Memory]:
        """BM25 matches (every word first, then any), the nearest vectors and dated
        memories, fused by reciprocal rank, with conversation structure and a second round
        (`islands.memory.recall`), then weighted by recency (half-life) and importance.
        Valid memories only unless `include_invalid`."""
        if k < 1:
            raise InvalidInput(f"invalid k {k}: must be at least 1")
        words = query_words(query)
        if not words:
            raise InvalidInput("the query has no words")
        words = words[:32]
        now = time.time()

        def weigh(mem: Memory) -> float:
            recency = 0.5 ** ((now - (mem.last_accessed or mem.created)) / 86400 / half_life_days)
            return float((0.5 + 0.5 * recency) * (1 + math.log1p(mem.importance)))

        ranked = recall(
            self,
            query,
            words,
            k,
            include_invalid=include_invalid,
            any_word=any_word,
            dense=dense,
            params=params or self.recall_params,
            weigh=weigh,
        )
        if touch and ranked:
            self._touch([m.id for m in ranked], now)  # under the lock too: it is a transaction
        return ranked


class MemoryStore(Recall, ValueTable):
    """One memory database: storage, recall and values. Open one with
    `islands.memory.open_store` (or `MemoryStore.open`)."""

    @classmethod
    def open(
        cls, where: Path | str | None = None, *, embedder: EmbedderChoice = "default", progress: Callable[[int, int], None] | None = None
    ) -> MemoryStore:
        """Shorthand for `islands.memory.stores.open_store` (SQLite file or postgresql:// URL)."""
        from islands.memory.stores import open_store

        return open_store(where, embedder=embedder, progress=progress)
