"""The task benchmark: contenders answer each family's questions with the same engine, in
the same process. Per family the first 3 examples teach and the next N test.

    result = bench_tasks(engine, load_tasks("arithmetic,navigate"), n=25)
    result["families"]["navigate"]["accuracy"]   # {"bare": 0.48, "bare_loglik": 0.6, "islands": 0.2}

A contender is `make(engine, task, teach) -> answer(example) -> text` (or None where it does
not apply): `make` runs once per family (where `learn` would), `answer` once per question.

- **bare**: the model alone, the 3 teaching examples as plain few-shot in the family's own
  BIG-bench format, greedy, the answer is the first line.
- **bare_loglik** (multiple choice only): the model alone scores every option after the same
  few-shot prompt by its log-likelihood and picks the likeliest (BIG-bench's
  multiple_choice_grade, lm-eval's `acc`) — the strongest fair bare baseline there.
- **islands**: `islands_contender`, the one hook to swap: today `islands.flows.ask` on the
  question as a self-contained text.

What it leaves out: sampling-based baselines (self-consistency of the bare model) and
tuning anything on the test questions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.flows import ask
from islands.flows.choices import score_options
from islands.flows.learn import Learned, Lesson, learn, solve
from islands.flows.library import model_vocabulary
from islands.params import SamplingParams
from islands.tasks.data import CHOICE, Example, Task

__all__ = [
    "CONTENDERS",
    "WARM_QUESTIONS",
    "Answer",
    "Chosen",
    "Contender",
    "bare",
    "bare_loglik",
    "bench_tasks",
    "cold_ask_seconds",
    "islands_contender",
    "score_choices",
]

Answer = Callable[[Example], "str | None"]  # the answer's text; None: no answer
Contender = Callable[[Engine, Task, Sequence[Example]], "Answer | None"]  # None: does not apply to the task
Progress = Callable[[int, int, str], None]  # (done, total, what)

# the cold and warm `islands ask` timings (the issue's own questions)
WARM_QUESTIONS = ("What is 3 to the power 40?", "What is 987654321 multiplied by 123456789?")


def _spaceless(prompt: str) -> tuple[str, str]:
    """("...A:", " ") for "...A: ": the model writes the space itself, as it saw it in
    training (a trailing space tokenizes unlike ' word')."""
    head = prompt.rstrip(" ")
    return head, prompt[len(head):]


def bare(engine: Engine, task: Task, teach: Sequence[Example]) -> Answer:
    """The model alone: few-shot, greedy, the first line (or up to the family's separator,
    when that is not a line break: boolean_expressions' ` . `)."""

    def answer(example: Example) -> str:
        sep = task.format_of(example).separator
        params = SamplingParams(temperature=0, max_tokens=64, stop=("\n",) + ((sep,) if sep.strip() else ()))
        head, _ = _spaceless(task.prompt(example, teach))
        return engine.generate(head, params=params).text.strip()

    return answer


score_choices = score_options  # the batched scorer, kept under its old name (flows/choices.py)


def bare_loglik(engine: Engine, task: Task, teach: Sequence[Example]) -> Answer | None:
    """The model alone, multiple choice: the option with the highest total log-probability."""
    if task.metric != CHOICE:
        return None

    def answer(example: Example) -> str:
        assert example.choices is not None
        head, pad = _spaceless(task.prompt(example, teach))
        logprob = score_choices(engine, head, [pad + choice for choice in example.choices])
        return example.choices[max(range(len(logprob)), key=logprob.__getitem__)]

    return answer


def islands_contender(engine: Engine, task: Task, teach: Sequence[Example]) -> Answer:
    """islands: `learn` the task from the teaching examples, then answer with the method the
    teaching examples favour.

    - **structures**: when library structures reproduced every teaching example, `solve` runs
      them first (the model only picks among a structure's candidates);
    - otherwise each method answers every teaching example from the other ones (leave one
      out): **ask** (tool-using candidates shown the other examples' verified solutions),
      **bare** (few-shot in the family's format) and, for multiple choice, **loglik**. The one
      with the most right answers is used; a tie keeps the bare side (ask must show it helps).
    With ask, a question whose answer no program computed takes the bare method's answer
    (ask's uncomputed answers are the model guessing outside the family's format)."""
    vocabulary = model_vocabulary(engine)
    lessons = [Lesson(e.question, e.answers, e.choices, task.format_of(e).task_prefix) for e in teach]
    learned = learn(engine, task.name, lessons, vocabulary=vocabulary)
    fallback = bare_loglik(engine, task, teach) if task.metric == CHOICE else None
    fallback = fallback or bare(engine, task, teach)

    def by_ask(example: Example, shots: Sequence[Example], book: Learned, plain: Answer) -> str | None:
        head, _ = _spaceless(task.prompt(example, shots))
        result = solve(engine, example.question, learned=book, choices=example.choices, vocabulary=vocabulary,
                       shots_prompt=head, context=task.format_of(example).task_prefix)
        if result.computed or result.method == "choice-loglik":
            return result.answer
        return plain(example)

    if learned.structures:
        method = "structures"
    else:
        tally: dict[str, int] = {"bare": 0, "loglik": 0, "ask": 0}
        for i, example in enumerate(teach):
            others = [*teach[:i], *teach[i + 1:]]
            plain = bare(engine, task, others)
            tally["bare"] += task.is_correct(plain(example) or "", example)
            if task.metric == CHOICE:
                scored = bare_loglik(engine, task, others)
                tally["loglik"] += scored is not None and task.is_correct(scored(example) or "", example)
            book = Learned.from_json(learned.to_json())
            book.demos = [d for d in book.demos if d.question != lessons[i].full]  # not its own solution
            tally["ask"] += task.is_correct(by_ask(example, others, book, plain) or "", example)
        side = "loglik" if task.metric == CHOICE and tally["loglik"] >= tally["bare"] else "bare"
        method = "ask" if tally["ask"] > tally[side] else side

    def answer(example: Example) -> str | None:
        if method in ("bare", "loglik"):
            return fallback(example)
        return by_ask(example, teach, learned, fallback)

    return Chosen(method, answer)


@dataclass(frozen=True)
class Chosen:
    """An answer function that says which method a contender chose for the task."""

    method: str
    run: Answer

    def __call__(self, example: Example) -> str | None:
        return self.run(example)


CONTENDERS: dict[str, Contender] = {"bare": bare, "bare_loglik": bare_loglik, "islands": islands_contender}


def cold_ask_seconds(question: str = WARM_QUESTIONS[0], model: str | Path | None = None,
                     timeout: float = 600) -> float | None:
    """Wall seconds of `islands ask QUESTION --json` in a new process (None if it failed)."""
    cmd = [sys.executable, "-m", "islands", "ask", question, "--json"] + (["--model", str(model)] if model else [])
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return round(time.perf_counter() - t0, 2) if done.returncode == 0 else None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def bench_tasks(
    engine: Engine,
    tasks: Sequence[Task],
    *,
    n: int = 50,
    teach: int = 3,
    contenders: Mapping[str, Contender] | None = None,
    progress: Progress = lambda _done, _total, _what: None,
    cold: Callable[[], float | None] | None = None,
    details: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Accuracy and seconds per question of each contender on each task, the means, and
    `islands ask` wall times: `cold` (a new process, when given) and warm (this process)."""
    if n < 1:
        raise InvalidInput(f"invalid n={n}: test at least 1 question per task")
    chosen = dict(CONTENDERS if contenders is None else contenders)
    if not chosen:
        raise InvalidInput("no contenders")
    for task in tasks:
        if len(task.examples) < teach + 1:
            raise InvalidInput(f"task {task.name!r} has {len(task.examples)} examples: it needs {teach} to teach "
                               f"and at least 1 to test")
    total = sum(min(n, len(t.examples) - teach) for t in tasks) * len(chosen)
    done = 0
    families: dict[str, Any] = {}
    seconds = {name: 0.0 for name in chosen}
    asked = {name: 0 for name in chosen}
    for task in tasks:
        shots, tests = task.examples[:teach], task.examples[teach:teach + n]
        accuracy: dict[str, float | None] = {}
        per_question: dict[str, float | None] = {}
        methods: dict[str, str] = {}  # what a contender chose for this task (islands: structures, ask, bare, loglik)
        for name, make in chosen.items():
            engine.clear_cache()  # each contender pays for its own prompts
            t0 = time.perf_counter()
            answer = make(engine, task, shots)
            if answer is None:
                accuracy[name] = per_question[name] = None
                done += len(tests)
                progress(done, total, f"{task.name}: {name} does not apply")
                continue
            if isinstance(answer, Chosen):
                methods[name] = answer.method
            right = 0
            for i, example in enumerate(tests):
                progress(done, total, f"{task.name}: {name} {i + 1}/{len(tests)}")
                output = answer(example)
                correct = output is not None and task.is_correct(output, example)
                right += correct
                done += 1
                if details is not None:
                    details({"task": task.name, "index": teach + i, "contender": name, "question": example.question,
                             "answers": list(example.answers), "output": output, "correct": correct})
            spent = time.perf_counter() - t0
            seconds[name] += spent
            asked[name] += len(tests)
            accuracy[name] = round(right / len(tests), 3)
            per_question[name] = round(spent / len(tests), 3)
        progress(done, total, f"{task.name} done")
        bare_side = [v for k, v in accuracy.items() if k.startswith("bare") and v is not None]
        families[task.name] = {"metric": task.metric, "questions": len(tests), "accuracy": accuracy,
                               "methods": methods,
                               "bare_best": max(bare_side) if bare_side else None,
                               "seconds_per_question": per_question}
    means = {name: _mean([f["accuracy"][name] for f in families.values() if f["accuracy"][name] is not None])
             for name in chosen}
    bare_best = _mean([f["bare_best"] for f in families.values() if f["bare_best"] is not None])
    result: dict[str, Any] = {
        "n": n, "teach": teach, "tasks": [t.name for t in tasks], "contenders": list(chosen),
        "families": families,
        "mean": means,
        "mean_bare_best": bare_best,
        "ratio_islands_vs_bare_best": (round(means["islands"] / bare_best, 3)
                                       if "islands" in means and means["islands"] is not None and bare_best else None),
        "seconds_per_question": {k: round(seconds[k] / asked[k], 3) if asked[k] else None for k in chosen},
    }
    engine.clear_cache()
    ask(engine, WARM_QUESTIONS[0])  # this process has asked before; the timed one is the next
    t0 = time.perf_counter()
    ask(engine, WARM_QUESTIONS[1])
    warm = round(time.perf_counter() - t0, 2)  # before the cold run, which must not count here
    result["ask_wall_s"] = {"cold": cold() if cold is not None else None, "warm": warm}
    return result


def write_details(path: Path) -> tuple[Callable[[dict[str, Any]], None], Callable[[], None]]:
    """A `details` sink writing JSONL to `path` (via a temporary name), and its closer."""
    tmp = path.with_name(f".{path.name}.tmp")
    f = tmp.open("w", encoding="utf-8")

    def write(row: dict[str, Any]) -> None:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")

    def close() -> None:
        f.close()
        tmp.replace(path)

    return write, close
