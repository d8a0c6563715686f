"""Hard islands: tools the model calls while it decodes, and their results spliced in."""

from islands.tools.calc import CalcError, calc
from islands.tools.registry import Registry, Tool, ToolError
from islands.tools.runner import (
    Call,
    IslandGeneration,
    IslandOutput,
    IslandRunner,
    Span,
    find_call,
)

__all__ = [
    "CalcError",
    "Call",
    "IslandGeneration",
    "IslandOutput",
    "IslandRunner",
    "Registry",
    "Span",
    "Tool",
    "ToolError",
    "calc",
    "find_call",
]
