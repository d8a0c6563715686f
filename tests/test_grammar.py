"""Grammars: the engine's Constraint hook on the mock, llguidance grammars on the real model."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from islands import InvalidInput, SamplingParams
from islands.engine import Engine
from islands.engine.grammar import check_grammar, to_llguidance
from islands.engine.model import Constraint
from islands.grammar import Grammar


class Digits(Constraint):
    """Allows `count` digits, then is done; remembers what it accepted (for rollback)."""

    def __init__(self, count: int, seen: list[int] | None = None) -> None:
        self.count = count
        self.seen = list(seen or [])

    def mask(self, row: np.ndarray) -> None:
        keep = np.zeros(row.shape[0], dtype=bool)
        keep[ord("0") : ord("9") + 1] = True
        row[~keep] = -np.inf

    def accept(self, token: int) -> None:
        assert ord("0") <= token <= ord("9"), "a token outside the mask was sampled"
        self.seen.append(token)

    def rollback(self, n: int) -> None:
        del self.seen[len(self.seen) - n :]

    def clone(self) -> Digits:
        return Digits(self.count, self.seen)

    @property
    def done(self) -> bool:
        return len(self.seen) >= self.count


def test_constraint_hook_masks_finishes_and_rolls_back(engine: Engine) -> None:
    b = engine.branch("the sea ")
    c = Digits(6)
    b.start(SamplingParams(max_tokens=50, temperature=1.0, seed=3), c)
    engine.run([b])
    assert b.finish_reason == "stop" and len(b.generated) == 6
    assert b.text.isdigit()
    kids = b.fork(2)
    b.release()
    kid = kids[0]
    assert isinstance(kid.constraint, Digits) and kid.constraint.seen == c.seen
    kid.truncate(len(kid.tokens) - 2)
    assert len(kid.constraint.seen) == 4  # rolled back with the tokens
    for k in kids:
        k.release()


def test_grammars_need_a_real_model(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="llama.cpp model"):
        engine.generate("x", grammar=Grammar.regex("a+"))


@pytest.mark.parametrize(
    ("grammar", "message"),
    [
        (Grammar.regex("a("), "position 1"),
        (Grammar.json_schema('{"type": '), "line 1 column 10"),
        (Grammar.lark("start: foo"), "unknown name"),
    ],
)
def test_invalid_grammars_say_where(grammar: Grammar, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_grammar(grammar)


@pytest.mark.model
def test_json_schema_output_always_parses(real: Engine) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer", "minimum": 0, "maximum": 120}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    params = SamplingParams(max_tokens=60, temperature=1.0, seed=2)
    g = real.generate("A person as JSON:", n=4, params=params, grammar=Grammar.json_schema(schema))
    for out in g.outputs:
        doc = json.loads(out.text)
        assert set(doc) == {"name", "age"} and 0 <= doc["age"] <= 120 and len(doc["name"]) <= 12
        assert out.finish_reason == "stop"


@pytest.mark.model
def test_choice_regex_and_gbnf(real: Engine) -> None:
    params = SamplingParams(max_tokens=16, temperature=1.0, seed=5)
    for out in real.generate("Is the sea salty? Answer:", n=3, params=params, grammar=Grammar.choice([" yes", " no"])).outputs:
        assert out.text in (" yes", " no")
    for out in real.generate("A date:", n=2, params=params, grammar=Grammar.regex(r" \d{4}-\d{2}-\d{2}")).outputs:
        assert re.fullmatch(r" \d{4}-\d{2}-\d{2}", out.text)
    out = real.generate("Score from 0 to 99:", params=params, grammar=Grammar.gbnf('root ::= " " [0-9] [0-9]?')).outputs[0]
    assert re.fullmatch(r" \d\d?", out.text)


def test_the_gbnf_meta_grammar_compiles() -> None:
    from islands.tools.grammar_writer import GBNF_SYNTAX

    assert to_llguidance(Grammar.lark(GBNF_SYNTAX))


@pytest.mark.model
def test_model_written_grammar_compiles_and_constrains(real: Engine) -> None:
    from islands.tools.grammar_writer import write_grammar

    g = write_grammar(real, "the answer yes or no")
    assert g.kind == "gbnf" and g.source.startswith("root ::= ")
    out = real.generate("Is the sea salty?", params=SamplingParams(max_tokens=20, seed=1), grammar=g).outputs[0]
    assert out.finish_reason == "stop"  # the output completed the model's own grammar
    with pytest.raises(InvalidInput, match="empty"):
        write_grammar(real, "  ")


def test_numbers_and_objects_get_bounds_a_small_model_can_finish() -> None:
    from islands.engine.grammar import NUMBER_BOUND, bound_numbers

    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "x": {"type": ["number", "null"], "maximum": 5},
                                               "items": {"type": "array", "items": {"type": "number"}}}}
    out = bound_numbers(schema)
    assert isinstance(out, dict)
    props = out["properties"]
    assert props["n"]["minimum"] == -NUMBER_BOUND and props["n"]["maximum"] == NUMBER_BOUND
    assert props["x"]["maximum"] == 5 and props["x"]["minimum"] == -NUMBER_BOUND  # a given bound stays
    assert props["items"]["items"]["maximum"] == NUMBER_BOUND
    assert out["additionalProperties"] is False
    assert bound_numbers({"type": "object", "properties": {}, "additionalProperties": True})["additionalProperties"] is True  # type: ignore[index]
    assert bound_numbers({"const": {"type": "integer"}}) == {"const": {"type": "integer"}}  # data, not a schema


@pytest.mark.model
def test_structured_numbers_end_before_max_tokens(real: Engine) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "number"}, "n": {"type": "integer"}}, "required": ["x", "n"]}
    g = real.generate("Numbers as JSON:", n=4, params=SamplingParams(max_tokens=60, temperature=1.0, seed=3),
                      grammar=Grammar.json_schema(schema))
    for out in g.outputs:
        doc = json.loads(out.text)
        assert out.finish_reason == "stop" and set(doc) == {"x", "n"} and abs(doc["n"]) <= 10**15
