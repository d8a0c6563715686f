"""What the engine hands back: counters, outputs with log-probabilities, scores, deltas.

Plain dataclasses with `to_dict()` so the CLI's `--json` and later the server print them
without knowing their insides.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Delta", "Generation", "Output", "Score", "Stats", "TokenLogprob"]


@dataclass
class Stats:
    """Counters of one request. Branches forked from one request share one Stats."""

    prompt_tokens: int = 0  # tokens in the prompt(s) the caller gave
    prefill_tokens: int = 0  # tokens actually decoded that the model did not sample
    reused_tokens: int = 0  # prompt tokens taken from the prefix cache instead
    decode_steps: int = 0  # llama_decode calls this request had rows in
    sampled_tokens: int = 0  # tokens sampled, over all branches
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TokenLogprob:
    """A sampled token, its log-probability (nats) and the top alternatives."""

    token: int
    text: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass
class Output:
    """One branch's generated text."""

    text: str
    tokens: list[int]
    finish_reason: str  # "stop" (stop string), "eos", "length"
    seed: int
    logprobs: list[TokenLogprob] | None = None
    stop: str | None = None  # the stop string that ended it ("stop"), where known

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Generation:
    """The outputs of one `generate` call and its counters."""

    outputs: list[Output]
    stats: Stats = field(default_factory=Stats)

    @property
    def texts(self) -> list[str]:
        return [o.text for o in self.outputs]

    @property
    def text(self) -> str:
        return self.outputs[0].text

    def to_dict(self) -> dict[str, Any]:
        return {"outputs": self.texts, "stats": self.stats.to_dict()}


@dataclass(frozen=True)
class Delta:
    """New text of branch `index` of a stream."""

    index: int
    text: str


@dataclass
class Score:
    """Per-token log-probabilities (nats) of a continuation given a prefix."""

    tokens: list[int]
    pieces: list[str]
    logprobs: list[float]
    stats: Stats = field(default_factory=Stats)

    @property
    def surprisal(self) -> list[float]:
        """Per-token surprisal in nats (-log p)."""
        return [-lp for lp in self.logprobs]

    @property
    def total(self) -> float:
        """Total surprisal in nats."""
        return -math.fsum(self.logprobs)

    @property
    def mean(self) -> float:
        """Mean surprisal per token in nats."""
        return self.total / len(self.logprobs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "pieces": self.pieces,
            "logprobs": self.logprobs,
            "total_surprisal": self.total,
            "mean_surprisal": self.mean,
            "stats": self.stats.to_dict(),
        }
