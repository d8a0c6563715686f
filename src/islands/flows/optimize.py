"""The seed's universal optimizer loop, and a self-optimizer that also improves the
improver.

    while budget:
        candidates = llm(improve + best)     # a fan-out, hot to cool
        keep the best by score(candidate)    # a Python function: accuracy, tests, CALC checks
        validate(candidate) before it counts

`self_optimize` optimizes a task instruction on a small dev set while the improver's own
instruction is rewritten by the model too, each rewrite kept only if it finds better
instructions.

What it leaves out: gradient-style edits; population methods beyond a best-so-far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.flows.variants import fanout, schedule
from islands.params import SamplingParams

__all__ = ["IMPROVE", "OptimizeResult", "optimize", "self_optimize"]

IMPROVE = "Improve this {kind}. {task}\nCurrent {kind} (score {score:.2f}): {best}\nBetter {kind}:"


@dataclass
class OptimizeResult:
    best: str
    score: float
    history: list[tuple[int, float, str]] = field(default_factory=list)  # (iteration, best score, best)
    tried: int = 0
    tokens: int = 0
    improver: str = IMPROVE


def optimize(
    engine: Engine,
    task: str,
    initial: str,
    score: Callable[[str], float],
    *,
    kind: str = "instruction",
    iterations: int = 4,
    n: int = 4,
    max_tokens: int = 32,
    validate: Callable[[str], bool] | None = None,
    seconds: float | None = None,
    token_budget: int | None = None,
    improver: str = IMPROVE,
    seed: int = 1,
) -> OptimizeResult:
    """Improve `initial` for `task`; stops at `iterations`, `seconds` or `token_budget`."""
    if iterations < 1 or n < 1:
        raise InvalidInput("iterations and n must be at least 1")
    if "{best}" not in improver:
        raise InvalidInput("the improver template needs a {best} field")
    t0 = time.monotonic()
    result = OptimizeResult(initial, score(initial), improver=improver)
    result.history.append((0, result.score, initial))
    params = SamplingParams(max_tokens=max_tokens, stop=("\n",), seed=seed)
    for it in range(1, iterations + 1):
        prompt = improver.format(task=task, best=result.best, score=result.score, kind=kind)
        variants = fanout(engine, prompt, n, params.replace(seed=(seed + 101 * it) % 2**32), temperatures=schedule(n, "linear", hot=1.1, cool=0.4))
        for v in variants:
            result.tokens += len(v.tokens)
            candidate = v.text.strip()
            if not candidate or (validate is not None and not validate(candidate)):
                continue
            result.tried += 1
            s = score(candidate)
            if s > result.score:
                result.best, result.score = candidate, s
        result.history.append((it, result.score, result.best))
        if seconds is not None and time.monotonic() - t0 > seconds:
            break
        if token_budget is not None and result.tokens >= token_budget:
            break
    return result


META = "Rewrite this request so that it gets better answers.\nRequest: {improver}\nBetter request:"


def self_optimize(
    engine: Engine,
    task: str,
    initial: str,
    score: Callable[[str], float],
    *,
    rounds: int = 3,
    n: int = 3,
    seed: int = 1,
) -> OptimizeResult:
    """Optimize `initial` while the improver's instruction is optimized as well: each round,
    the model rewrites the improver's first line; a rewrite is kept when one optimizer step
    with it beats one step with the current improver."""
    head, rest = IMPROVE.split(".", 1)
    improver_line = head + "."
    best = optimize(engine, task, initial, score, iterations=1, n=n, seed=seed, improver=improver_line + rest)
    for r in range(rounds):
        rewrites = fanout(engine, META.format(improver=improver_line), n,
                          SamplingParams(max_tokens=24, stop=("\n",), seed=(seed + 977 * r) % 2**32), temperatures=[0.9] * n)
        for rewrite in rewrites:
            line = rewrite.text.strip()
            if not line or "{" in line or "}" in line:
                continue
            trial = optimize(engine, task, best.best, score, iterations=1, n=n, seed=seed + r, improver=line + rest)
            if trial.score > best.score:
                improver_line = line
                trial.history = best.history + trial.history[1:]
                best = trial
        best.history.append((len(best.history), best.score, best.best))
    best.improver = improver_line + rest
    return best
