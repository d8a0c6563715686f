"""Task files: examples as plain JSONL, how a family formats its prompts, and scoring.

One example per line; `choices` only for multiple choice (then `answer` is one of them)::

    {"question": "What is 17 plus 25?", "answer": "42"}
    {"question": "The word hte is a scrambled version of the English word", "answer": ["the"]}
    {"question": "Is the sea wet?", "answer": "yes", "choices": ["yes", "no"]}

`answer` is a string or a list of accepted strings; other keys (`subtask`, `id`, ...) are
kept or ignored. A file is multiple choice when every line has `choices`, exact match when
none has. Beside `NAME.jsonl`, an optional `NAME.json` says how prompts are built (the
BIG-bench fields: task prefix, input/output/choice prefixes, few-shot separator, output
regex, stop string); without it, prompts are `Q: ...\\nA: ...` separated by a blank line.

    task = load_task(Path("mine.jsonl"))
    task.prompt(task.examples[3], shots=task.examples[:3])     # few-shot text, BIG-bench style
    task.is_correct("The answer is 42.", task.examples[3])     # regex, then normalized match

What it leaves out: generative metrics other than exact match (BLEU, ROUGE), and partial
credit (a multiple-choice option is right or wrong).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from islands.errors import InvalidInput
from islands.files import write_jsonl

__all__ = [
    "CHOICE",
    "EXACT",
    "Example",
    "Format",
    "Metric",
    "Task",
    "exact_match",
    "extract",
    "load_task",
    "matching_choice",
    "normalize",
    "read_examples",
    "write_task",
]

Metric = Literal["exact_match", "multiple_choice"]
EXACT: Metric = "exact_match"
CHOICE: Metric = "multiple_choice"


@dataclass(frozen=True)
class Example:
    """One question. `answers` are the accepted targets (for multiple choice: the correct
    options); `choices` are all options, or None for free answers."""

    question: str
    answers: tuple[str, ...]
    choices: tuple[str, ...] | None = None
    subtask: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"question": self.question,
                               "answer": self.answers[0] if len(self.answers) == 1 else list(self.answers)}
        if self.choices is not None:
            doc["choices"] = list(self.choices)
        if self.subtask is not None:
            doc["subtask"] = self.subtask
        return doc


@dataclass(frozen=True)
class Format:
    """How a family's prompts are built (BIG-bench's json_task fields, same meaning)."""

    task_prefix: str = ""
    input_prefix: str = "Q: "
    output_prefix: str = "\nA: "
    separator: str = "\n\n"  # between few-shot examples
    choice_prefix: str = "\n  choice: "
    append_choices: bool = True  # list the options in the prompt (multiple choice)
    output_regex: str | None = None  # the answer is the first match in the output
    stop_string: str | None = None  # the output ends at the first one

    @classmethod
    def from_json(cls, doc: dict[str, Any], where: str) -> Format:
        if not isinstance(doc, dict):
            raise InvalidInput(f"{where}: a format must be a JSON object")
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(doc) - known)
        if bad:
            raise InvalidInput(f"{where}: unknown format field {bad[0]!r}")
        for key, value in doc.items():
            want = bool if key == "append_choices" else str
            if not (isinstance(value, want) or (value is None and key in ("output_regex", "stop_string"))):
                raise InvalidInput(f"{where}: format field {key!r} must be {want.__name__}, not {value!r}")
        fmt = cls(**doc)
        if fmt.output_regex is not None:
            try:
                re.compile(fmt.output_regex)
            except re.error as e:
                raise InvalidInput(f"{where}: invalid output_regex {fmt.output_regex!r}: {e}") from None
        return fmt


_PUNCT_SPACE = re.compile(r"\s*([^\w\s])\s*")


def normalize(text: str) -> str:
    """Case, spacing and a final period do not count:
    `" The Answer is (4, 3). "` -> `"the answer is(4,3)"`, `"] }"` -> `"]}"`, `"240 %"` -> `"240%"`."""
    text = _PUNCT_SPACE.sub(r"\1", " ".join(text.casefold().split()))
    return text.rstrip(".").strip()


def extract(output: str, fmt: Format) -> str:
    """BIG-bench's post-processing of a generated answer: cut after the stop string, then
    keep the first match of the output regex ("" when none): `"= 42. 7*7 = 49"`, `[-+]?\\d+` -> `"42"`."""
    if fmt.stop_string:
        at = output.find(fmt.stop_string)
        if at > 0:
            output = output[: at + len(fmt.stop_string)]
    if fmt.output_regex:
        found = re.findall(fmt.output_regex, output)
        output = found[0] if found else ""
        if isinstance(output, tuple):  # a regex with several groups: the whole first match
            output = next(x for x in output if x) if any(output) else ""
    return output


def exact_match(output: str, answers: Iterable[str], fmt: Format | None = None) -> bool:
    """Does the (extracted, normalized) output equal one accepted answer?"""
    got = normalize(extract(output, fmt) if fmt is not None else output)
    return any(got == normalize(a) for a in answers)


def matching_choice(output: str, choices: Sequence[str]) -> int | None:
    """The option the output names (normalized equality), or None: `"blue ball"` in
    `["orange ball.", "blue ball."]` -> 1."""
    got = normalize(output)
    for i, choice in enumerate(choices):
        if normalize(choice) == got:
            return i
    return None


@dataclass(frozen=True)
class Task:
    """A family of examples, scored one way. `formats` holds a subtask's own format where
    it differs from the family's (BIG-bench subtasks each have their task.json)."""

    name: str
    examples: tuple[Example, ...]
    metric: Metric = EXACT
    format: Format = field(default_factory=Format)
    source: str = ""
    formats: Mapping[str, Format] = field(default_factory=dict)

    def format_of(self, example: Example) -> Format:
        return self.formats.get(example.subtask or "", self.format)

    def render(self, example: Example) -> str:
        """One example's input as BIG-bench formats it (input prefix, options, output prefix)."""
        fmt = self.format_of(example)
        text = example.question
        if self.metric == CHOICE and fmt.append_choices and example.choices:
            # BIG-bench lists the options in one order per option count: numpy's
            # RandomState(42).permutation of the sorted options
            order = np.random.RandomState(seed=42).permutation(sorted(example.choices))
            text += fmt.choice_prefix + fmt.choice_prefix.join(str(c) for c in order)
        return fmt.input_prefix + text + fmt.output_prefix

    def prompt(self, example: Example, shots: Sequence[Example] = ()) -> str:
        """The task prefix, each shot with its answer, then the example, joined by the
        separator. Shots from subtasks with another format carry their own task prefix."""
        fmt = self.format_of(example)
        shared = all(self.format_of(s) == fmt for s in shots)

        def head(e: Example) -> str:
            return "" if shared else self.format_of(e).task_prefix

        parts = [head(s) + self.render(s) + s.answers[0] for s in shots] + [head(example) + self.render(example)]
        return (fmt.task_prefix if shared else "") + fmt.separator.join(parts)

    def standalone(self, example: Example) -> str:
        """The question as one self-contained text for a solver that brings its own
        prompt: the task prefix, the input, and the options (one per line)."""
        parts = [self.format_of(example).task_prefix.strip(), example.question.strip()]
        if self.metric == CHOICE and example.choices:
            parts.append("Options:\n" + "\n".join(f"- {c}" for c in example.choices))
        return "\n\n".join(p for p in parts if p)

    def is_correct(self, output: str, example: Example) -> bool:
        """Multiple choice: the output names a correct option. Exact match: the extracted
        output equals an accepted answer (both normalized)."""
        if self.metric == CHOICE:
            assert example.choices is not None
            i = matching_choice(output, example.choices)
            return i is not None and example.choices[i] in example.answers
        return exact_match(output, example.answers, self.format_of(example))


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _example(doc: Any, where: str) -> Example:
    if not isinstance(doc, dict):
        raise InvalidInput(f"{where}: expected a JSON object, got {type(doc).__name__}")
    question = doc.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput(f"{where}: 'question' must be a non-empty string")
    if "answer" not in doc:
        raise InvalidInput(f"{where}: missing 'answer'")
    answers = _strings(doc["answer"])
    if answers is None:
        raise InvalidInput(f"{where}: 'answer' must be a string or a non-empty list of strings")
    choices = None
    if "choices" in doc:
        choices = _strings(doc["choices"])
        if choices is None or len(choices) < 2:
            raise InvalidInput(f"{where}: 'choices' must be a list of at least 2 strings")
        wrong = [a for a in answers if a not in choices]
        if wrong:
            raise InvalidInput(f"{where}: answer {wrong[0]!r} is not one of the choices")
    subtask = doc.get("subtask")
    return Example(question, answers, choices, subtask if isinstance(subtask, str) else None)


def read_examples(path: Path) -> list[Example]:
    """Every example of a JSONL file; InvalidInput names the file and line of the first bad one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"no such task file: {path}") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a folder, not a task file") from None
    except UnicodeDecodeError as e:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e.strerror}") from None
    out: list[Example] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"{path} line {number}: not JSON ({e.msg} at column {e.colno})") from None
        out.append(_example(doc, f"{path} line {number}"))
    if not out:
        raise InvalidInput(f"{path} holds no examples")
    kinds = {e.choices is not None for e in out}
    if len(kinds) > 1:
        first = next(i for i, e in enumerate(out, 1) if (e.choices is None) != (out[0].choices is None))
        raise InvalidInput(f"{path}: example {first} {'lacks' if out[0].choices else 'has'} 'choices' "
                           f"unlike example 1 (a file is all multiple choice or none)")
    return out


def load_task(path: Path, name: str | None = None) -> Task:
    """The task in `path` (JSONL), formatted by `path` with suffix .json when that exists."""
    examples = read_examples(path)
    metric: Metric = CHOICE if examples[0].choices is not None else EXACT
    fmt, source = Format(), str(path)
    formats: dict[str, Format] = {}
    meta_path = path.with_suffix(".json")
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InvalidInput(f"{meta_path}: not JSON ({e})") from None
        if not isinstance(meta, dict):
            raise InvalidInput(f"{meta_path}: expected a JSON object")
        fmt = Format.from_json(meta.get("format", {}), str(meta_path))
        subs = meta.get("formats", {})
        if not isinstance(subs, dict):
            raise InvalidInput(f"{meta_path}: 'formats' must map subtask names to formats")
        formats = {k: Format.from_json(v, f"{meta_path} subtask {k!r}") for k, v in subs.items()}
        if meta.get("metric", metric) != metric:
            raise InvalidInput(f"{meta_path}: metric {meta['metric']!r} does not fit the examples ({metric})")
        source = str(meta.get("source", source))
    return Task(name or path.stem, tuple(examples), metric, fmt, source, formats)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise InvalidInput(f"cannot write {path}: {e.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_task(task: Task, folder: Path, extra: dict[str, Any] | None = None) -> Path:
    """`folder/NAME.jsonl` and its `NAME.json` (metric, format, source), each all or nothing."""
    path = folder / f"{task.name}.jsonl"
    write_jsonl(path, (e.to_json() for e in task.examples), what="task")
    meta = {"name": task.name, "metric": task.metric, "format": asdict(task.format), "source": task.source,
            "examples": len(task.examples), **(extra or {})}
    if task.formats:
        meta["formats"] = {k: asdict(v) for k, v in task.formats.items()}
    _write_json(path.with_suffix(".json"), meta)
    return path
