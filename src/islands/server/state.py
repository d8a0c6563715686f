"""What every route shares: the served models (each with its own engine and loop, loaded
on first use where asked), the limits, tools, flows and memory, the API keys, and reading
a request body into a schema with OpenAI-shaped errors.

    state = ServerState(models=ModelSet([Served("gemma-3-270m", engine)]), ...)
    served = await state.models.pick(req.model, chat=True)     # the endpoint's default if None
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from islands.engine import Engine
from islands.flows.graph import Flow
from islands.memory import MemoryStore
from islands.server.errors import ApiError
from islands.server.loop import EngineLoop
from islands.server.metrics import Metrics
from islands.server.schemas import Limits
from islands.tools import IslandRunner, Registry

__all__ = ["ModelSet", "Served", "ServerState"]

Schema = TypeVar("Schema", bound=BaseModel)
ANY_MODEL = ("", "islands")  # names that mean "this endpoint's default model"


@dataclass
class Served:
    """One model the server answers for: its engine and loop, or how to load them."""

    name: str
    engine: Engine | None = None
    load: Callable[[], Engine] | None = None
    loop: EngineLoop | None = None
    runners: dict[tuple[str, ...], IslandRunner] = field(default_factory=dict)

    def runner(self, tools: Registry) -> IslandRunner:
        assert self.engine is not None
        key = tuple(t.name for t in tools)
        if key not in self.runners:
            self.runners[key] = IslandRunner(self.engine, tools)
        return self.runners[key]

    def start(self) -> None:
        assert self.engine is not None
        self.loop = EngineLoop(self.engine)
        self.loop.start()

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.stop()
            self.loop = None
        for runner in self.runners.values():
            runner.close()
        self.runners = {}


class ModelSet:
    """The served models; `base` answers completions by default, `chat` chat requests."""

    def __init__(self, models: list[Served], *, chat: str | None = None) -> None:
        self.models = {m.name: m for m in models}
        self.base = models[0].name
        self.chat = chat or self.base
        self.created = int(time.time())  # Unix time, /v1/models' `created` for models not loaded yet
        self._lock = asyncio.Lock()

    def names(self) -> list[str]:
        return list(self.models)

    def started(self) -> list[Served]:
        return [m for m in self.models.values() if m.loop is not None]

    async def pick(self, name: str | None, *, chat: bool = False) -> Served:
        """The model a request names (loaded and started now if it was not yet)."""
        if name is None or name in ANY_MODEL:
            name = self.chat if chat else self.base
        served = self.models.get(name)
        if served is None:
            raise ApiError(404, f"model {name!r} not found; this server has {', '.join(map(repr, self.models))}",
                           "model_not_found", "model")
        if served.loop is None:
            async with self._lock:
                if served.engine is None:
                    assert served.load is not None
                    served.engine = await asyncio.to_thread(served.load)
                if served.loop is None:
                    served.start()
        return served

    def start(self) -> None:
        for served in self.models.values():
            if served.engine is not None:
                served.start()

    def stop(self) -> None:
        for served in self.models.values():
            served.stop()


@dataclass
class ServerState:
    models: ModelSet
    limits: Limits = field(default_factory=Limits)
    registry: Registry = field(default_factory=Registry.default)
    flows: dict[str, Flow] = field(default_factory=dict)
    memory: MemoryStore | None = None
    api_key: str | None = None
    metrics_key: str | None = None
    metrics: Metrics = field(default_factory=Metrics)
    embedder: str | None = None  # /v1/embeddings: an embedder's name (None: the memory's, else ISLANDS_EMBEDDER)

    def authorize(self, request: Request, key: str | None = None, what: str = "API key") -> None:
        key = self.api_key if key is None else key
        if key is None:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {key}".encode()):
            raise ApiError(401, f"missing or wrong {what} (Authorization: Bearer ...)", "invalid_api_key")

    async def parse(self, request: Request, schema: type[Schema]) -> Schema:
        """The request body as `schema`, after the key and size checks."""
        self.authorize(request)
        limit = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, f"request body over {limit} bytes", "body_too_large")
        chunks, size = [], 0
        async for chunk in request.stream():  # a body without a length stops being read at the limit
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"request body over {limit} bytes", "body_too_large")
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            data: Any = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ApiError(400, f"malformed JSON: {e}", "invalid_json") from None
        try:
            return schema.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ApiError(400, f"{where}: {first['msg']}", "invalid_request_error", where) from None


def state_of(request: Request) -> ServerState:
    state = request.app.state.islands
    assert isinstance(state, ServerState)
    return state
