"""The built-in hard-island tools, registered through the same hook as plugins."""

from __future__ import annotations

from islands.tools.calc import calc
from islands.tools.registry import CALC_ALPHABET, Registry

__all__ = ["register"]


def register(registry: Registry) -> None:
    """Add CALC (exact arithmetic)."""

    def CALC(expression: str) -> str:  # noqa: N802 - the model writes tool names in capitals
        """Exact arithmetic: big integers, fractions, decimals, powers, roots, functions."""
        return calc(expression)

    registry.register(CALC, alphabet=CALC_ALPHABET, timeout=5.0)
