"""MockModel: a deterministic stand-in for a llama.cpp context, for fast tests.

It keeps a real unified KV cache in miniature — cells with a position, a token and the set
of sequences sharing them, a fixed number of cells — and refuses what llama.cpp would get
wrong silently: decoding a position whose predecessors a sequence does not hold, or one it
already holds. Logits come from a bigram table over a small built-in text plus noise keyed
by the last three tokens, so greedy output looks like words and is reproducible. Control
and unused tokens get HIGH logits on purpose: if masking breaks, tests see them.

Vocabulary: ids 0..255 are bytes; then <bos>, <eos>, <unused0..7>, <start_of_image>.

What it leaves out: real attention. Logits depend only on the last three tokens.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from islands.engine.model import KVFull, Model, ModelInfo, Sampler, position_seed
from islands.errors import EngineError
from islands.params import SamplingParams

__all__ = ["MockModel", "MockSampler"]

BOS, EOS = 256, 257
UNUSED = list(range(258, 266))
IMAGE = 266
N_VOCAB = 267
_TEXT = (
    b"the sea is wide and the islands are small. a model writes the sea; tools build the "
    b"islands. we fork branches, score them, and keep the best. memory keeps what matters, "
    b"and sleep makes it smaller. numbers are exact when a computer does the arithmetic."
)


def _bigram_logits() -> np.ndarray:
    counts = np.full((N_VOCAB, N_VOCAB), 0.01, dtype=np.float64)
    for a, b in zip(_TEXT, _TEXT[1:]):
        counts[a, b] += 1.0
    table: np.ndarray = np.log(counts / counts.sum(axis=1, keepdims=True)).astype(np.float32)
    table[:, BOS] = -30.0
    table[:, UNUSED + [IMAGE]] = 3.0  # tempting: only masking keeps them out
    table[:, EOS] = -6.0
    table[BOS] = table[ord(" ")]
    return table


class MockModel(Model):
    """A tiny deterministic model with a faithful unified KV cache."""

    def __init__(self, *, n_ctx: int = 2048, n_seq_max: int = 64, n_batch: int = 64) -> None:
        self.n_vocab = N_VOCAB
        self.n_ctx = n_ctx
        self.n_seq_max = n_seq_max
        self.n_batch = n_batch
        self.bos = BOS
        self.eog_tokens = frozenset({EOS})
        self.masked_tokens = np.array(UNUSED + [IMAGE], dtype=np.int64)
        self._table = _bigram_logits()
        self._cells: dict[int, list[Any]] = {}  # cell id -> [pos, token, set of seqs]
        self._seq: dict[int, dict[int, int]] = {}  # seq -> {pos: cell id}
        self._next_cell = 0
        self._logits = np.zeros((0, N_VOCAB), dtype=np.float32)
        self.batches: list[list[tuple[int, int, int, bool]]] = []  # (token, pos, seq, logits) per decode

    @property
    def used_cells(self) -> int:
        return len(self._cells)

    def info(self) -> ModelInfo:
        return ModelInfo("mock", "<mock>", 0, N_VOCAB, self.n_ctx, self.n_ctx, 0, "deterministic mock model")

    def tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        return ([BOS] if add_bos else []) + list(text.encode("utf-8"))

    def piece(self, token: int) -> bytes:
        return bytes([token]) if token < 256 else b""

    def seq_tokens(self, seq: int) -> list[int]:
        """The tokens `seq` holds in KV, by position."""
        held = self._seq.get(seq, {})
        return [self._cells[held[p]][1] for p in sorted(held)]

    def decode(
        self,
        tokens: Sequence[int],
        positions: Sequence[int],
        seqs: Sequence[int],
        want_logits: Sequence[bool],
    ) -> None:
        if not 0 < len(tokens) <= self.n_batch:
            raise EngineError(f"mock: batch of {len(tokens)} rows (n_batch={self.n_batch})")
        if len(self._cells) + len(tokens) > self.n_ctx:
            raise KVFull()
        staged: dict[int, dict[int, int]] = {}
        for t, p, s in zip(tokens, positions, seqs):
            held = self._seq.get(s, {})
            new = staged.setdefault(s, {})
            if p in held or p in new:
                raise EngineError(f"mock: sequence {s} already holds position {p}")
            if p > 0 and (p - 1) not in held and (p - 1) not in new:
                raise EngineError(f"mock: sequence {s} decodes position {p} without position {p - 1}")
            new[p] = t
        rows = []
        for t, p, s, w in zip(tokens, positions, seqs, want_logits):
            cell = self._next_cell
            self._next_cell += 1
            self._cells[cell] = [p, t, {s}]
            self._seq.setdefault(s, {})[p] = cell
            if w:
                rows.append(self._row(s, p))
        self.batches.append(list(zip(tokens, positions, seqs, want_logits)))
        self._logits = np.array(rows, dtype=np.float32).reshape(len(rows), N_VOCAB)

    def _row(self, seq: int, pos: int) -> np.ndarray:
        held = self._seq[seq]
        last = [self._cells[held[q]][1] for q in range(max(0, pos - 2), pos + 1)]
        rng = np.random.default_rng(zlib.crc32(bytes(str(last), "ascii")))
        row: np.ndarray = self._table[last[-1]] + rng.normal(0.0, 0.5, N_VOCAB).astype(np.float32)
        return row

    def logits(self) -> np.ndarray:
        return self._logits

    def seq_cp(self, src: int, dst: int, p0: int, p1: int) -> None:
        for p, cell in self._seq.get(src, {}).items():
            if p0 <= p < (p1 if p1 >= 0 else 1 << 62):
                self._cells[cell][2].add(dst)
                self._seq.setdefault(dst, {})[p] = cell

    def seq_rm(self, seq: int, p0: int, p1: int) -> None:
        held = self._seq.get(seq, {})
        for p in [p for p in held if p >= p0 and (p1 < 0 or p < p1)]:
            cell = held.pop(p)
            self._cells[cell][2].discard(seq)
            if not self._cells[cell][2]:
                del self._cells[cell]
        if not held:
            self._seq.pop(seq, None)

    def sampler(self, params: SamplingParams) -> MockSampler:
        return MockSampler(self, params)


class MockSampler(Sampler):
    """numpy version of the llama.cpp chain: penalties, top-k, top-p, min-p, temperature."""

    def __init__(self, model: MockModel, params: SamplingParams, history: list[int] | None = None) -> None:
        self._model = model
        self._params = params
        self._history = list(history or [])

    def sample(self, batch_index: int, position: int) -> int:
        batch = self._model.batches[-1]
        out = sum(1 for row in batch[:batch_index] if row[3])
        logits = self._model.logits()[out].astype(np.float64)
        p = self._params
        if p.repeat_penalty != 1.0 and self._history:
            for t in set(self._history[-p.repeat_last_n :]):
                logits[t] = logits[t] / p.repeat_penalty if logits[t] > 0 else logits[t] * p.repeat_penalty
        if p.greedy:
            token = int(np.argmax(logits))
        else:
            order = np.argsort(-logits, kind="stable")
            if p.top_k:
                order = order[: p.top_k]
            order = order[np.isfinite(logits[order])]
            probs = np.exp(logits[order] - logits[order[0]])
            probs /= probs.sum()
            keep = int(np.searchsorted(np.cumsum(probs), p.top_p) + 1)
            keep = max(1, min(keep, len(order), int((probs >= p.min_p * probs[0]).sum())))
            scaled = logits[order[:keep]] / p.temperature
            w = np.exp(scaled - scaled.max())
            rng = np.random.default_rng(position_seed(p.seed or 0, position))
            token = int(order[rng.choice(keep, p=w / w.sum())])
        self._history.append(token)
        return token

    def accept(self, token: int) -> None:
        self._history.append(token)

    def clone(self) -> MockSampler:
        return MockSampler(self._model, self._params, self._history)
