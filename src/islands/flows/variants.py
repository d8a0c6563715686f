"""Variants of one state: fan out (with a temperature schedule), explore the tail,
synthesize winners into one output, and anneal rounds from hot to cool.

    temps = schedule(8, "linear", hot=1.2, cool=0.2)   # [1.2, 1.057, ..., 0.2]
    vs = fanout(engine, "Name an island:", 8, params, temperatures=temps)

Every fan-out prefills its prompt once and forks: n variants cost one prompt.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from islands.engine.model import Constraint
from islands.engine.protocol import Brancher, Generator, require
from islands.errors import InvalidInput
from islands.params import SamplingParams

__all__ = ["Variant", "anneal", "explore", "fanout", "schedule", "synthesize"]


@dataclass
class Variant:
    """One candidate output and what is known about it."""

    text: str
    temperature: float
    seed: int
    tokens: list[int] = field(default_factory=list)
    finish_reason: str = "length"
    score: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def schedule(n: int, kind: str | Callable[[float], float] = "linear", *, hot: float = 1.2, cool: float = 0.2) -> list[float]:
    """n temperatures from hot to cool: "constant" (all hot), "linear", "exponential", or a
    function of progress in [0, 1].

    schedule(3, "linear", hot=1.0, cool=0.0)      -> [1.0, 0.5, 0.0]
    schedule(3, "exponential", hot=1.0, cool=0.25) -> [1.0, 0.5, 0.25]
    """
    if n < 1:
        raise InvalidInput(f"invalid n={n}: a schedule needs at least 1 step")
    if hot < 0 or cool < 0:
        raise InvalidInput("temperatures must be >= 0")
    steps = [i / (n - 1) if n > 1 else 0.0 for i in range(n)]
    if callable(kind):
        temps = [kind(t) for t in steps]
    elif kind == "constant":
        temps = [hot] * n
    elif kind == "linear":
        temps = [hot + (cool - hot) * t for t in steps]
    elif kind == "exponential":
        if cool == 0:
            raise InvalidInput("an exponential schedule needs cool > 0")
        temps = [hot * (cool / hot) ** t for t in steps]
    else:
        raise InvalidInput(f"unknown schedule {kind!r}: choose constant, linear or exponential")
    return [round(max(0.0, t), 6) for t in temps]


def fanout(
    engine: Brancher,
    prompt: str,
    n: int,
    params: SamplingParams | None = None,
    *,
    temperatures: Sequence[float] | None = None,
    constraint: Callable[[], Constraint | None] | None = None,
) -> list[Variant]:
    """n variants of `prompt` in one batch (temperature i from `temperatures`)."""
    require(engine, "branches")
    params = (params or SamplingParams()).seeded()
    temps = list(temperatures) if temperatures is not None else [params.temperature] * n
    if len(temps) != n:
        raise InvalidInput(f"{len(temps)} temperatures for {n} variants")
    root = engine.branch(prompt)
    try:
        engine.prefill(root)
        kids = root.fork(n)
    finally:
        root.release(cache=False)
    try:
        for i, kid in enumerate(kids):
            kid.start(params.for_branch(i).replace(temperature=temps[i]), constraint() if constraint else None)
        engine.run(kids)
        return [
            Variant(k.text, temps[i], k.params.seed or 0, list(k.generated), k.finish_reason or "length")  # type: ignore[union-attr]
            for i, k in enumerate(kids)
        ]
    finally:
        for kid in kids:
            kid.release()


class _AvoidTop(Constraint):
    """Forbid the most likely token for the first `steps` tokens: a push off the beaten path."""

    def __init__(self, steps: int, seen: int = 0) -> None:
        self.steps, self.seen = steps, seen

    def mask(self, row: np.ndarray) -> None:
        if self.seen < self.steps:
            row[int(np.argmax(row))] = -np.inf

    def accept(self, token: int) -> None:
        self.seen += 1

    def rollback(self, n: int) -> None:
        self.seen = max(0, self.seen - n)

    def clone(self) -> _AvoidTop:
        return _AvoidTop(self.steps, self.seen)

    @property
    def done(self) -> bool:
        return False


def explore(
    engine: Brancher, prompt: str, n: int, params: SamplingParams | None = None, *, mode: str = "penalty", steps: int = 3
) -> list[Variant]:
    """Low-probability continuations, for variety: "penalty" forbids the top token for the
    first `steps` tokens (local engine: it masks logits rows); "tail" samples the whole
    distribution hot (no top-k/top-p/min-p; remote engines too).
    Each variant's `meta["mean_logprob"]` says how unlikely it was."""
    require(engine, "branches", "score")
    if mode == "penalty":
        require(engine, "kv")  # the top token is masked out of the logits row, where the logits are
    params = (params or SamplingParams()).seeded()
    if mode == "tail":
        params = params.replace(top_k=0, top_p=1.0, min_p=0.0, temperature=max(params.temperature, 1.3))
        variants = fanout(engine, prompt, n, params)
    elif mode == "penalty":
        variants = fanout(engine, prompt, n, params, constraint=lambda: _AvoidTop(steps))
    else:
        raise InvalidInput(f"unknown explore mode {mode!r}: choose penalty or tail")
    for v in variants:
        if v.text:
            v.meta["mean_logprob"] = -engine.score(prompt, v.text).mean
    return variants


def synthesize(
    engine: Generator, question: str, variants: Sequence[Variant], *, mode: str = "summarize", params: SamplingParams | None = None
) -> str:
    """Merge variants into one output: "summarize" (tree summarization) or "improve" (the
    best, improved with the others as hints; scores decide which is best)."""
    if not variants:
        raise InvalidInput("nothing to synthesize: no variants")
    params = params or SamplingParams(temperature=0, max_tokens=96, stop=("\n\n",))
    if mode == "summarize":
        drafts = "\n".join(f"Draft {i + 1}: {v.text.strip()}" for i, v in enumerate(variants))
        prompt = f"{question}\n{drafts}\nOne answer that combines what the drafts agree on:"
    elif mode == "improve":
        ranked = sorted(variants, key=lambda v: -(v.score if v.score is not None else -math.inf))
        hints = "\n".join(f"- {v.text.strip()}" for v in ranked[1:])
        prompt = f"{question}\nBest draft: {ranked[0].text.strip()}\nOther drafts:\n{hints}\nImproved draft:"
    else:
        raise InvalidInput(f"unknown synthesis mode {mode!r}: choose summarize or improve")
    return engine.generate(prompt, params=params).text.strip()


def anneal(
    engine: Brancher,
    prompt: str,
    scorer: Callable[[list[Variant]], object],
    *,
    rounds: int = 3,
    n: int = 4,
    hot: float = 1.4,
    cool: float = 0.3,
    kind: str = "exponential",
    keep: int = 4,
    params: SamplingParams | None = None,
) -> list[Variant]:
    """Rounds of fan-out from hot to cool, keeping a pool of the best `keep` (scored by
    `scorer`, which sets each variant's score)."""
    require(engine, "branches")
    params = (params or SamplingParams()).seeded()
    assert params.seed is not None
    pool: list[Variant] = []
    for r, temperature in enumerate(schedule(rounds, kind, hot=hot, cool=cool)):
        fresh = fanout(engine, prompt, n, params.replace(seed=(params.seed + 1000 * r) % 2**32), temperatures=[temperature] * n)
        scorer(fresh)
        for v in fresh:
            v.meta["round"] = r
        pool = sorted(pool + fresh, key=lambda v: -(v.score if v.score is not None else -math.inf))[:keep]
    return pool
