"""The one exception tree of islands.

Catch at whatever level you need::

    IslandsError                  anything islands raises on purpose
    ├── InvalidInput              bad arguments from a user or a caller (CLI exit code 2)
    │   ├── PromptTooLong         a prompt that can never fit the context
    │   ├── CalcError             an expression CALC cannot parse or evaluate (tools/calc.py)
    │   └── ToolError             a call whose arguments do not fit its tool (tools/registry.py)
    ├── ModelError                a model file that is missing, corrupt or not loadable
    ├── EngineError               the runtime cannot do what was asked
    │   ├── ContextFull           the KV cache cannot hold the request: says needed and free
    │   ├── TooManyBranches       every sequence slot of the context is taken by live branches
    │   ├── Unsupported           the engine lacks a capability (a remote server cannot fork)
    │   └── Cancelled             the request behind a flow thread went away (engine/driver.py)
    ├── SandboxError              the PY sandbox itself cannot run: no bubblewrap (tools/sandbox.py)
    ├── StoreUnreachable          the memory store's server does not answer (memory/store.py)
    ├── FetchError                the task data could not be fetched (tasks/bigbench.py)
    ├── BadPaper                  a paper the radio cannot read: corrupt PDF, no text (radio/extract.py)
    └── AudioError                espeak-ng or ffmpeg is missing or failed (radio/audio.py)

Not in the tree, never seen by callers: `KVFull` (engine/model.py), the backend's signal to
the engine that llama.cpp found no KV slot (the engine evicts cache and retries, or raises
ContextFull). Classes defined beside their code are re-exported there, not here.

Every message is one line meant for a person: what was wrong, and the value that was wrong.
"""

from __future__ import annotations

__all__ = [
    "ContextFull",
    "EngineError",
    "InvalidInput",
    "IslandsError",
    "ModelError",
    "PromptTooLong",
    "TooManyBranches",
    "Unsupported",
]


class IslandsError(Exception):
    """Base of every error islands raises on purpose."""


class InvalidInput(IslandsError, ValueError):
    """A caller passed something islands cannot use."""


class PromptTooLong(InvalidInput):
    """The prompt alone is longer than the context can ever hold."""

    def __init__(self, tokens: int, n_ctx: int) -> None:
        super().__init__(f"prompt is {tokens} tokens but the context holds only {n_ctx}")
        self.tokens = tokens
        self.n_ctx = n_ctx


class ModelError(IslandsError):
    """A model file is missing, corrupt, or could not be loaded."""


class EngineError(IslandsError):
    """The engine could not do what was asked."""


class ContextFull(EngineError):
    """The KV cache cannot hold the tokens a step needs, even after evicting the cache."""

    def __init__(self, needed: int, free: int, n_ctx: int) -> None:
        super().__init__(
            f"context full: needed {needed} more KV cells but only {free} of {n_ctx} are free; "
            f"use a larger context (--ctx) or fewer branches or tokens"
        )
        self.needed = needed
        self.free = free
        self.n_ctx = n_ctx


class TooManyBranches(EngineError):
    """All sequence slots are held by live branches."""

    def __init__(self, wanted: int, available: int) -> None:
        super().__init__(
            f"too many branches: wanted {wanted} more but only {available} sequence slots are free"
        )
        self.wanted = wanted
        self.available = available


class Unsupported(EngineError):
    """The engine cannot do this: it lacks the named capability."""

    def __init__(self, capability: str, engine: str, why: str = "") -> None:
        more = f": {why}" if why else ""
        super().__init__(f"{engine} does not support {capability!r}{more}")
        self.capability = capability
        self.engine = engine
