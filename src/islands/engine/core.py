"""Engine: many branches in one context, one batch per step, a prefix cache across calls.

Each `step()` builds ONE batch: one row for every branch that has a freshly sampled token
to decode, then chunks of prompt/extension text from branches that need prefill, up to
`n_batch` rows. Only the last row of a branch asks for logits (every row, for scoring).
After the decode, every generating branch with fresh logits samples its next token.

KV is shared, never copied: `fork` gives children the parent's cells (`seq_cp`); a new
prompt starts from the longest prefix any sequence in KV already holds (radix tree); a
released branch stays in KV as a cache entry until evicted (LRU, under a token budget,
always before any live branch is touched).

What it leaves out: threads (an Engine is used from one thread at a time), tools,
grammars, flows. The model backend (llama.cpp or the mock) sits behind `Model`.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from islands.engine.branch import Branch
from islands.engine.kv import KVLedger
from islands.engine.logits import logprob_of, token_logprob
from islands.engine.model import Constraint, KVFull, Model, ModelInfo, Sampler
from islands.engine.plan import plan_batch
from islands.engine.protocol import CAPABILITIES
from islands.engine.radix import RadixTree
from islands.engine.results import Generation, Score, Stats
from islands.engine.segment import Segment
from islands.engine.stream import GenerationJob, GenerationStream
from islands.errors import (
    ContextFull,
    EngineError,
    InvalidInput,
    PromptTooLong,
    TooManyBranches,
)
from islands.params import SamplingParams

if TYPE_CHECKING:
    from islands.engine.driver import Driver
    from islands.grammar import Grammar

__all__ = ["Engine", "GenerationStream"]  # GenerationStream lives in stream.py

MAX_LOGIT_ROWS = 64  # scoring rows per step: each row of logits is n_vocab floats (1 MB here)


class Engine:
    """The runtime: `generate`, `stream`, `score`, and branch-level calls for flows.

    A `Brancher` (engine/protocol.py): it has every capability."""

    capabilities = frozenset(CAPABILITIES)

    def __init__(
        self,
        model: Model | str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 8192,
        cache_tokens: int | None = None,
        threads: int | None = None,
        progress: bool = False,
    ) -> None:
        if model is None or isinstance(model, str | os.PathLike):
            from islands.engine.embedded import resolve_model_path
            from islands.engine.llama import LlamaModel

            path = resolve_model_path(model, progress=progress)
            model = LlamaModel(Path(path), n_ctx=n_ctx, threads=threads)
        self.model: Model = model
        self.n_ctx = model.n_ctx
        self.cache_tokens = self.n_ctx // 2 if cache_tokens is None else cache_tokens
        self.ledger = KVLedger(model.n_ctx)
        self.tree = RadixTree()
        self.steps = 0  # decode calls so far
        self._free_seqs = list(range(model.n_seq_max - 1, -1, -1))  # pop() gives the smallest
        self._live: dict[int, Branch] = {}  # seq -> branch, in creation order
        self._cached: OrderedDict[int, int] = OrderedDict()  # seq -> tokens held; LRU first
        self._eog = np.array(sorted(model.eog_tokens), dtype=np.int64)
        self._masked_rows: set[int] = set()  # output rows of this step already masked
        self._token_masks: dict[str, np.ndarray] = {}
        self.driver: Driver | None = None  # set by a Driver: flows on other threads
        self._piece_ids: dict[bytes, list[int]] | None = None

    # -- text ------------------------------------------------------------------------------

    def info(self) -> ModelInfo:
        return self.model.info()

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        return self.model.tokenize(text, add_bos=add_bos)

    def detokenize(self, tokens: Iterable[int]) -> str:
        return b"".join(self.model.piece(t) for t in tokens).decode("utf-8", errors="replace")

    @property
    def live_branches(self) -> list[Branch]:
        return list(self._live.values())

    @property
    def live_count(self) -> int:
        """Live branches; safe to read from another thread (a len, not an iteration)."""
        return len(self._live)

    @property
    def cached_sequences(self) -> int:
        return len(self._cached)

    # -- branches --------------------------------------------------------------------------

    def branch(
        self, prompt: str | Sequence[int], *, stats: Stats | None = None, add_bos: bool = True, reuse: bool = True
    ) -> Branch:
        """A new branch holding `prompt`, starting from the longest cached prefix (`reuse=False`:
        from nothing, every token decoded, as a baseline without KV sharing measures it)."""
        tokens = self.tokenize(prompt, add_bos=add_bos) if isinstance(prompt, str) else list(prompt)
        if not tokens or (isinstance(prompt, str) and not prompt.strip()):
            raise InvalidInput("prompt is empty" if not prompt else "prompt is only whitespace")
        if len(tokens) > self.n_ctx:
            raise PromptTooLong(len(tokens), self.n_ctx)
        bad = [t for t in tokens if not 0 <= t < self.model.n_vocab]
        if bad:
            raise InvalidInput(f"token id {bad[0]} is outside the vocabulary (0..{self.model.n_vocab - 1})")
        stats = stats if stats is not None else Stats()
        seq = self._take_seq()
        matched, src = self.tree.longest_prefix(tokens) if reuse else (0, None)
        kept = min(matched, len(tokens) - 1)  # the last token is decoded again for its logits
        if kept > 0 and src is not None:
            self.model.seq_cp(src, seq, 0, kept)
            self.ledger.share(src, seq, kept)
            if src in self._cached:
                self._cached.move_to_end(src)
        else:
            kept = 0
        stats.prompt_tokens += len(tokens)
        stats.reused_tokens += kept
        b = Branch(self, seq, tokens, kept, stats)
        self._live[seq] = b
        return b

    def fork(self, parent: Branch, n: int) -> list[Branch]:
        """n children that share `parent`'s cells, pending tokens, logits and sampler state."""
        self._check_alive(parent)
        if n < 1:
            raise InvalidInput(f"invalid n={n}: fork needs at least 1 child")
        self._reserve_seqs(n)
        kids = []
        for _ in range(n):
            seq = self._take_seq()
            if parent._n_past:
                self.model.seq_cp(parent.seq, seq, 0, parent._n_past)
                self.ledger.share(parent.seq, seq, parent._n_past)
            kid = Branch(self, seq, list(parent._tokens), parent._n_past, parent.stats)
            kid._row = parent._row
            kid._sampled_pos = parent._sampled_pos
            kid._sampler = parent._sampler.clone() if parent._sampler is not None else None
            kid._constraint = parent._constraint.clone() if parent._constraint is not None else None
            kid._constraint_from = parent._constraint_from
            if parent._segment is not None:  # the child carries the text, and starts anew
                kid._segment = parent._segment.copy()
                kid._segment.active = False
            if parent.seq in self.tree:  # concurrent prompts may start from the kids too
                self.tree.insert(seq, self.tree.tokens_of(parent.seq))
            self._live[seq] = kid
            kids.append(kid)
        return kids

    def extend(self, b: Branch, text_or_tokens: str | Sequence[int]) -> None:
        """Append text to be prefilled into `b` (not while it is generating)."""
        self._check_alive(b)
        if b.generating:
            raise EngineError(f"branch {b.seq} is generating; extend it after it stops")
        if isinstance(text_or_tokens, str):
            new = self.tokenize(text_or_tokens, add_bos=False)
        else:
            new = list(text_or_tokens)
        if len(b._tokens) + len(new) > self.n_ctx:
            raise PromptTooLong(len(b._tokens) + len(new), self.n_ctx)
        b._tokens.extend(new)
        b._row = None

    def check_grammar(self, grammar: Grammar) -> None:
        """Raise InvalidInput (one line) unless `grammar` compiles."""
        from islands.engine.grammar import check_grammar

        check_grammar(grammar)

    def constraint(self, grammar: Grammar) -> Constraint:
        """A compiled grammar for one branch (InvalidInput says what is wrong with it)."""
        from islands.engine.grammar import compile_grammar

        tokenizer = self.model.grammar_tokenizer(sliced=grammar.kind == "json_schema")
        return compile_grammar(grammar, tokenizer)  # type: ignore[arg-type]

    def start(self, b: Branch, params: SamplingParams | None = None, grammar: Grammar | Constraint | None = None) -> None:
        """Begin a new generation segment on `b`, optionally inside a grammar."""
        self._check_alive(b)
        params = (params or SamplingParams()).seeded()
        if grammar is not None:
            b._constraint = grammar if isinstance(grammar, Constraint) else self.constraint(grammar)
            b._constraint_from = len(b._tokens)
        sampler = self._sampler_for(params, b._tokens)
        if b.pending == 0 and not b.ready:
            self._rewind(b, b._n_past - 1)  # decode the last token again to get its logits
        if b._sampler is not None:
            b._sampler.close()
        b._sampler = sampler
        b._segment = Segment(params, len(b._tokens))

    def truncate(self, b: Branch, position: int) -> None:
        """Keep tokens[:position]; the sampler is rebuilt from that history."""
        self._check_alive(b)
        if not 1 <= position <= len(b._tokens):
            raise InvalidInput(f"invalid position {position}: branch has {len(b._tokens)} tokens")
        if position < b._n_past:
            self._rewind(b, position)
        if b._constraint is not None:
            accepted = len(b._tokens) - b._constraint_from
            b._constraint.rollback(max(0, min(accepted, len(b._tokens) - max(position, b._constraint_from))))
            b._constraint_from = min(b._constraint_from, position)
        del b._tokens[position:]
        if b._sampled_pos is not None and b._sampled_pos >= position:
            b._sampled_pos = None
        b._row = None
        b._kept = None
        seg = b._segment
        if seg is not None:
            seg.active = False
            sampler = self._sampler_for(seg.params, b._tokens)
            if b._sampler is not None:
                b._sampler.close()
            b._sampler = sampler
            seg.start = min(seg.start, position)
            seg.rebuild([self.model.piece(t) for t in b.generated])

    def release(self, b: Branch, *, cache: bool = True) -> None:
        """End `b`. With `cache` its KV stays as a prefix-cache entry (LRU)."""
        if not b._alive:
            return
        b._alive = False
        if b._segment is not None:
            b._segment.active = False
        del self._live[b.seq]
        if b._sampler is not None:
            b._sampler.close()
            b._sampler = None
        held = b._tokens[: b._n_past]
        self.tree.remove(b.seq)  # re-indexed below as a cache entry, unless another holds it all
        if cache and self.cache_tokens > 0 and held and not self._covered(held):
            self.tree.insert(b.seq, held)
            self._cached[b.seq] = len(held)
            self._trim_cache()
        else:
            self._drop_seq(b.seq)

    def clear_cache(self) -> None:
        """Evict every prefix-cache entry."""
        while self._evict_one():
            pass

    # -- running ---------------------------------------------------------------------------

    def step(self) -> bool:
        """Decode one batch and sample. False when there was nothing to do."""
        if self.driver is not None and self.driver.foreign():
            raise EngineError("step() is the loop thread's; a flow thread calls run() or prefill()")
        self._sample_ready()
        plan = plan_batch(self._live.values(), self.model.n_batch, MAX_LOGIT_ROWS)
        if not plan:
            return False
        plan = self._fit(plan)
        tokens: list[int] = []
        positions: list[int] = []
        seqs: list[int] = []
        want: list[bool] = []
        for b, count in plan:
            wants_last = b.generating or b.keep_logits or b.keep_next
            for p in range(b._n_past, b._n_past + count):
                tokens.append(b._tokens[p])
                positions.append(p)
                seqs.append(b.seq)
                scored = b._score_from is not None and p + 1 >= b._score_from and p + 1 < len(b._tokens)
                want.append(scored or (wants_last and p == len(b._tokens) - 1))
        self._decode(tokens, positions, seqs, want)
        self.steps += 1
        self._masked_rows = set()
        logits = None
        index = out = 0
        counted: set[int] = set()
        for b, count in plan:
            self.ledger.append(b.seq, count)
            sampled = b._sampled_pos is not None and b._n_past <= b._sampled_pos < b._n_past + count
            if id(b.stats) not in counted:
                counted.add(id(b.stats))
                b.stats.decode_steps += 1
            b.stats.prefill_tokens += count - (1 if sampled else 0)
            if sampled:
                b._sampled_pos = None
            for p in range(b._n_past, b._n_past + count):
                if want[index]:
                    if p == len(b._tokens) - 1:
                        b._row = (index, out, self.steps)
                        if b.keep_next:  # a copy outlives this step (Branch.next_logprobs)
                            logits = self.model.logits() if logits is None else logits
                            b._kept = (len(b._tokens), np.array(logits[out], dtype=np.float32))
                    if b._score_from is not None and p + 1 >= b._score_from and p + 1 < len(b._tokens):
                        logits = self.model.logits() if logits is None else logits
                        b._scored.append(logprob_of(logits[out], b._tokens[p + 1]))
                    out += 1
                index += 1
            b._n_past += count
            if count > 1 and b.pending == 0:
                self.tree.insert(b.seq, b._tokens[: b._n_past])  # a finished prefill others may reuse
        self._sample_ready()
        return True

    def run(self, branches: Iterable[Branch] | None = None, until: Callable[[], bool] | None = None) -> None:
        """Step until the given branches (default: all live) stop generating and prefilling."""
        watched = list(branches) if branches is not None else None

        def finished() -> bool:
            if until is not None and until():
                return True
            group = watched if watched is not None else self.live_branches
            return not any(b._alive and b.wants_decode or b.generating for b in group)

        if self.driver is not None and self.driver.foreign():
            if not finished():
                self.driver.wait(finished)  # the loop thread steps for us
            return
        while not finished():
            if not self.step():
                return

    def prefill(self, *branches: Branch) -> None:
        """Decode the branches' pending tokens so that each has fresh logits for its last
        token, all from the same step: ready to fork (children sample from those logits)."""
        for b in branches:
            b.keep_logits = True
        try:
            self.run(until=lambda: all(b.pending == 0 for b in branches))
            if not all(b.ready for b in branches):  # decoded in different steps
                for b in branches:
                    if b.pending == 0:
                        self._rewind(b, b._n_past - 1)  # one token again, together
                self.run(until=lambda: all(b.pending == 0 for b in branches))
        finally:
            for b in branches:
                b.keep_logits = False

    # -- high level ------------------------------------------------------------------------

    def generate(
        self,
        prompt: str | Sequence[int],
        n: int = 1,
        params: SamplingParams | None = None,
        on_text: Callable[[int, str], None] | None = None,
        grammar: Grammar | None = None,
    ) -> Generation:
        """n continuations of `prompt` in one batch. `on_text(i, delta)` streams text."""
        stream = self.stream(prompt, n=n, params=params, grammar=grammar)
        for delta in stream:
            if on_text is not None:
                on_text(delta.index, delta.text)
        assert stream.result is not None
        return stream.result

    def stream(
        self,
        prompt: str | Sequence[int],
        n: int = 1,
        params: SamplingParams | None = None,
        grammar: Grammar | None = None,
    ) -> GenerationStream:
        """Like `generate`, as an iterator of `Delta`s; `.result` is set at the end."""
        constraint = self.constraint(grammar) if grammar is not None else None
        return GenerationStream(GenerationJob(self, prompt, n, (params or SamplingParams()).seeded(), constraint))

    def score(self, prefix: str, continuation: str) -> Score:
        """Log-probability of each token of `continuation` after `prefix` (nats)."""
        if not continuation:
            raise InvalidInput("continuation is empty")
        t0 = time.perf_counter()
        head = self.tokenize(prefix, add_bos=True)
        tail = self.tokenize(continuation, add_bos=False)
        if not head:  # a model without BOS and no prefix: the first token has nothing to be scored after
            head, tail = tail[:1], tail[1:]
            if not tail:
                raise InvalidInput("this model adds no BOS: score a continuation of at least two tokens, or give a prefix")
        stats = Stats()
        b = self.branch(head + tail, stats=stats)
        if b.n_past > len(head) - 1:  # cache held part of the continuation: decode it again
            self._rewind(b, len(head) - 1)
        b.score_tokens_from(len(head))
        try:
            self.run([b])
            logprobs = list(b.scored)
        finally:
            self.release(b)
        stats.seconds = time.perf_counter() - t0
        pieces = [self.model.piece(t).decode("utf-8", errors="replace") for t in tail]
        return Score(tokens=tail, pieces=pieces, logprobs=logprobs, stats=stats)

    def close(self) -> None:
        for b in list(self._live.values()):
            self.release(b, cache=False)
        self.clear_cache()
        self.model.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _check_alive(self, b: Branch) -> None:
        if not b._alive or b.engine is not self:
            raise EngineError(f"branch {b.seq} was released")

    def _rewind(self, b: Branch, position: int) -> None:
        """Drop b's KV from `position` on (the tokens stay, as pending)."""
        self.model.seq_rm(b.seq, position, -1)
        self.ledger.drop(b.seq, position)
        b._n_past = position
        b._row = None
        b._kept = None
        if b.seq in self.tree and len(self.tree.tokens_of(b.seq)) > position:
            if position:
                self.tree.insert(b.seq, b._tokens[:position])
            else:
                self.tree.remove(b.seq)

    def _fit(self, plan: list[tuple[Branch, int]]) -> list[tuple[Branch, int]]:
        """Make room for the plan: evict cache first, then shorten prefill chunks."""
        need = sum(count for _, count in plan)
        while self.ledger.free < need and self._evict_one():
            pass
        if self.ledger.free >= need:
            return plan
        decode_rows = sum(1 for b, count in plan if count == 1 and b.pending == 1)
        room = self.ledger.free - decode_rows
        if room < 0 or (room == 0 and decode_rows == 0):
            raise ContextFull(need, self.ledger.free, self.n_ctx)
        fitted = []
        for b, count in plan:
            if count == 1 and b.pending == 1:
                fitted.append((b, 1))
            elif room > 0:
                take = min(count, room)
                fitted.append((b, take))
                room -= take
        return fitted

    def _decode(self, tokens: list[int], positions: list[int], seqs: list[int], want: list[bool]) -> None:
        while True:
            try:
                self.model.decode(tokens, positions, seqs, want)
                return
            except KVFull:
                if not self._evict_one():  # llama.cpp found no slot though the ledger did
                    raise ContextFull(len(tokens), self.ledger.free, self.n_ctx) from None

    def _sample_ready(self) -> None:
        logits = None
        for b in self._live.values():
            if not (b.generating and b.pending == 0 and b.ready):
                continue
            seg = b._segment
            assert b._row is not None and seg is not None and b._sampler is not None
            batch_index, out, _ = b._row
            logits = self.model.logits() if logits is None else logits
            self._mask(logits, out, seg.params)
            allowed = b.allow(b) if b.allow is not None else None
            if allowed is None and b._constraint is None:
                token = b._sampler.sample(batch_index, len(b._tokens))
            else:  # siblings may share this row: constrain it, sample, restore it
                row = logits[out]
                saved = row.copy()
                if allowed is not None:
                    row[~allowed] = -np.inf
                if b._constraint is not None:
                    b._constraint.mask(row)
                token = b._sampler.sample(batch_index, len(b._tokens))
                row[:] = saved
                if b._constraint is not None:
                    b._constraint.accept(token)
            b._row = None
            b.stats.sampled_tokens += 1
            if seg.params.logprobs is not None:
                seg.logprobs.append(token_logprob(logits[out], token, seg.params.logprobs, self._piece_text))
            self._append_sampled(b, seg, token)

    def _append_sampled(self, b: Branch, seg: Segment, token: int) -> None:
        """Add a sampled token to `b` and decide whether its segment is finished."""
        b._tokens.append(token)
        b._sampled_pos = len(b._tokens) - 1
        if token in self.model.eog_tokens:
            seg.finish("eos")
        elif seg.add(self.model.piece(token)):
            pass  # a stop string: finished
        elif b.watch is not None and b.watch(b):
            seg.finish("island")
        elif b._constraint is not None and b._constraint.done:
            seg.finish("stop")  # the grammar is complete
        elif len(b._tokens) - seg.start >= seg.params.max_tokens:
            seg.finish("length")

    def _mask(self, logits: np.ndarray, out: int, params: SamplingParams) -> None:
        """Special/unused tokens (and with ignore_eos, end tokens) can never be sampled."""
        if out in self._masked_rows:
            return
        if not params.allow_special:
            logits[out, self.model.masked_tokens] = -np.inf
        if params.ignore_eos and len(self._eog):
            logits[out, self._eog] = -np.inf
        if not params.allow_special and not params.ignore_eos:
            self._masked_rows.add(out)  # siblings on this row may mask it the same way

    def token_mask(self, keep: Callable[[bytes], bool], key: str | None = None) -> np.ndarray:
        """A bool mask over the vocabulary: the tokens whose bytes `keep` accepts. With a
        `key` it is computed once per engine (and, for llama.cpp models, once per model file:
        engine/vocab.py)."""
        if key is None:
            n = self.model.n_vocab
            return np.fromiter((keep(self.model.piece(t)) for t in range(n)), dtype=bool, count=n)
        if key not in self._token_masks:
            self._token_masks[key] = self.model.token_mask(key, keep)
        return self._token_masks[key]

    def piece_ids(self) -> dict[bytes, list[int]]:
        """Token ids by the bytes they render to (built once per engine)."""
        if self._piece_ids is None:
            index: dict[bytes, list[int]] = {}
            for t in range(self.model.n_vocab):
                index.setdefault(self.model.piece(t), []).append(t)
            self._piece_ids = index
        return self._piece_ids

    def _piece_text(self, token: int) -> str:
        return self.model.piece(token).decode("utf-8", errors="replace")

    def _take_seq(self) -> int:
        if not self._free_seqs and not self._evict_one():
            raise TooManyBranches(1, 0)
        return self._free_seqs.pop()

    def _reserve_seqs(self, n: int) -> None:
        while len(self._free_seqs) < n and self._evict_one():
            pass
        if len(self._free_seqs) < n:
            raise TooManyBranches(n, len(self._free_seqs))

    def _sampler_for(self, params: SamplingParams, history: list[int]) -> Sampler:
        """A sampler whose penalty window has seen the tail of `history` (a pure function of
        the tokens, so a truncated branch gets back exactly the state it had)."""
        sampler = self.model.sampler(params)
        if params.repeat_penalty != 1.0 and params.repeat_last_n:
            for t in history[-params.repeat_last_n :]:
                sampler.accept(t)
        return sampler

    def _covered(self, tokens: list[int]) -> bool:
        """Does a sequence in the tree already hold all of `tokens`?"""
        matched, other = self.tree.longest_prefix(tokens)
        return other is not None and matched == len(tokens)

    def _trim_cache(self) -> None:
        while self._cached and sum(self._cached.values()) > self.cache_tokens:
            self._evict_one()

    def _evict_one(self) -> bool:
        """Drop the least recently used cache entry; False when there is none."""
        if not self._cached:
            return False
        seq, _ = self._cached.popitem(last=False)
        self._drop_seq(seq)
        return True

    def _drop_seq(self, seq: int) -> None:
        self.model.seq_rm(seq, 0, -1)
        self.ledger.drop(seq, 0)
        self.tree.remove(seq)
        self._free_seqs.append(seq)
        self._free_seqs.sort(reverse=True)

