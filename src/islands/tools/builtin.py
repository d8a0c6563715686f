"""The built-in hard-island tools, registered through the same hook as plugins."""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

from islands.tools.calc import calc
from islands.tools.corpus import Corpus
from islands.tools.programs import bindings_prelude
from islands.tools.registry import CALC_ALPHABET, CALC_GRAMMAR, Registry, ToolError
from islands.tools.sandbox import repl_script, run_python
from islands.tools.track import Island

MAX_COPY = 16_000_000
LOAD_BUDGET = 1500
CORPUS_TOOLS = ("COPY", "LOAD", "SEARCH")  # registered over a corpus (register_corpus)

__all__ = ["CORPUS_TOOLS", "PY_ALPHABET", "python_tool", "register", "register_corpus", "with_bindings"]


PY_ALPHABET = string.printable.replace("\x0b", "").replace("\x0c", "")


def python_tool(bindings: dict[str, Any] | None = None) -> Callable[[str], str]:
    """PY's function: the code runs in the sandbox with `bindings` as variables (so a
    program can read `question` instead of the model copying it into the code)."""
    prelude = bindings_prelude(bindings) if bindings else ""

    def PY(code: str) -> str:  # noqa: N802 - the model writes tool names in capitals
        """Python in a sandbox (no network, no host files, limits); the last expression is printed."""
        result = run_python(prelude + repl_script(code))
        if not result.ok:
            raise ToolError(result.as_text().removeprefix("error: "))
        return result.as_text()

    return PY


def with_bindings(registry: Registry, **bindings: Any) -> Registry:
    """A copy of `registry` whose PY sees these variables (`question=...`, `choices=...`)."""
    out = registry.subset(registry.names)
    if "PY" in registry:
        out.register(python_tool(bindings), name="PY", alphabet=PY_ALPHABET, timeout=registry.get("PY").timeout)
    return out


def register(registry: Registry, corpus: Corpus | None = None) -> None:
    """Add CALC (exact arithmetic) and PY (Python in a bubblewrap sandbox)."""

    def CALC(expression: str) -> str:  # noqa: N802 - the model writes tool names in capitals
        """Exact arithmetic: big integers, fractions, decimals, powers, roots, functions."""
        return calc(expression)

    registry.register(CALC, alphabet=CALC_ALPHABET, timeout=5.0, grammar=CALC_GRAMMAR)

    registry.register(python_tool(), name="PY", alphabet=PY_ALPHABET, timeout=15.0)

    if corpus is not None:
        register_corpus(registry, corpus)
    else:
        for name in CORPUS_TOOLS:
            registry.needs(name, "a corpus (--corpus DIR)")


def register_corpus(registry: Registry, corpus: Corpus) -> None:
    """Add SEARCH, LOAD and COPY over `corpus`."""

    def SEARCH(query: str) -> str:  # noqa: N802
        """Search the corpus: ids, titles and snippets of the best matches."""
        hits = corpus.search(query.strip().strip("'\""))
        if not hits:
            return "no matches"
        return "; ".join(f"[{h.id}] {h.title}: {h.snippet}" for h in hits)

    def LOAD(doc: int, offset: int = 0) -> str:  # noqa: N802
        """Read a document from the corpus, 1500 characters at a time."""
        text, more = corpus.load(doc, offset, LOAD_BUDGET)
        return text + (f" [continue: LOAD({doc}, {more})]" if more is not None else "")

    def COPY(doc: int, offset: int, length: int, read: bool = False) -> Island:  # noqa: N802
        """Copy a span of a document straight into the output; the model reads only a marker."""
        if not 0 < length <= MAX_COPY:
            raise ToolError(f"COPY length must be between 1 and {MAX_COPY}")
        path, text = corpus.text(doc)
        if not 0 <= offset < len(text):
            raise ToolError(f"offset {offset} is outside document {doc} ({len(text)} characters)")
        span = text[offset : offset + length]
        if read:
            return Island(span, span)
        words = " ".join(span[:300].split()[:6])
        return Island(span, f"[copied {len(span)} characters of {path} at {offset}: {words}…]")

    registry.register(SEARCH, timeout=10.0)
    registry.register(LOAD, timeout=10.0)
    # the values' characters, and the names for keyword forms (read=True)
    registry.register(COPY, alphabet=string.digits + " ,=TrueFalse" + "docoffsetlengthread", timeout=10.0)
