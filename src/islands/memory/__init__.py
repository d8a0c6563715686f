"""Memory and values: save what matters (gated by surprise), recall it, and weigh options.

First slice: the SQLite store with numbered migrations, surprise-gated `remember`, BM25
`recall` weighted by recency and importance, and the value store. Dense vectors, sleep,
export/import, PostgreSQL and `islands chat` come next.
"""

from islands.memory.store import Memory, MemoryStore
from islands.memory.values import Value, ValueStore
from islands.memory.write import Remembered, remember

__all__ = ["Memory", "MemoryStore", "Remembered", "Value", "ValueStore", "remember"]
