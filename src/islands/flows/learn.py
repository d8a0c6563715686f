"""Learn a task from a few examples, then answer new questions of it.

"Load thought structure from memory, fill the structure with information from memory": a
task's examples (questions with known answers) are searched for solutions whose EXECUTED
result equals each known answer:

1. every structure of the library (flows/library.py: general programs over `question`) runs
   on every example in the sandbox; those that reproduce all of them are kept;
2. the model proposes solutions for each example (CALC/PY calls, shown the nearest
   demonstrations): fanned-out candidates at several temperatures, each call executed, and
   a candidate kept when its answer slot copied a result equal to the known answer — the
   search moves on from the ones that do not.

The kept structures and solutions are the task's thought structures (`Learned`; stored in
the memory store by the caller: flows/book.py). For a new question (`solve`) the kept
structures run first; when none of them understands it, `ask` answers with the kept
solutions as its nearest demonstrations; with options, a computed answer picks its option
and otherwise the model's likeliest option wins.

    learned = learn(engine, "navigate", lessons)
    solve(engine, question, learned=learned, choices=[...]).answer

What it leaves out: inventing new structures (the 270M model cannot write a parser; it
adapts demonstrations), and tuning beyond choosing among what the examples verified.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from islands.engine import Stats
from islands.engine.protocol import Generator, require
from islands.errors import InvalidInput
from islands.flows.ask import AskResult, Candidate, ask
from islands.flows.choices import pick_choice, score_options
from islands.flows.demos import Demo
from islands.flows.library import Structure, answers_of, load_library, run_structure
from islands.flows.verify import normalize_answer
from islands.tools import Span

__all__ = ["Learned", "Lesson", "Solution", "learn", "solve"]

Say = Callable[[str], None]


@dataclass(frozen=True)
class Lesson:
    """An example to learn from: a question, its accepted answers, and options if any."""

    question: str
    answers: tuple[str, ...]
    choices: tuple[str, ...] | None = None
    context: str = ""  # what comes with every question of the task (an instruction, a table)

    @property
    def full(self) -> str:
        """The question with its context, for the model."""
        return f"{self.context.strip()}\n\n{self.question}" if self.context.strip() else self.question

    def accepts(self, answer: str | None) -> bool:
        """Does `answer` (a program's or the model's) count as right for this lesson?"""
        if answer is None:
            return False
        if self.choices is not None:
            i = pick_choice(answer, self.choices, nearest=False)
            return i is not None and self.choices[i] in self.answers
        got = normalize_answer(answer)
        return any(got == normalize_answer(a) for a in self.answers)


@dataclass
class Solution:
    """A structure kept for the task: its program and how many lessons it reproduced."""

    name: str
    program: str
    solved: int
    inputs: tuple[str, ...] = ("question", "choices")


@dataclass
class Learned:
    """What learning a task kept: structures that reproduce the lessons, and the model's
    verified solutions as demonstrations."""

    task: str
    lessons: int
    structures: list[Solution] = field(default_factory=list)
    demos: list[Demo] = field(default_factory=list)
    tried: dict[str, int] = field(default_factory=dict)  # structure -> lessons it reproduced
    seconds: float = 0.0
    context: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Learned:
        return cls(
            doc["task"], int(doc["lessons"]),
            [Solution(s["name"], s["program"], int(s["solved"]), tuple(s.get("inputs", ("question", "choices"))))
             for s in doc.get("structures", [])],
            [Demo(d["question"], d["solution"]) for d in doc.get("demos", [])],
            dict(doc.get("tried", {})), float(doc.get("seconds", 0.0)), str(doc.get("context", "")),
        )


def _structure(solution: Solution) -> Structure:
    return Structure(solution.name, "", solution.program, inputs=solution.inputs)


def learn(
    engine: Generator,
    task: str,
    lessons: Sequence[Lesson],
    *,
    library: Sequence[Structure] | None = None,
    propose: int = 4,
    vocabulary: list[str] | None = None,
    say: Say = lambda _msg: None,
) -> Learned:
    """Search for structures and solutions that reproduce every lesson (see the module)."""
    if not lessons:
        raise InvalidInput(f"no examples to learn {task!r} from")
    t0 = time.perf_counter()
    learned = Learned(task, len(lessons), context=lessons[0].context)
    cases = [(lesson.question, lesson.choices) for lesson in lessons]
    for structure in library if library is not None else load_library():
        if "vocabulary" in structure.inputs and not vocabulary:
            continue
        say(f"trying structure {structure.name}")
        results = run_structure(structure, cases, {"vocabulary": vocabulary or []},
                                contexts=[lesson.context for lesson in lessons])  # each its own instruction
        solved = sum(_reproduces(lesson, answers_of(r)) for lesson, r in zip(lessons, results))
        learned.tried[structure.name] = solved
        if solved == len(lessons):
            learned.structures.append(Solution(structure.name, structure.program, solved, structure.inputs))
    if propose > 0:
        for i, lesson in enumerate(lessons):
            say(f"the model proposes solutions for example {i + 1}/{len(lessons)}")
            result = ask(engine, lesson.full, n=propose, choices=None, task_demos=learned.demos, seed=11 + i)
            demo = _verified_demo(lesson, result.candidates)
            if demo is not None:
                learned.demos.append(demo)
    learned.seconds = round(time.perf_counter() - t0, 3)
    return learned


def _reproduces(lesson: Lesson, candidates: list[str]) -> bool:
    """A structure reproduces a lesson when its answer is right; a list of candidates must
    hold the right answer (the model chooses among them later)."""
    return any(lesson.accepts(c) for c in candidates)


def _verified_demo(lesson: Lesson, candidates: list[Candidate]) -> Demo | None:
    """The first candidate whose copied result is a right answer, as a demonstration."""
    for c in candidates:
        if c.computed and lesson.accepts(c.answer):
            slot = next(s for s in c.spans if s.answer)
            return Demo(lesson.full, c.text[: slot.end].strip())
    return None


@dataclass
class Solved(AskResult):
    """`solve`'s answer: an AskResult, with the structure that gave it (if one did)."""

    structure: str | None = None


def solve(
    engine: Generator,
    question: str,
    *,
    learned: Learned | None = None,
    choices: Sequence[str] | None = None,
    vocabulary: list[str] | None = None,
    shots_prompt: str | None = None,
    context: str | None = None,
    n: int = 6,
) -> Solved:
    """Answer with the learned structures first, then `ask` with the learned demonstrations.
    `shots_prompt` (the task's few-shot prompt up to the answer) is where options and
    candidates are scored by the model."""
    if not question.strip():
        raise InvalidInput("question is empty")
    if choices is not None or (learned is not None and learned.structures):
        require(engine, "score")  # options and structures' candidates are scored by log-likelihood
    t0 = time.perf_counter()
    context = context if context is not None else (learned.context if learned is not None else "")
    if learned is not None and learned.structures:
        done = _by_structures(engine, question, learned, choices, vocabulary, shots_prompt, context)
        if done is not None:
            done.stats.seconds = time.perf_counter() - t0
            return done
    demos = learned.demos if learned is not None else []
    full = f"{context.strip()}\n\n{question}" if context.strip() else question
    result = ask(engine, full, n=n, choices=choices, task_demos=demos, choice_prefix=shots_prompt)
    return Solved(**vars(result))


def _by_structures(
    engine: Generator, question: str, learned: Learned, choices: Sequence[str] | None,
    vocabulary: list[str] | None, shots_prompt: str | None, context: str,
) -> Solved | None:
    """Run every kept structure; the answer most of them (weighted by lessons solved) give."""
    weights: Counter[str] = Counter()
    agreeing: Counter[str] = Counter()  # structures (distinct programs) per answer
    texts: dict[str, str] = {}
    first: dict[str, str] = {}
    pools: list[list[str]] = []
    for solution in learned.structures:
        extra = {"vocabulary": vocabulary or [], "context": context}
        (result,) = run_structure(_structure(solution), [(question, choices)], extra)
        candidates = answers_of(result)
        if not candidates:
            continue
        if len(candidates) > 1:  # several candidates: the model chooses below
            pools.append(candidates)
            continue
        key = normalize_answer(candidates[0]) or ""
        weights[key] += solution.solved
        agreeing[key] += 1
        texts.setdefault(key, candidates[0])
        first.setdefault(key, solution.name)
    if not weights and pools:
        pool = list(dict.fromkeys(c for p in pools for c in p))
        prefix = shots_prompt if shots_prompt is not None else f"Q: {question.strip()}\nA:"
        scores = score_options(engine, prefix, [" " + c for c in pool])
        best = max(range(len(pool)), key=scores.__getitem__)
        key = normalize_answer(pool[best]) or ""
        weights[key] += 1
        texts[key] = pool[best]
        first[key] = next(s.name for s in learned.structures)
    if not weights:
        return None
    (key, weight), *rest = weights.most_common()
    answer = texts[key]
    if choices is not None:
        picked = pick_choice(answer, choices)
        if picked is None:
            return None  # the structures' answer names no option: let the model choose
        answer = choices[picked]
    margin = float(weight - (rest[0][1] if rest else 0))
    span = Span(0, len(answer), "hard", "structure", first[key], texts[key], None, False, 0, ref=0, answer=True)
    candidate = Candidate(0, 0.0, answer, answer, "island", "", 1, [span])
    # verified as `ask` means it: two different programs (structures) computed the answer
    return Solved(question, answer, agreeing[key] >= 2, True, margin, "structure", [candidate],
                  {k: float(v) for k, v in weights.items()}, Stats(), structure=first[key])
