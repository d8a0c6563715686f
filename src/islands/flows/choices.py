"""Multiple choice: score every option by the model's log-likelihood (as lm-eval does), and
map a computed answer onto the options.

    score_options(engine, "Q: Is the sea salty?\\nA:", [" yes", " no"])   # total logprob each
    pick_choice("270", ["229", "270", "877"])                              # 1
    pick_choice("240", ["5 %", "240 %", "50 %"])                           # 1 (the number matches)

What it leaves out: calibration across options of very different lengths beyond the
per-character normalization `acc_norm` uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

from islands.engine.protocol import Brancher, Generator, require

__all__ = ["numeric_value", "pick_choice", "score_options"]


def score_options(engine: Generator, prefix: str, options: Sequence[str], group: int = 16) -> list[float]:
    """Total log-probability (nats) of each option after `prefix`, like `Engine.score` for
    each. Locally the prefix is decoded once, every option's first token is scored from its
    one last logits row, and the options' other tokens decode together, `group` branches per
    batch (logits depend slightly on how rows are batched: totals may differ
    from one-at-a-time scoring in the last decimals); a remote engine scores each option
    with the server's prompt log-probabilities, all options at once (its prefix cache keeps
    the prefix)."""
    if not engine.supports("kv"):
        require(engine, "score")
        with ThreadPoolExecutor(max(1, min(group, len(options))), thread_name_prefix="score") as pool:
            return list(pool.map(lambda o: math.fsum(engine.score(prefix, o).logprobs), options))
    return _score_on_kv(engine, prefix, options, group)  # type: ignore[arg-type]


def _score_on_kv(engine: Brancher, prefix: str, options: Sequence[str], group: int) -> list[float]:
    from islands.engine.core import Engine

    assert isinstance(engine, Engine)
    head = engine.tokenize(prefix, add_bos=True)
    root = engine.branch(head)
    if root.n_past == len(head):  # the prefix cache held all of it: decode its last token again for the row
        root.truncate(len(head) - 1)
        root.extend(head[-1:])
    root.keep_next = True  # the prefix's last logits row scores every option's first token
    engine.run([root])
    tails = [engine.tokenize(text, add_bos=False) for text in options]
    totals = root.next_logprobs([t[0] for t in tails])
    try:
        longer = [i for i, t in enumerate(tails) if len(t) > 1]  # the rest of an option on a branch of its own
        for start in range(0, len(longer), group):
            chunk = longer[start : start + group]
            kids = [kid for kid in root.fork_options([tails[i] for i in chunk]) if kid is not None]
            try:
                engine.run(kids)
                for i, kid in zip(chunk, kids):
                    totals[i] = math.fsum([totals[i], *kid.scored])
            finally:
                for kid in kids:
                    kid.release()
    finally:
        root.release()
    return totals


_NUM = re.compile(r"-?\d+(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?")


def numeric_value(text: str) -> Fraction | None:
    """The one number a text states (a fraction `7 / 16` too): "$ 375" -> 375, "3 : 4" -> None."""
    found = _NUM.findall(text.replace(",", ""))
    if len(found) != 1:
        return None
    a, _, b = found[0].partition("/")
    try:
        value = Fraction(a.strip()) / (Fraction(b.strip()) if b else 1)
    except (ValueError, ZeroDivisionError):
        return None
    return value


def _plain(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(".")


def pick_choice(answer: str | None, choices: Sequence[str], *, nearest: bool = True) -> int | None:
    """The option a computed answer names: equal text, then the option whose one number
    equals the answer's, then (with `nearest`, all options numeric) the closest number."""
    if answer is None or not choices:
        return None
    want = _plain(answer)
    for i, c in enumerate(choices):
        if _plain(c) == want:
            return i
    value = numeric_value(answer)
    if value is None:
        return None
    values = [numeric_value(c) for c in choices]
    for i, v in enumerate(values):
        if v is not None and v == value:
            return i
    if nearest and all(v is not None for v in values):
        return min(range(len(choices)), key=lambda i: abs(values[i] - value))  # type: ignore[operator]
    return None
