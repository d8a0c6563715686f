"""Memories across models: export to JSONL (text and metadata, no model-specific state)
and import into any store. Embeddings are not carried (they belong to an embedder); an
import is one transaction, so a malformed line changes nothing.

    {"type": "episode", "id": 3, "text": "...", "source": "", "created": 1763.0}
    {"type": "memory", "id": 7, "text": "...", "summary": "...", "episodes": [3], "importance": 2.0, ...}
    {"type": "value", "name": "tea", "weight": 2.0, "curve": "log", "rate": 1.0, "level": 1.0}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from islands.errors import InvalidInput
from islands.files import write_jsonl
from islands.memory.store import MemoryStore

__all__ = ["export_jsonl", "import_jsonl"]

_MEMORY_FIELDS = ("text", "summary", "created", "valid_from", "valid_to", "last_accessed", "importance", "surprise",
                  "access_count", "model", "replaced_by")


def export_jsonl(store: MemoryStore, path: Path) -> int:
    """Write everything; returns the number of lines. Written to a temp file, then renamed."""
    lines: list[dict[str, Any]] = []
    for row in store.db.execute("SELECT id, text, source, created FROM episodes ORDER BY id"):
        lines.append({"type": "episode", "id": row[0], "text": row[1], "source": row[2], "created": row[3]})
    cols = ", ".join(("id", "episode_ids") + _MEMORY_FIELDS)
    for row in store.db.execute(f"SELECT {cols} FROM memories ORDER BY id"):
        doc = dict(zip(("id", "episodes") + _MEMORY_FIELDS, row))
        doc["episodes"] = json.loads(doc["episodes"])
        lines.append({"type": "memory", **doc})
    for row in store.db.execute('SELECT name, weight, curve, rate, level FROM "values" ORDER BY name'):
        lines.append({"type": "value", **dict(zip(("name", "weight", "curve", "rate", "level"), row))})
    write_jsonl(path, lines)
    return len(lines)


def import_jsonl(store: MemoryStore, path: Path) -> dict[str, int]:
    """Add a file's episodes, memories and values (ids are remapped); all or nothing."""
    try:
        raw = path.read_text().splitlines()
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e.strerror}") from None
    docs = []
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
        docs.append(doc)
    counts = {"episodes": 0, "memories": 0, "values": 0}
    episodes: dict[int, int] = {}
    memories: dict[int, int] = {}
    with store.db:  # one transaction: a failure rolls everything back
        for doc in (d for d in docs if d["type"] == "episode"):
            cur = store.db.execute("INSERT INTO episodes (text, source, created) VALUES (?, ?, ?)",
                                   (doc["text"], doc.get("source", ""), doc.get("created", 0.0)))
            episodes[doc["id"]] = int(cur.lastrowid or 0)
            counts["episodes"] += 1
        for doc in (d for d in docs if d["type"] == "memory"):
            links = [episodes[e] for e in doc.get("episodes", []) if e in episodes]
            created = doc.get("created", 0.0)
            cur = store.db.execute(
                "INSERT INTO memories (text, summary, episode_ids, created, valid_from, valid_to, last_accessed, importance, "
                "surprise, access_count, model) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (doc["text"], doc.get("summary", doc["text"]), json.dumps(links), created, doc.get("valid_from", created),
                 doc.get("valid_to"), doc.get("last_accessed"), doc.get("importance", 1.0), doc.get("surprise", 0.0),
                 doc.get("access_count", 0), doc.get("model", "")),
            )
            memories[doc["id"]] = int(cur.lastrowid or 0)
            store.db.execute("INSERT INTO memories_fts (rowid, text, summary) VALUES (?, ?, ?)",
                             (cur.lastrowid, doc["text"], doc.get("summary", doc["text"])))
            counts["memories"] += 1
        for doc in (d for d in docs if d["type"] == "memory" and d.get("replaced_by") in memories):
            store.db.execute("UPDATE memories SET replaced_by = ? WHERE id = ?", (memories[doc["replaced_by"]], memories[doc["id"]]))
        for doc in (d for d in docs if d["type"] == "value"):
            store.db.execute(
                'INSERT INTO "values" (name, weight, curve, rate, level, updated) VALUES (?, ?, ?, ?, ?, 0) '
                "ON CONFLICT(name) DO UPDATE SET weight = excluded.weight, curve = excluded.curve, rate = excluded.rate, level = excluded.level",
                (doc["name"], doc["weight"], doc["curve"], doc["rate"], doc.get("level", 0.0)),
            )
            counts["values"] += 1
    return counts
