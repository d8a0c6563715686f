"""POST /v1/chat/completions: a conversation in the model's own chat template (the chat
model by default), ending at the template's end of turn; OpenAI function calling; memories
recalled into the last user message the way `islands chat` does it."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from islands.errors import InvalidInput
from islands.flows.chat import chat_params, with_memories
from islands.server.errors import ApiError
from islands.server.functions import FunctionCalling, function_calling, messages_of
from islands.server.jobs import job_for, memory_ask
from islands.server.responses import chat_logprobs, choices, collect, extra, finish_of, recalled_of, stream, usage
from islands.server.sampling import sampling_of
from islands.server.schemas import ChatRequest
from islands.server.state import state_of

__all__ = ["router"]

router = APIRouter()


def _reply(calling: FunctionCalling | None, out: Any, *, streamed: bool = False) -> tuple[dict[str, Any], str]:
    """An output as the assistant's message (text or tool calls) and its finish_reason; a
    streamed delta numbers its calls (`index`), as OpenAI's chunks do."""
    calls = calling.calls_in(out.text) if calling is not None else None
    if calls and streamed:
        calls = [{"index": i, **call} for i, call in enumerate(calls)]
    if calls:
        return {"content": None, "tool_calls": calls}, "tool_calls"
    return {"content": out.text}, finish_of(out)


@router.post("/v1/chat/completions", response_model=None)
async def chat(request: Request) -> Response:
    state = state_of(request)
    req = await state.parse(request, ChatRequest)
    served = await state.models.pick(req.model, chat=True)
    engine = served.engine
    assert engine is not None and served.loop is not None
    params = sampling_of(req, req.max_completion_tokens or req.max_tokens, state.limits)
    calling = function_calling(req)
    messages = messages_of(req.messages)
    grammar = None
    if calling is not None:
        if req.flow is not None or any(x is not None for x in (req.grammar, req.json_schema, req.regex, req.choice)) \
                or (req.response_format or {}).get("type") not in (None, "text"):
            raise ApiError(400, "function tools cannot be combined with a flow or an output constraint", param="tools")
        if messages and messages[0][0] == "system":
            messages[0] = ("system", messages[0][1] + "\n\n" + calling.system_text())
        else:
            messages.insert(0, ("system", calling.system_text()))
        grammar = calling.grammar()
        try:
            engine.check_grammar(grammar)
        except InvalidInput as e:
            raise ApiError(400, f"a function's parameters: {e}", param="tools") from None
    last_user = next((m.text() for m in reversed(req.messages) if m.role == "user"), "")
    ask = memory_ask(state, req)
    recalled: list[dict[str, Any]] = []
    if ask is not None and ask.recall:
        messages, found = await asyncio.to_thread(with_memories, ask.store, messages, ask.k)
        recalled = recalled_of(found)
    try:
        prompt = engine.model.chat_prompt(messages)
    except InvalidInput as e:
        raise ApiError(400, str(e), param="messages") from None
    params = chat_params(engine.model, params)
    ticket = served.loop.submit(job_for(state, served, req, prompt, params, grammar=grammar, remember=last_user), deltas=req.stream)
    rid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    if req.stream:
        include = bool((req.stream_options or {}).get("include_usage"))
        final = (lambda out: _reply(calling, out, streamed=True)) if calling is not None else None
        return await stream(ticket, rid, created, served.name, chat=True, include_usage=include, final=final, recalled=recalled)
    result = await collect(ticket, request)
    made = choices(result, lambda out: {"message": {"role": "assistant", **_reply(calling, out)[0]}, "logprobs": chat_logprobs(out)})
    for choice, out in zip(made, result.outputs, strict=True):
        choice["finish_reason"] = _reply(calling, out)[1]
    return JSONResponse({"id": rid, "object": "chat.completion", "created": created, "model": served.name,
                         "choices": made, "usage": usage(result), "islands": extra(result) | ({"recalled": recalled} if recalled else {})})
