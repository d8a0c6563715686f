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

Its state (tokens, KV position, sampler, segment, constraint, scores) is private: the engine
(this package) keeps it, everybody else reads it through read-only properties and changes
a branch only through its methods (`extend`, `start`, `truncate`, `constrain`, ...). The
three hooks `keep_logits`, `watch` and `allow` are the callers' to set.

What it leaves out: scheduling and KV bookkeeping (the engine's), tools and grammars
(later layers attach them through `watch`, `allow`, `constrain` and stop strings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from islands.engine.logits import logsumexp
from islands.engine.model import Constraint, Sampler
from islands.engine.results import Output, Stats, TokenLogprob
from islands.engine.segment import Segment
from islands.errors import EngineError
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
        # -- kept by the engine (this package); read through the properties below -----------
        self._engine = engine
        self._seq = seq  # llama.cpp sequence id
        self._tokens = tokens
        self._n_past = n_past  # tokens[:n_past] are in KV
        self._stats = stats
        self._alive = True
        self._sampler: Sampler | None = None
        self._segment: Segment | None = None  # the current (or last) generation segment
        # fresh logits: (batch index, output row, engine step); valid while step is current
        self._row: tuple[int, int, int] | None = None
        self._sampled_pos: int | None = None  # position of a sampled token not yet in KV
        self._score_from: int | None = None  # record logprobs of tokens at >= this position
        self._scored: list[float] = []
        self._kept: tuple[int, np.ndarray] | None = None  # (tokens then, the last token's logits row), see keep_next
        self._constraint: Constraint | None = None  # a grammar for the current segment
        self._constraint_from = 0  # tokens from here on were accepted by the constraint
        # -- set by callers: hooks the engine calls while it steps ---------------------------
        self.keep_logits = False  # ask for logits of the last pending token even when idle
        self.keep_next = False  # also keep a copy of that row, for next_logprobs after later steps
        self.watch: Watch | None = None
        self.allow: Allow | None = None

    def __repr__(self) -> str:
        state = "generating" if self.generating else ("idle" if self.alive else "released")
        return f"Branch(seq={self.seq}, tokens={len(self.tokens)}, n_past={self.n_past}, {state})"

    # -- reading -------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def seq(self) -> int:
        """Its llama.cpp sequence id."""
        return self._seq

    @property
    def tokens(self) -> Sequence[int]:
        """Every token of the branch: prompt, extensions and sampled ones (read-only)."""
        return self._tokens

    @property
    def n_past(self) -> int:
        """tokens[:n_past] are in KV."""
        return self._n_past

    @property
    def stats(self) -> Stats:
        return self._stats

    @property
    def alive(self) -> bool:
        """False once released."""
        return self._alive

    @property
    def segment(self) -> Segment | None:
        """The current (or last) generation segment."""
        return self._segment

    @property
    def constraint(self) -> Constraint | None:
        """The grammar the current segment samples inside (None: free)."""
        return self._constraint

    @property
    def score_from(self) -> int | None:
        """Log-probabilities of tokens at positions >= this are recorded as they decode."""
        return self._score_from

    @property
    def scored(self) -> Sequence[float]:
        """The recorded log-probabilities (nats), in position order (see `score_tokens_from`)."""
        return self._scored

    @property
    def pending(self) -> int:
        """Tokens waiting to be decoded into KV."""
        return len(self._tokens) - self._n_past

    @property
    def generating(self) -> bool:
        return self._segment is not None and self._segment.active

    @property
    def ready(self) -> bool:
        """Its last token has logits from the engine's latest step (ready to sample or fork)."""
        return self._row is not None and self._row[2] == self._engine.steps

    @property
    def wants_decode(self) -> bool:
        """Pending tokens worth decoding now. A finished segment's last sampled token waits
        (lazily) until the branch is extended or started again."""
        if not self.pending:
            return False
        if self.generating or self.keep_logits or self.keep_next or self._score_from is not None:
            return True
        return not (self.pending == 1 and self._sampled_pos == self._n_past)

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
        return self._tokens[self._segment.start :] if self._segment is not None else []

    @property
    def position(self) -> int:
        """Where the next token will stand."""
        return len(self._tokens)

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
        self._constraint = constraint
        self._constraint_from = len(self._tokens)

    def score_tokens_from(self, position: int) -> None:
        """Record the log-probability of each token at `position` or later as the engine
        decodes it (read them from `scored`); the token before `position` must still be
        pending, e.g. after `engine.truncate(b, position - 1)` and an `extend`."""
        if not 1 <= position <= len(self._tokens):
            raise ValueError(f"score from {position}: a token before the scored ones is needed, and the branch has {len(self._tokens)}")
        if self._n_past > position - 1:
            raise ValueError(f"score from {position}: tokens up to {self._n_past} are decoded already")
        self._score_from = position
        self._scored = []

    def next_logprobs(self, tokens: Sequence[int]) -> list[float]:
        """Log-probabilities (nats) of candidate next tokens, from the logits row kept when
        this branch's last token was decoded with `keep_next` on: options whose first tokens
        all follow one row are scored from it, the row computed once (not once per option)."""
        if self._kept is None or self._kept[0] != len(self._tokens):
            raise EngineError("no logits row kept for this branch's last token: set keep_next before it is decoded")
        row = self._kept[1]
        lse = logsumexp(row)
        return [float(row[t]) - lse for t in tokens]

    def fork_options(self, tails: Sequence[Sequence[int]]) -> list[Branch | None]:
        """For options scored after this branch (their first tokens by `next_logprobs`): a
        child per option of more than one token, holding the whole option and scoring its
        tokens after the first (read `scored` once it has run); None for a one-token option."""
        kids: list[Branch | None] = []
        try:
            for tail in tails:
                kid = None
                if len(tail) > 1:
                    kid = self.fork(1)[0]
                    kids.append(kid)
                    kid.extend(tail)
                    kid.score_tokens_from(len(kid.tokens) - len(tail) + 1)
                else:
                    kids.append(None)
        except BaseException:
            for made in kids:
                if made is not None:
                    made.release(cache=False)
            raise
        return kids

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
        seg = self._segment
        assert seg is not None and seg.params.seed is not None
        return Output(
            text=seg.text,
            tokens=list(self.generated),
            finish_reason=seg.finish_reason or "length",  # "stop", "eos", "length", "island"
            seed=seg.params.seed,
            logprobs=list(seg.logprobs) if seg.params.logprobs is not None else None,
            stop=seg.stopped_by,
        )
