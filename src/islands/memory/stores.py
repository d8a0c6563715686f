"""`open_store`: the memory store a location names, SQLite or PostgreSQL.

    store = open_store()                                         # $ISLANDS_HOME/memory.sqlite
    store = open_store("notes.sqlite", embedder="hash")
    store = open_store("postgresql://127.0.0.1:5433/islands")    # PostgreSQL + pgvector

A function beside the backends, so the interface (`islands.memory.store`) never imports
its own subclasses. `MemoryStore.open` is kept as a shorthand for it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from islands.home import islands_home
from islands.memory.embed import default_embedder, embedder_from
from islands.memory.sqlite import SqliteStore
from islands.memory.store import EmbedderChoice, MemoryStore

__all__ = ["open_store"]


def open_store(where: Path | str | None = None, *, embedder: EmbedderChoice = "default",
               progress: Callable[[int, int], None] | None = None) -> MemoryStore:
    """A SQLite file (default `$ISLANDS_HOME/memory.sqlite`) or a `postgresql://` URL.
    `embedder`: an Embedder, a name (minilm, minilm-torch, hash, none, auto) or "default"
    (`ISLANDS_EMBEDDER`, else auto). Memories without vectors from this embedder get them
    now (`progress(done, total)` is told)."""
    if isinstance(embedder, str):
        chosen = default_embedder() if embedder == "default" else embedder_from(embedder)
    else:
        chosen = embedder
    target = str(where) if where is not None else ""
    store: MemoryStore
    if target.startswith(("postgresql://", "postgres://")):
        from islands.memory.postgres import PostgresStore  # psycopg only when asked for

        store = PostgresStore(target, chosen)
    else:
        store = SqliteStore(Path(target) if target else islands_home() / "memory.sqlite", chosen)
    try:
        store.sync_vectors(progress)
    except BaseException:
        store.close()
        raise
    return store
