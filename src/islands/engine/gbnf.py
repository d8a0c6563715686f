"""Grammars as GBNF text, for servers whose only grammar language is GBNF (llama.cpp's):
choices, regular expressions and exact token sequences.

    choice_gbnf([" A", " B"])        -> 'root ::= " A" | " B"'
    regex_gbnf(r" ?(100|[1-9]?[0-9])") -> 'root ::= " "? ("100" | [1-9]? [0-9])'
    tokens_gbnf([12, 7])             -> 'root ::= <[12]> <[7]>'   (llama.cpp's token literals)

Regexes are read with Python's own parser (`re._parser`), so the subset is what `re`
accepts: literals, classes (`[a-z]`, `\\d`, `\\w`, `\\s`, negated), `.`, groups, alternation,
and repeats (`?`, `*`, `+`, `{m,n}`). What it leaves out: anchors and lookarounds (a
grammar matches the whole output anyway), backreferences; these raise `InvalidInput`.
"""

from __future__ import annotations

import json
import re
import re._constants as C  # type: ignore[import-not-found]  # the parser `re` itself uses
import re._parser as P  # type: ignore[import-not-found]
from collections.abc import Sequence
from typing import Any

from islands.errors import InvalidInput
from islands.grammar import Grammar

__all__ = ["choice_gbnf", "grammar_gbnf", "regex_gbnf", "tokens_gbnf"]

_SPACE = " \\t\\n\\r\\x0C\\x0B"
_CATEGORIES = {C.CATEGORY_DIGIT: "0-9", C.CATEGORY_WORD: "a-zA-Z0-9_", C.CATEGORY_SPACE: _SPACE}
_NOT_CATEGORIES = {C.CATEGORY_NOT_DIGIT: "0-9", C.CATEGORY_NOT_WORD: "a-zA-Z0-9_", C.CATEGORY_NOT_SPACE: _SPACE}


def _literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _char(code: int) -> str:
    """One character inside a GBNF class: "-" -> "\\x2D" (GBNF escapes only a few letters)."""
    c = chr(code)
    if c in "\n\t\r":
        return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}[c]
    if c in "\\]-^[\"" or code < 0x20 or code == 0x7F:
        return f"\\x{code:02X}"
    return c


def _class(items: list[tuple[Any, Any]]) -> str:
    negate, parts = False, []
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            parts.append(_char(av))
        elif op is C.RANGE:
            parts.append(f"{_char(av[0])}-{_char(av[1])}")
        elif op is C.CATEGORY and av in _CATEGORIES:
            parts.append(_CATEGORIES[av])
        else:
            raise InvalidInput(f"this regex class item ({op}) has no GBNF form")
    return f"[{'^' if negate else ''}{''.join(parts)}]"


def _seq(items: Any) -> str:
    out: list[str] = []
    text = ""
    for op, av in items:
        if op is C.LITERAL:
            text += chr(av)
            continue
        if text:
            out.append(_literal(text))
            text = ""
        out.append(_node(op, av))
    if text:
        out.append(_literal(text))
    return " ".join(out) if out else '""'


def _node(op: Any, av: Any) -> str:
    if op is C.NOT_LITERAL:
        return f"[^{_char(av)}]"
    if op is C.ANY:
        return "[^\\n]"
    if op is C.IN:
        if len(av) == 1 and av[0][0] is C.CATEGORY and av[0][1] in _NOT_CATEGORIES:
            return f"[^{_NOT_CATEGORIES[av[0][1]]}]"
        return _class(av)
    if op is C.SUBPATTERN:
        return f"({_seq(av[-1])})"
    if op is C.BRANCH:
        return "(" + " | ".join(_seq(b) for b in av[1]) + ")"
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        lo, hi, body = av
        inner = _seq(body)
        atomic = len(body) == 1 or all(o is C.LITERAL for o, _ in body)  # one item, or one "string"
        inner = inner if atomic else f"({inner})"
        if (lo, hi) == (0, 1):
            return f"{inner}?"
        if (lo, hi) == (0, C.MAXREPEAT):
            return f"{inner}*"
        if (lo, hi) == (1, C.MAXREPEAT):
            return f"{inner}+"
        if lo == hi:
            return f"{inner}{{{lo}}}"
        return f"{inner}{{{lo},{'' if hi is C.MAXREPEAT else hi}}}"
    raise InvalidInput(f"this regex uses {str(op).lower()}, which has no GBNF form")


def regex_gbnf(pattern: str) -> str:
    """A GBNF grammar for the outputs `pattern` matches as a whole."""
    try:
        parsed = P.parse(pattern)
    except re.error as e:
        raise InvalidInput(f"invalid regex {pattern!r}: {e}") from None
    return f"root ::= {_seq(list(parsed))}"


def choice_gbnf(options: Sequence[str]) -> str:
    return "root ::= " + " | ".join(_literal(o) for o in options)


def tokens_gbnf(tokens: Sequence[int]) -> str:
    """Exactly these token ids, in order (llama.cpp's `<[id]>` token literals)."""
    if not tokens:
        raise InvalidInput("no tokens to force")
    return "root ::= " + " ".join(f"<[{int(t)}]>" for t in tokens)


def grammar_gbnf(grammar: Grammar) -> str | None:
    """`grammar` as GBNF where it has a GBNF form (gbnf, regex, choice); None otherwise."""
    if grammar.kind == "gbnf":
        return grammar.source
    if grammar.kind == "regex":
        return regex_gbnf(grammar.source)
    if grammar.kind == "choice":
        return choice_gbnf(grammar.options)
    return None

