"""Memory and values: save what matters (gated by surprise), recall it (BM25 and dense
vectors fused by rank, weighted by recency and importance), consolidate it in sleep, move
it between stores and models, and weigh options by value.

Stores: SQLite (default, one file) and PostgreSQL with pgvector, behind `MemoryStore`.
"""

from islands.memory.store import Memory, MemoryStore, StoreUnreachable
from islands.memory.stores import open_store
from islands.memory.values import Value, ValueStore
from islands.memory.write import Remembered, remember

__all__ = ["Memory", "MemoryStore", "Remembered", "StoreUnreachable", "Value", "ValueStore", "open_store", "remember"]
