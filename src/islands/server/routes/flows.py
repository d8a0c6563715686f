"""The flows the web page draws and edits: the served flows, the flow format's JSON Schema,
checking a graph, and running one with its events streamed (server-sent events).

    GET  /islands/flows            {"flows": [{"name", "description", "graph"}]}  (served with --flows DIR)
    GET  /islands/flows/schema     the JSON Schema of a flow (what `islands flow schema` prints)
    POST /islands/flows/validate   {"flow": {...}} -> {"ok": true} or {"ok": false, "error", "node", "field"}
    POST /islands/flows/run        {"flow": NAME or {...}, "inputs": {...}} -> text/event-stream of
                                   islands.flows.events events, then "data: [DONE]"

A run is a flow job on the base model's engine loop, so its branches share batches with
every other request; a client that goes away cancels it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from islands.engine import Generation
from islands.engine.driver import ThreadJob
from islands.engine.results import Output, Stats
from islands.engine.stream import Job
from islands.errors import InvalidInput
from islands.flows.graph import Flow, load_flow, run_flow, schema_json
from islands.server.errors import ApiError, from_islands
from islands.server.responses import first_event
from islands.server.state import Served, ServerState, state_of

__all__ = ["router"]

router = APIRouter()
_WHERE = re.compile(r"^node '([^']+)': field '([^']+)'")


class FlowRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    flow: str | dict[str, Any]
    inputs: dict[str, str] | None = None


def _graph(flow: Flow) -> dict[str, Any]:
    return flow.model_dump(mode="json", by_alias=True, exclude_unset=True)


@router.get("/islands/flows")
async def flows(request: Request) -> dict[str, Any]:
    state = state_of(request)
    state.authorize(request)
    return {"flows": [{"name": name, "description": f.description, "graph": _graph(f)} for name, f in sorted(state.flows.items())]}


@router.get("/islands/flows/schema")
async def schema(request: Request) -> Any:
    state_of(request).authorize(request)
    return json.loads(schema_json())


@router.post("/islands/flows/validate")
async def validate(request: Request) -> dict[str, Any]:
    state = state_of(request)
    req = await state.parse(request, FlowRequest)
    try:
        flow = _flow_of(state, req.flow)
    except ApiError as e:
        found = _WHERE.match(e.message)
        return {"ok": False, "error": e.message, "node": found.group(1) if found else None, "field": found.group(2) if found else None}
    return {"ok": True, "nodes": len(flow.nodes)}


def _flow_of(state: ServerState, given: str | dict[str, Any]) -> Flow:
    if isinstance(given, str):
        if given not in state.flows:
            known = ", ".join(sorted(state.flows)) or "none (start the server with --flows DIR)"
            raise ApiError(404, f"unknown flow {given!r}; served flows: {known}", "flow_not_found", "flow")
        return state.flows[given]
    try:
        return load_flow(given)
    except InvalidInput as e:
        raise ApiError(400, str(e), param="flow") from None


def _job(served: Served, flow: Flow, inputs: dict[str, str]) -> Callable[[], Job]:
    def make() -> Job:
        assert served.engine is not None and served.loop is not None
        engine = served.engine

        def work(emit: Callable[[str], None]) -> Generation:
            t0 = time.perf_counter()
            run = run_flow(engine, flow, inputs, on_event=lambda ev: emit(json.dumps(ev, default=str)))
            return Generation([Output(str(run.output), [], "stop", 0)], Stats(seconds=time.perf_counter() - t0))

        return ThreadJob(served.loop.driver, work)

    return make


@router.post("/islands/flows/run", response_model=None)
async def run(request: Request) -> Response:
    state = state_of(request)
    req = await state.parse(request, FlowRequest)
    flow = _flow_of(state, req.flow)
    unknown = set(req.inputs or {}) - set(flow.inputs)
    if unknown:
        raise ApiError(400, f"unknown input {min(unknown)!r} (the flow takes: {', '.join(flow.inputs) or 'none'})", param="inputs")
    served = await state.models.pick(None)
    assert served.loop is not None
    ticket = served.loop.submit(_job(served, flow, dict(req.inputs or {})))
    kind, value = await first_event(ticket)  # errors before the first event get a status code

    async def events() -> AsyncIterator[str]:
        finished = False
        try:
            pending: list[tuple[str, Any]] = [(kind, value)]
            while True:
                k, v = pending.pop() if pending else await ticket.events.get()
                if k == "delta":
                    yield f"data: {v.text}\n\n"
                    continue
                if k == "error":
                    err = from_islands(v)
                    yield "data: " + json.dumps({"event": "error", "message": err.message}) + "\n\n"
                yield "data: [DONE]\n\n"
                finished = True
                break
        finally:
            if not finished:
                ticket.cancelled = True  # the page went away: free the flow's branches

    return StreamingResponse(events(), media_type="text/event-stream")
