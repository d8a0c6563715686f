"""Scoring and pruning variants: by a Python function, by model log-probability, by the
model as a judge (an integer 0–100 forced by a grammar), by pairwise comparison, and by
majority vote over extracted answers (self-consistency).

Scorers set `variant.score` (higher is better) and return the variants.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

from islands.engine.protocol import Brancher, Generator, require
from islands.errors import InvalidInput
from islands.flows.variants import Variant
from islands.grammar import Grammar
from islands.params import SamplingParams

__all__ = ["judge", "pairwise", "prune", "score_fn", "score_logprob", "vote"]

SCORE_0_100 = r" ?(100|[1-9]?[0-9])"


def score_fn(variants: list[Variant], fn: Callable[[str], float]) -> list[Variant]:
    for v in variants:
        v.score = float(fn(v.text))
    return variants


def score_logprob(engine: Generator, prompt: str, variants: list[Variant], *, mean: bool = True) -> list[Variant]:
    """Score = minus the (mean or total) surprisal of the variant after the prompt."""
    require(engine, "score")
    for v in variants:
        if not v.text:
            v.score = -math.inf
            continue
        s = engine.score(prompt, v.text)
        v.score = -(s.mean if mean else s.total)
    return variants


def _run_all(engine: Brancher, prompts: list[str], params: SamplingParams, grammar: Grammar) -> list[str]:
    """Greedy constrained answers to several prompts, decoded together."""
    require(engine, "branches")
    branches = [engine.branch(p) for p in prompts]
    try:
        for b in branches:
            b.start(params, grammar)
        engine.run(branches)
        return [b.text for b in branches]
    finally:
        for b in branches:
            b.release()


def judge(engine: Brancher, question: str, variants: list[Variant], *, criterion: str = "How good is this answer") -> list[Variant]:
    """The model rates each variant 0–100 (a grammar allows nothing else); all at once."""
    prompts = [f"{question}\nAnswer: {v.text.strip()}\n{criterion}, from 0 to 100? Rating:" for v in variants]
    ratings = _run_all(engine, prompts, SamplingParams(temperature=0, max_tokens=4), Grammar.regex(SCORE_0_100))
    for v, r in zip(variants, ratings):
        v.score = float(r.strip())
    return variants


def pairwise(engine: Brancher, question: str, variants: list[Variant]) -> list[Variant]:
    """Every pair judged "A or B" (both orders, against position bias); score = wins."""
    pairs = [(i, j) for i, j in itertools.permutations(range(len(variants)), 2)]
    prompts = [
        f"{question}\nA: {variants[i].text.strip()}\nB: {variants[j].text.strip()}\nWhich answer is better, A or B? Better:"
        for i, j in pairs
    ]
    picks = _run_all(engine, prompts, SamplingParams(temperature=0, max_tokens=2), Grammar.choice([" A", " B"]))
    wins = [0.0] * len(variants)
    for (i, j), pick in zip(pairs, picks):
        wins[i if pick.strip() == "A" else j] += 1
    for v, w in zip(variants, wins):
        v.score = w
    return variants


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def last_number(text: str) -> str | None:
    """The last number in text, commas dropped: last_number("so 1,234 or 5.0") -> "5.0"."""
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "") if found else None


def vote(variants: list[Variant], extract: Callable[[str], str | None] = last_number) -> tuple[str | None, list[Variant]]:
    """Self-consistency: the most common extracted answer; score = its share of the votes."""
    answers = [extract(v.text) for v in variants]
    counts = Counter(a for a in answers if a is not None)
    for v, a in zip(variants, answers):
        v.meta["answer"] = a
        v.score = counts[a] / len(variants) if a is not None else 0.0
    winner = counts.most_common(1)[0][0] if counts else None
    return winner, variants


def prune(variants: Sequence[Variant], *, k: int | None = None, threshold: float | None = None) -> list[Variant]:
    """The best k (and/or those scoring at least `threshold`), best first."""
    if k is not None and k < 1:
        raise InvalidInput(f"invalid k={k}: keep at least 1")
    scored = [v for v in variants if v.score is not None and (threshold is None or v.score >= threshold)]
    scored.sort(key=lambda v: -v.score)  # type: ignore[operator]
    return scored[:k] if k is not None else scored
