"""GenerationStream: one `generate` request as an iterator of text deltas.

The prompt is prefilled once in a root branch; for n > 1 the root is forked into n
children that share its KV cells and sample from its last logits row; every step of the
engine then advances all of them (and any other live branches) in one batch.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING

from islands.engine.branch import Branch
from islands.engine.model import Constraint
from islands.engine.results import Delta, Generation, Stats
from islands.errors import EngineError, InvalidInput
from islands.params import SamplingParams

if TYPE_CHECKING:
    from islands.engine.core import Engine

__all__ = ["GenerationJob", "GenerationStream", "Job", "run_job"]


class Job(ABC):
    """One request advanced by whoever drives the engine: `begin`, then after every
    `engine.step()` an `advance` that returns new text; `done` at the end, `close` always.

    Jobs let one loop serve many requests at once (continuous batching): every step
    decodes the branches of all jobs together.
    """

    done: bool = False
    error: BaseException | None = None

    @abstractmethod
    def begin(self) -> None: ...

    @abstractmethod
    def advance(self) -> list[Delta]: ...

    @abstractmethod
    def close(self) -> None:
        """Release the job's branches (also when it failed or was cancelled)."""

    def busy(self) -> bool:
        """Does the job wait for the engine (rather than for a tool)?"""
        return not self.done

    def idle_wait(self) -> None:
        """Block briefly for whatever the job waits on when it is not busy (a tool)."""


class GenerationJob(Job):
    """n continuations of one prompt: prefill once, fork, decode together."""

    def __init__(
        self,
        engine: Engine,
        prompt: str | Sequence[int],
        n: int,
        params: SamplingParams,
        constraint: Constraint | None = None,
    ) -> None:
        if n < 1:
            raise InvalidInput(f"invalid n={n}: need at least 1 branch")
        if n > engine.model.n_seq_max - 1:
            raise InvalidInput(f"invalid n={n}: at most {engine.model.n_seq_max - 1} branches")
        self.engine = engine
        self.prompt = prompt
        self.n = n
        self.params = params
        self.constraint = constraint
        self.stats = Stats()
        self.result: Generation | None = None
        self.root: Branch | None = None
        self.kids: list[Branch] = []
        self._t0 = 0.0

    def begin(self) -> None:
        self._t0 = time.perf_counter()
        self.root = self.engine.branch(self.prompt, stats=self.stats)
        if self.n == 1:
            self._start([self.root])
        else:
            self.root.keep_logits = True  # prefill once, then fork from its last logits

    def _start(self, kids: list[Branch]) -> None:
        self.kids = kids
        for i, kid in enumerate(kids):
            grammar = self.constraint.clone() if self.constraint is not None else None
            kid.start(self.params.for_branch(i), grammar)

    def advance(self) -> list[Delta]:
        root = self.root
        assert root is not None
        if not self.kids:
            if root.pending or not root.ready:
                return []
            root.keep_logits = False
            kids = root.fork(self.n)
            root.release(cache=False)
            self._start(kids)
            return []
        deltas = [Delta(i, d) for i, kid in enumerate(self.kids) if (d := kid.take_text())]
        if not any(k.generating for k in self.kids):
            self.stats.seconds = time.perf_counter() - self._t0
            self.result = Generation([k.output() for k in self.kids], self.stats)
            self.done = True
        return deltas

    def close(self) -> None:
        for kid in self.kids:
            kid.release()
        if self.root is not None:
            self.root.release(cache=False)  # no-op when root generated itself (n == 1)


class GenerationStream:
    """Iterate for `Delta`s; afterwards `.result` holds the `Generation`. `close()` ends
    it early (its branches are released; `.result` stays None)."""

    result: Generation | None

    def __init__(self, job: GenerationJob) -> None:
        self.job = job
        self.result: Generation | None = None
        self._deltas: Generator[Delta, None, None] | None = None

    def __iter__(self) -> Iterator[Delta]:
        self._deltas = run_job(self.job.engine, self.job)
        yield from self._deltas
        self.result = self.job.result

    def close(self) -> None:
        if self._deltas is not None:
            self._deltas.close()  # run_job's finally releases the job's branches
        else:
            self.job.close()


def run_job(engine: Engine, job: Job) -> Generator[Delta, None, None]:
    """Drive one job to its end on this thread (other live branches advance too); on a flow
    thread of a driven engine, the loop thread advances it beside its other requests."""
    if engine.driver is not None and engine.driver.foreign():
        yield from engine.driver.host(job)
        return
    try:
        job.begin()
        yield from job.advance()
        stalled = 0
        while not job.done:
            progressed = engine.step()
            yield from job.advance()
            if progressed or job.done:
                stalled = 0
            elif not job.busy():
                job.idle_wait()  # a tool is running
            else:
                stalled += 1  # advance may just have made work; twice in a row is a bug
                if stalled > 2:
                    raise EngineError("engine made no progress")
    finally:
        job.close()
