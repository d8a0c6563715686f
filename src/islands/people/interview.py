"""Interviews on the engine: each persona's prefix is decoded into KV once and every
question forks from it; personas go in waves, all of a wave's branches decode together, and
what their prefixes share (the interview's header and opening question) is decoded once per
wave and forked.

    answers = interview(engine, [Job("p1", prefix, questions)], on_answer=print)

Choice questions: every option's total log-probability after the question (the question's
KV shared by the options' branches); probabilities over the options are their softmax, so
they sum to 1, and the recorded answer is drawn from them (seeded). Numeric: digits inside
a grammar. Open: free text to the end of the line.

`share_kv=False` is the baseline the benchmark compares with: every (persona, question)
prompt prefilled from scratch, prefix included, in the same waves.

What it leaves out: follow-up questions that see earlier answers (each question forks from
the bare persona prefix, so answers are independent given the persona).
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from islands.engine import Branch, Engine, Stats
from islands.errors import InvalidInput
from islands.grammar import Grammar
from islands.params import SamplingParams
from islands.people.questions import Question

__all__ = ["Answer", "Job", "interview", "option_probs"]

_NUMBER = Grammar.regex(r" -?[0-9]{1,7}(\.[0-9]{1,2})?\n")


@dataclass(frozen=True)
class Job:
    """One interview: a key (the persona id), its prompt prefix, the questions to ask."""

    key: str
    prefix: str
    questions: Sequence[Question]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    job: Job
    question: Question
    answer: str | float | None
    probs: dict[str, float] | None = None
    logprobs: dict[str, float] | None = None

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {"persona": self.job.key, "question": self.question.id, "kind": self.question.kind, "answer": self.answer}
        if self.probs is not None:
            out["probs"] = self.probs
            out["logprobs"] = self.logprobs
        return out | self.job.meta


def option_probs(logprobs: Sequence[float]) -> list[float]:
    """Softmax of total log-probabilities: [-1.0, -2.0] -> [0.731, 0.269]."""
    top = max(logprobs)
    w = [math.exp(x - top) for x in logprobs]
    s = math.fsum(w)
    return [x / s for x in w]


def _seed(seed: int, *keys: str) -> int:
    return (seed * 1_000_003 + zlib.crc32("\x1f".join(keys).encode())) % (2**31)


@dataclass
class _Counters:
    stats: Stats = field(default_factory=Stats)
    peak_cells: int = 0
    personas: int = 0
    wave: int = 0  # personas per wave


def _wave_size(engine: Engine, jobs: Sequence[Job], wave: int) -> int:
    """Personas per wave that fit the sequence slots and the context."""
    kmax = max((len(q.options) for j in jobs for q in j.questions), default=1)
    slots, n_ctx = engine.model.n_seq_max, engine.n_ctx
    sample = jobs[: min(len(jobs), 8)]
    prefix = max(len(engine.tokenize(j.prefix)) for j in sample)
    per_q = max(
        (len(engine.tokenize(q.prompt(), add_bos=False)) + max(len(q.options), 1) * 8 + q.max_tokens for j in sample for q in j.questions),
        default=64,
    )
    by_ctx = int(n_ctx * 0.8) // (prefix + per_q)
    return max(1, min(wave, (slots - 4) // (kmax + 2), by_ctx))


def interview(
    engine: Engine,
    jobs: Sequence[Job],
    *,
    seed: int = 0,
    wave: int = 32,
    share_kv: bool = True,
    on_answer: Callable[[Answer], None] | None = None,
    counters: _Counters | None = None,
) -> list[Answer]:
    """Ask every job its questions; `on_answer` sees each answer as it comes."""
    out: list[Answer] = []
    count = counters or _Counters()
    if not jobs:
        return out

    def emit(a: Answer) -> None:
        out.append(a)
        if on_answer is not None:
            on_answer(a)

    size = _wave_size(engine, jobs, wave)
    count.wave = size
    for start in range(0, len(jobs), size):
        group = list(jobs[start : start + size])
        heads = [engine.tokenize(j.prefix) for j in group]
        roots: list[Branch] = []
        if share_kv:
            roots = _persona_roots(engine, heads, count.stats)
        count.personas += len(group)
        try:
            for qi in range(max(len(j.questions) for j in group)):
                todo = [(i, j.questions[qi]) for i, j in enumerate(group) if qi < len(j.questions)]
                _ask(engine, group, heads, roots, todo, seed, count, emit, share_kv)
        finally:
            for r in roots:
                r.release(cache=False)
    return out


def _persona_roots(engine: Engine, heads: list[list[int]], stats: Stats) -> list[Branch]:
    """Each persona's prefix in KV once, the wave's common start (the interview's header and
    opening question) decoded once for all of them and forked."""
    common = heads[0][: min(len(h) for h in heads)]
    for h in heads[1:]:
        n = next((i for i, (a, b) in enumerate(zip(common, h)) if a != b), len(common))
        common = common[:n]
    if len(heads) < 2 or len(common) < 2:
        roots = [engine.branch(h, stats=stats) for h in heads]
        engine.run(roots)
        return roots
    if len(common) == min(len(h) for h in heads):
        common = common[:-1]  # every root keeps a token of its own to decode (its logits)
    stem = engine.branch(common, stats=stats)
    engine.run([stem])
    try:
        roots = stem.fork(len(heads))
    finally:
        stem.release(cache=False)
    for root, h in zip(roots, heads):
        root.extend(h[len(common) :])
    engine.run(roots)
    return roots


def _ask(
    engine: Engine,
    group: list[Job],
    heads: list[list[int]],
    roots: list[Branch],
    todo: list[tuple[int, Question]],
    seed: int,
    count: _Counters,
    emit: Callable[[Answer], None],
    share_kv: bool,
) -> None:
    """One question for each persona of a wave, all decoded together."""
    qtoks = [engine.tokenize(q.prompt(), add_bos=False) for _, q in todo]

    def start_branch(i: int, tokens: list[int]) -> Branch:
        if share_kv:
            b = roots[i].fork(1)[0]
            b.extend(tokens)
            return b
        return engine.branch(heads[i] + tokens, stats=count.stats, reuse=False)  # the whole prompt, from scratch

    choice = [(k, i, q) for k, (i, q) in enumerate(todo) if q.kind == "choice"]
    free = [(k, i, q) for k, (i, q) in enumerate(todo) if q.kind != "choice"]
    live: list[Branch] = []
    try:
        # choice: the question's KV once and its last logits row kept: every option's first
        # token is scored from that one row; an option of more tokens forks a branch that
        # scores the rest (a one-token option needs no branch at all)
        stems = [start_branch(i, qtoks[k]) for k, i, _ in choice]
        for stem in stems:
            stem.keep_next = True
        live += stems
        engine.run(stems)
        firsts: list[list[float]] = []
        kids: list[list[Branch | None]] = []
        tails_of: dict[str, list[list[int]]] = {}  # a question's options, tokenized once for the wave
        for (_, _, q), stem in zip(choice, stems):
            if q.id not in tails_of:
                tails_of[q.id] = [engine.tokenize(" " + opt, add_bos=False) for opt in q.options]
            tails = tails_of[q.id]
            firsts.append(stem.next_logprobs([t[0] for t in tails]))
            stem.keep_next = False
            row = stem.fork_options(tails)
            live += [kid for kid in row if kid is not None]
            kids.append(row)
        # open and numeric: sampled, in the same steps as the option scoring
        talkers = []
        for k, i, q in free:
            b = start_branch(i, qtoks[k])
            params = SamplingParams(
                max_tokens=q.max_tokens if q.kind == "open" else 12,
                temperature=0.8 if q.kind == "open" else 0.0,
                seed=_seed(seed, group[i].key, q.id),
                stop=("\n", "Interviewer:"),
            )
            b.start(params, _number_grammar(engine) if q.kind == "numeric" else None)
            talkers.append(b)
        live += talkers
        engine.run([b for row in kids for b in row if b is not None] + talkers)
        count.peak_cells = max(count.peak_cells, engine.ledger.used)
        for (_, i, q), row, first in zip(choice, kids, firsts):
            totals = [math.fsum([f, *(kid.scored if kid is not None else ())]) for f, kid in zip(first, row)]
            probs = option_probs(totals)
            rng = np.random.default_rng(_seed(seed, group[i].key, q.id))
            pick = q.options[int(rng.choice(len(probs), p=np.array(probs) / sum(probs)))]
            emit(Answer(group[i], q, pick, dict(zip(q.options, probs)), dict(zip(q.options, totals))))
        for (_, i, q), b in zip(free, talkers):
            text = b.text.strip()
            emit(Answer(group[i], q, _number(text, q) if q.kind == "numeric" else text))
    finally:
        for b in live:
            b.release(cache=False)


def _number_grammar(engine: Engine) -> Grammar | None:
    """Digits only, where the model has grammars (the mock model has none: free text, parsed)."""
    try:
        engine.check_grammar(_NUMBER)
        engine.constraint(_NUMBER)
    except InvalidInput:
        return None
    return _NUMBER


def _number(text: str, q: Question) -> float | None:
    m = re.search(r"-?\d+(?:\.\d+)?", text)
    if m is None:
        return None
    x = float(m.group())
    if (q.low is not None and x < q.low) or (q.high is not None and x > q.high):
        return None
    return x
