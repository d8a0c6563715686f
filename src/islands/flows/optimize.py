"""The seed's universal optimizer loop, and a self-optimizer that also improves the
improver.

    while budget:
        candidates = llm(improve + best)     # a fan-out, hot to cool
        keep the best by score(candidate)    # a Python function: accuracy, tests, CALC checks
        validate(candidate) before it counts

`self_optimize` optimizes a task instruction on a small dev set while the improver's own
instruction is rewritten by the model too. A rewrite is kept only when it wins on repeated
trials: one optimizer step with it and one with the improver in use, from the same
instruction on the same seeds, `trials` times; its mean must be higher by more than `margin`
(one item's worth of the dev set), so a single lucky step on four items does not count.

What it leaves out: gradient-style edits; population methods beyond a best-so-far; a
held-out split (the instruction itself is chosen on the dev set it is scored on).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from islands.engine.protocol import Brancher
from islands.errors import InvalidInput
from islands.flows.variants import fanout, schedule
from islands.params import SamplingParams

__all__ = ["IMPROVE", "ImproverTrial", "OptimizeResult", "optimize", "self_optimize"]

IMPROVE = "Improve this {kind}. {task}\nCurrent {kind} (score {score:.2f}): {best}\nBetter {kind}:"


@dataclass
class ImproverTrial:
    """A rewrite of the improver's first line against the line in use, on the same seeds."""

    rewrite: str
    candidate: list[float]  # per seed: the best score one optimizer step reached with the rewrite
    incumbent: list[float]  # per seed: the same with the line in use
    kept: bool = False

    @property
    def gain(self) -> float:
        """How much higher the rewrite's mean is: [0.5, 0.75] vs [0.5, 0.5] -> 0.125"""
        return statistics.fmean(self.candidate) - statistics.fmean(self.incumbent)


@dataclass
class OptimizeResult:
    best: str
    score: float
    history: list[tuple[int, float, str]] = field(default_factory=list)  # (iteration, best score, best)
    tried: int = 0
    tokens: int = 0
    improver: str = IMPROVE
    trials: int = 0  # self_optimize: seeds each improver rewrite was compared on
    margin: float = 0.0  # self_optimize: how much higher a kept rewrite's mean had to be
    improver_trials: list[ImproverTrial] = field(default_factory=list)


def optimize(
    engine: Brancher,
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
        temperatures = schedule(n, "linear", hot=1.1, cool=0.4)
        variants = fanout(engine, prompt, n, params.replace(seed=(seed + 101 * it) % 2**32), temperatures=temperatures)
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
    engine: Brancher,
    task: str,
    initial: str,
    score: Callable[[str], float],
    *,
    rounds: int = 3,
    n: int = 3,
    seed: int = 1,
    trials: int = 3,
    margin: float = 0.25,
    propose: Callable[[str, int], list[str]] | None = None,
) -> OptimizeResult:
    """Optimize `initial` while the improver's first line is optimized as well. Each round,
    rewrites of the line are proposed (by the model, or `propose(line, round)`); each is
    compared with the line in use over `trials` optimizer steps from the round's best
    instruction on the same seeds, and kept only if its mean best score is higher by more
    than `margin` — one item's worth: the default suits a 4-item dev set scored as accuracy,
    pass 1 / len(dev) for yours. The best instruction any step found is kept either way."""
    if rounds < 0 or n < 1 or trials < 1:
        raise InvalidInput("rounds must be at least 0, n and trials at least 1")
    if margin < 0:
        raise InvalidInput(f"margin must be >= 0, not {margin}")
    head, rest = IMPROVE.split(".", 1)
    line = head + "."
    best = optimize(engine, task, initial, score, iterations=1, n=n, seed=seed, improver=line + rest)
    result = OptimizeResult(best.best, best.score, [(0, best.score, best.best)], best.tried, best.tokens, trials=trials, margin=margin)
    found: list[OptimizeResult] = []

    def steps(start: str, improver_line: str, seeds: list[int]) -> list[float]:
        """One optimizer step from `start` per seed; the best score each reached."""
        outs = [optimize(engine, task, start, score, iterations=1, n=n, seed=s, improver=improver_line + rest) for s in seeds]
        found.extend(outs)
        return [out.score for out in outs]

    for r in range(rounds):
        start = result.best  # every step of a round starts here, so the comparisons are like for like
        seeds = [(seed + 1000 * (r + 1) + 7 * t) % 2**32 for t in range(trials)]
        found.clear()
        incumbent = steps(start, line, seeds)
        for rewrite in propose(line, r) if propose is not None else _rewrites(engine, line, n, (seed + 977 * r) % 2**32):
            if not rewrite or "{" in rewrite or "}" in rewrite or rewrite == line:
                continue
            trial = ImproverTrial(rewrite, steps(start, rewrite, seeds), incumbent)
            trial.kept = trial.gain > margin
            result.improver_trials.append(trial)
            if trial.kept:
                line, incumbent = rewrite, trial.candidate
        for out in found:
            result.tried += out.tried
            result.tokens += out.tokens
            if out.score > result.score:
                result.best, result.score = out.best, out.score
        result.history.append((r + 1, result.score, result.best))
    result.improver = line + rest
    return result


def _rewrites(engine: Brancher, line: str, n: int, seed: int) -> list[str]:
    """The model's rewrites of the improver's first line, distinct and on one line each."""
    variants = fanout(engine, META.format(improver=line), n, SamplingParams(max_tokens=24, stop=("\n",), seed=seed),
                      temperatures=[0.9] * n)
    return list(dict.fromkeys(v.text.strip() for v in variants))
