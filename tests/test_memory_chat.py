"""Conversation logs into memory (`islands memory import-chat`) and recall over them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from islands.errors import InvalidInput
from islands.memory import MemoryStore
from islands.memory.conversation import import_chat, read_chat
from islands.memory.dates import annotate, parse_when, query_dates
from islands.memory.locomo import load_questions, token_f1

CHAT = Path(__file__).parent / "data" / "chat.jsonl"
ISLANDS = str(Path(sys.executable).parent / "islands")


def texts(store: MemoryStore) -> list[str]:
    return [m.text for m in store.memories()]


def test_a_conversation_is_one_memory_per_turn_linked_to_its_raw_turn(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path / "m.sqlite", embedder="hash")
    counts = import_chat(store, read_chat(CHAT))
    assert counts == {"turns": 7, "skipped": 0, "sessions": 2}
    assert {m.kind for m in store.memories()} == {"turn"}
    memories = store.memories()
    assert len(memories) == 7 and store.stats()["episodes"] == 7
    first = memories[0]
    assert first.text == "Tom on 8 May 2023: My cat Biscuit sleeps on my lap all evening."
    assert json.loads(store.episode(first.episode_ids[0]))["speaker"] == "Tom"
    assert first.created == datetime(2023, 5, 8, 13, 56).timestamp()
    assert memories[-1].text.endswith("(shared a photo: a photo of a flute on a table)")
    assert store.vector(first.id) is not None


def test_relative_dates_are_resolved_against_the_turns_time(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path / "m.sqlite", embedder="none")
    import_chat(store, read_chat(CHAT))
    all_text = texts(store)
    assert "I went to the harbour yesterday [7 May 2023] and saw the new ferry." in all_text[1]
    assert "maybe next month [June 2023]." in all_text[3]
    assert "Last Saturday [27 May 2023] I finally bought a cello" in all_text[5]  # 2 June 2023 was a Friday
    when = parse_when("1:56 pm on 8 May, 2023")
    assert annotate("We met two weeks ago and last year.", when) == (
        "We met two weeks ago [the week of 24 April 2023] and last year [2022].")
    assert query_dates("Who did Maria have dinner with on May 3, 2023?") == ["3 May 2023"]


def test_a_dated_question_finds_the_turn_of_that_day(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path / "m.sqlite", embedder="none")
    import_chat(store, read_chat(CHAT))
    found = store.search("What did Ann see on May 7, 2023?", k=1, touch=False)
    assert "harbour" in found[0].text


def test_a_two_hop_question_is_found_by_the_second_round(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path / "m.sqlite", embedder="none")
    import_chat(store, read_chat(CHAT))
    question = "What does the owner of Biscuit play?"
    one_round = store.search(question, k=2, touch=False, params=replace(store.recall_params, hop=0))
    assert "Biscuit" in one_round[0].text and not any("cello" in m.text for m in one_round)
    two_rounds = store.search(question, k=2, touch=False)  # the first hit says who: Tom; then what Tom plays
    assert "Biscuit" in two_rounds[0].text and "cello" in two_rounds[1].text


def test_the_reply_after_a_question_is_recalled(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path / "m.sqlite", embedder="none")
    import_chat(store, read_chat(CHAT))
    found = store.search("Did Ann sail on the ferry?", k=3, touch=False)
    assert any("Not yet" in m.text for m in found)


def test_reimport_is_idempotent_and_adds_only_new_turns(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path / "m.sqlite", embedder="none")
    import_chat(store, read_chat(CHAT))
    before = store.stats()
    assert import_chat(store, read_chat(CHAT))["turns"] == 0
    assert store.stats() == before
    longer = tmp_path / "longer.jsonl"  # the same conversation, renamed and one turn longer
    longer.write_text(CHAT.read_text() + json.dumps({"speaker": "Tom", "time": "2023-06-02T18:02", "text": "The cello, by far."}) + "\n")
    assert import_chat(store, read_chat(longer)) == {"turns": 1, "skipped": 7, "sessions": 2}
    assert store.stats()["memories"] == before["memories"] + 1
    assert len(set(texts(store))) == len(texts(store))
    edited = tmp_path / "edited.jsonl"  # a turn corrected later: the new text replaces the old, nothing lost
    edited.write_text(longer.read_text().replace("Did you sail on it?", "Did you sail on the ferry?"))
    assert import_chat(store, read_chat(edited))["turns"] == 1
    assert store.stats()["valid_memories"] == before["memories"] + 1
    old = [m for m in store.memories(valid_only=False) if m.text.endswith("Did you sail on it?")]
    assert len(old) == 1 and old[0].replaced_by is not None and "sail on the ferry" in store.get(old[0].replaced_by).text


@pytest.mark.parametrize("content, needle", [
    ('{"speaker": "Tom", "time": "2023-05-08", "text": "hi"}\n{"speaker": "Ann", "text": "no time"}\n', "time"),
    ('{"speaker": "Tom", "time": "2023-05-08", "text": "hi"}\nnot json\n', "not JSON"),
    ('{"speaker": "Tom", "time": "someday", "text": "hi"}\n', "cannot read the time"),
    ('{"speaker_a": "A", "session_1": [{"speaker": "A", "text": "hi"}]}', "session_1_date_time"),
    ("", "no turns"),
    ('{"speaker": 1}', "speaker"),
])
def test_a_malformed_file_is_refused_before_anything_is_written(tmp_path: Path, content: str, needle: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    with pytest.raises(InvalidInput, match=needle):
        read_chat(bad)


def test_cli_import_chat_twice_and_a_malformed_file(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite"
    env = {**os.environ, "ISLANDS_EMBEDDER": "none", "ISLANDS_HOME": str(tmp_path)}
    run = [ISLANDS, "memory", "import-chat", "--memory", str(db), "--json"]
    first = subprocess.run([*run, str(CHAT)], check=False, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["turns"] == 7
    again = subprocess.run([*run, str(CHAT)], check=False, capture_output=True, text=True, env=env, timeout=120)
    assert json.loads(again.stdout) == {"turns": 0, "skipped": 7, "sessions": 2, "speakers": 2}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"speaker": "Tom", "text": "no time"}\n')
    other = tmp_path / "other.sqlite"
    p = subprocess.run([*run[:-2], str(other), str(bad)], check=False, capture_output=True, text=True, env=env, timeout=120)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "time" in lines[0] and "Traceback" not in p.stderr
    assert not other.exists()  # nothing written, not even an empty store


def test_locomo_questions_and_token_f1(tmp_path: Path) -> None:
    doc = {"speaker_a": "A", "speaker_b": "B", "session_1_date_time": "1:00 pm on 1 May, 2023",
           "session_1": [{"speaker": "A", "dia_id": "D1:1", "text": "I adopted a dog."}],
           "session_1_summary": "never read",
           "qa": [{"question": "What did A adopt?", "answer": "a dog", "evidence": ["D1:1; D1:2"], "category": 4},
                  {"question": "trick", "adversarial_answer": "x", "evidence": [], "category": 5}]}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    assert [(q.evidence, q.category) for q in load_questions(path)] == [(("D1:1", "D1:2"), 4)]
    conv = read_chat(path)
    assert [t.text for t in conv.turns] == ["I adopted a dog."]
    assert token_f1("A dog!", "a dog") == 1.0 and token_f1("a cat", "a dog") == 0.0
    assert token_f1("the brown dog", "dog") == pytest.approx(2 / 3)


def test_bench_recall_scores_evidence_by_category(tmp_path: Path) -> None:
    from islands.memory.locomo import bench_recall

    doc = {"speaker_a": "Ann", "speaker_b": "Tom",
           "session_1_date_time": "1:00 pm on 1 May, 2023",
           "session_1": [{"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a greyhound called Pixel yesterday."},
                         {"speaker": "Tom", "dia_id": "D1:2", "text": "Lovely! I am learning the cello."}],
           "session_2_date_time": "2:00 pm on 9 May, 2023",
           "session_2": [{"speaker": "Ann", "dia_id": "D2:1", "text": "Pixel ran on the beach this morning."},
                         {"speaker": "Tom", "dia_id": "D2:2", "text": "My cello teacher moved to Leeds."}],
           "qa": [{"question": "What dog did Ann adopt?", "answer": "a greyhound", "evidence": ["D1:1"], "category": 4},
                  {"question": "When did Ann adopt Pixel?", "answer": "30 April 2023", "evidence": ["D1:1"], "category": 2},
                  {"question": "Where did Pixel run, and where did the cello teacher move?", "answer": "beach, Leeds",
                   "evidence": ["D2:1", "D2:2"], "category": 1},
                  {"question": "no evidence listed", "answer": "x", "evidence": [], "category": 3}]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    result = bench_recall(tmp_path, embedder=None)
    assert result["turns"] == 4 and result["questions"] == 3 and result["left_out_without_evidence"] == 1
    recall = result["recall"]
    assert recall["single-hop"]["r@1_all"] == 1.0 and recall["temporal"]["r@5_all"] == 1.0
    assert recall["multi-hop"]["r@1_all"] == 0.0 and recall["multi-hop"]["r@1_any"] == 1.0  # two turns cannot fit in one
    assert recall["multi-hop"]["r@5_all"] == 1.0
    assert result["search_ms"]["p95"] >= result["search_ms"]["p50"] > 0


def test_turns_kept_by_the_surprise_gate_keep_their_speaker_and_place(engine: object, tmp_path: Path) -> None:
    from islands.engine import Engine
    from islands.memory import remember
    from islands.memory.conversation import turn_memory_text, turn_source

    assert isinstance(engine, Engine)
    store = MemoryStore.open(tmp_path / "m.sqlite", embedder="none")
    conv = read_chat(CHAT)
    ids = [remember(engine, store, turn_memory_text(t), always=True, source=turn_source(conv, t)).memory_ids[0] for t in conv.turns[:3]]
    index = store.chat_index()
    assert [index.turns[i].speaker for i in ids] == ["Tom", "Ann", "Tom"]
    assert index.next(ids[0]) == ids[1] and index.turns[ids[2]].asks
