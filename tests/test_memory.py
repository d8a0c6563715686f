"""Memory (first slice): the store's exact schema, surprise-gated writes, reinforcement and
contradiction without deletion, recall, the value store, and refusing foreign files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from islands import Engine, InvalidInput
from islands.memory import MemoryStore, ValueStore, remember
from islands.memory.values import Value
from islands.memory.write import segments


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryStore]:
    """The same behaviour on both backends."""
    where = str(tmp_path / "memory.sqlite") if request.param == "sqlite" else request.getfixturevalue("fresh_pg")()
    with MemoryStore.open(where) as s:
        yield s


def test_exact_schema(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path / "memory.sqlite")
    tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type IN ('table') AND name NOT LIKE 'memories_fts_%'")}
    assert tables == {"migrations", "episodes", "memories", "memories_fts", "values", "meta"}
    columns = [r[1] for r in store.db.execute("PRAGMA table_info(memories)")]
    assert columns == ["id", "text", "summary", "episode_ids", "created", "valid_from", "valid_to", "last_accessed",
                       "importance", "surprise", "access_count", "model", "embedding", "replaced_by", "kind"]
    assert [r[0] for r in store.db.execute("SELECT name FROM migrations")] == ["_m001_initial", "_m002_meta", "_m003_kind"]
    assert [r[1] for r in store.db.execute("PRAGMA table_info(meta)")] == ["key", "value"]
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.migrate()  # safe on every open
    assert store.db.execute("SELECT count(*) FROM migrations").fetchone()[0] == 3


def test_an_older_file_is_upgraded_in_place(tmp_path: Path) -> None:
    from islands.memory.sqlite import APPLICATION_ID, _m001_initial

    old = tmp_path / "old.sqlite"
    db = sqlite3.connect(old)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    _m001_initial(db)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY)")
    db.execute("INSERT INTO migrations VALUES ('_m001_initial')")
    db.execute("INSERT INTO memories (text, summary, created, valid_from) VALUES ('kept across the upgrade', 'k', 0, 0)")
    db.execute("INSERT INTO memories_fts (rowid, text, summary) VALUES (1, 'kept across the upgrade', 'k')")
    db.execute("INSERT INTO memories (text, summary, created, valid_from) VALUES ('an old summing up', 'reflection of #1', 0, 0)")
    db.execute("INSERT INTO memories_fts (rowid, text, summary) VALUES (2, 'an old summing up', 'reflection of #1')")
    db.commit()
    db.close()
    store = MemoryStore.open(old)
    assert [r[0] for r in store.db.execute("SELECT name FROM migrations ORDER BY name")] == [
        "_m001_initial", "_m002_meta", "_m003_kind"]
    assert [m.text for m in store.search("kept upgrade")] == ["kept across the upgrade"]
    assert [m.kind for m in store.memories()] == ["", "reflection"]  # what the summary said, now a column


def test_sentences_end_at_a_stop_followed_by_space_not_inside_numbers() -> None:
    from islands.memory.write import SENTENCE

    text = "The gauge read 4.91 metres. It rose! Did it fall? No... see e.g.x now"
    assert [m.group().strip() for m in SENTENCE.finditer(text)] == [
        "The gauge read 4.91 metres.", "It rose!", "Did it fall?", "No...", "see e.g.x now"]


def test_segments_start_at_spikes() -> None:
    assert segments([1, 1, 1, 1, 9, 1, 1], gamma=1.0) == [(0, 4, False), (4, 7, True)]
    assert segments([2, 2, 2, 2]) == [(0, 4, False)]


def test_repeats_reinforce_and_contradictions_supersede(engine: Engine, store: MemoryStore) -> None:
    first = remember(engine, store, "The ferry to Hoy leaves Stromness at 07:42.", always=True)
    again = remember(engine, store, "The ferry to Hoy leaves Stromness at 07:42.", always=True)
    assert again.reinforced == first.memory_ids and not again.memory_ids
    assert store.get(first.memory_ids[0]).importance == 2.0
    changed = remember(engine, store, "The ferry to Hoy leaves Stromness at 08:15.", always=True)
    old = store.get(first.memory_ids[0])
    assert changed.superseded == [old.id] and old.valid_to is not None and old.replaced_by == changed.memory_ids[0]
    assert [m.id for m in store.search("ferry Hoy")] == changed.memory_ids  # only valid ones
    assert {m.id for m in store.search("ferry Hoy", include_invalid=True)} == {old.id, changed.memory_ids[0]}
    assert store.stats() == {"memories": 2, "valid_memories": 1, "episodes": 3, "values": 0}
    assert store.episode(first.episode_id) == "The ferry to Hoy leaves Stromness at 07:42."  # raw, lossless


def test_foreign_files_are_refused_untouched(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 10)
    with pytest.raises(InvalidInput, match="not an islands memory database"):
        MemoryStore.open(junk)
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    before = other.read_bytes()
    with pytest.raises(InvalidInput, match="left untouched"):
        MemoryStore.open(other)
    assert other.read_bytes() == before


def test_values_have_diminishing_returns(store: MemoryStore) -> None:
    values = ValueStore(store)
    values.set("fruit_a", 2.0)
    values.set("fruit_b", 1.5, curve="exp", rate=0.5)
    assert values.rank(["fruit_a", "fruit_b"])[0][0] == "fruit_a"
    values.event("fruit_a", 2)  # after two of A, B is worth more
    assert values.rank(["fruit_a", "fruit_b"])[0][0] == "fruit_b"
    assert Value("x", 2.0, "log", 1.0, 1.0).marginal == 1.0
    assert values.event("fruit_a", -5).level == 0  # never below zero
    for bad in (lambda: values.set("z", 1, curve="cubic"), lambda: values.set("z", 1, rate=0), lambda: values.event("nope")):
        with pytest.raises(InvalidInput):
            bad()


@pytest.mark.model
def test_surprise_gates_writes(real: Engine, store: MemoryStore) -> None:
    text = ("The sun rises in the east and sets in the west. Every morning people drink coffee and go to work. "
            "The ferry to Hoy now leaves Stromness at 07:42 on Tuesdays. Children go to school during the week.")
    result = remember(real, store, text)
    kept = [store.get(i).text for i in result.memory_ids]
    assert any("07:42" in k for k in kept)  # the planted fact
    assert not any("sun rises" in k or "coffee" in k for k in kept)  # predictable prose is not stored twice
    assert result.kept_chars < len(text) / 2
    assert len(result.surprise) > 20


def test_export_import_across_stores(engine: Engine, store: MemoryStore, tmp_path: Path) -> None:
    from islands.memory.portable import export_jsonl, import_jsonl

    remember(engine, store, "Tea is best at 80 degrees.", always=True)
    changed = remember(engine, store, "Tea is best at 85 degrees.", always=True)
    ValueStore(store).set("tea", 2.0)
    path = tmp_path / "m.jsonl"
    assert export_jsonl(store, path) == 2 + 2 + 1
    other = MemoryStore.open(tmp_path / "other.sqlite")  # e.g. used while another model runs
    assert import_jsonl(other, path) == {"episodes": 2, "memories": 2, "values": 1, "already_there": 0}
    found = other.search("tea degrees")
    assert [m.text for m in found] == ["Tea is best at 85 degrees."]  # the superseded one stays invalid
    assert other.get(found[0].id).episode_ids and ValueStore(other).get("tea").weight == 2.0
    assert changed.superseded
    bad = tmp_path / "bad.jsonl"
    bad.write_text(path.read_text() + '{"type": "memory"}\n')
    with pytest.raises(InvalidInput, match="bad.jsonl:6: memory without 'id'; nothing imported"):
        import_jsonl(MemoryStore.open(tmp_path / "third.sqlite"), bad)
    assert MemoryStore.open(tmp_path / "third.sqlite").stats()["memories"] == 0


def test_recall_tools_and_soft_islands(engine: Engine, store: MemoryStore) -> None:
    from islands import SamplingParams
    from islands.memory.tools import recall_into, register_memory
    from islands.tools import IslandRunner, Registry

    remember(engine, store, "The harbour bell rings at noon.", always=True)
    registry = Registry()
    register_memory(registry, store)
    runner = IslandRunner(engine, registry)
    try:
        out = runner.generate("bell? RECALL(harbour bell)", params=SamplingParams(max_tokens=3, seed=1)).outputs[0]
    finally:
        runner.close()
    assert out.spans[0].result == "[m1] The harbour bell rings at noon."
    assert registry.get("MEMORY").fn(1).startswith("The harbour bell rings at noon. (from: ")
    prompt, spans = recall_into(store, "When does the bell ring?", "harbour bell")
    assert prompt[spans[0].start : spans[0].end] == "The harbour bell rings at noon."


def test_sleep_merges_prunes_and_forgets_only_when_asked(engine: Engine, store: MemoryStore) -> None:
    import time as _time

    from islands.memory.sleep import sleep

    a = store.add_memory("The harbour bell rings at noon every day")
    b = store.add_memory("the harbour bell rings at noon every day!")
    old = store.add_memory("An old note nobody used", importance=0.1)
    store.add_episode("raw text nobody points to")
    report = sleep(store, None, reflect=False, now=_time.time() + 400 * 86400)  # a year later
    assert report.merged == [(a, b)]
    assert store.get(b).replaced_by == a and store.get(a).importance == 2.0
    assert old in report.pruned and store.get(old).valid_to is not None  # kept on disk, out of recall
    assert store.stats()["episodes"] == 1  # raw episodes stay
    sleep(store, None, reflect=False, forget_raw=True)
    assert store.stats()["episodes"] == 0
    assert store.stats()["memories"] == 3  # nothing deleted


def test_sleep_writes_reflections_linked_to_sources(engine: Engine, store: MemoryStore) -> None:
    from islands.memory.sleep import sleep

    ids = [store.add_memory(t) for t in ("ferry leaves Stromness early", "ferry to Stromness is late", "Stromness ferry has a cafe")]
    report = sleep(store, engine, threshold=0.0)
    assert len(report.reflections) == 1
    reflection = store.get(report.reflections[0])
    assert reflection.summary == "reflection of " + ", ".join(f"#{i}" for i in ids) and reflection.kind == "reflection"


def test_chat_recalls_before_answering(engine: Engine, store: MemoryStore) -> None:
    from islands.flows.chat import ChatSession

    store.add_memory("The harbour bell rings at noon.")
    chat = ChatSession(engine, store)
    turn = chat.turn("When does the harbour bell ring?")
    assert [m.text for m in turn.recalled] == ["The harbour bell rings at noon."]
    assert turn.remembered is None and chat.history[-2] == ("user", "When does the harbour bell ring?")  # a question: not stored
    with pytest.raises(InvalidInput):
        chat.turn("   ")


def test_retrieval_benchmark_on_a_small_store() -> None:
    from islands.memory.bench import bench_retrieval

    for embedder in (None, "hash"):  # BM25 alone, and hybrid
        row = bench_retrieval((300,), queries=20, embedder=embedder)["300"]
        assert row["recall_at_5"] == 1.0  # planted and updated facts are found; superseded ones are not
        assert row["updates_detected"] == 1.0  # the write path noticed each change (the bench supersedes nothing itself)
        assert row["p95_ms"] >= row["p50_ms"] > 0 and row["ingest_per_s"] > 0


@pytest.mark.model
def test_a_memory_written_under_one_model_is_used_under_another(engine: Engine, real: Engine, tmp_path: Path) -> None:
    from islands import SamplingParams
    from islands.memory.portable import export_jsonl, import_jsonl
    from islands.memory.tools import recall_into

    written = MemoryStore.open(tmp_path / "mock.sqlite")
    result = remember(engine, written, "The ferry to Hoy leaves Stromness at 07:42.", always=True)  # the mock model
    assert written.get(result.memory_ids[0]).model == "mock"
    export_jsonl(written, tmp_path / "m.jsonl")
    used = MemoryStore.open(tmp_path / "gemma.sqlite")
    import_jsonl(used, tmp_path / "m.jsonl")
    prompt, spans = recall_into(used, "Q: When does the ferry to Hoy leave Stromness?\nA: At", "ferry Hoy Stromness")
    assert spans and "07:42" in prompt[spans[0].start : spans[0].end]
    answer = real.generate(prompt, params=SamplingParams(temperature=0, max_tokens=6)).text  # gemma uses it
    assert "07:42" in answer or "7:42" in answer


def test_bad_calls_are_clear_errors_and_a_failed_transaction_leaves_nothing(store: MemoryStore, tmp_path: Path) -> None:
    from islands.memory.portable import import_jsonl

    with pytest.raises(InvalidInput, match="no memory with id 404"):
        store.update(404, importance=2.0)
    with pytest.raises(InvalidInput, match="no memory with id 404"):
        store.reinforce(404)
    with pytest.raises(InvalidInput, match="invalid k 0"):
        store.search("anything", k=0)
    with pytest.raises(RuntimeError), store.transaction():
        store.add_episode("half a batch")
        store.add_memory("written, then rolled back")
        raise RuntimeError("the writer fails mid-batch")
    assert store.stats() == {"memories": 0, "valid_memories": 0, "episodes": 0, "values": 0}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "episode", "id": 1, "text": "fine"}\n{"type": "memory", "id": 1, "text": "x", "importance": "high"}\n')
    with pytest.raises(InvalidInput, match=r"bad.jsonl:2: importance must be a number; nothing imported"):
        import_jsonl(store, bad)
    assert store.stats()["episodes"] == 0


def test_bulk_adds_return_ids_in_order(store: MemoryStore) -> None:
    texts = [f"bulk fact number {i} about the harbour" for i in range(300)]
    ids = store.add_memories(texts, model="bulk", batch=128)
    assert [store.get(i).text for i in ids] == texts and len(set(ids)) == 300
    assert store.search("bulk fact 123")[0].text == texts[123]
    with pytest.raises(InvalidInput, match="a memory needs text"):
        store.add_memories(["fine", "  "])
    assert store.stats()["memories"] == 300
