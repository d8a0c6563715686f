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

A call whose result is new data (a tour, a product) may be followed by another on it (a route
task: `TSP('sites') => T1 (…) then VISIT('T1', 'loads') => P1 (…)`): typed, while the task
names data no call has read and a tool can take what was made; free, when the model chooses
" then" under a grammar.

What it leaves out: retries after a tool error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from islands.engine.protocol import Brancher, Generator
from islands.errors import IslandsError
from islands.flows.choices import score_options
from islands.grammar import Grammar
from islands.params import SamplingParams
from islands.superhuman.suite import Task
from islands.superhuman.tools import TOOL_KINDS, TOOL_READS, superhuman_registry
from islands.superhuman.workspace import Usage, Workspace
from islands.tools import IslandRunner

__all__ = ["BARE_PROMPT", "FEW_SHOT", "RUNNERS", "WARM_TASK", "Attempt", "Runner", "bare_runner", "choose_tool", "data_line",
           "followers", "free_runner", "islands_runner", "named_handles", "oracle_runner", "pick_option", "typed_calls"]

FEW_SHOT = """Every task names its data by handles. Answer with a tool call on the handles; never copy the data.
Tools: MATMUL('a', 'b') multiplies two matrices. GREP('file', 'text') counts the lines of a text file that contain the text. \
SAT('cnf') solves a CNF formula. TSP('points') finds a shortest round trip through points. SMT('constraints') solves integer \
constraints or proves that none exist. VISIT('tour', 'stack') multiplies a stack's matrices in a tour's order. \
CALC(expression) computes exactly with integers of any size.

Task: What is the product of matrix P4 and matrix Q4 (64x64 each)?
Data: P4 is a matrix, Q4 is a matrix
Call: MATMUL('P4', 'Q4') => C3 (64x64 matrix)
Task: Count the lines of file events2 that contain "timeout 17".
Data: events2 is a text
Call: GREP('events2', 'timeout 17') => 12
Task: Is the formula f9 (30 variables, 120 clauses) satisfiable?
Data: f9 is a cnf
Call: SAT('f9') => M2 (model of 30 variables)
Task: Plan the shortest tour that visits the 25 cities c3.
Data: c3 is a points
Call: TSP('c3') => T4 (tour of 25 stops, length 4.1, by guided local search)
Task: Do the integer equations eq5 have a solution? Find one or prove there is none.
Data: eq5 is a smt
Call: SMT('eq5') => sat: x0=4, x1=-2
Task: Take the shortest round trip through the 6 sites of s2, starting at site 0, and multiply the matrices of m2 \
in the order the trip visits them; give the product.
Data: s2 is a points, m2 is a stack
Call: TSP('s2') => T3 (tour of 6 stops, length 2.4, optimal) then VISIT('T3', 'm2') => P1 (16x16 matrix, product of 6 stops along T3)
Task: What is 2^200 exactly?
Data: none
Call: CALC(2^200) => 1606938044258990275541962092341162602522202993782792835301376
Task: Search the file notes1 for lines with "user 42" and say how many there are.
Data: notes1 is a text
Call: GREP('notes1', 'user 42') => 3
Task: What is 98765432123456789 * 12345678987654321 exactly?
Data: none
Call: CALC(98765432123456789 * 12345678987654321) => 1219326320073159566072245112635269
"""
BARE_PROMPT = "Answer the task on one line.\n\nTask: What is 12 * 3?\nAnswer: 36\n"


@dataclass
class Attempt:
    """What a runner did for one task."""

    answer: str
    text: str  # everything the runner generated (sea and islands)
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (tool, args, result)
    sampled_tokens: int = 0
    context_tokens: int | None = 0  # the prompt, what was sampled and what was injected (None: the engine does not say)
    seconds: float = 0.0
    usage: list[Usage] = field(default_factory=list)


Runner = Callable[[Task], Attempt]
WARM_TASK = "What is 2^10 exactly?"  # what a runner answers once, untimed, before the tasks
PARAMS = SamplingParams(max_tokens=160, temperature=0.0, stop=("\n",))  # 160: an 80-digit product is 160 digit tokens


def bare_runner(engine: Generator, ws: Workspace) -> Runner:
    """The model alone: its first line is the answer."""

    def run(task: Task) -> Attempt:
        t0 = time.perf_counter()
        out = engine.generate(f"{BARE_PROMPT}Task: {task.prompt}\nAnswer:", params=PARAMS)
        text = out.texts[0]
        stats = out.stats
        context = stats.prompt_tokens + stats.sampled_tokens if stats.prompt_tokens else None
        return Attempt(text.strip(), text, [], stats.sampled_tokens, context, time.perf_counter() - t0, ws.take_usage())

    return run


def data_line(ws: Workspace, text: str) -> str:
    """What the handles named in `text` are (a soft island from the workspace's index):
    'Multiply A1 by B1' -> 'Data: A1 is a matrix, B1 is a matrix' (or 'Data: none')."""
    named = named_handles(ws, text)
    return "Data: " + (", ".join(f"{w} is a {k}" for w, k in named.items()) if named else "none")


def named_handles(ws: Workspace, text: str) -> dict[str, str]:
    """The stored handles `text` names -> their kinds, in order of appearance."""
    stored = ws.handles()
    return {w: stored[w] for w in dict.fromkeys(re.findall(r"[A-Za-z][A-Za-z0-9_]*", text)) if w in stored}


def typed_calls(ws: Workspace, text: str) -> list[str]:
    """The tools whose data kind the task names (CALC always): the calls that type-check.

    typed_calls(ws, "Multiply A1 by B1") -> ["MATMUL", "CALC"]
    """
    kinds = set(named_handles(ws, text).values())
    return [tool for tool, kind in TOOL_KINDS.items() if kind in kinds] + ["CALC"]


def followers(ws: Workspace, made: str, text: str) -> list[str]:
    """The tools that can take what a call made (`made`, a stored handle) with data `text`
    names for their other inputs: a tour (with a stack named) -> ["VISIT"]; a count -> []."""
    kind = ws.handles().get(made)
    kinds = set(named_handles(ws, text).values()) | {kind}
    return [t for t, reads in TOOL_READS.items() if kind in reads and set(reads) <= kinds]


def pick_option(engine: Generator, prompt: str, options: list[str]) -> int:
    """The index of the model's pick among `options` after `prompt`: greedy under a choice
    grammar; where the engine has no grammars, by log-likelihood (local engines) or the
    first option its free text names (remote ones); 0 when it names none."""
    if len(options) == 1:
        return 0
    try:
        out = engine.generate(prompt, params=SamplingParams(max_tokens=8, temperature=0.0), grammar=Grammar.choice(options))
        if out.texts[0] in options:
            return options.index(out.texts[0])
    except IslandsError:
        pass
    if engine.supports("branches"):
        scores = score_options(cast("Brancher", engine), prompt, options)
        return max(range(len(options)), key=lambda i: scores[i])
    text = engine.generate(prompt, params=SamplingParams(max_tokens=8, temperature=0.0)).texts[0]
    named = [(text.find(o.strip()), i) for i, o in enumerate(options) if o.strip() and o.strip() in text]
    return min(named)[1] if named else 0


def choose_tool(engine: Generator, prompt: str, tools: list[str]) -> str:
    """The model's pick among `tools` after `prompt` (see `pick_option`)."""
    return tools[pick_option(engine, prompt, [f" {t}(" for t in tools])]


MAX_CALLS = 3  # calls chained in one answer: a composite task needs two
THEN = " then"


def _with_tools(engine: Generator, ws: Workspace, prompt_of: Callable[[Task], str], seconds: float, typed: bool = False,
                oracle: bool = False) -> Runner:
    """Up to MAX_CALLS calls, each a hard island on its own line. A call whose result is a
    new handle (a tour, a product) may be followed by " then" another call on it: typed, when
    a tool can take what was made and the task names data no call has read yet (the model
    then picks among those tools); free, when the model chooses " then" over ending its line
    (under a grammar); the oracle follows the task's `then` calls. Any other result (a count,
    digits, a model's values) is the answer."""

    def run(task: Task) -> Attempt:
        ws.take_usage()
        t0 = time.perf_counter()
        head, text = prompt_of(task), ""
        calls: list[tuple[str, str, str]] = []
        good: list[str] = []
        sampled, context = 0, cast("int | None", 0)
        for step in range(MAX_CALLS):
            after: list[str] | None = None  # typed: the tools that can take what the last call made
            if step:
                made = _first_handle(ws, good[-1]) if good else None
                if made is None:
                    break
                if oracle:
                    if step - 1 >= len(task.spec.then):
                        break
                    text += f"{THEN} {task.spec.then[step - 1].format(made)}"
                elif typed:  # typed: go on while a tool can take what was made and the task names data no call read
                    after = followers(ws, made, task.prompt + text)
                    unread = [h for h in named_handles(ws, task.prompt) if not any(h in args for _, args, _ in calls)]
                    if not after or not unread:
                        break
                    text += THEN
                elif pick_option(engine, head + text, ["\n", THEN]) == 0:
                    break
                else:
                    text += THEN
            prompt = head + text
            only: list[str] | None = None
            quotes: list[str] = []
            if typed:  # the call must type-check: a tool over the kinds of data named so far, on those handles
                seen = task.prompt + text
                only, quotes = list(named_handles(ws, seen)), re.findall(r'"([^"\n]+)"', task.prompt)
                call = f" {choose_tool(engine, prompt, after or typed_calls(ws, seen))}("
                prompt, text = prompt + call, text + call
            registry = superhuman_registry(ws, seconds=seconds, only=only, quotes=quotes)
            # the result ends its line: the model's next words ("Task:") stop it at once
            runner = IslandRunner(engine, registry, template=" => {result}\n", wait_tools=True)
            try:
                out = runner.generate(prompt, params=PARAMS.replace(stop=("\n", "Task:")))
            finally:
                runner.close()
            o = out.outputs[0]
            spans = o.islands()
            calls += [(s.tool or "", s.args or "", s.result or "") for s in spans]
            good += [o.text[s.start : s.end].removeprefix(" => ").strip() for s in spans if not s.error]  # whole results
            text += o.text.rstrip("\n")
            sampled += out.stats.sampled_tokens
            if not out.stats.prompt_tokens:  # a remote engine's driver does not count the prompt
                context = None
            elif context is not None:
                context = max(context, out.stats.prompt_tokens + out.stats.sampled_tokens + out.injected_tokens)
            if not spans:
                break
        answer = good[-1] if good else text.strip()
        return Attempt(answer, text, calls, sampled, context, time.perf_counter() - t0, ws.take_usage())

    return run


def _first_handle(ws: Workspace, result: str) -> str | None:
    """The handle a result names first, when it is stored data ('T1 (tour of …)' -> 'T1')."""
    m = re.match(r"\s*([A-Za-z][A-Za-z0-9_]*)", result)
    return m.group(1) if m and m.group(1) in ws.handles() else None


def _ask(ws: Workspace) -> Callable[[Task], str]:
    return lambda task: f"{FEW_SHOT}Task: {task.prompt}\n{data_line(ws, task.prompt)}\nCall:"


def islands_runner(engine: Generator, ws: Workspace, *, seconds: float = 60.0) -> Runner:
    """The model with the tools, its call typed: it picks among the tools that read the kinds
    of data the task names (and CALC), then writes the arguments under a grammar that admits
    only the handles the task names and, for GREP's text, the strings the task quotes (CALC's
    expression is its own)."""
    return _with_tools(engine, ws, _ask(ws), seconds, typed=True)


def free_runner(engine: Generator, ws: Workspace, *, seconds: float = 60.0) -> Runner:
    """The model with the tools, untyped: it writes the tool's name freely after `Call:`."""
    return _with_tools(engine, ws, _ask(ws), seconds)


def oracle_runner(engine: Generator, ws: Workspace, *, seconds: float = 60.0) -> Runner:
    """The solving call written into the prompt: the tools' and the budget's ceiling."""
    return _with_tools(engine, ws, lambda task: f"{_ask(ws)(task)} {task.spec.call}", seconds, oracle=True)


RUNNERS: dict[str, Callable[[Generator, Workspace], Runner]] = {
    "bare": bare_runner,
    "islands": islands_runner,
    "islands-free": free_runner,
    "oracle": oracle_runner,
}
