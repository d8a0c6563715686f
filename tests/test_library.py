"""The library of thought structures: every shipped structure gives its examples' answers and
refuses its rejects (in the sandbox, as in use); bad structure files are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from islands.errors import InvalidInput
from islands.flows.library import answers_of, load_library, read_structure, run_structure
from islands.flows.verify import normalize_answer
from islands.tools.programs import ProgramResult

LIBRARY = load_library()
# what structures that read `vocabulary` get in these tests (the model's word list in use)
VOCABULARY = ["the", "of", "and", "sea", "act", "cat", "lots", "slot", "wave", "island", "seat", "east", "eats", "teas"]
EXTRA = {"vocabulary": VOCABULARY, "context": ""}


def test_the_library_is_there_and_named_uniquely() -> None:
    names = [s.name for s in LIBRARY]
    assert len(names) >= 2 and len(set(names)) == len(names)
    assert all(s.examples and s.rejects for s in LIBRARY), "every structure is tested both ways"


@pytest.mark.parametrize("structure", LIBRARY, ids=lambda s: s.name)
def test_each_structure_answers_its_examples_and_refuses_its_rejects(structure) -> None:  # type: ignore[no-untyped-def]
    cases = [(e.question, e.choices) for e in structure.examples] + [(r, None) for r in structure.rejects]
    results = run_structure(structure, cases, EXTRA)
    for example, result in zip(structure.examples, results):
        assert answers_of(result) and answers_of(result)[0] == example.answer, (example.question, result)
    for reject, result in zip(structure.rejects, results[len(structure.examples):]):
        assert not result.ok, f"{structure.name} answered {reject!r} with {result.value!r}"


def test_each_structure_refuses_the_other_structures_examples() -> None:
    """A structure answers only its own kind: on another structure's examples it raises, or
    gives that example's own answer (two structures may share a kind)."""
    for structure in LIBRARY:
        others = [e for s in LIBRARY if s.name != structure.name for e in s.examples]
        results = run_structure(structure, [(e.question, e.choices) for e in others], EXTRA)
        for example, result in zip(others, results):
            wrong = result.ok and normalize_answer(answers_of(result)[0]) != normalize_answer(example.answer)
            assert not wrong, f"{structure.name} answered {example.question[:80]!r} with {result.value!r}"


@pytest.mark.parametrize(("name", "context", "question", "choices", "answer"), [
    ("navigation", "If you follow these instructions, do you return to the starting point?",
     "Take 2 steps. Turn around. Take 2 steps.", ["True", "False"], "True"),
    ("navigation", "If you follow these instructions, do you return to the starting point?",
     "Turn left. Take 5 steps.", ["True", "False"], "False"),
    ("longest_common_subsequence", "Given two strings, determine the length of the longest common subsequence.\n",
     "ABC AXC", ["0", "1", "2", "3"], "2"),
    ("bracket_validity", "Determine whether the given sequence of parentheses is properly matched.\n", ") (",
     ["Valid", "Invalid"], "Invalid"),
    ("bracket_validity", "Determine whether the given sequence of parentheses is properly matched.\n", "( ( ) ( ) )",
     ["Valid", "Invalid"], "Valid"),
    ("sequence_checks", "Given two strings, determine the length of the longest common subsequence.\n",
     "ABC AXC", ["0", "1", "2", "3"], "2"),
    ("sequence_checks", "Determine whether the given sequence of parentheses is properly matched.\n", ") (",
     ["Valid", "Invalid"], "Invalid"),
])
def test_structures_read_the_tasks_instruction_from_context(name: str, context: str, question: str,
                                                             choices: list[str], answer: str) -> None:
    structure = next(s for s in LIBRARY if s.name == name)
    (with_context,) = run_structure(structure, [(question, choices)], {**EXTRA, "context": context})
    assert answers_of(with_context) == [answer]
    if name != "navigation":  # the bare input ("ABC AXC", ") (") is no question without its instruction
        (bare,) = run_structure(structure, [(question, choices)], EXTRA)
        assert not bare.ok, bare


def test_a_mixed_task_is_learned_even_when_its_shared_context_is_the_other_questions() -> None:
    """cs_algorithms mixes LCS and bracket questions; a task's context is its first lesson's,
    so a bracket question may come with the LCS instruction: the input's shape decides."""
    structure = next(s for s in LIBRARY if s.name == "sequence_checks")
    lcs = {**EXTRA, "context": "Given two strings, determine the length of the longest common subsequence.\n"}
    results = run_structure(structure, [(") (", ["Valid", "Invalid"]), ("( )", ["Valid", "Invalid"]),
                                        ("ABC XYZ", ["0", "1", "2", "3"])], lcs)
    assert [answers_of(r) for r in results] == [["Invalid"], ["Valid"], ["0"]]


def test_unscramble_offers_every_anagram_as_a_candidate() -> None:
    structure = next(s for s in LIBRARY if s.name == "unscramble")
    (result,) = run_structure(structure, [("The word aets is a scrambled version of the English word ", None)], EXTRA)
    assert answers_of(result) == ["seat", "east", "eats", "teas"]


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
