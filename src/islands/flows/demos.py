"""Demonstrations for `ask`: questions with worked solutions (CALC/PY calls, then an answer
that copies a result), and the nearest ones to a new question.

The shipped pool is data (`flows/demos/*.yaml`, each call tested); `learn` adds the
solutions it verified for a task. Nearness is lexical (shared words, rare ones weigh more):
cheap, deterministic, and enough to put "to the power" beside a power question.

    nearest_demos("What is 13 to the power 7?", None, 3)[-1].question
    -> "What is 17 to the power 5?"          (the nearest comes last, next to the question)

What it leaves out: dense embeddings (memory/embed.py has them; the demos are few).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from islands.errors import InvalidInput

__all__ = ["Demo", "load_demos", "nearest_demos"]

_WORD = re.compile(r"[a-z]+|\d+|[%$^*/+-]")
_STOP = frozenset("a an the of is are was what how many much in on to and or by for be it this that do does".split())


@dataclass(frozen=True)
class Demo:
    question: str
    solution: str  # the text after "A:": calls with their results, then "Answer: ..."


@cache
def load_demos() -> tuple[Demo, ...]:
    """The shipped demonstrations."""
    out = []
    root = resources.files("islands.flows") / "demos"
    for item in sorted(root.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".yaml"):
            continue
        doc = yaml.safe_load(item.read_text(encoding="utf-8"))
        if not isinstance(doc, list):
            raise InvalidInput(f"{item.name}: demonstrations are a YAML list")
        for i, d in enumerate(doc):
            if not isinstance(d, dict) or not isinstance(d.get("question"), str) or not isinstance(d.get("solution"), str):
                raise InvalidInput(f"{item.name} item {i + 1}: needs a question and a solution")
            out.append(Demo(d["question"].strip(), d["solution"].strip()))
    return tuple(out)


def _words(text: str) -> Counter[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOP]
    return Counter("#" if w.isdigit() else w for w in words)


def nearest_demos(question: str, demos: Sequence[Demo] | None, k: int) -> list[Demo]:
    """The k demos most like `question` (shared words weighted by rarity in the pool), the
    nearest last; ties keep the pool's order."""
    pool = list(demos) if demos is not None else list(load_demos())
    if k <= 0 or not pool:
        return []
    bags = [_words(d.question) for d in pool]
    df: Counter[str] = Counter(w for bag in bags for w in bag)
    idf = {w: math.log((1 + len(pool)) / (1 + c)) + 1 for w, c in df.items()}
    q = _words(question)

    def sim(bag: Counter[str]) -> float:
        dot = sum(idf.get(w, 1.0) ** 2 * min(q[w], bag[w]) for w in q if w in bag)
        norm = math.sqrt(sum((idf.get(w, 1.0) * c) ** 2 for w, c in bag.items())) or 1.0
        return dot / norm

    ranked = sorted(range(len(pool)), key=lambda i: (sim(bags[i]), -i), reverse=True)[:k]
    return [pool[i] for i in reversed(ranked)]
