"""A/B tests: variants (an ad, a product description, a price) assigned at random to the
same population, one question asked after the variant, the difference between arms with
bootstrap confidence intervals, overall and by subgroup.

    {"intro": "Here is an advertisement:",
     "variants": {"A": "Fresh bread, baked daily.", "B": "Fresh bread, baked daily. 20% off today."},
     "question": {"id": "BUY", "type": "choice", "text": "Would you buy it?", "options": ["yes", "no"]},
     "values": {"yes": 1, "no": 0}}

The outcome of a persona: for a choice question the expected value of its option
probabilities under `values` (default: 1 for the first option, 0 for the others — the
probability of choosing it); for a numeric question the number. Assignment is balanced
(a seeded shuffle dealt in turn). What it leaves out: within-person designs (every persona
seeing every variant) and sequential stopping.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from islands.errors import InvalidInput
from islands.people.questions import Question, questions_from_doc
from islands.people.stats import diff_ci, subgroup_of

__all__ = ["ABTest", "analyze_ab", "assign", "load_ab"]

Record = dict[str, Any]


class ABTest:
    """Variants, the question asked after them, and the values of its options."""

    def __init__(self, variants: dict[str, str], question: Question, values: dict[str, float] | None, intro: str = "") -> None:
        if len(variants) < 2:
            raise InvalidInput("an A/B test needs at least two variants")
        if question.kind == "open":
            raise InvalidInput("an A/B question must be choice or numeric (an open answer has no number to compare)")
        self.variants = variants
        self.question = question
        self.intro = intro
        if question.kind == "choice":
            values = values or {o: 1.0 if i == 0 else 0.0 for i, o in enumerate(question.options)}
            missing = [o for o in question.options if o not in values]
            if missing:
                raise InvalidInput(f'"values" gives no number for option {missing[0]!r}')
        self.values = values or {}

    def question_for(self, variant: str) -> Question:
        text = f'{self.intro}\n"{self.variants[variant]}"\n{self.question.text}'.strip()
        return self.question.with_text(text, id=f"{self.question.id}@{variant}")

    def outcome(self, row: Record) -> float | None:
        if self.question.kind == "choice":
            probs = row.get("probs") or {}
            return math.fsum(self.values[o] * float(p) for o, p in probs.items() if o in self.values)
        x = row.get("answer")
        return float(x) if isinstance(x, int | float) else None


def load_ab(path: str | Path) -> ABTest:
    p = Path(path)
    where = f"A/B file {p}"
    try:
        text = p.read_text(encoding="utf-8")
        doc = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except FileNotFoundError:
        raise InvalidInput(f"{where} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as e:
        raise InvalidInput(f"{where} cannot be read: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("variants"), dict) or "question" not in doc:
        raise InvalidInput(f'{where}: expected {{"variants": {{NAME: TEXT, ...}}, "question": {{...}}}}')
    variants = {str(k): str(v) for k, v in doc["variants"].items()}
    (question,) = questions_from_doc({"questions": [doc["question"]]}, where)
    values = doc.get("values")
    if values is not None and (not isinstance(values, dict) or not all(isinstance(v, int | float) for v in values.values())):
        raise InvalidInput(f'{where}: "values" must map options to numbers')
    return ABTest(variants, question, {str(k): float(v) for k, v in values.items()} if values else None, str(doc.get("intro", "")))


def assign(personas: Sequence[Record], variants: Sequence[str], seed: int = 0) -> dict[str, str]:
    """persona id -> variant: a seeded shuffle dealt in turn, so arms differ by at most one."""
    order = np.random.default_rng(seed).permutation(len(personas))
    return {personas[int(j)]["id"]: variants[k % len(variants)] for k, j in enumerate(order)}


def analyze_ab(
    test: ABTest, rows: Sequence[Record], *, by: Sequence[str] = (), seed: int = 0, baseline: str | None = None
) -> dict[str, Any]:
    """Mean outcome per arm, and each arm minus the baseline arm (default: the first) with a
    95% bootstrap interval, overall and per subgroup of each `by` variable."""
    names = list(test.variants)
    base = baseline or names[0]
    if base not in names:
        raise InvalidInput(f"--baseline {base!r} is not a variant ({', '.join(names)})")
    data: list[tuple[str, float, Record]] = []
    for r in rows:
        v = r.get("variant")
        y = test.outcome(r)
        if v in test.variants and y is not None:
            data.append((str(v), y, r.get("record") or {}))

    def compare(subset: list[tuple[str, float, Record]]) -> dict[str, Any]:
        arms = {n: [y for v, y, _ in subset if v == n] for n in names}
        out: dict[str, Any] = {
            "n": {n: len(a) for n, a in arms.items()},
            "mean": {n: (math.fsum(a) / len(a) if a else math.nan) for n, a in arms.items()},
            "diff": {},
        }
        for n in names:
            if n != base:
                d, lo, hi = diff_ci(arms[base], arms[n], seed=seed)
                out["diff"][f"{n}-{base}"] = {"diff": d, "lo": lo, "hi": hi}
        return out

    report: dict[str, Any] = {"baseline": base, "overall": compare(data), "by": {}}
    for var in by:
        key = subgroup_of(var)
        groups = sorted({g for _, _, rec in data if (g := key(rec)) is not None})
        report["by"][var] = {g: compare([d for d in data if key(d[2]) == g]) for g in groups}
    return report
