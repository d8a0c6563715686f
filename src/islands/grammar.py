"""Grammar: what an output (or a tool call's arguments) must look like — plain data.

Every layer describes grammars with this type; only the engine compiles them (with
llguidance, in `islands.engine.grammar`), so flows, the server and remote engines never
import a grammar library.

    Grammar.json_schema({"type": "object", "properties": {"x": {"type": "integer"}}})
    Grammar.regex(r"[0-9]{3}")
    Grammar.choice(["yes", "no"])

What it leaves out: checking the grammar's syntax (the engine does it when it compiles;
`islands.engine.grammar.check_grammar` does it without a model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from islands.errors import InvalidInput

__all__ = ["GRAMMAR_KINDS", "Grammar"]

GRAMMAR_KINDS = ("gbnf", "lark", "json_schema", "regex", "choice")


@dataclass(frozen=True)
class Grammar:
    """A grammar in one of the supported front-end languages (`GRAMMAR_KINDS`)."""

    kind: str
    source: str

    def __post_init__(self) -> None:
        if self.kind not in GRAMMAR_KINDS:
            raise InvalidInput(f"unknown grammar kind {self.kind!r} (known: {', '.join(GRAMMAR_KINDS)})")

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

    @property
    def options(self) -> list[str]:
        """The options of a choice grammar."""
        if self.kind != "choice":
            raise InvalidInput(f"a {self.kind} grammar has no options")
        return list(json.loads(self.source))
