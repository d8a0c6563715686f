"""Faults a new user hit in memory (issue 18): a sentence cut at "Dr.", an import that
duplicated every memory when run twice."""

from __future__ import annotations

from pathlib import Path

from islands.engine import Engine
from islands.memory import MemoryStore, remember
from islands.memory.portable import export_jsonl, import_jsonl
from islands.memory.write import SENTENCE


def sentences(text: str) -> list[str]:
    return [m.group().strip() for m in SENTENCE.finditer(text) if m.group().strip()]


def test_abbreviations_do_not_end_a_sentence() -> None:
    assert sentences("Our dentist Dr. Patel moved to St. Ives. Book again!") == [
        "Our dentist Dr. Patel moved to St. Ives.", "Book again!"]
    assert sentences("Mrs. Lee, Mr. Ho and Ms. Ray come at 9 a.m. or 5 p.m. today. Bring tea, cake etc. and cups.") == [
        "Mrs. Lee, Mr. Ho and Ms. Ray come at 9 a.m. or 5 p.m. today.", "Bring tea, cake etc. and cups."]
    assert sentences("Fruit, e.g. pears, i.e. the ripe ones. Cats vs. dogs. I said no. Then left.") == [
        "Fruit, e.g. pears, i.e. the ripe ones.", "Cats vs. dogs.", "I said no.", "Then left."]


def test_an_always_memory_keeps_the_whole_sentence_with_dr(engine: Engine, tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path / "m.sqlite")
    text = "Our dentist Dr. Patel moved to the harbour."
    r = remember(engine, store, text, always=True)
    assert store.get(r.memory_ids[0]).text == text


def test_importing_the_same_export_twice_adds_nothing(engine: Engine, tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path / "a.sqlite")
    remember(engine, store, "The ferry leaves at 09:00.", always=True)
    changed = remember(engine, store, "The ferry leaves at 10:15.", always=True)
    store.supersede(changed.memory_ids[0] - 1, changed.memory_ids[0])
    path = tmp_path / "m.jsonl"
    export_jsonl(store, path)
    other = MemoryStore.open(tmp_path / "b.sqlite")
    assert import_jsonl(other, path) == {"episodes": 2, "memories": 2, "values": 0, "already_there": 0}
    before = (other.stats(), [(m.text, m.valid_to, m.replaced_by) for m in other.memories(valid_only=False)])
    assert import_jsonl(other, path) == {"episodes": 0, "memories": 0, "values": 0, "already_there": 4}
    assert (other.stats(), [(m.text, m.valid_to, m.replaced_by) for m in other.memories(valid_only=False)]) == before
    # into the store it came from: nothing added either
    assert import_jsonl(store, path)["already_there"] == 4 and store.stats()["memories"] == 2


def test_the_memory_bench_counts_only_updates_the_write_path_detects() -> None:
    import pytest

    from islands.memory import bench, write

    def blind(store: MemoryStore, text: str, result: write.Remembered, **_: object) -> None:
        result.memory_ids.append(store.add_memory(text, episode_ids=[result.episode_id]))  # never supersedes

    mp = pytest.MonkeyPatch()
    mp.setattr(bench, "keep", blind)
    try:
        row = bench.bench_retrieval((200,), queries=20)["200"]
    finally:
        mp.undo()
    assert row["updates_detected"] == 0.0 and row["recall_at_5"] < 1.0  # the old value still answers


def test_surprise_bench_reports_on_held_out_texts() -> None:
    from islands.memory.bench import PLANTED, PROSE

    assert not set(PLANTED["tune"]) & set(PLANTED["report"]) and not set(PROSE["tune"]) & set(PROSE["report"])


def test_an_unreachable_postgresql_server_is_not_invalid_input() -> None:
    import pytest

    from islands.errors import InvalidInput, IslandsError
    from islands.memory import StoreUnreachable

    pytest.importorskip("psycopg")
    with pytest.raises(StoreUnreachable, match="cannot connect to postgresql://127.0.0.1:1/") as caught:
        MemoryStore.open("postgresql://127.0.0.1:1/islands", embedder="none")
    assert isinstance(caught.value, IslandsError) and not isinstance(caught.value, InvalidInput)


def test_sql_is_not_rewritten_so_a_jsonb_question_mark_survives() -> None:
    import inspect

    from islands.memory import sql

    source = inspect.getsource(sql)
    assert 'replace("?"' not in source and ".replace('?'" not in source
