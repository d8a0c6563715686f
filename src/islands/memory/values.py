"""The value store: what is valued, how much, and how satiated it already is.

Each value has a weight, a satiation curve and a level that events raise. Its marginal
value — what one more unit is worth now — shrinks as the level grows (diminishing
returns: after x fruit A you want fruit B more):

    log:  weight / (1 + rate * level)          (utility weight/rate * ln(1 + rate * level))
    exp:  weight * exp(-rate * level)          (utility weight/rate * (1 - exp(-rate * level)))

`value_of(name)` is usable as a scorer by flows; `rank(names)` orders options by it.
Stored in the memory database's `values` table.
"""

from __future__ import annotations

import builtins
import math
from dataclasses import dataclass

from islands.errors import InvalidInput
from islands.memory.store import MemoryStore

__all__ = ["Value", "ValueStore"]

CURVES = ("log", "exp")


@dataclass(frozen=True)
class Value:
    name: str
    weight: float
    curve: str
    rate: float
    level: float

    @property
    def marginal(self) -> float:
        """What one more unit is worth now.
        Value("a", 2.0, "log", 1.0, 1.0).marginal -> 1.0; Value("a", 2.0, "exp", 1.0, 0.0).marginal -> 2.0"""
        if self.curve == "log":
            return self.weight / (1 + self.rate * self.level)
        return self.weight * math.exp(-self.rate * self.level)


class ValueStore:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def set(self, name: str, weight: float, curve: str = "log", rate: float = 1.0) -> Value:
        if not name.strip():
            raise InvalidInput("a value needs a name")
        if curve not in CURVES:
            raise InvalidInput(f"unknown curve {curve!r}: choose log or exp")
        if rate <= 0:
            raise InvalidInput(f"invalid rate {rate}: must be > 0")
        self.store.put_value(name, weight, curve, rate)
        return self.get(name)

    def get(self, name: str) -> Value:
        row = self.store.get_value(name)
        if row is None:
            raise InvalidInput(f"no value named {name!r} (islands values set NAME WEIGHT)")
        return Value(*row)

    def list(self) -> list[Value]:
        return [Value(*r) for r in self.store.list_values()]

    def event(self, name: str, amount: float = 1.0) -> Value:
        """Something of this value happened (`amount` may be negative: the need grows back)."""
        self.get(name)
        self.store.add_level(name, amount)
        return self.get(name)

    def value_of(self, name: str) -> float:
        return self.get(name).marginal

    def rank(self, names: builtins.list[str]) -> builtins.list[tuple[str, float]]:
        """Options by marginal value, best first."""
        return sorted(((n, self.value_of(n)) for n in names), key=lambda x: -x[1])
