"""Work functions for batches: module-level, so Ray ships them by reference.

    ask_item(engine, {"question": "What is 17 * 23?", "choices": null})
    -> {"question": ..., "answer": "391", "verified": true, "method": "vote"}

What it leaves out: applications' own items (a survey's persona, a paper) — they bring
their own function of the same shape.
"""

from __future__ import annotations

from typing import Any

from islands.engine.protocol import Generator
from islands.errors import InvalidInput
from islands.flows.ask import ask

__all__ = ["ask_item"]


def ask_item(engine: Generator, item: dict[str, Any] | str, *, n: int = 4, max_tokens: int = 64, seed: int = 1) -> dict[str, Any]:
    """`ask` one item: a question, or {"question": ..., "choices": [...]} (a seed per batch,
    so every item is answered the same way wherever it runs)."""
    if isinstance(item, str):
        item = {"question": item}
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput(f"an item needs a non-empty question: {str(item)[:80]}")
    result = ask(engine, question, n=n, choices=item.get("choices"), max_tokens=max_tokens, seed=seed)
    return {"question": question, "answer": result.answer, "verified": result.verified, "computed": result.computed,
            "method": result.method}
