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
        text = synthesize(real, "What is the capital of France?", vs, mode=mode, params=SamplingParams(temperature=0, max_tokens=12))
        assert "Paris" in text and text not in {v.text for v in vs}  # a new text that keeps what the drafts agree on


def test_plan_ahead_chooses_two_rhymes_from_the_models_words(real: Engine) -> None:
    from islands.flows.plan import _words, plan_ahead, rhymes

    poem = plan_ahead(real, "the sea at night", scheme="ABAB")
    (a1, a2), (b1, b2) = poem.targets["A"], poem.targets["B"]
    assert len({a1, a2, b1, b2}) == 4 and rhymes(a1, a2) and rhymes(b1, b2)
    assert not any(rhymes(a, b) for a in (a1, a2) for b in (b1, b2))  # A and B are two different rhymes
    theme = "the sea at night"
    likely = _words(real, f"Words about {theme}:") + _words(real, f"A poem about {theme}. The last word of the first line is")
    assert a1 in likely and b1 in likely  # each rhyme starts from a word the model expects, not from a fixed list
    assert len(set(poem.lines)) == 4  # four different lines, not one line four times


def test_self_optimize_on_a_tiny_dev_set(real: Engine) -> None:
    from islands.flows.optimize import IMPROVE, self_optimize
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

    result = self_optimize(real, "Classify the sentiment of a text as positive or negative.", "Sentiment?", accuracy,
                           rounds=1, n=1, trials=2, margin=1 / len(dev), propose=lambda line, r: ["Write a clearer instruction."])
    assert result.score == accuracy(result.best) and result.best.strip() and "\n" not in result.best  # the score is the best's own
    assert result.trials == 2 and result.margin == 0.25 and result.improver_trials
    for trial in result.improver_trials:  # both sides on two seeds; kept only when better by more than one item
        assert len(trial.candidate) == len(trial.incumbent) == 2 and trial.kept == (trial.gain > 0.25)
    kept = [t.rewrite for t in result.improver_trials if t.kept]
    assert result.improver == (kept[-1] + IMPROVE.split(".", 1)[1] if kept else IMPROVE)


def test_explore_anneal_and_logprob_scoring(real: Engine) -> None:
    from islands.flows import anneal, explore, score_logprob

    prompt = "The best island name is"
    greedy = real.generate(prompt, params=SamplingParams(temperature=0, max_tokens=1)).outputs[0].tokens[0]
    off_path = explore(real, prompt, 3, SamplingParams(temperature=0, max_tokens=6, seed=1), steps=1)
    assert all(v.tokens[0] != greedy and "mean_logprob" in v.meta for v in off_path)
    def likely(vs: list[Variant]) -> None:
        score_logprob(real, prompt, vs)

    pool = anneal(real, prompt, likely, rounds=2, n=2, keep=2,
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
