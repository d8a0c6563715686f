"""The PostgreSQL backend against a real server (scripts/postgres.sh): its exact schema,
dense recall with pgvector, moving memories between SQLite and PostgreSQL, refusing a
schema that is not ours, and the CLI on a postgresql:// URL. (The behaviour both backends
share is tested on both in test_memory.py and test_memory_safety.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import pytest

from islands import InvalidInput
from islands.memory import MemoryStore, StoreUnreachable, ValueStore
from islands.memory.portable import export_jsonl, import_jsonl

FACTS = ["The ferry to Hoy leaves Stromness at 07:42.", "My sister Ana is allergic to peanuts.",
         "The wifi password at the cabin is heron42.", "Tea is best at 80 degrees."]


def test_exact_schema(fresh_pg: Callable[[], str]) -> None:
    url = fresh_pg()
    with MemoryStore.open(url, embedder="hash") as store, psycopg.connect(url) as db:
        tables = {r[0] for r in db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'islands'")}
        assert tables == {"migrations", "episodes", "memories", "values", "meta"}
        columns = [r[0] for r in db.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'islands' "
                                            "AND table_name = 'memories' ORDER BY ordinal_position")]
        assert columns == ["id", "text", "summary", "episode_ids", "created", "valid_from", "valid_to", "last_accessed",
                           "importance", "surprise", "access_count", "model", "embedding", "replaced_by", "tsv", "kind"]
        assert [r[0] for r in db.execute("SELECT name FROM islands.migrations")] == ["m001_initial", "m002_kind"]
        indexes = {r[0]: r[1] for r in db.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'islands'")}
        assert "USING hnsw (embedding vector_cosine_ops)" in indexes["memories_embedding"]
        assert "USING gin (tsv)" in indexes["memories_tsv"]
        store.migrate()  # safe on every open
        assert db.execute("SELECT count(*) FROM islands.migrations").fetchone()[0] == 2
        assert db.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'islands.memories'::regclass "
                          "AND attname = 'embedding'").fetchone()[0] == "vector(256)"


def test_minilm_recall_with_pgvector(fresh_pg: Callable[[], str]) -> None:
    with MemoryStore.open(fresh_pg(), embedder="minilm") as store:
        for fact in FACTS:
            store.add_memory(fact)
        found = store.search("internet code at the cottage", k=1)
        assert [m.text for m in found] == [FACTS[2]] and "bm25_rank" not in found[0].extra
        both = store.search("when does the ferry to Hoy leave", k=4)
        assert both[0].text == FACTS[0] and {"bm25_rank", "dense_rank"} <= set(both[0].extra)
        assert store.vector(both[0].id).shape == (384,)  # type: ignore[union-attr]


def test_memories_move_between_sqlite_and_postgres(fresh_pg: Callable[[], str], tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "a.sqlite", embedder="hash") as lite:
        old = lite.add_memory("Tea is best at 80 degrees.", importance=2.0)
        new = lite.add_memory("Tea is best at 85 degrees.")
        lite.supersede(old, new)
        ValueStore(lite).set("tea", 2.0, "exp", 0.5)
        ValueStore(lite).event("tea", 2)
        export_jsonl(lite, tmp_path / "a.jsonl")
        vector = lite.vector(new)
    with MemoryStore.open(fresh_pg(), embedder="hash") as pg:
        assert import_jsonl(pg, tmp_path / "a.jsonl") == {"episodes": 0, "memories": 2, "values": 1, "already_there": 0}
        assert import_jsonl(pg, tmp_path / "a.jsonl")["already_there"] == 2  # a second import adds nothing
        assert [m.text for m in pg.search("tea degrees")] == ["Tea is best at 85 degrees."]
        ported = pg.memories(valid_only=False)
        assert ported[0].replaced_by == ported[1].id and ported[0].importance == 2.0
        assert np.allclose(pg.vector(ported[1].id), vector, atol=1e-6)  # type: ignore[arg-type]  # reused, same embedder
        assert ValueStore(pg).get("tea").level == 2.0
        export_jsonl(pg, tmp_path / "b.jsonl")
    with MemoryStore.open(tmp_path / "c.sqlite", embedder="hash") as back:
        import_jsonl(back, tmp_path / "b.jsonl")
        assert [(m.text, m.valid) for m in back.memories(valid_only=False)] == [(FACTS[3], False), ("Tea is best at 85 degrees.", True)]


def test_a_schema_that_is_not_ours_is_refused_untouched(fresh_pg: Callable[[], str]) -> None:
    url = fresh_pg()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE SCHEMA islands")
        db.execute("CREATE TABLE islands.episodes (x int)")
        with pytest.raises(InvalidInput, match="not an islands memory store"):
            MemoryStore.open(url)
        assert [r[0] for r in db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'islands'")] == ["episodes"]


def test_an_unreachable_server_is_one_clear_error(pg_url: str) -> None:
    bad = pg_url.rsplit(":", 1)[0] + ":1/islands"
    with pytest.raises(StoreUnreachable, match=r"cannot connect to postgresql://"):  # not the caller's input
        MemoryStore.open(bad)


def test_cli_on_a_postgres_url(fresh_pg: Callable[[], str], tmp_path: Path) -> None:
    url = fresh_pg()
    cli = [str(Path(sys.executable).with_name("islands"))]
    lines = [json.dumps({"type": "memory", "id": i, "text": fact}) for i, fact in enumerate(FACTS)]
    (tmp_path / "facts.jsonl").write_text("\n".join(lines) + "\n")
    def run(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *a, "--memory", url], check=False, capture_output=True, text=True, timeout=300)
    assert run("memory", "import", str(tmp_path / "facts.jsonl"), "--embedder", "hash").returncode == 0
    found = json.loads(run("memory", "search", "Ana peanuts", "--json", "--embedder", "hash").stdout)
    assert found[0]["text"] == FACTS[1]
    assert json.loads(run("memory", "stats", "--json").stdout) == {"memories": 4, "valid_memories": 4, "episodes": 0, "values": 0,
                                                                    "embedder": "hash-256"}
    missing = run("memory", "show", "99")
    assert missing.returncode != 0 and missing.stderr.strip().splitlines() == ["error: no memory with id 99"]
