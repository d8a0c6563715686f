"""The library of thought structures: every shipped structure gives its examples' answers and
refuses its rejects (in the sandbox, as in use); bad structure files are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from islands.errors import InvalidInput
from islands.flows.library import answers_of, load_library, read_structure, run_structure
from islands.tools.programs import ProgramResult

LIBRARY = load_library()


def test_the_library_is_there_and_named_uniquely() -> None:
    names = [s.name for s in LIBRARY]
    assert len(names) >= 2 and len(set(names)) == len(names)
    assert all(s.examples and s.rejects for s in LIBRARY), "every structure is tested both ways"


@pytest.mark.parametrize("structure", LIBRARY, ids=lambda s: s.name)
def test_each_structure_answers_its_examples_and_refuses_its_rejects(structure) -> None:  # type: ignore[no-untyped-def]
    cases = [(e.question, e.choices) for e in structure.examples] + [(r, None) for r in structure.rejects]
    results = run_structure(structure, cases)
    for example, result in zip(structure.examples, results):
        assert answers_of(result) and answers_of(result)[0] == example.answer, (example.question, result)
    for reject, result in zip(structure.rejects, results[len(structure.examples):]):
        assert not result.ok, f"{structure.name} answered {reject!r} with {result.value!r}"


def test_list_answers_are_candidates() -> None:
    assert answers_of(ProgramResult("['island', 'sailed']")) == ["island", "sailed"]
    assert answers_of(ProgramResult("[3, 4]")) == ["[3, 4]"]  # a list of numbers is one answer
    assert answers_of(ProgramResult(None, "ValueError: no")) == []


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\nsummary: y\n", "'program' must be a non-empty string"),
    ("name: x\nsummary: y\nprogram: 'def ('\n", "program line 1"),
    ("- a\n- b\n", "a YAML mapping"),
    ("name: x\nsummary: y\nprogram: '1'\ncolour: red\n", "unknown field 'colour'"),
    ("name: x\nsummary: y\nprogram: '1'\nexamples: [{question: q}]\n", "example 1 needs"),
])
def test_bad_structure_files_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        read_structure(text, "bad.yaml")


def test_a_folder_of_ones_own(tmp_path: Path) -> None:
    (tmp_path / "count.yaml").write_text(
        "name: count_words\nsummary: How many words.\nprogram: len(question.split())\n"
        "examples: [{question: 'a b c', answer: '3'}]\nrejects: []\n")
    (library,) = load_library(tmp_path)
    assert library.name == "count_words" and answers_of(run_structure(library, [("x y", None)])[0]) == ["2"]
    with pytest.raises(InvalidInput, match="no such structure folder"):
        load_library(tmp_path / "nope")
