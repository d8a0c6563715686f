"""RECALL(query) and MEMORY(id): grounded loads from memory as hard-island tools, and
`recall_into` to put recalled memories into a prompt as soft islands with citations."""

from __future__ import annotations

from islands.memory.store import MemoryStore
from islands.tools.registry import Registry
from islands.tools.soft import SoftSpan, Source, with_sources

__all__ = ["recall_into", "register_memory"]


def register_memory(registry: Registry, store: MemoryStore) -> None:
    """Add RECALL and MEMORY over `store`."""

    def RECALL(query: str) -> str:
        """Memories matching the query, with ids."""
        found = store.search(query.strip().strip("'\""), k=3)
        return "; ".join(f"[m{m.id}] {m.text}" for m in found) or "nothing remembered"

    def MEMORY(memory_id: int) -> str:
        """One memory in full, with the raw episode it came from."""
        m = store.get(memory_id)
        episodes = " | ".join(store.episode(e)[:500] for e in m.episode_ids)
        return f"{m.text} (from: {episodes})" if episodes else m.text

    registry.register(RECALL, timeout=10.0)
    registry.register(MEMORY, timeout=10.0)


def recall_into(store: MemoryStore, prompt: str, query: str | None = None, k: int = 3) -> tuple[str, list[SoftSpan]]:
    """`prompt` preceded by the memories recalled for `query` (default: the prompt)."""
    found = store.search(query or prompt, k=k)
    return with_sources(prompt, [Source(f"memory #{m.id}", m.summary[:60], m.text) for m in found], header="Remembered:")
