"""The narrow boundary between the scheduler and a model: `Model` and `Sampler`.

A model backend holds ONE context with many sequences (unified KV cells) and knows how to
decode a batch of rows, share cells between sequences, and hand out samplers. Two backends
implement it: `LlamaModel` (llama.cpp, the only code that imports llama_cpp) and
`MockModel` (deterministic, pure Python, for fast tests of every layer above).

What it leaves out: scheduling, branches, the prefix cache. Those live in `core.py` and
are shared by both backends, so the mock tests exercise the real scheduler.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from islands.params import SamplingParams

__all__ = ["Constraint", "KVFull", "Model", "ModelInfo", "Sampler", "position_seed"]


class KVFull(Exception):
    """Raised by `Model.decode` when the KV cache has no room; nothing was decoded."""


@dataclass(frozen=True)
class ModelInfo:
    """What `islands models` prints about a loaded model."""

    name: str
    path: str
    size_bytes: int
    n_vocab: int
    n_ctx_train: int
    n_ctx: int
    n_params: int
    description: str


class Sampler(ABC):
    """One branch's sampling state (penalty history; grammar state in later layers)."""

    @abstractmethod
    def sample(self, batch_index: int, position: int) -> int:
        """Pick the next token from row `batch_index` of the last decode.

        `position` is where the token will stand in the branch; the random draw is a pure
        function of (seed, position, logits, history), so a branch truncated back to a
        position and sampled again reproduces what it sampled before.
        """

    @abstractmethod
    def accept(self, token: int) -> None:
        """Feed a token into the history without sampling it (prompt tail, replays)."""

    @abstractmethod
    def clone(self) -> Sampler:
        """An independent copy with the same state (for forks)."""

    def close(self) -> None:
        """Free native resources. Optional."""


class Constraint(ABC):
    """Which tokens may come next (a grammar): masks a logits row in place, follows tokens."""

    @abstractmethod
    def mask(self, row: np.ndarray) -> None:
        """Set the logits of forbidden tokens to -inf."""

    @abstractmethod
    def accept(self, token: int) -> None: ...

    @abstractmethod
    def rollback(self, n: int) -> None:
        """Forget the last n accepted tokens (backtracking)."""

    @abstractmethod
    def clone(self) -> Constraint: ...

    @property
    @abstractmethod
    def done(self) -> bool:
        """The output is complete: nothing but the end may follow."""


class Model(ABC):
    """One context over one model: tokenizer, batched decode, shared KV cells, samplers."""

    n_vocab: int
    n_ctx: int
    n_seq_max: int
    n_batch: int  # most rows one decode takes
    bos: int | None
    eog_tokens: frozenset[int]
    masked_tokens: np.ndarray  # (k,) int: control/unused ids never sampled by default

    @abstractmethod
    def info(self) -> ModelInfo: ...

    @abstractmethod
    def tokenize(self, text: str, *, add_bos: bool) -> list[int]: ...

    @abstractmethod
    def piece(self, token: int) -> bytes:
        """The bytes a token renders to (empty for control tokens)."""

    @abstractmethod
    def decode(
        self,
        tokens: Sequence[int],
        positions: Sequence[int],
        seqs: Sequence[int],
        want_logits: Sequence[bool],
    ) -> None:
        """Decode one batch; raise `KVFull` (with nothing decoded) when cells run out."""

    @abstractmethod
    def logits(self) -> np.ndarray:
        """(n_rows_with_logits, n_vocab) float32, in batch order, writable in place.

        Valid until the next `decode`.
        """

    @abstractmethod
    def seq_cp(self, src: int, dst: int, p0: int, p1: int) -> None:
        """Let `dst` share `src`'s cells for positions [p0, p1): nothing is recomputed."""

    @abstractmethod
    def seq_rm(self, seq: int, p0: int, p1: int) -> None:
        """Drop `seq`'s cells for positions [p0, p1) (p1 = -1: to the end)."""

    @abstractmethod
    def sampler(self, params: SamplingParams) -> Sampler: ...

    def chat_prompt(self, messages: Sequence[tuple[str, str]]) -> str:
        """Messages (role, content) as a prompt in the model's chat format, ending where the
        assistant's answer begins. This default is Gemma's format."""
        parts = []
        for role, content in messages:
            turn = "model" if role == "assistant" else "user"
            if role == "system":
                content = content + "\n"
            parts.append(f"<start_of_turn>{turn}\n{content}<end_of_turn>\n")
        return "".join(parts) + "<start_of_turn>model\n"

    def token_mask(self, key: str, keep: Callable[[bytes], bool]) -> np.ndarray:
        """A (n_vocab,) bool mask: the tokens whose piece `keep` accepts. Backends may keep
        it across processes under `key` (llama.cpp's does); this one computes it."""
        return np.fromiter((keep(self.piece(t)) for t in range(self.n_vocab)), dtype=bool, count=self.n_vocab)

    def grammar_tokenizer(self, *, sliced: bool = False) -> object:
        """llguidance's tokenizer for this vocabulary (backends that support grammars);
        `sliced` asks for the variant that is faster on large grammars (JSON Schema)."""
        from islands.errors import InvalidInput

        raise InvalidInput("grammars need a llama.cpp model (the mock model has none)")

    def prepare_grammars(self) -> None:
        """Start any slow set-up grammars need, off the critical path. Optional."""

    def close(self) -> None:
        """Free the context and the model. Optional."""


def position_seed(seed: int, position: int) -> int:
    """A 32-bit seed for the draw at `position`: splitmix64 of (seed, position).

    Neighbouring positions and neighbouring seeds give unrelated draws:
    position_seed(1, 0) != position_seed(0, 1).
    """
    x = (seed * 0x9E3779B97F4A7C15 + position * 0xBF58476D1CE4E5B9 + 1) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (x ^ (x >> 31)) & 0xFFFFFFFF
