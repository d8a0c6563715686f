"""Soft islands: retrieved documents placed in the model's input, with citations.

Unlike hard islands (exact text spliced into the output), soft islands shape what the
model reads: each document goes into the prompt under a numbered header, and the spans
say where each one stands, so traces and the UI can mark them and answers can cite [n].

    docs = retrieve(corpus, "tide Kirkwall", k=2)
    prompt, spans = with_sources("Q: How high is the tide at Kirkwall?\\nA:", docs)

What it leaves out: re-ranking and summarising documents before they go in.
"""

from __future__ import annotations

from dataclasses import dataclass

from islands.tools.corpus import Corpus

__all__ = ["SoftSpan", "Source", "retrieve", "with_sources"]


@dataclass(frozen=True)
class Source:
    """A document to place in the input."""

    ref: str  # where it came from: a path, a URL, a memory id
    title: str
    text: str


@dataclass(frozen=True)
class SoftSpan:
    """Where source `n` stands in the prompt: prompt[start:end] is its text."""

    n: int
    start: int
    end: int
    ref: str
    title: str
    kind: str = "soft"


def retrieve(corpus: Corpus, query: str, *, k: int = 3, budget: int = 1200) -> list[Source]:
    """The top-k documents for `query`, each cut to `budget` characters."""
    sources = []
    for hit in corpus.search(query, limit=k):
        path, text = corpus.text(hit.id)
        sources.append(Source(path, hit.title, text[:budget]))
    return sources


def with_sources(prompt: str, sources: list[Source], *, header: str = "Sources:") -> tuple[str, list[SoftSpan]]:
    """`prompt` preceded by the numbered sources; the spans locate each source's text."""
    if not sources:
        return prompt, []
    parts, spans, at = [header, "\n"], [], len(header) + 1
    for n, src in enumerate(sources, 1):
        head = f"[{n}] {src.title} ({src.ref})\n"
        parts.append(head)
        at += len(head)
        spans.append(SoftSpan(n, at, at + len(src.text), src.ref, src.title))
        parts.append(src.text + "\n\n")
        at += len(src.text) + 2
    parts.append(prompt)
    return "".join(parts), spans
