"""Tasks and tiers: a task is data (written into a workspace) + generator + checker + time
budget, all decided by (kind, tier, seed).

    tasks = make_suite(Workspace(folder), tiers=[1], seed=7)
    tasks[0].prompt        # 'Multiply matrix A7x1 by matrix B7x1 (256x256 each) and give the product.'
    tasks[0].check(ws, "C1 (256x256 matrix)")   # Verdict(ok=True, why='Freivalds: ...')

Tier 1 is small (256×256 matmul, 50 MB grep, 200-variable SAT, 10-stop TSP, an 8-site
route with a 128×128 matrix per site), tier 2 medium (1024, 500 MB, 2,000 variables, 200
stops, 12 sites × 384²), tier 3 large (4096, 4 GB, 5,000, 2,000, 200 sites × 768²).
The budget is the wall time of the whole task: reading the prompt, writing the call, the
tool and the answer.

A route is the composite task: a shortest round trip through the sites (TSP), then a
matrix product at each site in the trip's order (VISIT); the checker tests both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from islands.errors import InvalidInput
from islands.superhuman.kinds import KIND_NAMES, SIZES, Spec, Verdict, check_answer, make_spec
from islands.superhuman.workspace import Workspace

__all__ = ["BUDGET_S", "LIMIT_OF", "TIERS", "Task", "make_suite", "make_task"]

TIERS = (1, 2, 3)
BUDGET_S = {1: 30.0, 2: 120.0, 3: 900.0}  # seconds per task, whole task
LIMIT_OF = {"MATMUL": "gflops", "VISIT": "gflops", "GREP": "memory_gbs"}  # the machine limit a tool's speed is measured against


@dataclass(frozen=True)
class Task:
    kind: str
    tier: int
    seed: int
    spec: Spec
    budget_s: float

    @property
    def id(self) -> str:
        return f"{self.kind}-t{self.tier}-s{self.seed}"

    @property
    def prompt(self) -> str:
        return self.spec.prompt

    def check(self, ws: Workspace, answer: str) -> Verdict:
        return check_answer(self.kind, ws, self.spec, answer)


def make_task(ws: Workspace, kind: str, tier: int, seed: int, *, size: int | None = None) -> Task:
    """Generate one task's data into `ws`; `size` overrides the tier's size (tests use it)."""
    if tier not in TIERS:
        raise InvalidInput(f"invalid tier {tier}: choose 1, 2 or 3")
    if kind not in KIND_NAMES:
        raise InvalidInput(f"unknown task kind {kind!r} (kinds: {', '.join(KIND_NAMES)})")
    spec = make_spec(kind, ws, seed, size if size is not None else SIZES[kind][tier], f"{seed}x{tier}")
    return Task(kind, tier, seed, spec, BUDGET_S[tier])


def make_suite(ws: Workspace, tiers: Sequence[int] = (1,), kinds: Sequence[str] = KIND_NAMES, seed: int = 7) -> list[Task]:
    """One task of every kind per tier, in tier order."""
    unknown = [k for k in kinds if k not in KIND_NAMES]
    if unknown:
        raise InvalidInput(f"unknown task kind {unknown[0]!r} (kinds: {', '.join(KIND_NAMES)})")
    return [make_task(ws, kind, tier, seed) for tier in tiers for kind in kinds]
