"""What an engine is to the layers above: `Generator` (every engine) and `Brancher` (engines
whose branches share KV: the local one), with capability names a caller can check.

    def summarize(engine: Generator, text: str) -> str:
        return engine.generate(text, params=SamplingParams(max_tokens=64)).text

    if engine.supports("score"):
        engine.score("The sea is", " salty")

Flows that fork, backtrack or read logits need a `Brancher`; they ask
`require(engine, "branches")`, which raises `Unsupported` naming what the engine lacks.

What it leaves out: how each engine does it (core.py locally, remote.py over HTTP).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from islands.engine.results import Delta, Generation, Score
from islands.errors import Unsupported
from islands.params import SamplingParams

if TYPE_CHECKING:
    from islands.engine.branch import Branch
    from islands.grammar import Grammar

__all__ = ["CAPABILITIES", "Brancher", "Generator", "Stream", "as_brancher", "require"]

# "generate"  text continuations, n per prompt (every engine)
# "stream"    deltas as they are sampled
# "grammar"   outputs constrained by a Grammar
# "logprobs"  log-probabilities of sampled tokens
# "score"     log-probabilities of a given continuation (prompt log-probabilities remotely)
# "branches"  fork / extend / truncate branches that share KV cells
CAPABILITIES = ("generate", "stream", "grammar", "logprobs", "score", "branches")


@runtime_checkable
class Stream(Protocol):
    """Deltas of one request as they come; `.result` is set once the iteration ends."""

    result: Generation | None

    def __iter__(self) -> Iterator[Delta]: ...

    def close(self) -> None: ...


@runtime_checkable
class Generator(Protocol):
    """Every engine: generate, stream, and score where the engine can."""

    capabilities: frozenset[str]

    def supports(self, capability: str) -> bool: ...

    def generate(
        self,
        prompt: str,
        n: int = 1,
        params: SamplingParams | None = None,
        on_text: Callable[[int, str], None] | None = None,
        grammar: Grammar | None = None,
    ) -> Generation: ...

    def stream(
        self, prompt: str, n: int = 1, params: SamplingParams | None = None, grammar: Grammar | None = None
    ) -> Stream: ...

    def score(self, prefix: str, continuation: str) -> Score: ...

    def close(self) -> None: ...


@runtime_checkable
class Brancher(Generator, Protocol):
    """An engine whose branches share KV: what search, fan-out from live branches and
    backtracking need."""

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]: ...

    def branch(self, prompt: str | Sequence[int]) -> Branch: ...

    def run(self, branches: Sequence[Branch] | None = None, until: Callable[[], bool] | None = None) -> None: ...

    def prefill(self, *branches: Branch) -> None: ...


def require(engine: Generator, *capabilities: str) -> None:
    """Raise `Unsupported` naming the first capability `engine` lacks."""
    for c in capabilities:
        if not engine.supports(c):
            raise Unsupported(c, type(engine).__name__, _WHY.get(c, ""))


def as_brancher(engine: Generator) -> Brancher:
    """`engine` as a `Brancher`, or `Unsupported` when its branches do not share KV."""
    require(engine, "branches")
    return cast(Brancher, engine)


_WHY = {"branches": "this flow forks, backtracks or scores branches that share KV cells; use the local engine"}
