"""Grammars as hard islands for whole outputs: GBNF, Lark, JSON Schema, regex, choices.

llguidance compiles the grammar and computes, before each sampled token, the set of
tokens that keep the output inside it (≈1 ms for this 262,144-token vocabulary); the
engine sets the others to -inf on the logits row before the sampler chain sees it.

    g = Grammar.json_schema('{"type": "object", "properties": {"x": {"type": "integer"}}}')
    engine.generate("Point: ", params=SamplingParams(max_tokens=32), grammar=g)

What it leaves out: grammars on the mock model (it has no llguidance tokenizer).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import llguidance
import llguidance.numpy as llnp
import numpy as np

from islands.engine.model import Constraint
from islands.errors import InvalidInput

__all__ = ["Grammar", "GrammarConstraint", "compile_grammar"]


@dataclass(frozen=True)
class Grammar:
    """A grammar in one of the supported front-end languages."""

    kind: str  # "gbnf", "lark", "json_schema", "regex", "choice"
    source: str

    @classmethod
    def gbnf(cls, text: str) -> Grammar:
        return cls("gbnf", text)

    @classmethod
    def lark(cls, text: str) -> Grammar:
        return cls("lark", text)

    @classmethod
    def json_schema(cls, schema: str | dict[str, object]) -> Grammar:
        return cls("json_schema", schema if isinstance(schema, str) else json.dumps(schema))

    @classmethod
    def regex(cls, pattern: str) -> Grammar:
        return cls("regex", pattern)

    @classmethod
    def choice(cls, options: list[str]) -> Grammar:
        if not options or any(not o for o in options):
            raise InvalidInput("a choice grammar needs non-empty options")
        return cls("choice", json.dumps(options))

    def to_llguidance(self) -> str:
        """The grammar as llguidance's JSON; InvalidInput says what is wrong and where."""
        if self.kind not in ("gbnf", "lark", "json_schema", "regex", "choice"):
            raise InvalidInput(f"unknown grammar kind {self.kind!r}")
        try:
            text = self.source
            if self.kind == "json_schema":
                schema = json.loads(text)
                if isinstance(schema, dict) and "x-guidance" not in schema:
                    # compact JSON: a small model given free whitespace may pad until max_tokens
                    schema["x-guidance"] = {"whitespace_flexible": False}
                    text = json.dumps(schema)
            if self.kind == "regex":
                re.compile(text)
            source = llguidance.grammar_from(self.kind, text)  # type: ignore[arg-type]
        except json.JSONDecodeError as e:
            raise InvalidInput(f"invalid JSON schema: {e.msg} at line {e.lineno} column {e.colno}") from None
        except re.error as e:
            raise InvalidInput(f"invalid regex: {e.msg} at position {e.pos}") from None
        except (ValueError, RuntimeError, KeyError, IndexError) as e:
            raise InvalidInput(f"invalid {self.kind} grammar: {_one_line(str(e))}") from None
        problem = llguidance.LLMatcher.validate_grammar(source)
        if problem:
            raise InvalidInput(f"invalid {self.kind} grammar: {_one_line(problem)}")
        return source



def _one_line(text: str) -> str:
    return " ".join(text.split())


def compile_grammar(grammar: Grammar, tokenizer: llguidance.LLTokenizer) -> GrammarConstraint:
    """A fresh constraint for one branch (validated: InvalidInput names the problem)."""
    source = grammar.to_llguidance()
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
