"""GET /v1/models, /health and /metrics (Prometheus text: the engine loops' counters, HTTP
requests by status, a latency histogram; behind a key when the server was given one)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from islands.server.state import state_of

__all__ = ["router"]

router = APIRouter()


@router.get("/v1/models")
async def models(request: Request) -> dict[str, Any]:
    state = state_of(request)
    state.authorize(request)
    data = []
    for name, served in state.models.models.items():
        created = served.loop.started_at if served.loop is not None else state.models.created
        data.append(
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "islands",
                "islands": {
                    "default_for": [d for d, n in (("completions", state.models.base), ("chat", state.models.chat)) if n == name],
                    "loaded": served.engine is not None,
                },
            }
        )
    return {"object": "list", "data": data}


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    state = state_of(request)
    live = sum(m.loop.live_jobs for m in state.models.started() if m.loop is not None)
    return {"status": "ok", "model": state.models.base, "models": state.models.names(), "live_requests": live}


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> str:
    state = state_of(request)
    if state.metrics_key is not None:
        state.authorize(request, state.metrics_key, "metrics key")
    loops = [m.loop for m in state.models.started() if m.loop is not None]
    engines = [m.engine for m in state.models.started() if m.engine is not None]
    uptime = max(time.monotonic() - min((lp.started for lp in loops), default=time.monotonic()), 1e-9)
    prompt = sum(lp.prompt_tokens for lp in loops)
    hit = sum(lp.reused_tokens for lp in loops) / prompt if prompt else 0.0
    sampled = sum(lp.sampled for lp in loops)
    rows = [
        ("islands_requests_total", "counter", "Requests admitted.", sum(lp.requests for lp in loops)),
        ("islands_sampled_tokens_total", "counter", "Tokens sampled for finished requests.", sampled),
        ("islands_tokens_per_second", "gauge", "Sampled tokens per second since start.", round(sampled / uptime, 3)),
        ("islands_live_requests", "gauge", "Requests being decoded now.", sum(lp.live_jobs for lp in loops)),
        ("islands_live_branches", "gauge", "Branches in the engines now.", sum(e.live_count for e in engines)),
        ("islands_prefix_cache_hit_ratio", "gauge", "Prompt tokens taken from the prefix cache.", round(hit, 4)),
    ]
    return "".join(f"# HELP {n} {h}\n# TYPE {n} {t}\n{n} {v}\n" for n, t, h, v in rows) + state.metrics.render()
