"""SamplingParams: the one frozen type for sampling settings.

Every layer (engine, flows, CLI, server) passes this object instead of re-declaring
temperature/top-k/... in its own signature. Validation happens once, here, and raises
`InvalidInput` with a one-line message.

What it leaves out: grammars and tools (they are attached to branches, not sampling).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any

from islands.errors import InvalidInput

__all__ = ["GREEDY", "SamplingParams"]

MAX_TOP_LOGPROBS = 20


def _check(ok: bool, name: str, value: object, why: str) -> None:
    if not ok:
        raise InvalidInput(f"invalid {name}={value!r}: {why}")


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How one branch samples. `temperature=0` means greedy (argmax)."""

    max_tokens: int = 64
    temperature: float = 0.8
    top_k: int = 40  # 0 disables
    top_p: float = 0.95  # 1.0 disables
    min_p: float = 0.05  # 0.0 disables
    repeat_penalty: float = 1.0  # 1.0 disables
    repeat_last_n: int = 64
    seed: int | None = None  # None: a random seed, drawn once per request
    stop: tuple[str, ...] = ()
    logprobs: int | None = None  # None: none; 0: the sampled token's; k: also the top k
    ignore_eos: bool = False  # never sample end-of-generation tokens
    allow_special: bool = False  # allow control/unused tokens (<start_of_image>, <unusedNN>)

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):  # a lone string is one stop string, not its letters
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))
        _check(self.max_tokens >= 1, "max_tokens", self.max_tokens, "must be at least 1")
        _check(self.temperature >= 0, "temperature", self.temperature, "must be >= 0")
        _check(self.top_k >= 0, "top_k", self.top_k, "must be >= 0 (0 disables)")
        _check(0 < self.top_p <= 1, "top_p", self.top_p, "must be in (0, 1]")
        _check(0 <= self.min_p < 1, "min_p", self.min_p, "must be in [0, 1)")
        _check(self.repeat_penalty > 0, "repeat_penalty", self.repeat_penalty, "must be > 0")
        _check(self.repeat_last_n >= 0, "repeat_last_n", self.repeat_last_n, "must be >= 0")
        _check(all(self.stop), "stop", self.stop, "stop strings must not be empty")
        if self.seed is not None:
            _check(0 <= self.seed < 2**32, "seed", self.seed, "must be in [0, 2**32)")
        if self.logprobs is not None:
            _check(
                0 <= self.logprobs <= MAX_TOP_LOGPROBS,
                "logprobs",
                self.logprobs,
                f"must be in [0, {MAX_TOP_LOGPROBS}]",
            )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def replace(self, **changes: Any) -> SamplingParams:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def seeded(self) -> SamplingParams:
        """This params with a concrete seed: the given one, or a fresh random one."""
        if self.seed is not None:
            return self
        return self.replace(seed=random.randrange(2**32))

    def for_branch(self, index: int) -> SamplingParams:
        """The params of variant `index` of a fan-out: same settings, seed + index."""
        base = self.seeded().seed
        assert base is not None
        return self.replace(seed=(base + index) % 2**32)


GREEDY = SamplingParams(temperature=0.0)
