"""Questions of a survey: choice (Likert included), numeric and open text, read from a JSON
or YAML file, or from a GSS-style item file (gss_dev.json).

    {"questions": [
      {"id": "HAPPY", "type": "choice", "text": "Taken all together, ...?",
       "options": ["very happy", "pretty happy", "not too happy"]},
      {"id": "PRICE", "type": "numeric", "text": "How many dollars would you pay for it?", "min": 0, "max": 1000},
      {"id": "WHY", "type": "open", "text": "Why?", "max_tokens": 40}]}

A GSS file (an object of items with `question_wording` and `response_categories`) becomes
one choice question per item. What it leaves out: skip logic and multi-select questions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from islands.errors import InvalidInput
from islands.files import read_input

__all__ = ["KINDS", "Question", "load_questions", "questions_from_doc", "questions_from_gss"]

KINDS = ("choice", "numeric", "open")


@dataclass(frozen=True)
class Question:
    """One question; `options` for choice questions, `low`/`high` bounds for numeric ones."""

    id: str
    kind: str
    text: str
    options: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    max_tokens: int = 32

    def prompt(self) -> str:
        """The interviewer's turn and the start of the respondent's, after a persona prefix."""
        listed = f"\n(Answer with one of: {'; '.join(self.options)}.)" if self.kind == "choice" else ""
        hint = "\n(Answer with a number.)" if self.kind == "numeric" else ""
        return f"\nInterviewer: {self.text.strip()}{listed}{hint}\nRespondent:"

    def with_text(self, text: str, id: str | None = None) -> Question:
        return Question(id or self.id, self.kind, text, self.options, self.low, self.high, self.max_tokens)


def _question(raw: Any, where: str) -> Question:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: each question must be an object")
    qid, kind, text = raw.get("id"), raw.get("type", "choice"), raw.get("text")
    if not isinstance(qid, str) or not qid.strip():
        raise InvalidInput(f'{where}: a question has no "id"')
    if kind not in KINDS:
        raise InvalidInput(f"{where}: question {qid!r} has type {kind!r}; choose {', '.join(KINDS)}")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f'{where}: question {qid!r} has no "text"')
    options = raw.get("options", [])
    if kind == "choice":
        if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) and o.strip() for o in options):
            raise InvalidInput(f'{where}: choice question {qid!r} needs "options": at least two non-empty strings')
        if len(set(options)) != len(options):
            raise InvalidInput(f"{where}: choice question {qid!r} repeats an option")
    max_tokens = raw.get("max_tokens", 32)
    if not isinstance(max_tokens, int) or not 1 <= max_tokens <= 512:
        raise InvalidInput(f"{where}: question {qid!r}: max_tokens must be an integer from 1 to 512")
    low, high = raw.get("min"), raw.get("max")
    for b in (low, high):
        if b is not None and (not isinstance(b, int | float) or isinstance(b, bool)):
            raise InvalidInput(f"{where}: question {qid!r}: min and max must be numbers")
    return Question(qid, kind, text, tuple(o.strip() for o in options) if kind == "choice" else (), low, high, max_tokens)


def questions_from_gss(doc: dict[str, Any]) -> list[Question]:
    """One choice question per GSS item (keys not starting with "_")."""
    out = []
    for key, item in doc.items():
        if key.startswith("_"):
            continue
        if not isinstance(item, dict) or "question_wording" not in item or "response_categories" not in item:
            raise InvalidInput(f"GSS item {key!r} needs question_wording and response_categories")
        out.append(
            _question(
                {"id": key, "type": "choice", "text": item["question_wording"], "options": item["response_categories"]}, f"GSS item {key}"
            )
        )
    return out


def questions_from_doc(doc: Any, where: str) -> list[Question]:
    if isinstance(doc, dict) and "questions" in doc:
        raw = doc["questions"]
        if not isinstance(raw, list) or not raw:
            raise InvalidInput(f'{where}: "questions" must be a non-empty list')
        qs = [_question(r, where) for r in raw]
    elif isinstance(doc, dict) and any(isinstance(v, dict) and "question_wording" in v for v in doc.values()):
        qs = questions_from_gss(doc)
    else:
        raise InvalidInput(f'{where}: expected {{"questions": [...]}} or a GSS item file')
    ids = [q.id for q in qs]
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"{where}: question ids repeat")
    return qs


def load_questions(path: str | Path) -> list[Question]:
    p = Path(path)
    where = f"questions file {p}"
    text = read_input(p, where)
    try:
        doc = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise InvalidInput(f"{where} is not valid {'JSON' if p.suffix == '.json' else 'YAML'}: {str(e).splitlines()[0]}") from None
    return questions_from_doc(doc, where)
