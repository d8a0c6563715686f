"""Short smoke tests of the flow primitives and `ask` on the embedded model."""

from __future__ import annotations

import pytest

from islands import Engine, SamplingParams
from islands.flows import Variant, ask, fanout, judge, pairwise, synthesize

pytestmark = pytest.mark.model


def test_ask_answers_with_exact_arithmetic(real: Engine) -> None:
    result = ask(real, "What is 3 to the power 40?", n=4, max_tokens=40)
    assert result.answer == str(3**40)
    assert any(c.computed and c.answer == str(3**40) for c in result.candidates)
    assert result.computed and result.method == "vote"


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


def test_plan_ahead_ends_lines_at_their_targets(real: Engine) -> None:
    from islands.flows.plan import plan_ahead, rhymes

    poem = plan_ahead(real, "the sea at night", scheme="ABAB")
    assert len(poem.lines) == 4
    a1, a2 = poem.targets["A"]
    assert rhymes(a1, a2)
    assert poem.lines[0].endswith(a1) and poem.lines[2].endswith(a2)  # planned endings, ABAB order
    assert poem.lines[1].endswith(poem.targets["B"][0]) and poem.lines[3].endswith(poem.targets["B"][1])


def test_self_optimize_on_a_tiny_dev_set(real: Engine) -> None:
    from islands.flows.optimize import self_optimize
    from islands.grammar import Grammar

    dev = [("I loved this film", " positive"), ("Terrible and boring", " negative"), ("What a great day", " positive"),
           ("I hate rain", " negative")]

    def accuracy(instruction: str) -> float:
        hits = 0
        for text, label in dev:
            out = real.generate(f"{instruction}\nText: {text}\nSentiment:", params=SamplingParams(temperature=0, max_tokens=2),
                                grammar=Grammar.choice([" positive", " negative"]))
            hits += out.text == label
        return hits / len(dev)

    result = self_optimize(real, "Classify the sentiment of a text as positive or negative.", "Sentiment?", accuracy, rounds=1, n=2)
    assert result.score >= accuracy("Sentiment?")
    assert "{best}" in result.improver


def test_explore_anneal_and_logprob_scoring(real: Engine) -> None:
    from islands.flows import anneal, explore, score_logprob

    prompt = "The best island name is"
    greedy = real.generate(prompt, params=SamplingParams(temperature=0, max_tokens=1)).outputs[0].tokens[0]
    off_path = explore(real, prompt, 3, SamplingParams(temperature=0, max_tokens=6, seed=1), steps=1)
    assert all(v.tokens[0] != greedy and "mean_logprob" in v.meta for v in off_path)
    pool = anneal(real, prompt, lambda vs: score_logprob(real, prompt, vs), rounds=2, n=2, keep=2,
                  params=SamplingParams(max_tokens=6, seed=2))
    assert len(pool) == 2 and pool[0].score >= pool[1].score  # type: ignore[operator]


def test_search_solves_a_puzzle_with_calc(real: Engine) -> None:
    from islands.flows.puzzle import solve

    solved = None
    for seed in (1, 2, 3):
        solved = solve(real, [1, 7, 9, 11], seed=seed, judge="oracle")
        if solved:
            break
    assert solved is not None and solved.steps[-1].endswith("left: 24")
    assert solved.result.prefill_per_node < 15  # only the spliced CALC results are prefilled
