"""Short smoke tests of the flow primitives and `ask` on the embedded model."""

from __future__ import annotations

import pytest

from islands import Engine, SamplingParams
from islands.flows import Variant, ask, fanout, judge, pairwise, synthesize

pytestmark = pytest.mark.model


def test_ask_answers_with_exact_arithmetic(real: Engine) -> None:
    result = ask(real, "What is 3 to the power 40?", n=4, max_tokens=40)
    assert result.answer == str(3**40)
    assert any(c.verified and c.answer == str(3**40) for c in result.candidates)
    assert result.votes[str(3**40)] >= 2.0


def test_judge_and_pairwise_are_constrained(real: Engine) -> None:
    vs = fanout(real, "The capital of France is", 3, SamplingParams(max_tokens=6, seed=1))
    judge(real, "What is the capital of France?", vs)
    assert all(v.score is not None and 0 <= v.score <= 100 and v.score == int(v.score) for v in vs)
    pairwise(real, "What is the capital of France?", vs)
    assert sum(v.score or 0 for v in vs) == 3 * 2  # every ordered pair has one winner


def test_synthesize(real: Engine) -> None:
    vs = [Variant("Paris is the capital.", 0, 0, score=1.0), Variant("The capital is Paris, on the Seine.", 0, 0, score=0.5)]
    for mode in ("summarize", "improve"):
        assert isinstance(synthesize(real, "What is the capital of France?", vs, mode=mode, params=SamplingParams(temperature=0, max_tokens=12)), str)
