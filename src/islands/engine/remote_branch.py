"""RemoteBranch: a "virtual" branch of a `RemoteEngine`, so that flows written for branches
(fan-out, judges, search, optimizers) run against a server.

The branch holds its text client-side: the prompt, what was extended, and what each segment
sampled (with its stop string, as a local branch keeps the stop token). `fork` copies the
text; `start` + `engine.run` send one completion request per generating branch — the
extended prefix as the prompt — concurrently, so the server's continuous batching decodes
them together and its prefix cache keeps the shared part from being computed twice.
Branches that differ only by seed go out as one request with `n` where the server has it.

    root = remote.branch("Name an island:")
    kids = root.fork(4)
    for i, kid in enumerate(kids):
        kid.start(params.for_branch(i))
    remote.run(kids)                  # 1 request with n=4, or 4 concurrent requests

Positions are characters: `position` is the text's length and `truncate(p)` keeps the first
`p` characters (a local branch counts tokens). What it leaves out: everything on token ids,
KV cells or logits rows (`score_tokens_from`, logits masks, `keep_logits`/`watch`/`allow`):
the engine's "kv" capability, which only the local engine has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from islands.engine.model import Constraint
from islands.engine.results import Output, Stats
from islands.errors import InvalidInput, Unsupported
from islands.grammar import Grammar
from islands.params import SamplingParams

if TYPE_CHECKING:
    from islands.engine.remote import RemoteEngine

__all__ = ["RemoteBranch"]


class RemoteBranch:
    """A branch whose text lives here and whose continuations come from the server."""

    def __init__(self, engine: RemoteEngine, text: str, stats: Stats) -> None:
        self._engine = engine
        self._text = text  # everything so far: prompt, extensions, sampled segments
        self._stats = stats
        self._alive = True
        self._params: SamplingParams | None = None
        self._grammar: Grammar | None = None
        self._segment_start = len(text)
        self._generating = False
        self._finish: str | None = None
        self._sampled = ""  # the current segment's text (a stop string cut off)
        self._tokens: list[int] = []  # the current segment's token ids, where the server says them
        self._output: Output | None = None

    def __repr__(self) -> str:
        state = "generating" if self._generating else ("idle" if self._alive else "released")
        return f"RemoteBranch(chars={len(self._text)}, {state})"

    # -- reading -------------------------------------------------------------------------

    @property
    def engine(self) -> RemoteEngine:
        return self._engine

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def stats(self) -> Stats:
        return self._stats

    @property
    def full_text(self) -> str:
        """Everything the branch holds: what the next request sends as its prompt."""
        return self._text

    @property
    def text(self) -> str:
        """Text sampled in the current segment (a stop string cut off)."""
        return self._sampled

    @property
    def finish_reason(self) -> str | None:
        return self._finish

    @property
    def params(self) -> SamplingParams | None:
        return self._params

    @property
    def grammar(self) -> Grammar | None:
        return self._grammar

    @property
    def generating(self) -> bool:
        return self._generating

    @property
    def generated(self) -> list[int]:
        """Token ids of the current segment, where the server returned them (else [])."""
        return list(self._tokens)

    @property
    def position(self) -> int:
        """Where the next character will stand."""
        return len(self._text)

    # -- operations ------------------------------------------------------------------------

    def _check(self) -> None:
        if not self._alive:
            raise InvalidInput("this branch was released")

    def fork(self, n: int) -> list[RemoteBranch]:
        """n branches holding the same text (the server's prefix cache shares its KV)."""
        self._check()
        if n < 1:
            raise InvalidInput(f"invalid n={n}: fork needs at least 1 child")
        kids = []
        for _ in range(n):
            kid = RemoteBranch(self._engine, self._text, self._stats)
            kid._params, kid._grammar = self._params, self._grammar
            kids.append(kid)
        return kids

    def extend(self, text_or_tokens: str | Sequence[int]) -> None:
        """Append text; the next request carries it (token ids: only with a detokenizer)."""
        self._check()
        if not isinstance(text_or_tokens, str):
            text_or_tokens = self._engine.detokenize(list(text_or_tokens))
        self._text += text_or_tokens

    def start(self, params: SamplingParams | None = None, grammar: Grammar | Constraint | None = None) -> None:
        """Begin a segment; `engine.run` sends it. Grammars travel to the server; a logits
        `Constraint` (a mask computed here) cannot, and raises `Unsupported`."""
        self._check()
        if isinstance(grammar, Constraint):
            raise Unsupported("kv", "RemoteEngine", f"a logits constraint ({type(grammar).__name__}) runs where the logits are")
        self._params = (params or SamplingParams()).seeded()
        self._grammar = grammar
        self._segment_start = len(self._text)
        self._generating = True
        self._finish = None
        self._sampled = ""
        self._tokens = []
        self._output = None

    def finish(self, out: Output, stop: str | None) -> None:
        """The server's answer to this segment (the engine calls it)."""
        self._sampled = out.text
        self._tokens = list(out.tokens)
        self._finish = out.finish_reason
        self._text += out.text + (stop if out.finish_reason == "stop" and stop else "")
        self._generating = False
        self._output = out

    def truncate(self, position: int) -> None:
        """Keep the first `position` characters."""
        self._check()
        if not 0 < position <= len(self._text):
            raise InvalidInput(f"invalid position {position}: branch has {len(self._text)} characters")
        self._text = self._text[:position]
        self._segment_start = min(self._segment_start, position)

    def release(self, *, cache: bool = True) -> None:
        """End the branch (the server keeps or evicts its prefix cache by itself)."""
        self._alive = False
        self._generating = False

    def constrain(self, constraint: Constraint | None) -> None:
        """Lift the grammar (None); a new logits constraint needs the local engine."""
        if constraint is not None:
            raise Unsupported("kv", "RemoteEngine", "logits constraints run where the logits are")
        self._grammar = None

    def output(self) -> Output:
        if self._output is None:
            raise InvalidInput("this branch has no finished segment")
        return self._output
