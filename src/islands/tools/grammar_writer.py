"""Grammars the model writes itself (the seed: "have the LLM generate the grammar and then
generate outputs in the grammar").

The model writes a GBNF grammar for a description, few-shot, while a meta-grammar keeps
its output syntactically GBNF (one root rule of alternatives, strings, character classes,
groups and quantifiers). llguidance then checks the meaning (every rule defined, the grammar
compiles); a grammar that fails is discarded and the next seed tries, so what comes back
is a grammar that works. The last failure is reported with its position.

    g = write_grammar(engine, "a date like 2024-05-01")
    engine.generate("Today is", grammar=g)

What it leaves out: judging whether the grammar matches the description's intent.
"""

from __future__ import annotations

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.grammar import Grammar
from islands.params import SamplingParams

__all__ = ["GBNF_SYNTAX", "write_grammar"]

# One rule (root) of strings, character classes, groups and quantifiers: a small model
# cannot then refer to rules it never writes, so every output compiles.
GBNF_SYNTAX = r"""
start: alt "\n"
alt: seq (" | " seq)*
seq: item (" " item)*
item: atom QUANT?
atom: STRING | CLASS | "(" alt ")"
STRING: /"([^"\\\n]|\\.)+"/
CLASS: /\[[^\]\n]+\]/
QUANT: /[*+?]/
"""

_FEW_SHOT = """Grammars in GBNF. Each grammar starts with the rule root.

Description: the answer yes or no
Grammar:
root ::= "yes" | "no"

Description: a whole number between 0 and 99
Grammar:
root ::= [0-9] [0-9]?

Description: a list of words separated by commas
Grammar:
root ::= [a-z]+ (", " [a-z]+)*

Description: a time like 09:30
Grammar:
root ::= [0-2] [0-9] ":" [0-5] [0-9]

Description: {description}
Grammar:
root ::= """


def write_grammar(engine: Engine, description: str, *, tries: int = 4, seed: int = 1) -> Grammar:
    """A GBNF grammar for `description`, written by the model and checked to compile."""
    if not description.strip():
        raise InvalidInput("the grammar description is empty")
    syntax = Grammar.lark(GBNF_SYNTAX)
    prompt = _FEW_SHOT.format(description=description.strip())
    problem = ""
    for attempt in range(tries):
        params = SamplingParams(max_tokens=160, temperature=0.3 if attempt else 0.0, seed=seed + attempt)
        text = "root ::= " + engine.generate(prompt, params=params, grammar=syntax).text.strip()
        grammar = Grammar.gbnf(text)
        try:
            engine.constraint(grammar)
            return grammar
        except InvalidInput as e:
            problem = str(e)
    raise InvalidInput(f"the model wrote no working grammar in {tries} tries; last: {problem}")
