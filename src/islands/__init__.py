"""islands: a runtime that makes a language model compute, search and remember.

    import islands
    engine = islands.Engine()                       # the embedded gemma-3-270m
    out = engine.generate("The sea", n=4, params=islands.SamplingParams(max_tokens=16))
"""

from islands.engine import (
    Branch,
    Delta,
    Engine,
    Generation,
    MockModel,
    Output,
    Score,
    Stats,
    TokenLogprob,
)
from islands.errors import (
    ContextFull,
    EngineError,
    InvalidInput,
    IslandsError,
    ModelError,
    PromptTooLong,
    TooManyBranches,
)
from islands.params import GREEDY, SamplingParams

__version__ = "0.1.0"

__all__ = [
    "GREEDY",
    "Branch",
    "ContextFull",
    "Delta",
    "Engine",
    "EngineError",
    "Generation",
    "InvalidInput",
    "IslandsError",
    "MockModel",
    "ModelError",
    "Output",
    "PromptTooLong",
    "SamplingParams",
    "Score",
    "Stats",
    "TokenLogprob",
    "TooManyBranches",
    "__version__",
]
