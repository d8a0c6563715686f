"""Who answers a task: the bare model, the model with the SuperHuman tools as hard islands,
or the oracle (the solving call written for it, to measure the tools' ceiling).

    answer = islands_runner(engine, ws)(task)    # Attempt(answer='C1 (256x256 matrix)', calls=[...], ...)

- **bare**: the model alone, after a short instruction; its first line is the answer.
- **islands**: one few-shot prompt for every kind (tasks unlike the real ones, other
  handles and other words): the model reads the task, picks a tool and copies the handles;
  the call runs as a hard island; the answer is the last tool result that is not an error.
- **oracle**: the same islands machinery, but the prompt already ends with the call the
  task's generator knows solves it; the model writes nothing that matters. It shows what the
  tools and the budget allow, not what the model does.

Any engine works: the embedded `Engine`, the mock, or a `RemoteEngine` (OpenAI-compatible).

What it leaves out: several calls chained per task, retries after a tool error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from islands.engine.protocol import Generator
from islands.params import SamplingParams
from islands.superhuman.suite import Task
from islands.superhuman.tools import superhuman_registry
from islands.superhuman.workspace import Usage, Workspace
from islands.tools import IslandRunner

__all__ = ["BARE_PROMPT", "FEW_SHOT", "RUNNERS", "Attempt", "Runner", "bare_runner", "islands_runner", "oracle_runner"]

FEW_SHOT = """Every task names its data by handles. Answer with one tool call on the handles; never copy the data.
Tools: MATMUL('a', 'b') multiplies two matrices. GREP('file', 'text') counts the lines of a file that contain the text. \
SAT('cnf') solves a CNF formula. TSP('points') finds a shortest round trip. SMT('constraints') solves integer constraints \
or proves that none exist. CALC(expression) computes exactly with integers of any size.

Task: What is the product of matrix P4 and matrix Q4 (64x64 each)?
Call: MATMUL('P4', 'Q4') => C3 (64x64 matrix)
Task: Count the lines of file events2 that contain "timeout 17".
Call: GREP('events2', 'timeout 17') => 12
Task: Is the formula f9 (30 variables, 120 clauses) satisfiable?
Call: SAT('f9') => M2 (model of 30 variables)
Task: Plan the shortest tour that visits the 25 cities c3.
Call: TSP('c3') => T4 (tour of 25 stops, length 4.1, by guided local search)
Task: Do the integer equations eq5 have a solution? Find one or prove there is none.
Call: SMT('eq5') => sat: x0=4, x1=-2
Task: What is 2^200 exactly?
Call: CALC(2^200) => 1606938044258990275541962092341162602522202993782792835301376
Task: Compute 123456789 * 987654321 exactly.
Call: CALC(123456789*987654321) => 121932631112635269
"""
BARE_PROMPT = "Answer the task on one line.\n\nTask: What is 12 * 3?\nAnswer: 36\n"


@dataclass
class Attempt:
    """What a runner did for one task."""

    answer: str
    text: str  # everything the runner generated (sea and islands)
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (tool, args, result)
    sampled_tokens: int = 0
    context_tokens: int = 0  # the prompt, what was sampled and what was injected
    seconds: float = 0.0
    usage: list[Usage] = field(default_factory=list)


Runner = Callable[[Task], Attempt]
PARAMS = SamplingParams(max_tokens=48, temperature=0.0, stop=("\n",))


def bare_runner(engine: Generator, ws: Workspace) -> Runner:
    """The model alone: its first line is the answer."""

    def run(task: Task) -> Attempt:
        t0 = time.perf_counter()
        out = engine.generate(f"{BARE_PROMPT}Task: {task.prompt}\nAnswer:", params=PARAMS)
        text = out.texts[0]
        stats = out.stats
        return Attempt(text.strip(), text, [], stats.sampled_tokens, stats.prompt_tokens + stats.sampled_tokens,
                       time.perf_counter() - t0, ws.take_usage())

    return run


def _with_tools(engine: Generator, ws: Workspace, prompt_of: Callable[[Task], str], seconds: float) -> Runner:
    runner = IslandRunner(engine, superhuman_registry(ws, seconds=seconds), wait_tools=True)

    def run(task: Task) -> Attempt:
        ws.take_usage()
        t0 = time.perf_counter()
        prompt = prompt_of(task)
        out = runner.generate(prompt, params=PARAMS)
        seconds_taken = time.perf_counter() - t0
        o = out.outputs[0]
        spans = o.islands()
        calls = [(s.tool or "", s.args or "", s.result or "") for s in spans]
        good = [o.text[s.start : s.end].removeprefix(" => ") for s in spans if not s.error]  # the whole result, not the marker
        answer = good[-1] if good else o.text.strip()
        context = out.stats.prompt_tokens + out.stats.sampled_tokens + out.injected_tokens
        return Attempt(answer, o.text, calls, out.stats.sampled_tokens, context, seconds_taken, ws.take_usage())

    return run


def islands_runner(engine: Generator, ws: Workspace, *, seconds: float = 60.0) -> Runner:
    """The model with the tools: it reads the task and must choose and call one."""
    return _with_tools(engine, ws, lambda task: f"{FEW_SHOT}Task: {task.prompt}\nCall:", seconds)


def oracle_runner(engine: Generator, ws: Workspace, *, seconds: float = 60.0) -> Runner:
    """The solving call written into the prompt: the tools' and the budget's ceiling."""
    return _with_tools(engine, ws, lambda task: f"{FEW_SHOT}Task: {task.prompt}\nCall: {task.spec.call}", seconds)


RUNNERS: dict[str, Callable[[Generator, Workspace], Runner]] = {
    "bare": bare_runner,
    "islands": islands_runner,
    "oracle": oracle_runner,
}
