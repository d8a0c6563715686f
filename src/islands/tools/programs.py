"""Programs over inputs: run one piece of Python on many inputs in ONE sandbox.

A thought structure (flows/structures) is a program that reads `question` (and `choices`)
and ends in an expression, its answer. Learning a task runs candidate programs on every
teaching example, and answering runs them on a new question: starting a sandbox per run
costs ~45 ms, so a batch of inputs goes through one sandbox process, each input with fresh
globals, its own time limit and its own captured output.

    run_program("len(question.split())", [{"question": "a b c"}, {"question": ""}])
    -> [ProgramResult(value="3", error=None), ProgramResult(value="0", error=None)]

What it leaves out: sharing state between inputs (each run starts clean) and anything the
sandbox forbids (files, network; see sandbox.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from islands.tools.sandbox import SandboxLimits, repl_script, run_python

__all__ = ["ProgramResult", "bindings_prelude", "run_program"]

_HARNESS = r'''
import contextlib, io, json, signal

class _Late(Exception):
    pass

def _alarm(signum, frame):
    raise _Late()

signal.signal(signal.SIGALRM, _alarm)
job = json.loads(_JOB)
code = compile(job["code"], "<program>", "exec")
results = []
for bindings in job["inputs"]:
    out = io.StringIO()
    scope = {"__name__": "__program__", **bindings}
    signal.setitimer(signal.ITIMER_REAL, job["seconds"])
    try:
        with contextlib.redirect_stdout(out):
            exec(code, scope)
        results.append([out.getvalue()[:4000], None])
    except _Late:
        results.append([None, "timed out"])
    except BaseException as e:
        results.append([None, (type(e).__name__ + ": " + str(e))[:300]])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
print("\x00RESULTS" + json.dumps(results))
'''


@dataclass(frozen=True)
class ProgramResult:
    """What one input printed (stripped), or why it failed."""

    value: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.value is not None and self.value != ""


def bindings_prelude(bindings: dict[str, Any]) -> str:
    """Python lines that bind the names: {"question": "2+2"} -> "question = '2+2'\\n"."""
    return "".join(f"{name} = {value!r}\n" for name, value in bindings.items())


def run_program(
    code: str, inputs: Sequence[dict[str, Any]], *, seconds_each: float = 2.0, limits: SandboxLimits | None = None
) -> list[ProgramResult]:
    """`code` run once per input (its names bound), all in one sandbox. A program that
    ends in an expression prints it (as PY does). Never raises for what the code does."""
    if not inputs:
        return []
    job = {"code": repl_script(code), "inputs": [dict(b) for b in inputs], "seconds": seconds_each}
    wall = min(120.0, 2.0 + seconds_each * len(inputs))
    limits = limits or SandboxLimits(wall_seconds=wall, cpu_seconds=int(wall) + 1, output_bytes=4_000_000)
    data = json.dumps(job)
    script = f"_JOB = {data!r}\n" + _HARNESS
    result = run_python(script, limits)
    marker = result.stdout.rfind("\x00RESULTS")
    if marker < 0:
        why = result.as_text().removeprefix("error: ") if not result.ok else "no results"
        return [ProgramResult(None, why or "failed")] * len(inputs)
    rows = json.loads(result.stdout[marker + len("\x00RESULTS") :])
    return [ProgramResult(v.strip() if v is not None else None, e) for v, e in rows]
