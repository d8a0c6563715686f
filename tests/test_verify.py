"""What "verified" means (flows/verify.py): a call counts only when it did work on the
question; independent programs count, repetitions do not; and `ask` with options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from islands.engine import Engine
from islands.flows import ask
from islands.flows.verify import evidence, fits, named_operations, normalize_answer, tally

Q = "What is 987654321 multiplied by 123456789?"
PRODUCT = str(987654321 * 123456789)


def test_trivial_calls_never_count() -> None:
    assert evidence(Q, "CALC", "987654321*123456789", PRODUCT) is None
    assert "identity" in (evidence(Q, "CALC", "987654321", "987654321") or "")
    assert "none of the question" in (evidence(Q, "CALC", "2*3", "6") or "")
    assert "constant" in (evidence("What is 12 plus 30?", "CALC", "(12)", "12") or "")
    assert evidence(Q, "CALC", "987654321*123456789", None) == "it failed"
    assert evidence(Q, "CALC", "987654321*123456789", PRODUCT, error=True) == "it failed"
    assert evidence('Count the r in "strawberry"', "PY", 'question.count("r")', "3") is None  # reads the question
    assert "nothing of the question" in (evidence("Count the letters", "PY", "print(5)", "5") or "")


def test_programs_count_once_and_two_different_ones_verify() -> None:
    same = tally(Q, [(0, PRODUCT, ("CALC", "987654321*123456789", PRODUCT)),
                     (1, PRODUCT, ("CALC", "987654321 * 123456789", PRODUCT))])  # spacing aside: one program
    assert same.computed and not same.verified and same.support[PRODUCT].weight == 1.0
    two = tally(Q, [(0, PRODUCT, ("CALC", "987654321*123456789", PRODUCT)),
                    (1, PRODUCT, ("CALC", "123456789*987654321", PRODUCT))])
    assert two.verified and two.answer == PRODUCT and two.margin == 2.0


def test_free_answers_and_identities_do_not_outvote_a_program() -> None:
    rows = [(0, "121932631112635269", ("CALC", "987654321*123456789", "121932631112635269")),
            (1, "12193263112635269", None), (2, "12193263112635269", None), (3, "12193263112635269", None),
            (4, "987654321", ("CALC", "987654321", "987654321"))]
    t = tally(Q, rows)
    assert t.answer == "121932631112635269" and t.computed and not t.verified
    assert t.support["12193263112635269"].weight == 0.75  # three free answers weigh 0.25 each
    assert t.support["987654321"].weight == 0.25  # the identity call counts as a free answer
    assert normalize_answer(" 1,234.50. ") == "1234.5" and normalize_answer("Paris.") == "paris"


def test_ask_with_options_answers_one_of_them(engine: Engine) -> None:
    result = ask(engine, "Which island is largest?", n=2, max_tokens=8, choices=["Hoy", "Mainland", "Flotta"])
    assert result.answer in ("Hoy", "Mainland", "Flotta")
    assert result.method in ("choice-loglik", "choice-computed")
    if result.method == "choice-loglik":
        assert result.choice_scores is not None and len(result.choice_scores) == 3
        assert result.answer == ["Hoy", "Mainland", "Flotta"][max(range(3), key=result.choice_scores.__getitem__)]
    assert not engine.live_branches


@pytest.mark.model
def test_ask_choices_from_the_command_line(islands_home: Path) -> None:
    islands = str(Path(sys.executable).parent / "islands")
    p = subprocess.run([islands, "ask", "What is 6 times 7?", "--choices", "36,42,48", "--branches", "2", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["answer"] in ("36", "42", "48")
    if doc["method"] == "choice-computed":  # a program computed it: then it is the right option
        assert doc["answer"] == "42" and doc["computed"]


def test_numbers_the_question_does_not_hold_and_partial_programs() -> None:
    q = "How much is 40 percent of 1400?"
    assert "400" in (evidence(q, "CALC", "400*1400", "560000") or "")  # misread 40 as 400: not evidence
    assert evidence(q, "CALC", "1400*40/100", "560") is None  # 100 is a unit constant
    t = tally(q, [(0, "560000", ("CALC", "400*1400", "560000")), (1, "560000", ("CALC", "400 * 1400", "560000")),
                  (2, "560", ("CALC", "1400*40/100", "560"))])
    assert t.answer == "560" and t.computed
    square = tally(Q, [(0, "1", ("CALC", "987654321*987654321", "975461057789971041")),
                       (1, PRODUCT, ("CALC", "987654321*123456789", PRODUCT))])
    assert square.support[PRODUCT].weight == 1.0 and square.support["1"].weight == 0.5  # one of two quantities
    assert square.answer == PRODUCT


def test_a_program_that_skips_the_named_operation_weighs_half() -> None:
    q = "What is 3 to the power 40?"
    assert named_operations(q) >= {"^", "**"}
    assert fits(q, "CALC", "3^40") and fits(q, "CALC", "3 ** 40") and not fits(q, "CALC", "3*40")
    assert fits("What is 17 squared?", "CALC", "17*17")  # a square may be a product
    assert not fits("How much is 15% of 5760?", "CALC", "5760*15") and fits("How much is 15% of 5760?", "CALC", "5760*15/100")
    assert fits("A box holds 12 eggs. How many in 7 boxes?", "CALC", "7+12")  # no operation named: no judgement
    assert fits("How many words in the question?", "PY", "len(question.split())")
    t = tally(q, [(0, "120", ("CALC", "3*40", "120")), (1, str(3**40), ("CALC", "3^40", str(3**40)))])
    assert t.answer == str(3**40) and t.margin == 0.5 and not t.uncertain
