"""Dense recall: MiniLM vectors (from the installed package) searched with sqlite-vec and
fused with BM25 by rank; vectors recomputed when the embedder changes, reused on import
when it does not; the CLI's default embedder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from islands import InvalidInput
from islands.memory import MemoryStore
from islands.memory.embed import HashEmbedder, embedder_from
from islands.memory.portable import export_jsonl, import_jsonl

FACTS = ["The ferry to Hoy leaves Stromness at 07:42.", "My sister Ana is allergic to peanuts.",
         "The wifi password at the cabin is heron42.", "Tea is best at 80 degrees."]


def test_minilm_finds_what_shares_no_word_with_the_query(tmp_path: Path) -> None:
    dense = MemoryStore.open(tmp_path / "dense.sqlite", embedder="minilm")
    plain = MemoryStore.open(tmp_path / "plain.sqlite", embedder="none")
    for fact in FACTS:
        dense.add_memory(fact)
        plain.add_memory(fact)
    found = dense.search("internet code at the cottage", k=1)
    assert [m.text for m in found] == [FACTS[2]] and found[0].extra["similarity"] > 0.3
    assert "bm25_rank" not in found[0].extra  # found by its meaning alone
    assert plain.search("internet code at the cottage") == []  # BM25 alone has no shared word
    both = dense.search("when does the ferry to Hoy leave", k=4)
    assert both[0].text == FACTS[0] and {"bm25_rank", "dense_rank"} <= set(both[0].extra)
    v = dense.vector(both[0].id)
    assert v is not None and v.shape == (384,) and abs(float(np.linalg.norm(v)) - 1) < 1e-4


def test_fusion_ranks_what_both_lists_agree_on_first(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path / "m.sqlite", embedder=HashEmbedder(256))
    a = store.add_memory("harbour bell rings at noon")
    b = store.add_memory("bell")  # BM25 likes the short exact match; its vector is farther
    store.add_memory("the lighthouse keeper rings no bell")
    found = store.search("harbour bell", k=3)
    assert found[0].id == a and found[0].extra["bm25_rank"] == 1 and found[0].extra["dense_rank"] == 1
    assert b in [m.id for m in found]
    assert found[0].score > found[1].score > 0


def test_vectors_are_recomputed_when_the_embedder_changes(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    with MemoryStore.open(path, embedder="none") as store:
        ids = [store.add_memory(f) for f in FACTS]  # BM25 only: no vectors
        assert store.vector(ids[0]) is None
    seen: list[tuple[int, int]] = []
    with MemoryStore.open(path, embedder="hash", progress=lambda done, total: seen.append((done, total))) as store:
        assert store.get_meta("embedder") == "hash-256" and seen[-1] == (4, 4)
        assert store.vector(ids[0]).shape == (256,)  # type: ignore[union-attr]
    with MemoryStore.open(path, embedder="minilm") as store:  # another embedder: all recomputed
        assert store.get_meta("embedder") == "all-minilm-l6-v2"
        assert all(store.vector(i).shape == (384,) for i in ids)  # type: ignore[union-attr]
        assert store.search("food Ana must avoid", k=1)[0].id == ids[1]


def test_import_reuses_vectors_of_the_same_embedder_and_recomputes_others(tmp_path: Path) -> None:
    source = MemoryStore.open(tmp_path / "a.sqlite", embedder="hash")
    mid = source.add_memory(FACTS[0])
    export_jsonl(source, tmp_path / "m.jsonl")
    line = next(json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines() if '"memory"' in x)
    assert line["embedding"]["embedder"] == "hash-256"
    same = MemoryStore.open(tmp_path / "b.sqlite", embedder="hash")
    import_jsonl(same, tmp_path / "m.jsonl")
    assert np.array_equal(same.vector(1), source.vector(mid))  # type: ignore[arg-type]
    other = MemoryStore.open(tmp_path / "c.sqlite", embedder="minilm")
    import_jsonl(other, tmp_path / "m.jsonl")
    assert other.vector(1).shape == (384,)  # type: ignore[union-attr]
    assert other.search("boat to Hoy", k=1)[0].text == FACTS[0]
    # a vector of the right embedder but the wrong size is refused, and nothing is imported
    line["embedding"]["vector"] = line["embedding"]["vector"][:40]
    (tmp_path / "bad.jsonl").write_text(json.dumps(line) + "\n")
    fresh = MemoryStore.open(tmp_path / "d.sqlite", embedder="hash")
    with pytest.raises(InvalidInput, match="bad.jsonl:1: the embedding"):
        import_jsonl(fresh, tmp_path / "bad.jsonl")
    assert fresh.stats()["memories"] == 0


def test_unknown_embedders_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown embedder 'bert'"):
        embedder_from("bert")
    with pytest.raises(InvalidInput, match="unknown embedder"):
        embedder_from("hash-x")
    assert embedder_from("none") is None and embedder_from("hash-64").dim == 64  # type: ignore[union-attr]


def test_cli_uses_minilm_by_default_when_installed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ISLANDS_EMBEDDER"}
    db = str(tmp_path / "cli.sqlite")
    cli = [str(Path(sys.executable).with_name("islands"))]
    lines = [json.dumps({"type": "memory", "id": i, "text": fact}) for i, fact in enumerate(FACTS)]
    (tmp_path / "facts.jsonl").write_text("\n".join(lines) + "\n")
    subprocess.run([*cli, "memory", "import", str(tmp_path / "facts.jsonl"), "--memory", db], env=env, check=True, capture_output=True)
    out = subprocess.run([*cli, "memory", "search", "what food should Ana avoid", "--memory", db, "--json"], env=env,
                         check=True, capture_output=True, text=True).stdout
    found = json.loads(out)
    assert found[0]["text"] == FACTS[1] and "dense_rank" in found[0]["extra"]
    stats = subprocess.run([*cli, "memory", "stats", "--json", "--memory", db], env=env, check=True, capture_output=True, text=True)
    assert json.loads(stats.stdout)["embedder"] == "all-minilm-l6-v2"


def test_without_the_embed_extra_recall_is_bm25_alone(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "for name in ('sentence_transformers', 'sqlite_vec', 'sqlean', 'torch'):\n"
        "    sys.modules[name] = None  # as if the embed extra were not installed\n"
        "from islands.memory import MemoryStore\n"
        "store = MemoryStore.open(sys.argv[1], embedder='auto')\n"
        "store.add_memory('The ferry to Hoy leaves Stromness at 07:42.')\n"
        "print(store.embedder, store.sql.__name__, [m.text for m in store.search('ferry Hoy')])\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.sqlite")], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "None sqlite3 ['The ferry to Hoy leaves Stromness at 07:42.']"


def test_a_small_store_is_searched_by_exact_cosine_and_a_large_one_by_sign_bits_first(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path / "m.sqlite", embedder=HashEmbedder(64))
    ids = [store.add_memory(f"note {i}: the {w} of day {i % 7}") for i, w in enumerate(["bell", "tide", "ferry", "heron"] * 25)]
    store.update(ids[3], valid_to=1.0)  # contradicted: left out unless asked for
    query = HashEmbedder(64).embed(["the ferry of day 3"])[0]
    vectors = {i: store.vector(i) for i in ids}
    truth = sorted((i for i in ids if i != ids[3]), key=lambda i: (-float(vectors[i] @ query), i))  # type: ignore[operator]
    exact = store._nearest(query, 10, include_invalid=False)
    assert len(exact) == 10 and ids[3] not in [m.id for m, _ in exact]
    assert [round(s, 5) for _, s in exact] == [round(float(vectors[i] @ query), 5) for i in truth[:10]]  # type: ignore[operator]
    assert ids[3] in [m.id for m, _ in store._nearest(query, 100, include_invalid=True)]
    wide = store._nearest(query, 13, include_invalid=False)
    store.exact_scan = 0  # as a store of more memories than the exact scan covers: sign bits propose 8 x 13 >= 99 rows
    assert [round(s, 5) for _, s in store._nearest(query, 13, include_invalid=False)] == [round(s, 5) for _, s in wide]
    few = [s for _, s in store._nearest(query, 3, include_invalid=False)]  # 64 proposed of 99: still ranked, still 3
    assert len(few) == 3 and few == sorted(few, reverse=True)
