"""Interviews against a remote OpenAI-compatible server (`--engine openai`), where
branches cannot fork and option texts cannot be scored: each choice question lists its
options numbered, the model answers one token, and the option probabilities are the
first token's top log-probabilities of the labels "1".."k" (renormalized; a label outside
the server's top list counts as 0). Numeric and open questions are sampled as text.
Requests go out a few at a time (threads); every prompt carries its whole persona prefix.

What it leaves out: KV sharing (the server's own prefix cache may do it), and exact
comparability with the local engine, which scores the option texts themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from islands.engine.protocol import Generator
from islands.params import SamplingParams
from islands.people.interview import Answer, Job, _number, _seed, option_probs
from islands.people.questions import Question

__all__ = ["numbered_prompt", "remote_interview"]


def numbered_prompt(q: Question) -> str:
    """The question with its options numbered, ending where the respondent gives a number."""
    listed = "\n".join(f"{i}. {o}" for i, o in enumerate(q.options, 1))
    return f"\nInterviewer: {q.text.strip()}\n{listed}\n(Answer with the number of one option.)\nRespondent:"


def _label_logprobs(top: Sequence[tuple[str, float]], k: int) -> list[float]:
    """Per option, the best log-probability of a token that reads as its number."""
    out = [-math.inf] * k
    for text, lp in top:
        t = text.strip().rstrip(".)")
        if t.isdigit() and 1 <= int(t) <= k:
            out[int(t) - 1] = max(out[int(t) - 1], lp)
    return out


def _ask(engine: Generator, job: Job, q: Question, seed: int) -> Answer:
    if q.kind == "choice":
        params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=20, seed=_seed(seed, job.key, q.id))
        out = engine.generate(job.prefix + numbered_prompt(q), params=params).outputs[0]
        first = (out.logprobs or [])[:1]
        top = list(first[0].top) + [(first[0].text, first[0].logprob)] if first else []
        lps = _label_logprobs(top, len(q.options))
        if all(math.isinf(x) for x in lps):
            probs = [1.0 / len(q.options)] * len(q.options)  # no label among the top tokens
        else:
            probs = option_probs([x if not math.isinf(x) else -1e9 for x in lps])
        pick = q.options[max(range(len(probs)), key=lambda i: probs[i])]
        return Answer(job, q, pick, dict(zip(q.options, probs)), dict(zip(q.options, [x if not math.isinf(x) else -1e9 for x in lps])))
    params = SamplingParams(
        max_tokens=q.max_tokens if q.kind == "open" else 12,
        temperature=0.8 if q.kind == "open" else 0.0,
        seed=_seed(seed, job.key, q.id),
        stop=("\n", "Interviewer:"),
    )
    text = engine.generate(job.prefix + q.prompt(), params=params).text.strip()
    return Answer(job, q, _number(text, q) if q.kind == "numeric" else text)


def remote_interview(
    engine: Generator,
    jobs: Sequence[Job],
    *,
    seed: int = 0,
    threads: int = 8,
    on_answer: Callable[[Answer], None] | None = None,
) -> list[Answer]:
    """Every job's questions, `threads` requests at a time; answers in job order."""
    pairs = [(j, q) for j in jobs for q in j.questions]
    out: list[Answer] = []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for answer in pool.map(lambda jq: _ask(engine, jq[0], jq[1], seed), pairs):
            out.append(answer)
            if on_answer is not None:
                on_answer(answer)
    return out
