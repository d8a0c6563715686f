"""The numbers puzzle (make 24 from four numbers with + - * /): the model proposes one
operation at a time, constrained by a grammar to the numbers still on the table; CALC
computes the exact result, spliced in as a hard island; an exact check marks states from
which the target cannot be reached as dead ends; best-first search backtracks from them.

    solve(engine, [3, 3, 8, 8], 24)  -> Solved(steps=["8 / 3 = 8/3 | left: 3 8 8/3", ...]) or None

A step is `a op b = c | left: …`. Results are exact fractions (CALC), so 8 / (3 - 8/3)
is reachable. `random_puzzles` makes solvable puzzles from a seed (it checks by brute force).
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass
from fractions import Fraction

from islands.engine import Engine
from islands.grammar import Grammar
from islands.flows.search import SearchResult, search
from islands.params import SamplingParams
from islands.tools.calc import CalcError, evaluate

__all__ = ["Solved", "brute_force", "random_puzzles", "solve", "step_result"]

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


@dataclass
class Solved:
    numbers: list[int]
    target: int
    steps: list[str]
    result: SearchResult


def solve(engine: Engine, numbers: list[int], target: int = 24, *, expand: int = 4, max_nodes: int = 160, widen: int = 8, seed: int = 1) -> Solved | None:
    start = [Fraction(n) for n in numbers]
    goal = Fraction(target)
    prompt = FEW_SHOT + f"Numbers: {' '.join(map(str, numbers))}. Target: {target}.\n"

    def grammar(path: str) -> Grammar:
        nums = sorted({_fmt(x) for x in _remaining(start, path)}, key=len, reverse=True)
        choice = "(" + "|".join(re.escape(n) for n in nums) + ")"
        return Grammar.regex(f"{choice} [-+*/] {choice}")

    def score(path: str) -> float:
        left = _remaining(start, path)
        return -min(float(abs(x - goal)) for x in left) - 2 * len(left) if left else -1e9

    result = search(
        engine, prompt,
        score=score,
        is_solution=lambda p: _remaining(start, p) == [goal],
        # the computer checks what the model cannot: can the target still be reached?
        is_dead=lambda p: "invalid" in p or not _reachable(_remaining(start, p), goal),
        expand=expand, max_depth=len(numbers) - 1, max_nodes=max_nodes, widen=widen,
        params=SamplingParams(temperature=1.2, top_k=0, top_p=1.0, min_p=0.0, max_tokens=12, seed=seed),
        step_grammar=grammar,
        state_key=lambda p: " ".join(sorted(_fmt(x) for x in _remaining(start, p))) + ("!" if "invalid" in p else ""),
        after_step=lambda path, step: step_result(_remaining(start, path), step),
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
