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

What it leaves out: scheduling and KV bookkeeping (the engine's), tools and grammars
(later layers attach them through `extend`, `start` and stop strings).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from islands.engine.model import Constraint, Sampler
from islands.engine.results import Output, Stats, TokenLogprob
from islands.params import SamplingParams

if TYPE_CHECKING:
    from islands.engine.core import Engine
    from islands.engine.grammar import Grammar

__all__ = ["Branch"]


class Branch:
    """A live sequence of tokens. Use the methods; the attributes are read-only by habit."""

    def __init__(
        self,
        engine: Engine,
        seq: int,
        tokens: list[int],
        n_past: int,
        stats: Stats,
    ) -> None:
        self.engine = engine
        self.seq = seq  # llama.cpp sequence id
        self.tokens = tokens
        self.n_past = n_past  # tokens[:n_past] are in KV
        self.stats = stats
        self.alive = True
        self.params: SamplingParams | None = None
        self.sampler: Sampler | None = None
        self.generating = False
        self.keep_logits = False  # ask for logits at the end of pending even when idle
        self.finish_reason: str | None = None
        # fresh logits: (batch index, output row, engine step); valid while step is current
        self.row: tuple[int, int, int] | None = None
        self.sampled_pos: int | None = None  # position of a sampled token not yet in KV
        self.score_from: int | None = None  # record logprobs of tokens at >= this position
        self.scored: list[float] = []
        self._start = len(tokens)  # where the current generation segment starts
        self._bytes_decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.text = ""  # text generated in the current segment (stop string cut off)
        self.logprobs: list[TokenLogprob] = []
        self.emitted = 0  # how much of `text` a stream has handed out
        # hooks for the layers above (hard islands, grammars):
        # watch(branch) -> True pauses the segment with finish_reason "island"
        # allow(branch) -> bool mask over the vocabulary for the next token, or None
        self.watch: Callable[[Branch], bool] | None = None
        self.allow: Callable[[Branch], np.ndarray | None] | None = None
        self.constraint: Constraint | None = None  # a grammar for the whole segment
        self.constraint_from = 0  # tokens from here on were accepted by the constraint

    def __repr__(self) -> str:
        state = "generating" if self.generating else ("idle" if self.alive else "released")
        return f"Branch(seq={self.seq}, tokens={len(self.tokens)}, n_past={self.n_past}, {state})"

    @property
    def pending(self) -> int:
        """Tokens waiting to be decoded into KV."""
        return len(self.tokens) - self.n_past

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
    def generated(self) -> list[int]:
        """Tokens sampled in the current segment."""
        return self.tokens[self._start :]

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

    def output(self) -> Output:
        """This segment as an `Output`."""
        assert self.params is not None and self.params.seed is not None
        return Output(
            text=self.text,
            tokens=list(self.generated),
            finish_reason=self.finish_reason or "length",  # "stop", "eos", "length", "island"
            seed=self.params.seed,
            logprobs=list(self.logprobs) if self.params.logprobs is not None else None,
        )

    # -- called by the engine --------------------------------------------------------------

    def _begin_segment(self, params: SamplingParams, sampler: Sampler) -> None:
        if self.sampler is not None:
            self.sampler.close()
        self.params = params
        self.sampler = sampler
        self.generating = True
        self.finish_reason = None
        self._start = len(self.tokens)
        self._bytes_decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.text = ""
        self.logprobs = []
        self.emitted = 0

    def _append_sampled(self, token: int, piece: bytes, eog: bool) -> None:
        """Add a sampled token and decide whether the segment is finished."""
        assert self.params is not None
        self.tokens.append(token)
        self.sampled_pos = len(self.tokens) - 1
        if eog:
            self._finish("eos")
            return
        before = len(self.text)
        self.text += self._bytes_decoder.decode(piece)
        if self.params.stop and self._cut_at_stop(before):
            self._finish("stop")
        elif self.watch is not None and self.watch(self):
            self._finish("island")
        elif self.constraint is not None and self.constraint.done:
            self._finish("stop")  # the grammar is complete
        elif len(self.tokens) - self._start >= self.params.max_tokens:
            self._finish("length")

    def _cut_at_stop(self, before: int) -> bool:
        assert self.params is not None
        longest = max(len(s) for s in self.params.stop)
        lo = max(0, before - longest + 1)
        hits = [i for i in (self.text.find(s, lo) for s in self.params.stop) if i >= 0]
        if not hits:
            return False
        self.text = self.text[: min(hits)]
        return True

    def _finish(self, reason: str) -> None:
        if reason != "stop":
            self.text += self._bytes_decoder.decode(b"", final=True)
        self.generating = False
        self.finish_reason = reason

    def _rebuild_text(self, pieces: list[bytes]) -> None:
        """Recompute the segment's text after a truncation."""
        self._bytes_decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.text = "".join(self._bytes_decoder.decode(p) for p in pieces)
        self.emitted = min(self.emitted, len(self.text))
        self.logprobs = self.logprobs[: len(pieces)]

    def _take_delta(self) -> str:
        """Text a stream may hand out now: all of it when finished, else all but a tail
        that could still turn into a stop string."""
        end = len(self.text)
        if self.generating and self.params is not None and self.params.stop:
            for s in self.params.stop:
                for k in range(min(len(s) - 1, end), 0, -1):
                    if self.text.endswith(s[:k]):
                        end = min(end, len(self.text) - k)
                        break
        delta = self.text[self.emitted : end] if end > self.emitted else ""
        self.emitted = max(self.emitted, end)
        return delta
