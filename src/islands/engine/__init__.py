"""The engine layer: branches in one llama.cpp context, batched decoding, prefix cache.

Only this package imports llama_cpp (in `llama.py`, loaded lazily when a real model is
used), so `from islands.engine import Engine, MockModel` works without it.
"""

from islands.engine.branch import Branch
from islands.engine.core import Engine, GenerationStream
from islands.engine.mock import MockModel
from islands.engine.protocol import Brancher, Generator, require
from islands.engine.results import Delta, Generation, Output, Score, Stats, TokenLogprob

__all__ = [
    "Branch",
    "Brancher",
    "Delta",
    "Engine",
    "Generation",
    "GenerationStream",
    "Generator",
    "MockModel",
    "Output",
    "Score",
    "Stats",
    "TokenLogprob",
    "require",
]
