"""The library of thought structures: general programs that answer a kind of question.

A thought structure is data (`flows/structures/*.yaml`, or a folder of your own): a name, a
one-line summary (what retrieval matches questions against), and a Python program that
reads `question` (and `choices`, for multiple choice) and ends in an expression: the answer.
A program refuses what it does not understand by raising, so structures can be tried on
any question. The answer may be a list: candidates for the model to choose among. A
structure that needs more than the question names it in `inputs`: `vocabulary` is the list
of lower-case words the model's tokenizer holds (for anagrams, spelling), most common first.
`context` (always bound, "" when none) is text that comes with every question of a task —
an instruction, a table the questions ask about.

    name: close_brackets
    summary: Close the brackets left open in a sequence of ( [ { < symbols.
    program: |
      ...
      " ".join(closers)
    examples:                       # each one is a test: the program must give `answer`
      - {question: "[ ( <", answer: "> ) ]"}
    rejects: ["What is 2 plus 2?"]  # and must refuse these

`learn` (flows/learn.py) tries the library on a task's examples and keeps what reproduces
them; the tests run every structure's examples and rejects.

What it leaves out: running programs (tools/programs.py runs them in the sandbox).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.tools.programs import ProgramResult, run_program

__all__ = ["Structure", "StructureExample", "answers_of", "load_library", "model_vocabulary", "read_structure",
           "run_structure"]

_FIELDS = {"name", "summary", "program", "inputs", "examples", "rejects"}
INPUTS = ("question", "choices", "context", "vocabulary")  # what a program may read


@dataclass(frozen=True)
class StructureExample:
    question: str
    answer: str
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Structure:
    """A general program for a kind of question (see the module docstring)."""

    name: str
    summary: str
    program: str
    examples: tuple[StructureExample, ...] = ()
    rejects: tuple[str, ...] = ()
    source: str = ""
    inputs: tuple[str, ...] = field(default=("question", "choices"))

    def bindings(self, question: str, choices: Sequence[str] | None = None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"question": question, "choices": list(choices) if choices is not None else None,
                               "context": (extra or {}).get("context", "")}
        for name in self.inputs:
            if name not in out:
                if extra is None or name not in extra:
                    raise InvalidInput(f"structure {self.name} needs {name!r}, which was not given")
                out[name] = extra[name]
        return out


def _fail(where: str, why: str) -> InvalidInput:
    return InvalidInput(f"{where}: {why}")


def read_structure(text: str, where: str) -> Structure:
    """One structure from its YAML text; InvalidInput names the file and the problem."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise _fail(where, f"not YAML ({' '.join(str(e).split())[:120]})") from None
    if not isinstance(doc, dict):
        raise _fail(where, "a structure is a YAML mapping")
    unknown = sorted(set(doc) - _FIELDS)
    if unknown:
        raise _fail(where, f"unknown field {unknown[0]!r}")
    for key in ("name", "summary", "program"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise _fail(where, f"{key!r} must be a non-empty string")
    try:
        compile(doc["program"], where, "exec")
    except SyntaxError as e:
        raise _fail(where, f"program line {e.lineno}: {e.msg}") from None
    examples = []
    for i, ex in enumerate(doc.get("examples") or []):
        if not isinstance(ex, dict) or not isinstance(ex.get("question"), str) or "answer" not in ex:
            raise _fail(where, f"example {i + 1} needs a question and an answer")
        choices = ex.get("choices")
        if choices is not None and (not isinstance(choices, list) or not all(isinstance(c, str) for c in choices)):
            raise _fail(where, f"example {i + 1}: choices must be a list of strings")
        examples.append(StructureExample(ex["question"], str(ex["answer"]), tuple(choices) if choices else None))
    inputs = doc.get("inputs") or ["question", "choices"]
    if not isinstance(inputs, list) or not all(i in INPUTS for i in inputs):
        raise _fail(where, f"inputs must be a list of {', '.join(INPUTS)}")
    rejects = doc.get("rejects") or []
    if not isinstance(rejects, list) or not all(isinstance(r, str) for r in rejects):
        raise _fail(where, "rejects must be a list of questions")
    return Structure(doc["name"].strip(), " ".join(doc["summary"].split()), doc["program"], tuple(examples),
                     tuple(rejects), where, tuple(inputs))


def load_library(folder: Path | None = None) -> list[Structure]:
    """The structures islands ships (or those in `folder`), sorted by name."""
    if folder is None:
        root = resources.files("islands.flows") / "structures"
        items = [(p.name, p.read_text(encoding="utf-8")) for p in root.iterdir() if p.name.endswith(".yaml")]
    else:
        if not folder.is_dir():
            raise InvalidInput(f"no such structure folder: {folder}")
        items = [(p.name, p.read_text(encoding="utf-8")) for p in folder.glob("*.yaml")]
    library = [read_structure(text, name) for name, text in items]
    names = [s.name for s in library]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"two structures are named {dupes[0]!r}")
    return sorted(library, key=lambda s: s.name)


def answers_of(result: ProgramResult) -> list[str]:
    """A program's printed answer as candidates: a JSON/Python list prints as several."""
    if not result.ok or result.value is None:
        return []
    value = result.value
    if value.startswith("[") and value.endswith("]"):
        try:
            items = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            items = None
        if isinstance(items, list) and items and all(isinstance(x, str) for x in items):
            return [x for x in items if x]
    return [value]


def model_vocabulary(engine: Engine, limit: int = 60_000) -> list[str]:
    """The lower-case words the model's tokenizer holds as whole tokens (a leading space
    marks a word start), in token order (roughly most common first), at most `limit`."""
    words: dict[str, None] = {}
    for t in range(engine.model.n_vocab):
        piece = engine.model.piece(t)
        if piece[:1] != b" ":
            continue
        word = piece[1:].decode("utf-8", errors="ignore")
        if len(word) >= 2 and word.isascii() and word.isalpha() and word.islower():
            words[word] = None
            if len(words) >= limit:
                break
    return list(words)


def run_structure(
    structure: Structure, questions: Sequence[tuple[str, Sequence[str] | None]], extra: dict[str, Any] | None = None,
    contexts: Sequence[str] | None = None,
) -> list[ProgramResult]:
    """The structure's program on each (question, choices), in one sandbox; `extra` holds
    the other inputs it names (`vocabulary`, `context`); `contexts`, when given, is each
    question's own context (a task whose subtasks carry different instructions)."""
    if contexts is None:
        return run_program(structure.program, [structure.bindings(q, c, extra) for q, c in questions])
    bound = [structure.bindings(q, c, {**(extra or {}), "context": ctx}) for (q, c), ctx in zip(questions, contexts)]
    return run_program(structure.program, bound)
