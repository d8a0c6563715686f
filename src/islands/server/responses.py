"""Turning results into OpenAI responses: choices, usage, log-probabilities, the `islands`
extension, server-sent event streams, and waiting for a result while watching the client
(a client that hangs up has its request cancelled and its branches freed)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from islands.engine import Generation
from islands.server.errors import ApiError, from_islands
from islands.server.loop import Ticket
from islands.tools import IslandGeneration

__all__ = ["FINISH", "chat_logprobs", "choices", "collect", "extra", "first_event", "legacy_logprobs", "recalled_of", "stream", "usage"]

FINISH = {"eos": "stop", "stop": "stop", "island": "stop", "length": "length"}
Result = Generation | IslandGeneration
Final = Callable[[Any], tuple[dict[str, Any], str]]  # an output -> (its whole delta, finish_reason)
POLL_S = 0.25  # how often a waiting request checks that its client is still there


def finish_of(out: Any) -> str:
    return FINISH.get(out.finish_reason, "stop")


def choices(result: Result, body: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
    """One choice per output: index, finish_reason, the endpoint's own fields, spans with tools."""
    made = []
    for i, out in enumerate(result.outputs):
        choice: dict[str, Any] = {"index": i, "finish_reason": finish_of(out), **body(out)}
        if isinstance(result, IslandGeneration):
            choice["spans"] = [asdict(s) for s in getattr(out, "spans", [])]
        made.append(choice)
    return made


def usage(result: Result) -> dict[str, int]:
    s = result.stats
    return {"prompt_tokens": s.prompt_tokens, "completion_tokens": s.sampled_tokens, "total_tokens": s.prompt_tokens + s.sampled_tokens}


def extra(result: Result) -> dict[str, Any]:
    made: dict[str, Any] = {"stats": result.stats.to_dict()}
    flow = getattr(result, "flow", None)
    if flow is not None:
        made["flow"] = flow.model_dump(mode="json")
    if isinstance(result, IslandGeneration):
        made["injected_tokens"] = result.injected_tokens
    return made


def legacy_logprobs(out: Any, offset: int = 0) -> dict[str, Any] | None:
    lps = getattr(out, "logprobs", None)
    if lps is None:
        return None
    offsets, at = [], offset
    for lp in lps:
        offsets.append(at)
        at += len(lp.text)
    return {"tokens": [lp.text for lp in lps], "token_logprobs": [lp.logprob for lp in lps],
            "top_logprobs": [dict(lp.top) for lp in lps], "text_offset": offsets}


def chat_logprobs(out: Any) -> dict[str, Any] | None:
    lps = getattr(out, "logprobs", None)
    if lps is None:
        return None
    return {"content": [{"token": lp.text, "logprob": lp.logprob, "bytes": list(lp.text.encode()),
                         "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in lp.top]} for lp in lps]}


async def first_event(ticket: Ticket, request: Request | None = None) -> tuple[str, Any]:
    """The ticket's next event; an error event raises. With `request`, a client that went
    away cancels the ticket (its branches are freed at the loop's next step)."""
    while True:
        try:
            kind, value = await asyncio.wait_for(ticket.events.get(), timeout=POLL_S)
        except TimeoutError:
            await _check_client(ticket, request)
            continue
        if kind == "error":
            raise from_islands(value)
        return kind, value


async def _check_client(ticket: Ticket, request: Request | None) -> None:
    if request is not None and await request.is_disconnected():
        ticket.cancelled = True
        raise ApiError(499, "the client closed the request", "client_closed_request")


async def collect(ticket: Ticket, request: Request) -> Any:
    """The result of a non-streaming request."""
    try:
        checked = time.monotonic()
        while True:
            kind, value = await first_event(ticket, request)
            if kind == "done":
                return value
            if time.monotonic() - checked > POLL_S:  # deltas keep coming: look at the client between them
                checked = time.monotonic()
                await _check_client(ticket, request)
    except BaseException:
        ticket.cancelled = True  # the handler itself was cancelled (server shutting down)
        raise


def recalled_of(memories: list[Any]) -> list[dict[str, Any]]:
    """Memories recalled into a request (soft islands of its prompt), as the `islands.recalled`
    extension: which memory, its text, and why it was recalled."""
    out = []
    for m in memories:
        how = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(m.extra.items()))
        out.append({"ref": f"memory #{m.id}", "id": m.id, "text": m.text, "why": f"score {m.score:.3g}" + (f"; {how}" if how else "")})
    return out


async def stream(ticket: Ticket, rid: str, created: int, model: str, *, chat: bool, include_usage: bool = False,
                 final: Final | None = None, prefix: str = "", recalled: list[dict[str, Any]] | None = None) -> StreamingResponse:
    """Server-sent events for a streaming request. With `final`, text is not streamed as it
    comes: each choice gets one delta at its end (tool calls are only known then). A
    completion's `prefix` (echo) opens each choice's text. With hard-island tools, each
    choice's last chunk carries its `spans`, as a whole response's choices do; memories
    recalled into the prompt come first, in a chunk with no choices and `islands.recalled`."""
    kind, value = await first_event(ticket)  # errors before the first byte get a status code
    obj = "chat.completion.chunk" if chat else "text_completion"

    def event(payload: dict[str, Any]) -> str:
        return "data: " + json.dumps(payload) + "\n\n"

    def chunk(index: int, delta: dict[str, Any] | str | None, finish: str | None = None, spans: list[Any] | None = None) -> str:
        if chat:
            choice: dict[str, Any] = {"index": index, "delta": delta or {}, "finish_reason": finish, "logprobs": None}
        else:
            choice = {"index": index, "text": delta or "", "finish_reason": finish, "logprobs": None}
        if spans is not None:  # the islands extension: a choice's spans (sea and hard islands) in its last chunk
            choice["spans"] = [asdict(s) for s in spans]
        return event({"id": rid, "object": obj, "created": created, "model": model, "choices": [choice]})

    async def events() -> AsyncIterator[str]:
        finished = False
        try:
            if recalled:
                found = {"recalled": recalled}
                yield event({"id": rid, "object": obj, "created": created, "model": model, "choices": [], "islands": found})
            pending: list[tuple[str, Any]] = [(kind, value)]
            started: set[int] = set()
            while True:
                k, v = pending.pop() if pending else await ticket.events.get()
                if k == "delta":
                    if final is not None:
                        continue
                    if v.index not in started:
                        started.add(v.index)
                        if chat or prefix:
                            yield chunk(v.index, {"role": "assistant", "content": ""} if chat else prefix)
                    yield chunk(v.index, {"content": v.text} if chat else v.text)
                elif k == "error":
                    err = from_islands(v)
                    yield event({"error": {"message": err.message, "type": "server_error", "param": err.param, "code": err.code}})
                    finished = True
                    break
                else:
                    for i, out in enumerate(v.outputs):
                        if final is not None:
                            delta, finish = final(out)
                            yield chunk(i, {"role": "assistant", **delta})
                            yield chunk(i, None, finish)
                            continue
                        if i not in started and (chat or prefix):
                            yield chunk(i, {"role": "assistant", "content": ""} if chat else prefix)
                        yield chunk(i, None, finish_of(out), getattr(out, "spans", None) if isinstance(v, IslandGeneration) else None)
                    if include_usage:  # OpenAI's stream_options.include_usage: a last chunk with no choices
                        yield event({"id": rid, "object": obj, "created": created, "model": model, "choices": [], "usage": usage(v)})
                    yield "data: [DONE]\n\n"
                    finished = True
                    break
        finally:
            if not finished:
                ticket.cancelled = True  # the client went away: free its branches

    return StreamingResponse(events(), media_type="text/event-stream")
