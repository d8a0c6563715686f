"""Interview notes: a persona's answers to a few warm-up questions, written by the model in
the persona's voice and kept only when they do not contradict the record (the same rules as
backstories). They become more turns of the interview every survey question forks from, so
a persona is a record, a backstory and a short interview — the shape of the agents built
from interviews that the issue's anchor describes, with the model inventing the answers.

    notes = write_notes(engine, records)          # [[{"q": ..., "a": ...}, ...], ...]
    records[0]["notes"] = notes[0]
    persona_prefix(records[0])                    # ... Interviewer: What do you do on a typical weekday?
                                                  #     Respondent: I open the bakery at six ...

Each warm-up answer forks from the persona's introduction (with its backstory), not from the
earlier warm-up answers. What it leaves out: checks beyond the backstory rules (an answer
that is merely implausible for the record is kept).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.people.backstory import first_fitting, write_backstories
from islands.people.persona import persona_prefix

__all__ = ["WARMUPS", "check_notes", "enrich", "tidy", "write_notes", "writes"]

WARMUPS = (
    "What do you do on a typical weekday?",
    "What matters most to you in life?",
    "What worries you most these days?",
)


def write_notes(
    engine: Engine, records: Sequence[dict[str, Any]], *, questions: Sequence[str] = WARMUPS, tries: int = 3, seed: int = 0,
    max_tokens: int = 40, on_done: Callable[[int], None] | None = None,
) -> list[list[dict[str, str]]]:
    """Each record's checked answers to `questions` (a question whose every candidate
    contradicted the record is left out of that record's notes); `on_done(n)` as answers
    are finished (a progress bar)."""
    asks = [(r, f"{persona_prefix(_bare(r))}\nInterviewer: {q}\nRespondent:") for r in records for q in questions]
    answers = first_fitting(engine, asks, tries=tries, seed=seed, max_tokens=max_tokens, on_done=on_done)
    out: list[list[dict[str, str]]] = []
    for i in range(len(records)):
        mine = answers[i * len(questions) : (i + 1) * len(questions)]
        out.append([{"q": q, "a": tidy(a)} for q, a in zip(questions, mine) if a is not None])
    return out


def tidy(answer: str) -> str:
    """Whole sentences, each once: "I work. I work. I am the" -> "I work." (a text with no
    sentence end is kept as it is)."""
    sentences = re.split(r"(?<=[.!?])\s+", answer.strip())
    if len(sentences) > 1 and not re.search(r"[.!?][\"')]?$", sentences[-1]):
        sentences = sentences[:-1]  # cut off by the token limit
    seen: list[str] = []
    for s in sentences:
        if s not in seen:
            seen.append(s)
    return " ".join(seen)


def enrich(
    engine: Engine, records: Sequence[dict[str, Any]], *, backstory: bool = False, notes: bool = False, seed: int = 0,
    on_done: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Write checked backstories and/or interview notes into `records` (in place, notes after
    the backstory they can then build on); how many backstories and warm-up answers were
    kept. `on_done(n)` as they are written: `writes(len(records), backstory, notes)` in all."""
    stories = kept = 0
    if backstory:
        for r, story in zip(records, write_backstories(engine, records, seed=seed, on_done=on_done)):
            if story is not None:
                r["backstory"] = story
                stories += 1
    if notes:
        for r, written in zip(records, write_notes(engine, records, seed=seed, on_done=on_done)):
            r["notes"] = written
            kept += len(written)
    return stories, kept


def writes(personas: int, backstory: bool, notes: bool) -> int:
    """How many texts `enrich` writes (a progress bar's total)."""
    return personas * (int(backstory) + len(WARMUPS) * int(notes))


def check_notes(value: Any, where: str) -> list[dict[str, str]]:
    """A record's "notes" as read from a file: a list of {"q": str, "a": str}."""
    if not isinstance(value, list) or not all(
        isinstance(n, dict) and isinstance(n.get("q"), str) and isinstance(n.get("a"), str) for n in value
    ):
        raise InvalidInput(f'{where}: "notes" must be a list of {{"q": question, "a": answer}} objects')
    return value


def _bare(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "notes"}
