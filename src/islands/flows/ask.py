"""`ask`: the default flow. Candidate answers fan out (greedy first, then hotter), each able
to call hard islands (CALC, PY; SEARCH/LOAD with a corpus); answers are extracted,
verified against the tools' own results, and chosen by a vote that counts verified
answers double (self-consistency).

    result = ask(engine, "What is 123456789 * 987654321?")
    result.answer, result.candidates      # every candidate: text, answer, verified, temperature

What it leaves out: multi-turn questions; judging free-text answers (a vote needs answers
that can be compared).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from islands.engine import Engine, Stats
from islands.errors import InvalidInput
from islands.flows.scoring import last_number
from islands.flows.variants import schedule
from islands.params import SamplingParams
from islands.tools import IslandGeneration, IslandRunner, Registry, Span

__all__ = ["AskResult", "Candidate", "FEW_SHOT", "ask"]

FEW_SHOT = """Answer the question. Use CALC(...) for arithmetic; its exact result follows =>.
Q: A box holds 12 eggs. How many eggs are in 7 boxes?
A: 7 boxes of 12 eggs is CALC(7*12) => 84. Answer: 84
Q: What is 15% of 240?
A: 15% of 240 is CALC(240*15/100) => 36. Answer: 36
Q: A car drives 50 km per hour for 3 hours. How far does it go?
A: 50 km per hour for 3 hours is CALC(50*3) => 150. Answer: 150
Q: What is 4321 * 8765?
A: CALC(4321*8765) => 37873565. Answer: 37873565
Q: What is 2 to the power 20?
A: CALC(2^20) => 1048576. Answer: 1048576
Q: {question}
A:"""

_ANSWER = re.compile(r"Answer:\s*([^\n]+)")


@dataclass
class Candidate:
    index: int
    temperature: float
    text: str
    answer: str | None
    verified: bool  # the answer is a result a tool computed in this candidate
    calls: int
    spans: list[Span] = field(default_factory=list)


@dataclass
class AskResult:
    question: str
    answer: str | None
    candidates: list[Candidate]
    votes: dict[str, float]
    stats: Stats


def _normalize(answer: str | None) -> str | None:
    if answer is None:
        return None
    number = last_number(answer)
    return number if number is not None else answer.strip().rstrip(".").lower() or None


def _candidate(i: int, temperature: float, text: str, spans: list[Span], calls: int) -> Candidate:
    m = _ANSWER.search(text)
    answer = _normalize(m.group(1) if m else text)
    tool_results = {_normalize(s.result) for s in spans if s.kind == "hard" and not s.error and s.result}
    return Candidate(i, temperature, text, answer, answer is not None and answer in tool_results, calls, spans)


def ask(
    engine: Engine,
    question: str,
    *,
    n: int = 6,
    registry: Registry | None = None,
    max_tokens: int = 64,
    seed: int = 1,
    prompt_template: str = FEW_SHOT,
    on_text: Callable[[int, str], None] | None = None,
) -> AskResult:
    """Answer `question` with n tool-using candidates and a verified vote."""
    if not question.strip():
        raise InvalidInput("question is empty")
    if not 1 <= n <= 64:
        raise InvalidInput(f"invalid n={n}: between 1 and 64 candidates")
    registry = registry if registry is not None else Registry.default().subset(["CALC", "PY"])
    temps = [0.0] + schedule(n - 1, "linear", hot=1.1, cool=0.5) if n > 1 else [0.0]
    base = SamplingParams(max_tokens=max_tokens, seed=seed, stop=("\nQ:", "\n\n"))
    per_branch = [base.replace(temperature=t, seed=(seed + i) % 2**32) for i, t in enumerate(temps)]
    runner = IslandRunner(engine, registry, template=" => {result}.")  # the period ends the number
    try:
        result: IslandGeneration = runner.generate(prompt_template.format(question=question.strip()), n=n, params=base,
                                                   on_text=on_text, per_branch=per_branch)
    finally:
        runner.close()
    candidates = [_candidate(i, temps[i], o.text, o.spans, o.calls) for i, o in enumerate(result.outputs)]
    votes: Counter[str] = Counter()
    for c in candidates:
        if c.answer is not None:
            votes[c.answer] += 2.0 if c.verified else 1.0
    answer = votes.most_common(1)[0][0] if votes else None
    return AskResult(question, answer, candidates, dict(votes), result.stats)
