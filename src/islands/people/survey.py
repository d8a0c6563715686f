"""Surveys on disk: personas from a JSONL file, answers appended to a JSONL file as they
come, so a killed run continues where it stopped and nothing is answered twice.

    run_survey(engine, load_personas("people.jsonl"), load_questions("q.yaml"), Path("out.jsonl"))

Each answer line: {"persona": ID, "question": QID, "kind", "answer", "probs"?, "logprobs"?,
"record": {the persona}} (plus "variant" in A/B runs). On resume a last line cut off by the
kill is dropped; any other unreadable line is an error (the file is left as it was).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.files import read_input
from islands.people.interview import Answer, Job, interview
from islands.people.notes import check_notes
from islands.people.persona import persona_prefix
from islands.people.questions import Question

__all__ = ["ResultsFile", "load_personas", "read_results", "run_survey"]

Record = dict[str, Any]


def load_personas(path: str | Path) -> list[Record]:
    """Persona records, one JSON object a line, each with a unique "id"."""
    p = Path(path)
    where = f"population file {p}"
    lines = read_input(p, where).splitlines()
    out: list[Record] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            raise InvalidInput(
                f"{where} line {n} is not JSON (expected one persona object a line, as `islands people sample` writes)"
            ) from None
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
            raise InvalidInput(f'{where} line {n}: a persona must be an object with a string "id"')
        if "notes" in rec:
            check_notes(rec["notes"], f"{where} line {n}")
        if rec["id"] in seen:
            raise InvalidInput(f"{where} line {n}: persona id {rec['id']!r} repeats")
        seen.add(rec["id"])
        out.append(rec)
    if not out:
        raise InvalidInput(f"{where} has no personas")
    return out


def read_results(path: str | Path, *, resume: bool = False) -> list[Record]:
    """The answer lines of a results file (with `resume`, a cut-off last line is ignored)."""
    p = Path(path)
    text = read_input(p, f"results file {p}")
    lines = text.split("\n")
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if resume and n == len(lines):  # the last line, cut off by a kill
                break
            raise InvalidInput(f"results file {p} line {n} is not JSON") from None
        if not isinstance(row, dict) or "persona" not in row or "question" not in row:
            raise InvalidInput(f"results file {p} line {n} is not an answer (no persona/question)")
        rows.append(row)
    return rows


class ResultsFile:
    """An append-only JSONL of answers; `done` holds the (persona, question) pairs in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: set[tuple[str, str]] = set()
        self._good_bytes = 0
        if path.exists():
            rows = read_results(path, resume=True)
            self.done = {(str(r["persona"]), str(r["question"])) for r in rows}
            data = path.read_bytes()
            self._good_bytes = data.rfind(b"\n") + 1  # drop a cut-off last line
        elif not path.parent.is_dir():
            raise InvalidInput(f"cannot write {path}: folder {path.parent} does not exist")
        self._file: Any = None

    def append(self, row: Record) -> None:
        if self._file is None:
            try:
                if self.path.exists():
                    os.truncate(self.path, self._good_bytes)
                self._file = self.path.open("a", encoding="utf-8")
            except OSError as e:
                raise InvalidInput(f"cannot write {self.path}: {e.strerror}") from None
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._file.flush()
        self.done.add((str(row["persona"]), str(row["question"])))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def run_survey(
    engine: Engine,
    personas: Sequence[Record],
    questions: Sequence[Question],
    out: Path,
    *,
    seed: int = 0,
    wave: int = 32,
    on_answer: Callable[[Answer], None] | None = None,
    prefix: Callable[[Record], str] = persona_prefix,
) -> tuple[int, int]:
    """Ask what `out` does not hold yet; returns (answers written now, answers already there)."""
    results = ResultsFile(out)
    before = len(results.done)
    jobs = []
    for p in personas:
        todo = [q for q in questions if (p["id"], q.id) not in results.done]
        if todo:
            jobs.append(Job(p["id"], prefix(p), todo, {"record": p}))
    written = 0

    def write(a: Answer) -> None:
        nonlocal written
        results.append(a.row())
        written += 1
        if on_answer is not None:
            on_answer(a)

    try:
        interview(engine, jobs, seed=seed, wave=wave, on_answer=write)
    finally:
        results.close()
    return written, before
