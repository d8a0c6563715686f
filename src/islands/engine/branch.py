"""Branch: one token sequence in the shared context — its tokens, KV cells and sampler.

A branch is created by `Engine.branch(prompt)` or by forking another branch. Its tokens
`tokens[:n_past]` are in KV; the rest are pending and get decoded by the engine's next
steps. While `generating`, every time its last token has fresh logits it samples one more.

    root = engine.branch("Once upon a time")
    kids = root.fork(4)                      # share root's cells; nothing recomputed
    for i, kid in enumerate(kids):
        kid.start(params.for_branch(i))
    engine.run(kids)                         # one llama_decode per step for all four
    kids[0].truncate(len(kids[0].tokens) - 5)  # backtrack five tokens

The attributes in the first block of `__init__` are the scheduler's bookkeeping: the engine
keeps them, everybody else reads them. Callers change a branch only through its methods.

What it leaves out: scheduling and KV bookkeeping (the engine's), tools and grammars
(later layers attach them through `watch`, `allow`, `constrain` and stop strings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from islands.engine.model import Constraint, Sampler
from islands.engine.results import Output, Stats, TokenLogprob
from islands.engine.segment import Segment
from islands.params import SamplingParams

if TYPE_CHECKING:
    from islands.engine.core import Engine
    from islands.grammar import Grammar

__all__ = ["Branch"]

# watch(branch) -> True pauses the segment with finish_reason "island"
Watch = Callable[["Branch"], bool]
# allow(branch) -> bool mask over the vocabulary for the next token, or None for no limit
Allow = Callable[["Branch"], "np.ndarray | None"]


class Branch:
    """A live sequence of tokens. Read the attributes; change it through the methods."""

    def __init__(self, engine: Engine, seq: int, tokens: list[int], n_past: int, stats: Stats) -> None:
        # -- kept by the engine --------------------------------------------------------------
        self.engine = engine
        self.seq = seq  # llama.cpp sequence id
        self.tokens = tokens
        self.n_past = n_past  # tokens[:n_past] are in KV
        self.stats = stats
        self.alive = True
        self.sampler: Sampler | None = None
        self.segment: Segment | None = None  # the current (or last) generation segment
        # fresh logits: (batch index, output row, engine step); valid while step is current
        self.row: tuple[int, int, int] | None = None
        self.sampled_pos: int | None = None  # position of a sampled token not yet in KV
        self.score_from: int | None = None  # record logprobs of tokens at >= this position
        self.scored: list[float] = []
        self.constraint: Constraint | None = None  # a grammar for the current segment
        self.constraint_from = 0  # tokens from here on were accepted by the constraint
        # -- set by callers ------------------------------------------------------------------
        self.keep_logits = False  # ask for logits of the last pending token even when idle
        self.watch: Watch | None = None
        self.allow: Allow | None = None

    def __repr__(self) -> str:
        state = "generating" if self.generating else ("idle" if self.alive else "released")
        return f"Branch(seq={self.seq}, tokens={len(self.tokens)}, n_past={self.n_past}, {state})"

    # -- reading -------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Tokens waiting to be decoded into KV."""
        return len(self.tokens) - self.n_past

    @property
    def generating(self) -> bool:
        return self.segment is not None and self.segment.active

    @property
    def ready(self) -> bool:
        """Its last token has logits from the engine's latest step (ready to sample or fork)."""
        return self.row is not None and self.row[2] == self.engine.steps

    @property
    def wants_decode(self) -> bool:
        """Pending tokens worth decoding now. A finished segment's last sampled token waits
        (lazily) until the branch is extended or started again."""
        if not self.pending:
            return False
        if self.generating or self.keep_logits or self.score_from is not None:
            return True
        return not (self.pending == 1 and self.sampled_pos == self.n_past)

    @property
    def params(self) -> SamplingParams | None:
        return self.segment.params if self.segment is not None else None

    @property
    def text(self) -> str:
        """Text generated in the current segment (a stop string cut off)."""
        return self.segment.text if self.segment is not None else ""

    @property
    def finish_reason(self) -> str | None:
        return self.segment.finish_reason if self.segment is not None else None

    @property
    def logprobs(self) -> list[TokenLogprob]:
        return self.segment.logprobs if self.segment is not None else []

    @property
    def generated(self) -> list[int]:
        """Tokens of the current segment."""
        return self.tokens[self.segment.start :] if self.segment is not None else []

    @property
    def position(self) -> int:
        """Where the next token will stand."""
        return len(self.tokens)

    # -- operations (the engine does the work) -------------------------------------------

    def fork(self, n: int) -> list[Branch]:
        """n children sharing this branch's KV cells and sampler state."""
        return self.engine.fork(self, n)

    def extend(self, text_or_tokens: str | Sequence[int]) -> None:
        """Append text (or token ids) to be prefilled; only new tokens are decoded."""
        self.engine.extend(self, text_or_tokens)

    def start(self, params: SamplingParams | None = None, grammar: Grammar | Constraint | None = None) -> None:
        """Begin sampling a new segment with these params (inside `grammar`, if given)."""
        self.engine.start(self, params, grammar)

    def truncate(self, position: int) -> None:
        """Backtrack: keep tokens[:position], drop their KV after it, restore the sampler."""
        self.engine.truncate(self, position)

    def release(self, *, cache: bool = True) -> None:
        """End the branch; with `cache`, its KV stays as a prefix-cache entry."""
        self.engine.release(self, cache=cache)

    def constrain(self, constraint: Constraint | None) -> None:
        """Put the rest of the current segment inside `constraint` (None lifts it)."""
        self.constraint = constraint
        self.constraint_from = len(self.tokens)

    def take_text(self) -> str:
        """The segment's text not taken yet (a tail that may become a stop string waits)."""
        return self.segment.take() if self.segment is not None else ""

    def cut_text(self, end: int) -> None:
        """Keep the first `end` characters of a stopped segment's text. When `end` falls
        inside the last token ("3)." sampled as one token, a call closing at its ")"),
        that token is re-split: dropped, and its kept part extended as tokens of its own."""
        seg = self.segment
        if seg is None or end >= len(seg.text):
            return
        last = self.tokens[-1]
        piece = self.engine.detokenize([last])
        head = len(seg.text) - len(piece)
        if not 0 <= head <= end:
            raise ValueError(f"cut at {end} reaches before the last token (from {head})")
        keep = seg.text[head:end]
        self.truncate(len(self.tokens) - 1)
        if keep:
            self.extend(keep)
            seg.append_text(keep)

    def output(self) -> Output:
        """This segment as an `Output`."""
        assert self.segment is not None and self.segment.params.seed is not None
        seg = self.segment
        return Output(
            text=seg.text,
            tokens=list(self.generated),
            finish_reason=seg.finish_reason or "length",  # "stop", "eos", "length", "island"
            seed=seg.params.seed,
            logprobs=list(seg.logprobs) if seg.params.logprobs is not None else None,
        )
