"""SuperHuman: tasks only a model that uses a computer can do, scored against the machine's limits.

    ws = Workspace(folder)                          # the tasks' data, by handle
    tasks = make_suite(ws, tiers=[1])               # matmul, grep, sat, unsat, tsp, smt, proof, bigint
    report = run_benchmark(engine, ws, tasks, ["bare", "islands"], measure_limits())

The tools (MATMUL, GREP, SAT, TSP, SMT, and CALC for big integers) are hard islands that take
their data by handle; the checkers decide every answer (superhuman/kinds.py).
"""

from islands.superhuman.bench import run_benchmark
from islands.superhuman.kinds import KIND_NAMES, SIZES, Verdict
from islands.superhuman.limits import Limits, measure_limits
from islands.superhuman.runners import RUNNERS, Attempt
from islands.superhuman.suite import BUDGET_S, TIERS, Task, make_suite, make_task
from islands.superhuman.tools import superhuman_registry
from islands.superhuman.workspace import Workspace

__all__ = [
    "BUDGET_S",
    "KIND_NAMES",
    "RUNNERS",
    "SIZES",
    "TIERS",
    "Attempt",
    "Limits",
    "Task",
    "Verdict",
    "Workspace",
    "make_suite",
    "make_task",
    "measure_limits",
    "run_benchmark",
    "superhuman_registry",
]
