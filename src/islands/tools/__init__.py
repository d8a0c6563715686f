"""Hard islands: tools the model calls while it decodes, and their results spliced in."""

from islands.tools.calc import CalcError, calc
from islands.tools.registry import Registry, Tool, ToolError
from islands.tools.runner import IslandRunner
from islands.tools.track import Island, IslandGeneration, IslandOutput, Span

__all__ = [
    "CalcError",
    "Island",
    "IslandGeneration",
    "IslandOutput",
    "IslandRunner",
    "Registry",
    "Span",
    "Tool",
    "ToolError",
    "calc",
]
