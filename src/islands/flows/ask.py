"""`ask`: the default flow. Candidate answers fan out (greedy first, then hotter), each able
to call hard islands (CALC for arithmetic, PY for programs that read the bound `question`);
each candidate's answer slot copies an island's exact result (never re-typed), and a vote
that counts independent programs, not repetitions, chooses (flows/verify.py says exactly
what "verified" means). With options (`choices`), a computed answer picks its option, and
otherwise every option is scored by the model's log-likelihood.

    result = ask(engine, "What is 123456789 * 987654321?")
    result.answer, result.verified, result.margin, result.candidates

What it leaves out: multi-turn questions; learning from examples (flows/learn.py does it and
hands `ask` its demonstrations).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from islands.engine import Stats
from islands.engine.protocol import Generator, require
from islands.errors import InvalidInput
from islands.flows.choices import pick_choice, score_options
from islands.flows.demos import Demo, nearest_demos
from islands.flows.variants import schedule
from islands.flows.verify import Tally, evidence, tally
from islands.params import SamplingParams
from islands.tools import IslandOutput, IslandRunner, Registry, Span
from islands.tools.builtin import with_bindings

__all__ = ["HEADER", "AskResult", "Candidate", "ask", "ask_prompt"]

HEADER = (
    "Answer each question. CALC(...) does exact arithmetic; PY(...) runs Python, in which `question` "
    "holds the question's text. Their results follow =>, and the answer copies the result.\n"
)
ANSWER = "Answer:"


@dataclass
class Candidate:
    index: int
    temperature: float
    text: str
    answer: str | None
    source: str  # "island" (copied from a tool result), "free" (written by the model), "none"
    evidence: str | None  # why its island does not count ("" when it counts; None: no island)
    calls: int
    spans: list[Span] = field(default_factory=list)

    @property
    def computed(self) -> bool:
        return self.source == "island" and self.evidence == ""


@dataclass
class AskResult:
    question: str
    answer: str | None
    verified: bool  # two distinct programs computed it (see flows/verify.py)
    computed: bool  # at least one program did
    margin: float  # the winner's vote weight minus the runner-up's
    method: str  # "vote", "choice-computed", "choice-loglik", "none"
    candidates: list[Candidate]
    votes: dict[str, float]
    stats: Stats
    choice_scores: list[float] | None = None

    @property
    def uncertain(self) -> bool:
        return self.answer is None or not self.computed or self.margin <= 0


def ask_prompt(question: str, demos: Sequence[Demo]) -> str:
    """The few-shot prompt: header, demonstrations, the question."""
    shots = "".join(f"Q: {d.question}\nA: {d.solution}\n" for d in demos)
    return f"{HEADER}{shots}Q: {question.strip()}\nA:"


def _candidate(i: int, temperature: float, question: str, out: IslandOutput) -> Candidate:
    text, spans, calls = out.text, out.spans, out.calls
    slot = out.answer
    if slot is None:
        return Candidate(i, temperature, text, None, "none", None, calls, spans)
    answer = text[slot.start : slot.end].strip() or None
    if slot.ref is None:
        if answer is not None and ("=>" in answer or "(" in answer and ")" in answer):
            answer = None  # it wrote calls into its answer instead of answering: no answer
        return Candidate(i, temperature, text, answer, "free" if answer else "none", None, calls, spans)
    island = next(s for s in spans if s.island == slot.ref)
    why = evidence(question, island.tool, island.args, island.result, island.error)
    return Candidate(i, temperature, text, answer, "island", why or "", calls, spans)


def _tally(question: str, candidates: list[Candidate]) -> Tally:
    rows = []
    for c in candidates:
        call = None
        if c.source == "island":
            slot = next(s for s in c.spans if s.answer)
            island = next(s for s in c.spans if s.island == slot.ref)
            call = (island.tool or "", island.args or "", island.result or "")
        rows.append((c.index, c.answer, call))
    return tally(question, rows)


def ask(
    engine: Generator,
    question: str,
    *,
    n: int = 6,
    choices: Sequence[str] | None = None,
    registry: Registry | None = None,
    demos: Sequence[Demo] | None = None,
    task_demos: Sequence[Demo] = (),
    shots: int = 6,
    max_tokens: int = 96,
    seed: int = 1,
    on_text: Callable[[int, str], None] | None = None,
    choice_prefix: str | None = None,
    early_stop: bool = True,
) -> AskResult:
    """Answer `question` with n tool-using candidates and a vote over independent programs.
    `demos` replace the shipped demonstrations (the `shots` nearest to the question are
    used); `task_demos` (solutions verified for this kind of question) come after them,
    nearest to the question, up to half the shots; with `choices`, the answer is one of them.
    With `early_stop`, sampling ends once the candidates still running could not change the
    winner (each adds at most one program to the vote), and once half the candidates are done
    a candidate that has written 1.5 times the longest finished one's tokens without
    an open call stops where it is."""
    if not question.strip():
        raise InvalidInput("question is empty")
    if not 1 <= n <= 64:
        raise InvalidInput(f"invalid n={n}: between 1 and 64 candidates")
    if choices is not None and len([c for c in choices if c.strip()]) < 2:
        raise InvalidInput("give at least two non-empty choices")
    if choices is not None:
        require(engine, "score")  # options are scored by log-likelihood
    base_registry = registry if registry is not None else Registry.default().subset(["CALC", "PY"])
    tools = with_bindings(base_registry, question=question.strip(), choices=list(choices) if choices else None)
    temps = [0.0] + schedule(n - 1, "linear", hot=1.1, cool=0.5) if n > 1 else [0.0]
    base = SamplingParams(max_tokens=max_tokens, seed=seed, stop=("\nQ:", "\n\n"))
    per_branch = [base.replace(temperature=t, seed=(seed + i) % 2**32) for i, t in enumerate(temps)]
    own = nearest_demos(question, task_demos, min(len(task_demos), max(1, shots // 2))) if task_demos else []
    chosen = nearest_demos(question, demos, shots - len(own)) + own
    prompt = ask_prompt(question, chosen)
    runner = IslandRunner(engine, tools, template=" => {result}.", answer=ANSWER, wait_tools=True)

    def settled(outputs: list[IslandOutput | None]) -> bool:
        """The winner is decided: the candidates still running (each adds at most one
        program) cannot overtake it."""
        done = [_candidate(i, temps[i], question, o) for i, o in enumerate(outputs) if o is not None]
        if not done:
            return False
        t = _tally(question, done)
        weights = sorted((s.weight for s in t.support.values()), reverse=True) + [0.0]
        return t.computed and weights[0] - weights[1] > len(outputs) - len(done)

    try:
        result = runner.generate(prompt, n=n, params=base, on_text=on_text, per_branch=per_branch,
                                 settled=settled if early_stop else None, straggle=1.5 if early_stop else None)
    finally:
        runner.close()
    stats: Stats = result.stats
    candidates = [_candidate(i, temps[i], question, o) for i, o in enumerate(result.outputs)]
    votes = _tally(question, candidates)
    weights = {k: s.weight for k, s in votes.support.items()}
    if choices is None:
        method = "vote" if votes.answer is not None else "none"
        return AskResult(question, votes.answer, votes.verified, votes.computed, votes.margin, method,
                         candidates, weights, stats)
    return _choose(engine, question, list(choices), votes, candidates, weights, stats, choice_prefix)


def _choose(
    engine: Generator, question: str, choices: list[str], votes: Tally, candidates: list[Candidate],
    weights: dict[str, float], stats: Stats, prefix: str | None,
) -> AskResult:
    """A computed answer that names an option wins; else the model's likeliest option."""
    if votes.computed and votes.answer is not None:
        picked = pick_choice(votes.answer, choices)
        if picked is not None:
            return AskResult(question, choices[picked], votes.verified, True, votes.margin, "choice-computed",
                             candidates, weights, stats)
    head = prefix if prefix is not None else f"Q: {question.strip()}\nA:"
    scores = score_options(engine, head, [" " + c.strip() for c in choices])
    order = sorted(range(len(choices)), key=scores.__getitem__, reverse=True)
    margin = scores[order[0]] - scores[order[1]]
    return AskResult(question, choices[order[0]], False, False, margin, "choice-loglik", candidates, weights,
                     stats, scores)
