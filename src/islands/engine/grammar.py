"""Grammars compiled for a branch: GBNF, Lark, JSON Schema, regex, choices (llguidance).

llguidance compiles the grammar and computes, before each sampled token, the set of
tokens that keep the output inside it (≈1 ms for this 262,144-token vocabulary); the
engine sets the others to -inf on the logits row before the sampler chain sees it.

    g = Grammar.json_schema('{"type": "object", "properties": {"x": {"type": "integer"}}}')
    engine.generate("Point: ", params=SamplingParams(max_tokens=32), grammar=g)

`Grammar` itself is plain data (`islands.grammar`); this module is the only one that turns
it into an llguidance matcher.

What it leaves out: grammars on the mock model (it has no llguidance tokenizer).
"""

from __future__ import annotations

import json
import re

import llguidance
import llguidance.numpy as llnp
import numpy as np

from islands.engine.model import Constraint
from islands.errors import InvalidInput
from islands.grammar import Grammar

__all__ = ["NUMBER_BOUND", "GrammarConstraint", "bound_numbers", "check_grammar", "compile_grammar", "to_llguidance"]


def to_llguidance(grammar: Grammar) -> str:
    """The grammar as llguidance's JSON; InvalidInput says what is wrong and where."""
    try:
        text = grammar.source
        if grammar.kind == "json_schema":
            schema = json.loads(text)
            if isinstance(schema, dict):
                if "x-guidance" not in schema:
                    # compact JSON: a small model given free whitespace may pad until max_tokens
                    schema["x-guidance"] = {"whitespace_flexible": False}
                text = json.dumps(bound_numbers(schema))
        if grammar.kind == "regex":
            re.compile(text)
        source = llguidance.grammar_from(grammar.kind, text)  # type: ignore[arg-type]
    except json.JSONDecodeError as e:
        raise InvalidInput(f"invalid JSON schema: {e.msg} at line {e.lineno} column {e.colno}") from None
    except re.error as e:
        raise InvalidInput(f"invalid regex: {e.msg} at position {e.pos}") from None
    except (ValueError, RuntimeError, KeyError, IndexError) as e:
        raise InvalidInput(f"invalid {grammar.kind} grammar: {_one_line(str(e))}") from None
    problem = llguidance.LLMatcher.validate_grammar(source)
    if problem:
        raise InvalidInput(f"invalid {grammar.kind} grammar: {_one_line(problem)}")
    return source


NUMBER_BOUND = 10**15  # default |value| bound of JSON-schema numbers that give none


def bound_numbers(schema: object) -> object:
    """The schema with defaults that let a small model finish: every integer/number without a
    bound gets ±NUMBER_BOUND (else it can write digits until max_tokens), and an object that
    lists `properties` but says nothing of others gets `additionalProperties: false` (else it
    invents keys forever), as OpenAI's strict structured outputs do.

    bound_numbers({"type": "integer"}) -> {"type": "integer", "minimum": -10**15, "maximum": 10**15}
    """
    if isinstance(schema, list):
        return [bound_numbers(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (v if k in ("const", "enum", "default", "examples") else bound_numbers(v)) for k, v in schema.items()}
    kinds = out.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "integer" in kinds or "number" in kinds:
        if "minimum" not in out and "exclusiveMinimum" not in out:
            out["minimum"] = -NUMBER_BOUND
        if "maximum" not in out and "exclusiveMaximum" not in out:
            out["maximum"] = NUMBER_BOUND
    if "properties" in out and "additionalProperties" not in out and "patternProperties" not in out:
        out["additionalProperties"] = False
    return out


def check_grammar(grammar: Grammar) -> None:
    """Raise InvalidInput (one line, with a position) unless `grammar` compiles; no model needed."""
    to_llguidance(grammar)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def compile_grammar(grammar: Grammar, tokenizer: llguidance.LLTokenizer) -> GrammarConstraint:
    """A fresh constraint for one branch (validated: InvalidInput names the problem)."""
    source = to_llguidance(grammar)
    problem = llguidance.LLMatcher.validate_grammar(source, tokenizer)
    if problem:
        raise InvalidInput(f"invalid {grammar.kind} grammar: {_one_line(problem)}")
    return GrammarConstraint(llguidance.LLMatcher(tokenizer, source, log_level=0), tokenizer.vocab_size, tokenizer)


class GrammarConstraint(Constraint):
    """An llguidance matcher behind the engine's Constraint hook."""

    def __init__(self, matcher: llguidance.LLMatcher, n_vocab: int, tokenizer: llguidance.LLTokenizer | None = None) -> None:
        self._matcher = matcher
        self._tokenizer = tokenizer
        self._n_vocab = n_vocab
        self._bits = llnp.allocate_token_bitmask(1, n_vocab)  # (1, ceil(V/32)) int32

    def mask(self, row: np.ndarray) -> None:
        llnp.fill_next_token_bitmask(self._matcher, self._bits, 0)
        allowed = np.unpackbits(self._bits.view(np.uint8), bitorder="little")[: row.shape[0]]
        np.putmask(row, allowed == 0, -np.inf)

    def accept(self, token: int) -> None:
        self._matcher.consume_token(token)

    def rollback(self, n: int) -> None:
        if n:
            self._matcher.rollback(n)

    def feed(self, text: str) -> bool:
        """Advance past text that is already written (not sampled under this grammar)."""
        assert self._tokenizer is not None
        return bool(self._matcher.consume_tokens(self._tokenizer.tokenize_str(text)))

    def clone(self) -> GrammarConstraint:
        return GrammarConstraint(self._matcher.deep_copy(), self._n_vocab, self._tokenizer)

    @property
    def done(self) -> bool:
        return bool(self._matcher.is_stopped())

    @property
    def error(self) -> str | None:
        return self._matcher.get_error() if self._matcher.is_error() else None
