"""The OpenAI-compatible API over islands' engines: /v1/completions, /v1/chat/completions
(streaming or not, function calling), /v1/embeddings, /v1/models, /health and /metrics.

    app = create_app(engine, model_name="gemma-3-270m", chat=("smollm2-135m-instruct", load_chat))

Each served model has its own engine and engine loop (the chat model may load on its first
request). Responses are OpenAI's shapes plus `islands` (the engine counters) and, for
requests with hard-island tools, `spans` in each choice. Errors are OpenAI's shape too:
{"error": {"message", "type", "param", "code"}} with 400 (bad request), 401 (key), 404
(unknown model or path), 405, 413 (body too large) or 503 (no sequence slots left).
The routes live in islands.server.routes, one module per subject; `/` is the web page
(routes.web) with its own small routes for flows (routes.flows) and memory (routes.memory).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from islands.engine import Engine
from islands.flows.graph import Flow
from islands.memory import MemoryStore
from islands.server.errors import ApiError, install_error_handlers
from islands.server.metrics import Metrics, RequestLog
from islands.server.routes import chat as chat_route
from islands.server.routes import completions, embeddings, info, web
from islands.server.routes import flows as flows_route
from islands.server.routes import memory as memory_route
from islands.server.schemas import Limits
from islands.server.state import ModelSet, Served, ServerState
from islands.tools import Registry

__all__ = ["ApiError", "create_app"]


def create_app(
    engine: Engine,
    *,
    model_name: str,
    chat: tuple[str, Engine | Callable[[], Engine]] | None = None,
    api_key: str | None = None,
    metrics_key: str | None = None,
    limits: Limits | None = None,
    registry: Registry | None = None,
    flows: dict[str, Flow] | None = None,
    memory: MemoryStore | None = None,
    log: Callable[[str], None] | None = None,
    embedder: str | None = None,
) -> FastAPI:
    """The app over `engine` (and a chat model, an engine or how to load one); the engine
    loops run while the app does. `log` gets one line per request."""
    served = [Served(model_name, engine)]
    if chat is not None:
        name, how = chat
        served.append(Served(name, how) if isinstance(how, Engine) else Served(name, load=how))
    state = ServerState(ModelSet(served, chat=chat[0] if chat else None), limits=limits or Limits(),
                        registry=registry or Registry.default(), flows=dict(flows or {}), memory=memory,
                        api_key=api_key, metrics_key=metrics_key, metrics=Metrics(), embedder=embedder)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.models.start()
        yield
        state.models.stop()

    app = FastAPI(title="islands", version="0.1.0", lifespan=lifespan)
    app.state.islands = state
    install_error_handlers(app)
    for module in (completions, chat_route, embeddings, info, flows_route, memory_route, web):
        app.include_router(module.router)
    app.add_middleware(RequestLog, metrics=state.metrics, log=log)
    return app


