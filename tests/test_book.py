"""The book of learned tasks in the memory store, and `islands learn` / `islands solve` as a
user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from islands.errors import InvalidInput
from islands.flows.book import add_surprise, learned_tasks, load_learned, save_learned, valid_task_name
from islands.flows.demos import Demo
from islands.flows.learn import Learned, Solution
from islands.memory import MemoryStore

ISLANDS = str(Path(sys.executable).parent / "islands")


def _learned(task: str = "sums") -> Learned:
    return Learned(task, 3, [Solution("evaluate_expression", "answer", 3)],
                   [Demo("What is 2 plus 3?", "CALC(2+3) => 5. Answer: 5")], {"evaluate_expression": 3}, 0.5)


def test_a_book_round_trips_through_the_store(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "m.sqlite", embedder="none") as store:
        first = save_learned(store, _learned())
        assert load_learned(store, "sums") == _learned()
        assert load_learned(store, "other") is None
        newer = _learned()
        newer.demos.append(Demo("What is 4 plus 4?", "CALC(4+4) => 8. Answer: 8"))
        second = save_learned(store, newer)
        assert learned_tasks(store) == {"sums": second} and second > first  # the newest book wins
        assert load_learned(store, "sums") == newer
        texts = [m.text for m in store.memories()]
        assert "Q: What is 4 plus 4?\nA: CALC(4+4) => 8. Answer: 8" in texts  # solutions are memories
        assert sum("structure evaluate_expression" in t for t in texts) == 2  # one per book


def test_a_surprise_joins_the_book_once(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "m.sqlite", embedder="none") as store:
        save_learned(store, _learned())
        demo = Demo("What is 7 times 6?", "CALC(7*6) => 42. Answer: 42")
        grown = add_surprise(store, _learned(), demo)
        assert grown.demos[-1] == demo and load_learned(store, "sums") == grown
        again = add_surprise(store, grown, demo)
        assert again is grown and len(learned_tasks(store)) == 1


def test_damaged_books_and_bad_names_are_one_line_errors(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "m.sqlite", embedder="none") as store:
        store.add_episode("{not json", source="learn:broken")
        with pytest.raises(InvalidInput, match="damaged"):
            load_learned(store, "broken")
    for bad in ("", "a b", "../x", "x" * 65):
        with pytest.raises(InvalidInput):
            valid_task_name(bad)
    assert valid_task_name("bool_expr-2.v1") == "bool_expr-2.v1"


def _run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"ISLANDS_HOME": str(home), "ISLANDS_EMBEDDER": "none", "PATH": "/usr/bin:/bin"}
    return subprocess.run([ISLANDS, *args], capture_output=True, text=True, timeout=300, env=env)


def _one_line(p: subprocess.CompletedProcess[str], needle: str) -> None:
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and needle in lines[0] and "Traceback" not in p.stderr, p.stderr


@pytest.mark.model
def test_learn_then_solve_from_the_command_line(tmp_path: Path, islands_home: Path) -> None:
    home = islands_home  # the embedded model is assembled there already
    examples = tmp_path / "expr.jsonl"
    rows = [("((3 + 4) * 2) =", "14"), ("(-5 + 7 - -7) =", "9"), ("(8 * 9 + 1) =", "73")]
    examples.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in rows))
    memory = str(tmp_path / "book.sqlite")
    p = _run("learn", "expr", "--examples", str(examples), "--propose", "0", "--memory", memory, "--json", home=home)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert [s["name"] for s in doc["structures"]] == ["evaluate_expression"] and doc["tried"]["close_brackets"] == 0
    p = _run("solve", "expr", "((12 - 3) * 5) =", "--memory", memory, "--json", home=home)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["answer"] == "45" and got["structure"] == "evaluate_expression" and got["computed"]
    assert not got["verified"]  # one program is not two that agree
    assert "expr" in _run("learn", "--list", "--memory", memory, home=home).stdout


def test_learn_bad_input_is_one_line(tmp_path: Path, islands_home: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "a", "answer": "1"}\n{oops\n')
    memory = tmp_path / "book.sqlite"
    _one_line(_run("learn", "t", "--examples", str(empty), "--memory", str(memory), home=islands_home), "no examples")
    _one_line(_run("learn", "t", "--examples", str(bad), "--memory", str(memory), home=islands_home), "line 2")
    _one_line(_run("learn", "t", "--examples", str(tmp_path / "none.jsonl"), home=islands_home), "no such task file")
    _one_line(_run("learn", "no way", "--examples", str(bad), home=islands_home), "invalid task name")
    _one_line(_run("solve", "never", "1 + 1", "--memory", str(memory), home=islands_home), "never learned")
    assert not memory.exists() or "learn:" not in memory.read_bytes().decode("latin-1")  # nothing was written
