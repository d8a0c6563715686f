"""Memories across models and stores: export to JSONL (text and metadata, model-agnostic)
and import into any store, SQLite or PostgreSQL. A memory's vector travels with the name
of its embedder; the importing store reuses it when its embedder has that name and
recomputes it when not. An import is one transaction, so a malformed line changes nothing,
and importing what is already there adds nothing: an episode equal in (text, source,
created) and a memory equal in (text, created) to one in the store are the same record.

    {"type": "episode", "id": 3, "text": "...", "source": "", "created": 1763.0}
    {"type": "memory", "id": 7, "text": "...", "summary": "...", "episodes": [3], "importance": 2.0, ...,
     "embedding": {"embedder": "all-minilm-l6-v2", "vector": "<base64 float32>"}}
    {"type": "value", "name": "tea", "weight": 2.0, "curve": "log", "rate": 1.0, "level": 1.0}
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from islands.errors import InvalidInput
from islands.files import write_jsonl
from islands.memory.store import MEMORY_FIELDS, MemoryStore
from islands.memory.values import CURVES

__all__ = ["export_jsonl", "import_jsonl"]

# what an export carries of a memory: everything but its id and its episodes (renumbered on import)
_MEMORY_FIELDS = tuple(f for f in MEMORY_FIELDS if f not in ("id", "episode_ids"))


def export_jsonl(store: MemoryStore, path: Path) -> int:
    """Write everything; returns the number of lines. Written to a temp file, then renamed."""
    lines: list[dict[str, Any]] = []
    for eid, text, source, created in store.episodes():
        lines.append({"type": "episode", "id": eid, "text": text, "source": source, "created": created})
    embedder = store.get_meta("embedder")
    for m in store.memories(valid_only=False):
        doc: dict[str, Any] = {"type": "memory", "id": m.id, "episodes": m.episode_ids}
        doc.update({k: getattr(m, k) for k in _MEMORY_FIELDS})
        vector = store.vector(m.id) if embedder else None
        if vector is not None:
            doc["embedding"] = {"embedder": embedder, "vector": base64.b64encode(vector.astype("<f4").tobytes()).decode()}
        lines.append(doc)
    for name, weight, curve, rate, level in store.list_values():
        lines.append({"type": "value", "name": name, "weight": weight, "curve": curve, "rate": rate, "level": level})
    write_jsonl(path, lines)
    return len(lines)


def _vector(doc: dict[str, Any], store: MemoryStore, where: str) -> np.ndarray | None:
    """The exported vector when it came from this store's embedder (else None: recomputed)."""
    emb = doc.get("embedding")
    if store.embedder is None or not isinstance(emb, dict) or emb.get("embedder") != store.embedder.name:
        return None
    try:
        vector = np.frombuffer(base64.b64decode(str(emb.get("vector", "")), validate=True), dtype="<f4")
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{where}: the embedding is not base64 float32; nothing imported") from None
    if vector.shape != (store.embedder.dim,):
        raise InvalidInput(
            f"{where}: the embedding has {vector.size} numbers, {store.embedder.name} gives {store.embedder.dim}; nothing imported"
        )
    return vector.astype(np.float32)


_NUMBERS = {"created", "valid_from", "valid_to", "last_accessed", "importance", "surprise", "weight", "rate", "level"}
_INTEGERS = {"id", "access_count", "replaced_by"}


def _check_fields(doc: dict[str, Any], where: str) -> None:
    """Types and ranges, before anything is written (the stores would take some wrong ones)."""
    for key, value in doc.items():
        if value is None and key in ("valid_to", "last_accessed", "replaced_by"):
            continue
        if key in _NUMBERS and (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)):
            raise InvalidInput(f"{where}: {key} must be a number; nothing imported")
        if key in _INTEGERS and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63):
            raise InvalidInput(f"{where}: {key} must be a whole number >= 0; nothing imported")
        if key in ("summary", "source", "model", "name", "curve", "kind") and not isinstance(value, str):
            raise InvalidInput(f"{where}: {key} must be a string; nothing imported")
    if doc.get("type") == "memory" and not (
        isinstance(doc.get("episodes", []), list) and all(isinstance(e, int) and not isinstance(e, bool) for e in doc.get("episodes", []))
    ):
        raise InvalidInput(f"{where}: episodes must be a list of ids; nothing imported")
    if doc.get("type") == "value":
        if doc["curve"] not in CURVES:
            raise InvalidInput(f"{where}: unknown curve {doc['curve']!r} (log or exp); nothing imported")
        if doc["rate"] <= 0 or doc.get("level", 0.0) < 0:
            raise InvalidInput(f"{where}: a value's rate must be > 0 and its level >= 0; nothing imported")


def import_jsonl(store: MemoryStore, path: Path) -> dict[str, int]:
    """Add a file's episodes, memories and values (ids are remapped); all or nothing.
    Records already in the store are not added again (counted as `already_there`).
    Vectors are reused from the file when the embedder matches, else recomputed."""
    try:
        raw = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    docs: list[dict[str, Any]] = []
    vectors: dict[int, np.ndarray] = {}
    for n, line in enumerate(raw, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"{path}:{n}: not JSON ({e.msg}); nothing imported") from None
        if not isinstance(doc, dict) or doc.get("type") not in ("episode", "memory", "value"):
            raise InvalidInput(f"{path}:{n}: expected an object with type episode, memory or value; nothing imported")
        need = {"episode": ("id", "text"), "memory": ("id", "text"), "value": ("name", "weight", "curve", "rate")}[doc["type"]]
        missing = [k for k in need if k not in doc]
        if missing:
            raise InvalidInput(f"{path}:{n}: {doc['type']} without {missing[0]!r}; nothing imported")
        if doc["type"] in ("episode", "memory") and not (isinstance(doc["text"], str) and doc["text"].strip()):
            raise InvalidInput(f"{path}:{n}: {doc['type']} text must be a non-empty string; nothing imported")
        _check_fields(doc, f"{path}:{n}")
        if doc["type"] == "memory":
            vector = _vector(doc, store, f"{path}:{n}")
            if vector is not None:
                vectors[len(docs)] = vector
        docs.append(doc)
    had_episodes = {(text, source, float(created)): eid for eid, text, source, created in store.episodes()}
    had_memories = {(m.text, float(m.created)): m.id for m in store.memories(valid_only=False)}
    unembedded = [
        at
        for at, d in enumerate(docs)
        if d["type"] == "memory" and at not in vectors and (d["text"], float(d.get("created", 0.0))) not in had_memories
    ]
    if store.embedder is not None:  # recomputed in batches, before the transaction
        for lo in range(0, len(unembedded), 256):
            chunk = unembedded[lo : lo + 256]
            for at, vector in zip(chunk, store.embedder.embed([docs[at]["text"] for at in chunk])):
                vectors[at] = vector
    counts = {"episodes": 0, "memories": 0, "values": 0, "already_there": 0}
    failures: tuple[type[BaseException], ...] = (TypeError, ValueError, OverflowError, *store.db_errors)
    episodes: dict[int, int] = {}
    memories: dict[int, int] = {}
    fresh: set[int] = set()  # memories this import added
    try:
        with store.transaction():  # one transaction: a failure rolls everything back
            for doc in (d for d in docs if d["type"] == "episode"):
                key = (doc["text"], doc.get("source", ""), float(doc.get("created", 0.0)))
                if key in had_episodes:
                    episodes[doc["id"]] = had_episodes[key]
                    counts["already_there"] += 1
                    continue
                episodes[doc["id"]] = had_episodes[key] = store.add_episode(doc["text"], doc.get("source", ""), doc.get("created", 0.0))
                counts["episodes"] += 1
            for at, doc in enumerate(docs):
                if doc["type"] != "memory":
                    continue
                created = doc.get("created", 0.0)
                if (doc["text"], float(created)) in had_memories:
                    memories[doc["id"]] = had_memories[(doc["text"], float(created))]
                    counts["already_there"] += 1
                    continue
                memories[doc["id"]] = had_memories[(doc["text"], float(created))] = store.add_memory(
                    doc["text"],
                    summary=doc.get("summary", doc["text"]),
                    episode_ids=[episodes[e] for e in doc.get("episodes", []) if e in episodes],
                    importance=doc.get("importance", 1.0),
                    surprise=doc.get("surprise", 0.0),
                    model=doc.get("model", ""),
                    created=created,
                    valid_from=doc.get("valid_from", created),
                    valid_to=doc.get("valid_to"),
                    last_accessed=doc.get("last_accessed"),
                    access_count=doc.get("access_count", 0),
                    vector=vectors.get(at),
                    kind=doc.get("kind", ""),
                )
                fresh.add(memories[doc["id"]])
                counts["memories"] += 1
            for doc in (d for d in docs if d["type"] == "memory" and d.get("replaced_by") in memories and memories[d["id"]] in fresh):
                store.update(memories[doc["id"]], replaced_by=memories[doc["replaced_by"]])
            for doc in (d for d in docs if d["type"] == "value"):
                store.put_value(doc["name"], doc["weight"], doc["curve"], doc["rate"], doc.get("level", 0.0))
                counts["values"] += 1
    except InvalidInput:
        raise
    except failures as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidInput(f"{path}: cannot import ({first}); nothing imported") from None
    return counts
