"""EngineSpec: how to build an engine somewhere else (a Ray actor, another process) — a
plain, picklable recipe instead of the engine itself, which holds a llama.cpp context.

    EngineSpec.local()                       # the embedded model
    EngineSpec.local("mock")                 # the deterministic mock model (tests)
    EngineSpec.remote(["http://gpu1:8080"])  # a RemoteEngine over OpenAI-compatible servers

What it leaves out: engines that share one process (each actor owns its engine).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from islands.engine import Engine, MockModel
from islands.engine.protocol import Generator
from islands.engine.remote import RemoteEngine
from islands.errors import InvalidInput

__all__ = ["EngineSpec"]


@dataclass(frozen=True)
class EngineSpec:
    """A recipe for an engine: "local" (a model name, GGUF path or "mock") or "remote"."""

    kind: str = "local"
    model: str | None = None  # local: embedded name, GGUF path, "mock"; remote: the served model's name
    n_ctx: int = 4096
    urls: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def local(cls, model: str | None = None, n_ctx: int = 4096) -> EngineSpec:
        return cls("local", model, n_ctx)

    @classmethod
    def remote(cls, urls: list[str] | tuple[str, ...], model: str = "default") -> EngineSpec:
        if not urls:
            raise InvalidInput("a remote engine needs at least one URL")
        return cls("remote", model, 0, tuple(urls))

    def build(self) -> Generator:
        """The engine this spec describes (in the calling process)."""
        if self.kind == "remote":
            return RemoteEngine(list(self.urls), self.model or "default")
        if self.kind != "local":
            raise InvalidInput(f"unknown engine kind {self.kind!r}: choose local or remote")
        if self.model == "mock":
            return Engine(MockModel(n_ctx=self.n_ctx, n_seq_max=64, n_batch=256))
        return Engine(self.model, n_ctx=self.n_ctx)

    def describe(self) -> str:
        if self.kind == "remote":
            return f"remote {self.model} at {', '.join(self.urls)}"
        return f"local {self.model or 'embedded model'}"
