"""Learning a task from examples and answering new questions of it: structures that
reproduce every example are kept; the model's solutions that compute a known answer
become demonstrations; solve tries the kept structures first."""

from __future__ import annotations

from pathlib import Path

import pytest

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.flows.learn import Learned, Lesson, learn, solve
from islands.flows.library import load_library

COUNT = ("name: count_words\nsummary: How many words a quoted text has.\n"
         "program: |\n  import re\n  m = re.search(r'\"([^\"]*)\"', question)\n"
         "  if not m: raise ValueError('no quoted text')\n  len(m.group(1).split())\n"
         "examples: [{question: 'words in \"a b\"', answer: '2'}]\nrejects: ['x']\n")


@pytest.fixture
def library(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "count.yaml").write_text(COUNT)
    return [*load_library(tmp_path), *[s for s in load_library() if s.name == "evaluate_expression"]]


def test_lessons_accept_what_counts_as_right() -> None:
    assert Lesson("q", ("1,234",)).accepts("1234.0") and not Lesson("q", ("12",)).accepts("13")
    mc = Lesson("q", ("240 %",), ("5 %", "240 %", "50 %"))
    assert mc.accepts("240") and mc.accepts("240 %") and not mc.accepts("50") and not mc.accepts(None)


def test_learn_keeps_the_structures_that_reproduce_every_example(engine: Engine, library) -> None:  # type: ignore[no-untyped-def]
    lessons = [Lesson('How many words are in "the sea is wide"?', ("4",)), Lesson('Count "a b c".', ("3",))]
    learned = learn(engine, "count", lessons, library=library, propose=0)
    assert [s.name for s in learned.structures] == ["count_words"]
    assert learned.tried == {"count_words": 2, "evaluate_expression": 0}
    again = Learned.from_json(learned.to_json())
    assert again == learned
    out = solve(engine, 'And in "one two three four five"?', learned=learned)
    assert out.answer == "5" and out.method == "structure" and out.structure == "count_words" and out.computed
    answer_span = out.candidates[0].spans[0]
    assert answer_span.answer and answer_span.kind == "hard"  # the program's result, not typed by the model
    fallback = solve(engine, "What is the sea?", learned=learned, n=2)  # the structure refuses: the model answers
    assert fallback.method != "structure" and fallback.structure is None


def test_a_structure_must_reproduce_all_examples_not_most(engine: Engine, library) -> None:  # type: ignore[no-untyped-def]
    lessons = [Lesson('Count "a b".', ("2",)), Lesson('Count "a b c".', ("4",))]  # the second is wrong on purpose
    learned = learn(engine, "count", lessons, library=library, propose=0)
    assert learned.structures == [] and learned.tried["count_words"] == 1


def test_options_are_picked_from_the_structure_answer(engine: Engine, library) -> None:  # type: ignore[no-untyped-def]
    lessons = [Lesson("2 + 3 =", ("5",), ("4", "5", "6")), Lesson("7 * 6 =", ("42",), ("42", "24"))]
    learned = learn(engine, "sums", lessons, library=library, propose=0)
    assert [s.name for s in learned.structures] == ["evaluate_expression"]
    assert solve(engine, "10 - 3 =", learned=learned, choices=["6", "7", "8"]).answer == "7"


def test_nothing_to_learn_from_is_an_error(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="no examples"):
        learn(engine, "empty", [])
    with pytest.raises(InvalidInput, match="question is empty"):
        solve(engine, "  ")


@pytest.mark.model
def test_the_model_proposes_solutions_that_become_demonstrations(real: Engine) -> None:
    lessons = [Lesson("What is 123 times 45?", ("5535",)), Lesson("What is 9876 minus 123?", ("9753",))]
    learned = learn(real, "arith", lessons, library=[], propose=2)
    assert learned.demos, "no solution computed a known answer"
    for demo in learned.demos:
        assert "CALC(" in demo.solution and demo.solution.rstrip().endswith(("5535", "9753"))
    out = solve(real, "What is 321 times 54?", learned=learned, n=2)
    assert out.answer == "17334" and out.computed


def test_each_lesson_is_run_with_its_own_context(engine: Engine) -> None:
    echo = ("name: echo_context\nsummary: Answers with the first word of its instruction.\n"
            "program: |\n  if not context: raise ValueError('no instruction')\n  context.split()[0]\n"
            "examples: [{question: 'x', answer: 'never'}]\nrejects: []\n")
    from islands.flows.library import read_structure

    structure = read_structure(echo, "echo.yaml")
    lessons = [Lesson("q1", ("Count",), context="Count the words."), Lesson("q2", ("Sort",), context="Sort them.")]
    learned = learn(engine, "mixed", lessons, library=[structure], propose=0)
    assert learned.tried == {"echo_context": 2}  # the second lesson saw "Sort them.", not the first's instruction
