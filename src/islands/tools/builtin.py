"""The built-in hard-island tools, registered through the same hook as plugins."""

from __future__ import annotations

import string

from islands.tools.calc import calc
from islands.tools.registry import CALC_ALPHABET, Registry, ToolError
from islands.tools.sandbox import repl_script, run_python

__all__ = ["register"]


def register(registry: Registry) -> None:
    """Add CALC (exact arithmetic) and PY (Python in a bubblewrap sandbox)."""

    def CALC(expression: str) -> str:  # noqa: N802 - the model writes tool names in capitals
        """Exact arithmetic: big integers, fractions, decimals, powers, roots, functions."""
        return calc(expression)

    registry.register(CALC, alphabet=CALC_ALPHABET, timeout=5.0)

    def PY(code: str) -> str:  # noqa: N802
        """Python in a sandbox (no network, no host files, limits); the last expression is printed."""
        result = run_python(repl_script(code))
        if not result.ok:
            raise ToolError(result.as_text().removeprefix("error: "))
        return result.as_text()

    registry.register(PY, alphabet=string.printable.replace("\x0b", "").replace("\x0c", ""), timeout=15.0)
