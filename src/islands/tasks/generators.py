"""The two BIG-bench families whose `task.py` generates its examples instead of listing them
in a `task.json`: multistep_arithmetic and boolean_expressions, reproduced here from
reading that code (same seeds, same random calls in the same order, same targets), so the
dev set needs neither bigbench installed nor its code run.

    multistep_arithmetic()[0]   # Example(question='(-9 + 5)', answers=('-4',), ...)
    boolean_expressions()[0]    # Example(question='True', answers=('True',), choices=('True', 'False'))

Each example's `subtask` names its configuration, as BIG-bench scores them
(`[2, 2] depth, 3 numbers`; `4 tokens`). The family's order is the generator's: subtask by
subtask; `islands.tasks.bigbench` interleaves the subtasks.

What it leaves out: boolean_expressions' in-prompt shots (BIG-bench puts three other
expressions before each one); the dev set's own teaching examples take their place.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import numpy as np

from islands.tasks.data import Example

__all__ = ["boolean_expressions", "multistep_arithmetic"]

# multistep_arithmetic/task.py, MultistepArithmeticTask.__init__ defaults
_OPERATIONS = ["+", "-", "*"]
_NUMBERS = [str(x) for x in range(-9, 10)]
_DEPTHS: tuple[list[int], ...] = ([], [2], [2, 2], [2, 2, 2])
_LENGTHS = [2, 3, 4]


def _content(length: int, rng: np.random.RandomState) -> str:
    """The innermost parentheses: `length` numbers joined by operations, `(3 * -2 + 7)`."""
    text = "("
    for _ in range(length - 1):
        text += str(rng.choice(_NUMBERS)) + " " + str(rng.choice(_OPERATIONS)) + " "
    return text + str(rng.choice(_NUMBERS)) + ")"


def _nested(levels: list[int], length: int, rng: np.random.RandomState) -> str:
    """`levels=[2]` -> `((a + b) * (c - d))`: each level joins that many sub-expressions."""
    if not levels:
        return _content(length, rng)
    text = "("
    for _ in range(levels[0] - 1):
        text += _nested(levels[1:], length, rng) + " " + str(rng.choice(_OPERATIONS)) + " "
    return text + _nested(levels[1:], length, rng) + ")"


def multistep_arithmetic(seed: int = 42, trials: int = 100) -> list[Example]:
    """The 1,200 problems of BIG-bench's multistep_arithmetic (12 configurations x 100), in
    its order; the target is Python's value of the expression, as the task computes it."""
    rng = np.random.RandomState(seed)
    out: list[Example] = []
    for levels, length in itertools.product(_DEPTHS, _LENGTHS):
        for _ in range(trials):
            expression = _nested(list(levels), length, rng)
            value = eval(expression, {"__builtins__": {}}, {})  # digits, + - * and parentheses only
            out.append(Example(expression, (str(value),), subtask=f"{levels} depth, {length} numbers"))
    return out


# boolean_expressions/task.py, BooleanExpressionsTask.__init__ defaults
_CONSTANTS = ("True", "False")
_BINARY = ("or", "and")
_UNARY = ("not",)


def _follows() -> dict[str, set[str]]:
    """Which token may follow which: the task's `_next` table, parentheses allowed."""
    start = set(_CONSTANTS + _UNARY) | {"("}
    cont = set(_BINARY) | {")"}
    table = {"start": start, "(": start, ")": cont}
    table.update({op: start for op in _BINARY + _UNARY})
    table.update({c: cont for c in _CONSTANTS})
    return table


def _expressions(length: int) -> Iterator[tuple[str, ...]]:
    """Every well-formed expression of exactly `length` tokens (any order; callers sort)."""
    follows, end = _follows(), set(_CONSTANTS) | {")"}

    def grow(prefix: tuple[str, ...], left: int, open_: int) -> Iterator[tuple[str, ...]]:
        if left == 0:
            if open_ == 0 and prefix[-1] in end:
                yield prefix
            return
        for token in follows[prefix[-1] if prefix else "start"]:
            depth = open_ + (token == "(") - (token == ")")
            if depth >= 0:
                yield from grow(prefix + (token,), left - 1, depth)

    yield from grow((), length, 0)


def boolean_expressions(seed: int = 42, lengths: tuple[int, ...] = tuple(range(1, 9)), trials: int = 100,
                        shots: int = 3) -> list[Example]:
    """The expressions BIG-bench's boolean_expressions asks about, length by length: all
    expressions of that length, sorted, shuffled by `random.seed(42)`, and every
    (shots+1)-th one asked (the ones between are its in-prompt shots). Target: `True`/`False`."""
    rng = random.Random(seed)  # the task seeds the global `random` once, in __init__
    out: list[Example] = []
    for length in lengths:
        expressions = sorted(_expressions(length))
        rng.shuffle(expressions)
        pool = expressions[: trials * (shots + 1)]
        asked = min(trials, len(pool))
        step = len(pool) // asked  # the task's num_shots + 1
        for i in range(0, asked * step, step):
            text = " ".join(pool[i])
            value = eval(text, {"__builtins__": {}}, {})  # True/False/and/or/not/() only
            out.append(Example(text, (str(value),), ("True", "False"), subtask=f"{length} tokens"))
    return out
