"""Batch work over a pool of engines: one function applied to many items (benchmark
questions, survey personas, papers), in Ray actors that each own an engine, or in this
process — with progress, retries of failed items, and results in item order, identical to
the single-process run.

    def solve(engine, item):                   # plain, deterministic per item (seeded)
        return ask(engine, item["question"], seed=1).answer

    result = run_batch(questions, solve, EngineSpec.local(), workers=4)        # Ray
    result = run_batch(questions, solve, EngineSpec.local(), workers=0)        # this process
    result.results, result.failed, result.retried

Ray: `address=None` joins the cluster named by $RAY_ADDRESS, else starts a local one in
this process (`ray.init`); "auto" joins the cluster started on this machine (`ray start
--head`); "ray://HEAD:10001" a remote cluster (Ray Client). Workers are actors with
`max_restarts`: an actor whose process dies is restarted and its item sent again; an item
whose function raises is retried up to `retries` times (on any actor), then reported in
`failed` with its error. The function and the items travel to the actors by pickle (a
module-level function, or a `functools.partial` of one).

What it leaves out: items that must share one engine's branches (each item is independent),
streaming results out before the batch ends (progress says how far it is).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from islands.engine.protocol import Generator
from islands.errors import IslandsError
from islands.scale.pool import EngineSpec

__all__ = ["BatchResult", "Work", "run_batch", "run_here"]

T = TypeVar("T")
R = TypeVar("R")
Work = Callable[[Generator, Any], Any]  # (engine, item) -> result
Progress = Callable[[int, int], None]  # (items done, items in all)


@dataclass
class BatchResult(Generic[R]):
    """Results in item order (None where an item failed for good)."""

    results: list[R | None]
    failed: dict[int, str] = field(default_factory=dict)  # item index -> last error
    retried: int = 0  # attempts that failed and were sent again
    seconds: float = 0.0
    workers: int = 0
    where: str = "here"  # "here", or the Ray cluster's address

    @property
    def ok(self) -> bool:
        return not self.failed


def run_here(items: Sequence[T], work: Callable[[Generator, T], R], spec: EngineSpec, *, retries: int = 2,
             progress: Progress | None = None) -> BatchResult[R]:
    """The single-process run: one engine, the items in order."""
    t0 = time.perf_counter()
    engine = spec.build()
    out = BatchResult[R]([None] * len(items))
    try:
        for i, item in enumerate(items):
            for attempt in range(retries + 1):
                try:
                    out.results[i] = work(engine, item)
                    out.failed.pop(i, None)
                    break
                except Exception as e:  # noqa: BLE001 - a failed item is reported, the batch goes on
                    out.failed[i] = f"{type(e).__name__}: {e}"
                    if attempt < retries:
                        out.retried += 1
            if progress is not None:
                progress(i + 1, len(items))
    finally:
        engine.close()
    out.seconds = time.perf_counter() - t0
    return out


class _Worker:
    """A Ray actor's body: one engine, built on first use, for many items."""

    def __init__(self, spec: EngineSpec, work: Work) -> None:
        self.spec, self.work = spec, work
        self.engine: Generator | None = None

    def run(self, index: int, item: Any) -> tuple[int, Any]:
        if self.engine is None:
            self.engine = self.spec.build()
        return index, self.work(self.engine, item)


def run_batch(
    items: Sequence[T],
    work: Callable[[Generator, T], R],
    spec: EngineSpec,
    *,
    workers: int = 2,
    address: str | None = None,
    retries: int = 2,
    in_flight: int = 2,
    cpus_per_worker: float = 1.0,
    progress: Progress | None = None,
) -> BatchResult[R]:
    """`work(engine, item)` for every item, over `workers` Ray actors (0: in this process).
    Each actor keeps up to `in_flight` items queued so it never waits on the driver."""
    if workers < 0 or retries < 0 or in_flight < 1:
        raise IslandsError("workers and retries must be >= 0, in_flight >= 1")
    if workers == 0 or not items:
        return run_here(items, work, spec, retries=retries, progress=progress)
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    t0 = time.perf_counter()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        actor: Any = ray.remote(max_restarts=-1, max_task_retries=0, num_cpus=cpus_per_worker)(_Worker)
        pool: list[Any] = [actor.remote(spec, work) for _ in range(min(workers, len(items)))]
        out = BatchResult[R]([None] * len(items), workers=len(pool), where=str(ray.get_runtime_context().gcs_address))
        attempts = [0] * len(items)
        queue = list(range(len(items)))[::-1]  # pop() gives the next item
        running: dict[Any, tuple[int, int]] = {}  # object ref -> (item index, actor index)
        load = [0] * len(pool)
        done = 0

        def send(a: int) -> None:
            i = queue.pop()
            attempts[i] += 1
            running[pool[a].run.remote(i, items[i])] = (i, a)
            load[a] += 1

        for a in range(len(pool)):
            while queue and load[a] < in_flight:
                send(a)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            ref = ready[0]
            i, a = running.pop(ref)
            load[a] -= 1
            try:
                _, value = ray.get(ref)
                out.results[i] = value
                out.failed.pop(i, None)
                done += 1
            except (RayTaskError, RayActorError) as e:
                cause = e.cause if isinstance(e, RayTaskError) and e.cause is not None else e
                out.failed[i] = f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}"
                if attempts[i] <= retries:
                    out.retried += 1
                    queue.append(i)  # next: it goes out again before the rest
                else:
                    done += 1
            if progress is not None:
                progress(done, len(items))
            while queue and load[a] < in_flight:
                send(a)
            for b in range(len(pool)):  # an actor whose items all failed may be idle
                while queue and load[b] < in_flight:
                    send(b)
        for handle in pool:
            ray.kill(handle)
    finally:
        if started_here:
            ray.shutdown()
    out.seconds = time.perf_counter() - t0
    return out
