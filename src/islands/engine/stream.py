"""GenerationStream: one `generate` request as an iterator of text deltas.

The prompt is prefilled once in a root branch; for n > 1 the root is forked into n
children that share its KV cells and sample from its last logits row; every step of the
engine then advances all of them (and any other live branches) in one batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from islands.engine.branch import Branch
from islands.engine.model import Constraint
from islands.engine.results import Delta, Generation, Stats
from islands.errors import EngineError, InvalidInput
from islands.params import SamplingParams

if TYPE_CHECKING:
    from islands.engine.core import Engine

__all__ = ["GenerationStream"]


class GenerationStream:
    """Iterate for `Delta`s; afterwards `.result` holds the `Generation`."""

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
        self.result: Generation | None = None

    def __iter__(self) -> Iterator[Delta]:
        engine, t0 = self.engine, time.perf_counter()
        stats = Stats()
        root = engine.branch(self.prompt, stats=stats)
        kids: list[Branch] = [root]
        try:
            if self.n > 1:
                engine.prefill(root)
                kids = root.fork(self.n)
                root.release(cache=False)
            for i, kid in enumerate(kids):
                grammar = self.constraint.clone() if self.constraint is not None else None
                kid.start(self.params.for_branch(i), grammar)
            while True:
                progressed = engine.step()
                for i, kid in enumerate(kids):
                    delta = kid._take_delta()
                    if delta:
                        yield Delta(i, delta)
                if not any(k.generating for k in kids):
                    break
                if not progressed:
                    raise EngineError("engine made no progress")  # a bug, not a user error
            stats.seconds = time.perf_counter() - t0
            self.result = Generation([k.output() for k in kids], stats)
        finally:
            for kid in kids:
                kid.release()
            root.release(cache=False)  # no-op when root generated itself (n == 1)
