"""Flow benchmarks: the numbers puzzle (search under each judge and strategy, against a
random proposer, one greedy answer and brute force), and the self-consistency curve
(accuracy against the number of samples).

Both make their own data from a seed: puzzles checked solvable by brute force, and
arithmetic word problems with answers computed in Python.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from islands.engine import Engine
from islands.flows.ask import ask
from islands.flows.puzzle import Judge, brute_force, random_puzzles, solve
from islands.flows.scoring import last_number
from islands.flows.variants import fanout
from islands.grammar import Grammar
from islands.params import SamplingParams
from islands.tools.calc import CalcError, evaluate

__all__ = ["bench_consistency", "bench_puzzle", "word_problems"]

Say = Callable[[str], None]
_EXPR = Grammar.regex(r" [0-9+\-*/() ]{3,30}")


def _greedy_once(engine: Engine, numbers: list[int], target: int) -> bool:
    prompt = (f"Combine the numbers with + - * / to make {target}, using each once.\n"
              f"Numbers: 4 6 1 1. Expression: (4 * 6) * 1 * 1\nNumbers: {' '.join(map(str, numbers))}. Expression:")
    text = engine.generate(prompt, params=SamplingParams(temperature=0, max_tokens=24), grammar=_EXPR).text
    if sorted(int(t) for t in re.findall(r"\d+", text)) != sorted(numbers):
        return False
    try:
        return Fraction(evaluate(text)) == target
    except (CalcError, TypeError, ValueError):
        return False


def bench_puzzle(
    engine: Engine,
    *,
    puzzles: int = 20,
    seed: int = 0,
    judges: Sequence[str] = ("model", "oracle"),
    strategies: Sequence[str] = ("best_first", "mcts"),
    random_proposer: bool = True,
    max_nodes: int = 160,
    say: Say = lambda _m: None,
) -> dict[str, Any]:
    """Each (judge, strategy) with the model proposing, the same searches with a uniformly
    random proposer, the model answering once greedily, and brute force — on the same puzzles
    and node budget. `model_gain` is what the model's proposals add over random ones under the
    same judge: near zero means the judge, not the model, solves the puzzles."""
    items = random_puzzles(puzzles, seed)
    n = len(items)
    runs: dict[str, Any] = {}

    def run(label: str, **how: Any) -> None:
        solved = explored = sampled = judged = 0
        prefill = seconds = 0.0
        for i, numbers in enumerate(items):
            say(f"{label}: puzzle {i + 1}/{n} {numbers}")
            engine.clear_cache()
            judge_ = Judge(engine, 24) if how["judge"] == "model" else None
            t0 = time.perf_counter()
            result = solve(engine, numbers, seed=seed + i, max_nodes=max_nodes, judged=judge_, **how)
            seconds += time.perf_counter() - t0
            judged += judge_.calls if judge_ is not None else 0
            if result is not None:
                solved += 1
                tree = result.result
                sampled += tree.stats.sampled_tokens
                explored += tree.explored
                prefill += tree.prefill_per_node * tree.explored
        runs[label] = {
            **how,
            "solve_rate": round(solved / n, 3),
            "seconds_per_puzzle": round(seconds / n, 3),
            "judge_calls_per_puzzle": round(judged / n, 1),
            "sampled_tokens_per_solved_puzzle": round(sampled / max(1, solved), 1),
            "explored_nodes_per_solved_puzzle": round(explored / max(1, solved), 1),
        }

    for judge in judges:
        for strategy in strategies:
            run(f"{judge}/{strategy}/model", judge=judge, strategy=strategy, proposer="model")
        if random_proposer:
            run(f"{judge}/{strategies[0]}/random", judge=judge, strategy=strategies[0], proposer="random")
    greedy = 0
    t0 = time.perf_counter()
    for numbers in items:
        greedy += _greedy_once(engine, numbers, 24)
    greedy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    brute = sum(brute_force(numbers) for numbers in items)
    brute_s = time.perf_counter() - t0
    gain = {}
    if random_proposer:
        for judge in judges:
            ours, theirs = runs[f"{judge}/{strategies[0]}/model"], runs[f"{judge}/{strategies[0]}/random"]
            gain[judge] = round(ours["solve_rate"] - theirs["solve_rate"], 3)
    engine.clear_cache()
    return {
        "puzzles": n,
        "max_nodes": max_nodes,
        "runs": runs,
        "model_gain": gain,
        "greedy_once": {"solve_rate": round(greedy / n, 3), "seconds_per_puzzle": round(greedy_s / n, 3)},
        "brute_force": {"solve_rate": round(brute / n, 3), "seconds_per_puzzle": round(brute_s / n, 4)},
    }


def word_problems(count: int, seed: int = 0) -> list[tuple[str, int]]:
    """Arithmetic word problems with their answers: [("Ana has 3 boxes of 12 pens...", 36), ...]."""
    rng = random.Random(seed)
    names = ["Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo"]
    things = ["apples", "pens", "shells", "stamps", "books", "coins"]
    out = []
    for _ in range(count):
        name, thing = rng.choice(names), rng.choice(things)
        a, b, c = rng.randint(2, 9), rng.randint(3, 15), rng.randint(1, 20)
        kind = rng.randrange(3)
        if kind == 0:
            out.append((f"{name} has {a} boxes with {b} {thing} in each. How many {thing} does {name} have?", a * b))
        elif kind == 1:
            out.append((f"{name} had {a * b} {thing} and gave away {c}. How many {thing} are left?", a * b - c))
        else:
            out.append((f"{name} buys {a} bags of {b} {thing} and finds {c} more. How many {thing} now?", a * b + c))
    return out


_FEW = "Q: Tom has 3 bags with 4 marbles in each. How many marbles does Tom have?\nA: 3 bags of 4 is 12. The answer is 12.\nQ: {q}\nA:"


def _answer(text: str) -> str | None:
    m = re.search(r"[Aa]nswer(?: is)?:?\s*(-?\d+)", text)
    return m.group(1) if m else last_number(text)


def bench_consistency(engine: Engine, *, problems: int = 24, samples: tuple[int, ...] = (1, 2, 4, 8, 16), seed: int = 0,
                      tools: bool = True, say: Say = lambda _m: None) -> dict[str, Any]:
    """Accuracy against the number of samples N: `ask` with N candidates (CALC and PY, a
    vote over their programs), or with `tools=False` a plain majority vote over N samples."""
    items = word_problems(problems, seed)
    accuracy: dict[str, float] = {}
    for n in samples:
        right = 0
        for i, (question, answer) in enumerate(items):
            say(f"N={n}: problem {i + 1}/{len(items)}")
            if tools:  # ask: n candidates with CALC and PY, a vote over their programs
                got = ask(engine, question, n=n, max_tokens=48, seed=seed + 1000 * n + i, early_stop=False).answer
                right += got == str(answer)
                continue
            params = SamplingParams(temperature=0.8, max_tokens=48, stop=("\nQ:", "\n\n"), seed=seed + 1000 * n + i)
            texts = [v.text for v in fanout(engine, _FEW.format(q=question), n, params)]
            votes = Counter(a for a in (_answer(t) for t in texts) if a is not None)
            right += bool(votes) and votes.most_common(1)[0][0] == str(answer)
        accuracy[str(n)] = round(right / len(items), 3)
    errors = {k: round(1 - v, 3) for k, v in accuracy.items()}
    halving = {f"{a}->{b}": (round(errors[str(b)] / errors[str(a)], 3) if errors[str(a)] else None)
               for a, b in zip(samples, samples[2:]) if b == 4 * a}
    return {"problems": len(items), "tools": ["CALC", "PY"] if tools else [], "accuracy": accuracy, "error": errors,
            "error_ratio_at_4x_samples": halving}
