"""The numbers puzzle (make 24 from four numbers with + - * /): the model proposes one
operation at a time, constrained by a grammar to the numbers still on the table; CALC
computes the exact result, spliced in as a hard island; search backtracks from dead ends.

Who judges a dead end decides who solves the puzzle, so it is a labelled choice:

- `judge="model"` (the default, honest): the model's own evaluation, ToT-style — after a few
  worked examples it rates the numbers left as " sure", " likely" or " impossible" (scored by
  log-likelihood), and the search expands the states it rates best first (P(sure) +
  P(likely)/2). Its verdict alone never kills a state: the 270M model rates nearly every
  state impossible (0.82–0.93, even "4 6"), so pruning on it would end every search. A
  finished attempt (one number left) that is not the target is dead: checking an answer is
  not solving the puzzle.
- `judge="oracle"`: an exhaustive solvability check over the numbers left — the computer
  solves the puzzle and the model's proposals barely matter (a uniform random proposer under
  the same rules solves most puzzles too: `bench_puzzle` reports it beside).
- `judge="none"`: only finished wrong attempts are dead; states ordered by closeness.

`proposer="random"` replaces the model's proposals by uniformly random valid operations (the
same search, the same budget). `brute_force` is the computer alone.

    solve(engine, [3, 3, 8, 8], 24)  -> Solved(steps=["8 / 3 = 8/3 | left: 3 8 8/3", ...]) or None

A step is `a op b = c | left: …`. Results are exact fractions (CALC), so 8 / (3 - 8/3)
is reachable. `random_puzzles` makes solvable puzzles from a seed (it checks by brute force).
"""

from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import dataclass
from fractions import Fraction

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.flows.choices import score_options
from islands.flows.search import SearchResult, search
from islands.grammar import Grammar
from islands.params import SamplingParams
from islands.tools.calc import CalcError, evaluate

__all__ = ["JUDGES", "PROPOSERS", "Judge", "Solved", "brute_force", "random_puzzles", "random_step", "solve", "step_result"]

FEW_SHOT = """Combine numbers with + - * / until only the target is left.
Numbers: 4 6 1 1. Target: 24.
6 * 4 = 24 | left: 1 1 24
1 * 1 = 1 | left: 24 1
24 * 1 = 24 | left: 24
Numbers: 2 5 7 3. Target: 24.
5 + 7 = 12 | left: 2 3 12
3 - 2 = 1 | left: 12 1
"""
_LEFT = re.compile(r"left: ([^\n]*)\n?$")


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _remaining(start: list[Fraction], path: str) -> list[Fraction]:
    lines = [line for line in path.splitlines() if "left:" in line]
    if not lines:
        return list(start)
    m = _LEFT.search(lines[-1])
    return [Fraction(t) for t in m.group(1).split()] if m else []


def step_result(numbers: list[Fraction], step: str) -> str:
    """Text after a proposed `a op b`: ` = c | left: …` with c exact, or ` = invalid`."""
    m = re.fullmatch(r"\s*(\S+) ([-+*/]) (\S+)\s*", step)
    if not m:
        return " = invalid\n"
    a, op, b = Fraction(m.group(1)), m.group(2), Fraction(m.group(3))
    pool = list(numbers)
    for x in (a, b):
        if x not in pool:
            return " = invalid\n"
        pool.remove(x)
    try:
        value = evaluate(f"({a}) {op} ({b})")
    except CalcError:
        return " = invalid\n"
    c = Fraction(value) if isinstance(value, Fraction) else Fraction(str(value))
    return f" = {_fmt(c)} | left: {' '.join(_fmt(x) for x in [*pool, c])}\n"


JUDGES = ("model", "oracle", "none")
PROPOSERS = ("model", "random")

# the model's own evaluation of a state (ToT's value prompt, shortened)
VALUE_SHOTS = """Can the numbers still make 24 with + - * /? Answer sure, likely or impossible.
Numbers: 4 6. 4 * 6 = 24. sure
Numbers: 10 14. 10 + 14 = 24. sure
Numbers: 1 3 3. 1 + 3 + 3 = 7, 1 * 3 * 3 = 9, too small. impossible
Numbers: 5 7 8. 5 + 7 + 8 = 20, (8 - 5) * 7 = 21, close. likely
Numbers: 11 12. 11 + 12 = 23, 12 - 11 = 1, 11 * 12 = 132. impossible
Numbers: 2 12 11. 12 * 2 = 24, 24 and 11 are left. likely
Numbers: 1 1 1. 1 + 1 + 1 = 3. impossible
"""
VERDICTS = (" sure", " likely", " impossible")


@dataclass
class Solved:
    numbers: list[int]
    target: int
    steps: list[str]
    result: SearchResult


class Judge:
    """The model's verdict on the numbers left (cached per state): P(sure), P(likely),
    P(impossible) from the log-likelihood of each word after the value prompt."""

    def __init__(self, engine: Engine, target: int) -> None:
        self.engine, self.target = engine, target
        self.seen: dict[str, tuple[float, float, float]] = {}
        self.calls = 0

    def verdict(self, left: list[Fraction]) -> tuple[float, float, float]:
        key = " ".join(sorted(_fmt(x) for x in left))
        if key not in self.seen:
            self.calls += 1
            shots = VALUE_SHOTS.replace("24", str(self.target))
            totals = score_options(self.engine, f"{shots}Numbers: {' '.join(_fmt(x) for x in left)}.", VERDICTS)
            top = max(totals)
            weights = [math.exp(t - top) for t in totals]
            z = sum(weights)
            self.seen[key] = (weights[0] / z, weights[1] / z, weights[2] / z)
        return self.seen[key]


def random_step(numbers: list[Fraction], rng: random.Random) -> str:
    """A uniformly random operation on two of the numbers left: "8 / 3\n"-like text."""
    i, j = rng.sample(range(len(numbers)), 2)
    return f"{_fmt(numbers[i])} {rng.choice('+-*/')} {_fmt(numbers[j])}"


def solve(
    engine: Engine,
    numbers: list[int],
    target: int = 24,
    *,
    judge: str = "model",
    proposer: str = "model",
    strategy: str = "best_first",
    expand: int = 4,
    max_nodes: int = 160,
    widen: int = 8,
    seed: int = 1,
    judged: Judge | None = None,
) -> Solved | None:
    """Search for a way to make `target` (see the module for `judge` and `proposer`)."""
    if judge not in JUDGES:
        raise InvalidInput(f"unknown judge {judge!r}: choose {', '.join(JUDGES)}")
    if proposer not in PROPOSERS:
        raise InvalidInput(f"unknown proposer {proposer!r}: choose {', '.join(PROPOSERS)}")
    start = [Fraction(n) for n in numbers]
    goal = Fraction(target)
    prompt = FEW_SHOT.replace("24", str(target)) + f"Numbers: {' '.join(map(str, numbers))}. Target: {target}.\n"
    model_judge = judged or (Judge(engine, target) if judge == "model" else None)

    def grammar(path: str) -> Grammar:
        nums = sorted({_fmt(x) for x in _remaining(start, path)}, key=len, reverse=True)
        choice = "(" + "|".join(re.escape(n) for n in nums) + ")"
        return Grammar.regex(f"{choice} [-+*/] {choice}")

    def closeness(left: list[Fraction]) -> float:
        """In [0, 1]: fewer numbers left and one nearer the target is better."""
        near = min(float(abs(x - goal)) for x in left)
        return math.exp(-near / max(1.0, float(abs(goal)))) * 0.5 ** (len(left) - 1)

    def score(path: str) -> float:
        left = _remaining(start, path)
        if not left:
            return 0.0
        if model_judge is not None and len(left) > 1:
            sure, likely, _ = model_judge.verdict(left)
            return sure + likely / 2
        return closeness(left)

    def is_dead(path: str) -> bool:
        left = _remaining(start, path)
        if "invalid" in path or not left or (len(left) == 1 and left[0] != goal):
            return True  # a finished wrong attempt
        if judge == "oracle":
            return not _reachable(left, goal)
        return False

    def propose(path: str, k: int, rng: random.Random) -> list[str]:
        left = _remaining(start, path)
        return [random_step(left, rng) for _ in range(k)] if len(left) > 1 else []

    result = search(
        engine, prompt,
        score=score,
        is_solution=lambda p: _remaining(start, p) == [goal],
        is_dead=is_dead,
        strategy=strategy,
        expand=expand, max_depth=len(numbers) - 1, max_nodes=max_nodes, widen=widen,
        params=SamplingParams(temperature=1.2, top_k=0, top_p=1.0, min_p=0.0, max_tokens=12, seed=seed),
        step_grammar=grammar,
        state_key=lambda p: " ".join(sorted(_fmt(x) for x in _remaining(start, p))) + ("!" if "invalid" in p else ""),
        after_step=lambda path, step: step_result(_remaining(start, path), step),
        propose=propose if proposer == "random" else None,
    )
    if result.solution is None:
        return None
    return Solved(numbers, target, [n.step.strip() for n in result.path(result.solution)[1:]], result)


def _reachable(pool: list[Fraction], target: Fraction) -> bool:
    """Exhaustive and exact: can these numbers still make the target?"""
    if len(pool) == 1:
        return pool[0] == target
    for i, j in itertools.permutations(range(len(pool)), 2):
        rest = [pool[k] for k in range(len(pool)) if k not in (i, j)]
        a, b = pool[i], pool[j]
        if any(_reachable(rest + [c], target) for c in [a + b, a - b, a * b] + ([a / b] if b else [])):
            return True
    return False


def brute_force(numbers: list[int], target: int = 24) -> bool:
    """Can `numbers` make `target`? brute_force([3, 3, 8, 8]) -> True (8 / (3 - 8/3))."""
    return _reachable([Fraction(n) for n in numbers], Fraction(target))


def random_puzzles(count: int, seed: int = 0, target: int = 24) -> list[list[int]]:
    rng = random.Random(seed)
    out: list[list[int]] = []
    while len(out) < count:
        numbers = sorted(rng.randint(1, 13) for _ in range(4))
        if brute_force(numbers, target):
            out.append(numbers)
    return out
