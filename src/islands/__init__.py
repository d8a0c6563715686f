"""islands: a runtime that makes a language model compute, search and remember.

    import islands
    engine = islands.Engine()                       # the embedded gemma-3-270m
    out = engine.generate("The sea", n=4, params=islands.SamplingParams(max_tokens=16))
    engine.generate("Yes or no?", grammar=islands.Grammar.choice([" yes", " no"]))
    remote = islands.RemoteEngine(["http://localhost:8000"], "model")  # any OpenAI-compatible server

Here: the engines (`Engine`, `RemoteEngine`, the `Generator`/`Brancher` protocols), what
they take (`SamplingParams`, `Grammar`) and give (`Generation`, ...), and the exception tree.
Tools, flows, memory and tasks are imported from their packages (`islands.flows`, ...).
"""

from typing import TYPE_CHECKING, Any

from islands.engine import (
    Branch,
    Brancher,
    Delta,
    Engine,
    Generation,
    Generator,
    MockModel,
    Output,
    Score,
    Stats,
    TokenLogprob,
    require,
)
from islands.errors import (
    ContextFull,
    EngineError,
    InvalidInput,
    IslandsError,
    ModelError,
    PromptTooLong,
    TooManyBranches,
    Unsupported,
)
from islands.grammar import Grammar
from islands.params import GREEDY, SamplingParams

if TYPE_CHECKING:
    from islands.engine.remote import RemoteEngine

__version__ = "0.1.0"

__all__ = [
    "GREEDY",
    "Branch",
    "Brancher",
    "ContextFull",
    "Delta",
    "Engine",
    "EngineError",
    "Generation",
    "Generator",
    "Grammar",
    "InvalidInput",
    "IslandsError",
    "MockModel",
    "ModelError",
    "Output",
    "PromptTooLong",
    "RemoteEngine",
    "SamplingParams",
    "Score",
    "Stats",
    "TokenLogprob",
    "TooManyBranches",
    "Unsupported",
    "__version__",
    "require",
]


def __getattr__(name: str) -> Any:
    """`RemoteEngine` loads on first use: httpx costs more to import than the rest."""
    if name == "RemoteEngine":
        from islands.engine.remote import RemoteEngine

        return RemoteEngine
    raise AttributeError(f"module 'islands' has no attribute {name!r}")
