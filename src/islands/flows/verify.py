"""What "verified" means: independent programs agree, and no trivial call counts.

A candidate answer is backed by the island its answer slot copied (tools/answer.py). That
island's call counts as evidence only when it did work on the question:

- it used at least one quantity of the question (a number written in it, or — for PY —
  the bound `question` text itself), and no large number the question does not hold (a
  `400` where the question says `40`): numbers of three digits or more must be the
  question's, or a unit constant (100, 1000, 360, 365, 3600, 1024);
- it is not an identity (`CALC(987654321) => 987654321`) or a constant (no operator, no
  function, no use of the question);
- it did not fail.

An answer is **verified** when at least two such calls that differ as programs (their
normalized text differs), in candidates sampled separately, reached it; one program alone
makes it **computed**; an answer no program produced is **free**. The vote weighs
programs, not repetitions: the same program sampled twice is one piece of evidence, and a
program weighs the share of the question's quantities it used (a product of both numbers
outweighs a square of one of them; PY reading `question` weighs 1), halved when the question
names operations ("to the power", "multiplied", "percent", "sum", "divided", ...) and the
program uses none of them (`CALC(3*40)` for "3 to the power 40" loses to `CALC(3^40)`).

    evidence("What is 17 * 23?", "CALC", "17*23", "391")   -> None  (counts)
    evidence("What is 17 * 23?", "CALC", "391", "391")     -> "an identity: its result is its argument"

What it leaves out: whether the question was understood (a wrong set-up, computed exactly,
is still wrong; agreement between different set-ups makes that less likely).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "UNIT_CONSTANTS", "Support", "Tally", "coverage", "evidence", "fits", "foreign", "named_operations", "normalize_answer",
    "quantities", "tally",
]

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?")
_OPERATOR = re.compile(r"[-+*/%^!]|\*\*|\b[a-z_]+\s*\(")


def quantities(text: str) -> set[str]:
    """The numbers written in a text, commas dropped: "1,234 and 5.0" -> {"1234", "5.0"}."""
    return {m.group(0).replace(",", "").lstrip("-") for m in _NUMBER.finditer(text)}


def normalize_answer(text: str | None) -> str | None:
    """An answer compared as votes compare it: stripped, a final period and case dropped,
    numbers without commas or a trailing ".0": " 1,234.0." -> "1234"."""
    if text is None:
        return None
    t = " ".join(text.strip().rstrip(".").split())
    if re.fullmatch(r"-?\d+(?:,\d{3})*(?:\.\d+)?", t):
        t = t.replace(",", "")
        if "." in t:
            t = t.rstrip("0").rstrip(".")
        return t
    return t.casefold() or None


UNIT_CONSTANTS = frozenset({"100", "1000", "360", "365", "3600", "1024"})


def foreign(question: str, args: str) -> set[str]:
    """Numbers of three digits or more in a call that the question does not hold:
    foreign("40 percent of 1400?", "400*1400") -> {"400"}."""
    return {q for q in quantities(args) - quantities(question)
            if len(q.split(".")[0].lstrip("0")) >= 3 and q not in UNIT_CONSTANTS}


def coverage(question: str, tool: str, args: str) -> float:
    """The share of the question's distinct quantities a counted call used (1 for PY reading
    `question`, or for a question without numbers)."""
    wanted = quantities(question)
    if not wanted or (tool == "PY" and "question" in args):
        return 1.0
    return len(quantities(args) & wanted) / len(wanted)


# Words that name an operation, and the operators (or functions) a program for it would use.
_NAMED: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple((re.compile(w, re.I), ops) for w, ops in (
    (r"\bpower\b|\bexponent|\braised to\b", ("^", "**", "pow(")),
    (r"\bsquared?\b|\bcubed?\b", ("^", "**", "pow(", "*")),
    (r"\bmultipl|\bproduct\b|\btimes\b", ("*", "prod(")),
    (r"%|\bpercent", ("/", "%", "0.")),
    (r"\bsum\b|\btotal\b|\bplus\b|\badd(?:ed)?\b", ("+", "sum(")),
    (r"\bminus\b|\bdifference\b|\bsubtract", ("-",)),
    (r"\bdivided\b|\bquotient\b|\baverage\b|\bmean\b|\bratio\b", ("/", "//", "mean(")),
))


def named_operations(question: str) -> set[str]:
    """The operators a program could use for the operations the question names in words:
    named_operations("What is 3 to the power 40?") -> {"^", "**", "pow("}."""
    return {op for words, ops in _NAMED if words.search(question) for op in ops}


def fits(question: str, tool: str, args: str) -> bool:
    """The program uses one of the operations the question names (or it names none, or a PY
    program parses the question itself)."""
    named = named_operations(question)
    if not named or (tool == "PY" and "question" in args):
        return True
    text = re.sub(r"\s+", "", args)
    plain = text.replace("**", "")  # `**` is a power, not a product
    return any(op in (text if op in ("**", "^") or op.endswith("(") else plain) for op in named)


def _program(args: str) -> str:
    """A call's program text, spacing aside, for telling programs apart."""
    return re.sub(r"\s+", "", args)


def evidence(question: str, tool: str | None, args: str | None, result: str | None, error: bool = False) -> str | None:
    """None when this call counts as evidence for its result; else why it does not."""
    if error or result is None or not tool:
        return "it failed"
    text = args or ""
    used = quantities(text) & quantities(question)
    if tool == "PY":
        if "question" not in text and not used:
            return "it uses nothing of the question"
    elif not used:
        return "it uses none of the question's quantities"
    strange = foreign(question, text)
    if strange:
        return f"it uses {sorted(strange)[0]}, which the question does not hold"
    if normalize_answer(text) == normalize_answer(result):
        return "an identity: its result is its argument"
    if tool != "PY" and not _OPERATOR.search(text):
        return "a constant: no operation on the quantities"
    return None


@dataclass
class Support:
    """The evidence behind one normalized answer."""

    answer: str
    text: str  # the answer as first written
    candidates: list[int] = field(default_factory=list)  # candidates that gave it
    programs: dict[str, float] = field(default_factory=dict)  # distinct programs (tool:args) -> coverage
    computed_by: set[int] = field(default_factory=set)  # candidates whose answer a counted call made

    @property
    def weight(self) -> float:
        """Each distinct program counts its coverage of the question's quantities (at most 1);
        a candidate whose answer no program computed counts 0.25."""
        return sum(self.programs.values()) + 0.25 * (len(self.candidates) - len(self.computed_by))


@dataclass
class Tally:
    """The vote over candidates: support per answer, the winner and how sure it is."""

    support: dict[str, Support]
    answer: str | None
    margin: float  # winner's weight minus the runner-up's
    verified: bool  # at least two distinct programs computed the winner
    computed: bool  # at least one did

    @property
    def uncertain(self) -> bool:
        """No program backs the answer, or another answer is as strong."""
        return self.answer is None or not self.computed or self.margin <= 0


def tally(question: str, answers: Iterable[tuple[int, str | None, tuple[str, str, str] | None]]) -> Tally:
    """`answers`: (candidate, answer text, the (tool, args, result) its answer copied or None)."""
    support: dict[str, Support] = {}
    for index, text, call in answers:
        key = normalize_answer(text)
        if key is None:
            continue
        s = support.setdefault(key, Support(key, (text or "").strip()))
        s.candidates.append(index)
        if call is not None and evidence(question, *call) is None:
            weight = coverage(question, call[0], call[1]) * (1.0 if fits(question, call[0], call[1]) else 0.5)
            s.programs[f"{call[0]}:{_program(call[1])}"] = weight
            s.computed_by.add(index)
    ranked = sorted(support.values(), key=lambda s: (s.weight, len(s.candidates), -min(s.candidates)), reverse=True)
    if not ranked:
        return Tally(support, None, 0.0, False, False)
    best = ranked[0]
    margin = best.weight - (ranked[1].weight if len(ranked) > 1 else 0.0)
    return Tally(support, best.text, margin, len(best.programs) >= 2, len(best.programs) >= 1)

