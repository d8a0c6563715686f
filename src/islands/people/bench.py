"""The survey benchmark: the same personas and questions answered with KV sharing (each
persona prefix decoded once, every question forked from it) and without (every persona ×
question prompt prefilled whole), in the same process, on the same engine, in the same
waves. Reports answers/s of both, their ratio, tokens prefilled, and KV cells per persona.

What it leaves out: open questions (their sampled length would differ between runs only by
batching noise, but choice questions keep the workload identical).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from islands.engine import Engine
from islands.people.interview import Job, _Counters, interview
from islands.people.notes import enrich
from islands.people.persona import persona_prefix
from islands.people.population import Population
from islands.people.questions import Question

__all__ = ["BENCH_QUESTIONS", "bench_people"]

BENCH_QUESTIONS = (
    Question(
        "HAPPY",
        "choice",
        "Taken all together, how would you say things are these days--would you say that you are very happy, "
        "pretty happy, or not too happy?",
        ("very happy", "pretty happy", "not too happy"),
    ),
    Question(
        "GRASS", "choice", "Do you think the use of marijuana should be made legal or not?", ("should be legal", "should not be legal")
    ),
    Question(
        "GUNLAW",
        "choice",
        "Would you favor or oppose a law which would require a person to obtain a police permit before he or she could buy a gun?",
        ("favor", "oppose"),
    ),
    Question(
        "HEALTH",
        "choice",
        "Would you say your own health, in general, is excellent, good, fair, or poor?",
        ("excellent", "good", "fair", "poor"),
    ),
    Question(
        "POLVIEWS",
        "choice",
        "Where would you place yourself on a seven-point scale from extremely liberal to extremely conservative?",
        ("extremely liberal", "liberal", "slightly liberal", "moderate", "slightly conservative", "conservative", "extremely conservative"),
    ),
    Question("COFFEE", "choice", "How many cups of coffee do you drink on a typical day?", ("none", "one", "two", "three or more")),
    Question(
        "EV",
        "choice",
        "How likely are you to buy an electric car in the next five years?",
        ("very likely", "somewhat likely", "not very likely", "not at all likely"),
    ),
    Question("STREAM", "choice", "Would you pay $12 a month for an ad-free streaming service?", ("yes", "no")),
    Question("REMOTE", "choice", "Would you rather work from home or at a workplace?", ("from home", "at a workplace", "no preference")),
    Question(
        "NEWS",
        "choice",
        "Where do you get most of your news?",
        ("television", "websites or apps", "social media", "radio", "print newspapers"),
    ),
)


def bench_people(
    engine: Engine, *, personas: int = 24, questions: int = 6, seed: int = 0, wave: int = 32, backstory: bool = False,
    notes: bool = False, on_answer: Callable[[str], None] | None = None, on_written: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run the workload both ways (KV sharing second, so a warm-up favours the baseline).
    `backstory`: the model first writes each persona's checked backstory (timed apart), and
    both runs interview the personas with it, as `people sample --backstory` makes them;
    `notes` likewise with interview notes (`people sample --notes`).
    `on_answer(run)` is called after every answer of either run, `on_written(n)` as
    backstories and notes are written (progress bars)."""
    if not 1 <= questions <= len(BENCH_QUESTIONS):
        raise ValueError(f"questions must be 1..{len(BENCH_QUESTIONS)}")
    qs = BENCH_QUESTIONS[:questions]
    records = Population.us_adults().sample(personas, seed=seed)
    t0 = time.perf_counter()
    written, written_notes = enrich(engine, records, backstory=backstory, notes=notes, seed=seed, on_done=on_written)
    story_seconds = time.perf_counter() - t0
    jobs = [Job(r["id"], persona_prefix(r), qs) for r in records]
    runs: dict[str, Any] = {}
    answers: dict[str, list[str]] = {}
    for label, share in (("re_prefill", False), ("kv_shared", True)):
        engine.clear_cache()
        count = _Counters()
        t0 = time.perf_counter()
        tick = (lambda _a, run=label: on_answer(run)) if on_answer is not None else None
        out = interview(engine, jobs, seed=seed, wave=wave, share_kv=share, counters=count, on_answer=tick)
        seconds = time.perf_counter() - t0
        answers[label] = [str(a.answer) for a in out]
        runs[label] = {
            "seconds": round(seconds, 3),
            "answers": len(out),
            "answers_per_s": round(len(out) / seconds, 2),
            "prefill_tokens": count.stats.prefill_tokens,
            "peak_kv_cells": count.peak_cells,
            "wave": count.wave,
            "kv_cells_per_persona": round(count.peak_cells / max(1, min(count.wave, personas)), 1),
        }
    prefix_tokens = sum(len(engine.tokenize(j.prefix)) for j in jobs) / len(jobs)
    question_tokens = sum(len(engine.tokenize(q.prompt(), add_bos=False)) for q in qs) / len(qs)
    same = sum(a == b for a, b in zip(answers["kv_shared"], answers["re_prefill"])) / max(1, len(answers["kv_shared"]))
    return {
        "personas": personas,
        "questions": questions,
        "seed": seed,
        "backstories": written,
        "notes": written_notes,
        "backstory_seconds": round(story_seconds, 2),  # backstories and notes
        "mean_prefix_tokens": round(prefix_tokens, 1),
        "mean_question_tokens": round(question_tokens, 1),
        "kv_shared": runs["kv_shared"],
        "re_prefill": runs["re_prefill"],
        "speedup": round(runs["kv_shared"]["answers_per_s"] / runs["re_prefill"]["answers_per_s"], 2),
        "prefill_ratio": round(runs["re_prefill"]["prefill_tokens"] / max(1, runs["kv_shared"]["prefill_tokens"]), 2),
        "same_answers": round(same, 3),
    }
