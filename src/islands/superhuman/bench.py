"""The SuperHuman benchmark: runners answer the tasks, the checkers decide, and every result
says how much of the machine it used.

    report = run_benchmark(engine, ws, tasks, ["bare", "islands"], limits)
    report["runners"]["islands"]["solved"]          # fraction solved within budget
    report["tasks"][0]["islands"]["limit_fraction"]  # e.g. 0.83 of the measured GFLOP/s

Per task and runner: solved (checker says yes and the wall time is within budget), the
checker's reason, wall time, the tools' own seconds, tokens sampled, context tokens (prompt +
sampled + injected: what the task cost the model's context, against the bytes of its data),
and for MATMUL and GREP the achieved rate as a fraction of the measured limit.

Each runner first answers one warm-up question, untimed (the few-shot prompt's KV enters
the prefix cache, the grammar tokenizer is built), as `islands bench` warms up every way.

What it leaves out: repeated runs per task (one seed, one try each).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from islands.engine.protocol import Generator
from islands.errors import InvalidInput
from islands.superhuman.kinds import Spec
from islands.superhuman.limits import Limits
from islands.superhuman.runners import RUNNERS, WARM_TASK, Attempt
from islands.superhuman.suite import LIMIT_OF, Task
from islands.superhuman.workspace import Usage, Workspace

__all__ = ["limit_fraction", "run_benchmark", "task_bytes"]

Progress = Callable[[int, int, str], None]  # (done, total, what)


def limit_fraction(usage: Sequence[Usage], limits: Limits | None) -> tuple[float | None, float | None]:
    """(rate, fraction of the machine's limit) of the best MATMUL (GFLOP/s) or GREP (GB/s)
    call; (None, None) for tools without a hardware limit."""
    best: tuple[float | None, float | None] = (None, None)
    for u in usage:
        limit = LIMIT_OF.get(u.tool)
        if limit is None or u.seconds <= 0:
            continue
        rate = u.amount / u.seconds / 1e9  # GFLOP/s or GB/s
        fraction = rate / getattr(limits, limit) if limits is not None else None
        if best[0] is None or rate > best[0]:
            best = (rate, fraction)
    return best


def task_bytes(ws: Workspace, task: Task) -> int:
    """The bytes of the data behind the task's handles (what never enters the context)."""
    total = 0
    stored = ws.handles()
    for name in dict.fromkeys(re.findall(r"[A-Za-z][A-Za-z0-9_]*", task.prompt)):
        if name in stored:
            total += ws.path(name, stored[name]).stat().st_size
    return total


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _row(task: Task, attempt: Attempt, ws: Workspace, limits: Limits | None) -> dict[str, Any]:
    verdict = task.check(ws, attempt.answer)
    rate, fraction = limit_fraction(attempt.usage, limits)
    return {
        "solved": verdict.ok and attempt.seconds <= task.budget_s,
        "correct": verdict.ok,
        "why": verdict.why,
        "seconds": round(attempt.seconds, 4),
        "tool_seconds": round(sum(u.seconds for u in attempt.usage), 4),
        "rate": float(f"{rate:.4g}") if rate is not None else None,
        "limit_fraction": float(f"{fraction:.4g}") if fraction is not None else None,
        "sampled_tokens": attempt.sampled_tokens,
        "context_tokens": attempt.context_tokens,
        "calls": [f"{tool}({args})" for tool, args, _ in attempt.calls],
        "answer": attempt.answer[:120],
    }


def run_benchmark(
    engine: Generator,
    ws: Workspace,
    tasks: Sequence[Task],
    runners: Sequence[str],
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Every runner on every task; the report as plain data (JSON-ready)."""
    unknown = [r for r in runners if r not in RUNNERS]
    if unknown:
        raise InvalidInput(f"unknown runner {unknown[0]!r} (runners: {', '.join(RUNNERS)})")
    made = {name: RUNNERS[name](engine, ws) for name in runners}
    warm = Task("bigint", 1, 0, Spec(WARM_TASK, "CALC(2^10)", {"value": "1024"}, 10), 0.0)
    for run in made.values():  # untimed: the few-shot prompt's KV, the grammar tokenizer, BLAS threads
        run(warm)
    rows: list[dict[str, Any]] = []
    total, done = len(tasks) * len(runners), 0
    for task in tasks:
        row: dict[str, Any] = {"id": task.id, "kind": task.kind, "tier": task.tier, "tool": task.spec.tool,
                               "prompt": task.prompt, "budget_s": task.budget_s, "data_bytes": task_bytes(ws, task)}
        for name, run in made.items():
            if progress is not None:
                progress(done, total, f"{name}: {task.id}")
            row[name] = _row(task, run(task), ws, limits)
            done += 1
        rows.append(row)
    if progress is not None:
        progress(total, total, "done")
    summary: dict[str, Any] = {}
    for name in runners:
        mine = [r[name] for r in rows]
        by_tier: dict[str, float] = {}
        for tier in sorted({r["tier"] for r in rows}):
            tier_rows = [r[name] for r in rows if r["tier"] == tier]
            by_tier[str(tier)] = round(sum(x["solved"] for x in tier_rows) / len(tier_rows), 3)
        summary[name] = {
            "solved": round(sum(x["solved"] for x in mine) / max(1, len(mine)), 3),
            "solved_by_tier": by_tier,
            "seconds": round(sum(x["seconds"] for x in mine), 3),
            "sampled_tokens": sum(x["sampled_tokens"] for x in mine),
            "context_tokens_per_task": _mean([x["context_tokens"] for x in mine if x["context_tokens"] is not None]),
        }
    return {"limits": limits.to_dict() if limits is not None else None, "runners": summary, "tasks": rows}
