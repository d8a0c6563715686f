"""Hard islands: tools the model calls while it decodes, and their results spliced in."""

from islands.tools.calc import CalcError, calc
from islands.tools.calls import Call, CallScanner, find_call
from islands.tools.registry import Registry, Tool, ToolError
from islands.tools.runner import IslandRunner
from islands.tools.track import Island, IslandGeneration, IslandOutput, IslandTrack, Span

__all__ = [
    "CalcError",
    "Call",
    "CallScanner",
    "Island",
    "IslandGeneration",
    "IslandOutput",
    "IslandRunner",
    "IslandTrack",
    "Registry",
    "Span",
    "Tool",
    "ToolError",
    "calc",
    "find_call",
]
