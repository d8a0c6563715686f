"""What an engine is to the layers above: `Generator` (every engine) and `Brancher` (engines
with branches: the local one, whose branches share KV cells, and a remote one, whose
"virtual" branches hold their text client-side and continue it through the server's prefix
cache), with capability names a caller can check.

    def summarize(engine: Generator, text: str) -> str:
        return engine.generate(text, params=SamplingParams(max_tokens=64)).text

    if engine.supports("score"):
        engine.score("The sea is", " salty")

Flows that fork or extend need a `Brancher`; they ask `require(engine, "branches")`, which
raises `Unsupported` naming what the engine lacks. Flows that work on token ids, KV cells or
logits rows (masks, token-level scoring, hard islands inside the decode loop) ask for "kv",
which only the local engine has.

What it leaves out: how each engine does it (core.py locally, remote.py over HTTP).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from islands.engine.results import Delta, Generation, Score
from islands.errors import Unsupported
from islands.params import SamplingParams

if TYPE_CHECKING:
    from islands.engine.model import Constraint
    from islands.engine.results import Output, Stats
    from islands.grammar import Grammar

__all__ = ["CAPABILITIES", "BranchLike", "Brancher", "Generator", "Stream", "as_brancher", "require"]

# "generate"  text continuations, n per prompt (every engine)
# "stream"    deltas as they are sampled
# "grammar"   outputs constrained by a Grammar
# "logprobs"  log-probabilities of sampled tokens
# "score"     log-probabilities of a given continuation (prompt log-probabilities remotely)
# "n"         n continuations of one prompt in one request (fan-out without n requests)
# "branches"  fork / extend / truncate / start / run branches (locally on shared KV; remotely
#             virtual branches continued through the server's prefix cache)
# "kv"        branches whose token ids, KV cells and logits rows the caller works on: masks,
#             token-level scoring, hard islands inside the decode loop (the local engine only)
CAPABILITIES = ("generate", "stream", "grammar", "logprobs", "score", "n", "branches", "kv")


@runtime_checkable
class Stream(Protocol):
    """Deltas of one request as they come; `.result` is set once the iteration ends."""

    result: Generation | None

    def __iter__(self) -> Iterator[Delta]: ...

    def close(self) -> None: ...


@runtime_checkable
class Generator(Protocol):
    """Every engine: generate, stream, and score where the engine can."""

    @property
    def capabilities(self) -> frozenset[str]: ...

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


class BranchLike(Protocol):
    """What flows use of a branch, local (engine/branch.py) or remote (engine/remote_branch.py)."""

    @property
    def alive(self) -> bool: ...

    @property
    def stats(self) -> Stats: ...

    @property
    def text(self) -> str: ...

    @property
    def finish_reason(self) -> str | None: ...

    @property
    def params(self) -> SamplingParams | None: ...

    @property
    def generated(self) -> list[int]: ...

    @property
    def position(self) -> int: ...

    def fork(self, n: int) -> Sequence[BranchLike]: ...

    def extend(self, text_or_tokens: str | Sequence[int]) -> None: ...

    def start(self, params: SamplingParams | None = None, grammar: Grammar | Constraint | None = None) -> None: ...

    def truncate(self, position: int) -> None: ...

    def release(self, *, cache: bool = True) -> None: ...

    def constrain(self, constraint: Constraint | None) -> None: ...

    def output(self) -> Output: ...


@runtime_checkable
class Brancher(Generator, Protocol):
    """An engine with branches: what search, fan-out from live branches and the judges need.
    (Branch arguments are `Any`: each engine takes only its own branches.)"""

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]: ...

    def branch(self, prompt: str | Sequence[int], *, stats: Stats | None = None) -> BranchLike: ...

    def run(self, branches: Any = None, until: Callable[[], bool] | None = None) -> None: ...

    def prefill(self, *branches: Any) -> None: ...


def require(engine: Generator, *capabilities: str) -> None:
    """Raise `Unsupported` naming the first capability `engine` lacks."""
    for c in capabilities:
        if not engine.supports(c):
            raise Unsupported(c, type(engine).__name__, _WHY.get(c, ""))


def as_brancher(engine: Generator) -> Brancher:
    """`engine` as a `Brancher`, or `Unsupported` when its branches do not share KV."""
    require(engine, "branches")
    return cast(Brancher, engine)


_WHY = {
    "branches": "this flow forks and extends branches; the server was declared without them",
    "kv": "this works on token ids, KV cells or logits rows, which stay inside the server; use the local engine",
    "score": "the server gives no prompt log-probabilities (OpenAI `echo` with `logprobs`, or llama.cpp's token grammars)",
    "n": "the server makes one continuation per request",
}
