"""POST /v1/completions: text after a prompt (n branches, a grammar, hard-island tools, a
flow, memory), streamed or whole; `echo` puts the prompt before each text, and with
`logprobs` and `max_tokens: 0` answers the prompt's own log-probabilities (OpenAI's legacy
scoring, what a `RemoteEngine.score` asks). Each choice says the stop string that ended it
(`stop_reason`, null for end-of-generation, as vLLM does)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from islands.engine import Generation, Output, TokenLogprob
from islands.engine.driver import ThreadJob
from islands.engine.stream import Job
from islands.errors import InvalidInput
from islands.memory.tools import recall_into
from islands.server.errors import ApiError
from islands.server.jobs import job_for, memory_ask
from islands.server.responses import choices, collect, extra, legacy_logprobs, recalled_of, stream, usage
from islands.server.sampling import sampling_of
from islands.server.schemas import CompletionRequest
from islands.server.state import state_of

__all__ = ["router"]

router = APIRouter()


@router.post("/v1/completions", response_model=None)
async def completions(request: Request) -> Response:
    state = state_of(request)
    req = await state.parse(request, CompletionRequest)
    served = await state.models.pick(req.model)
    prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
    if len(prompts) != 1 or not prompts[0]:
        raise ApiError(400, "prompt must be one non-empty string", param="prompt")
    prompt = given = prompts[0]
    if req.echo and req.max_tokens == 0:
        return await _prompt_logprobs(request, req, prompt)
    params = sampling_of(req, req.max_tokens, state.limits)
    if req.tools and not all(isinstance(t, str) for t in req.tools):
        raise ApiError(400, "OpenAI function tools are for /v1/chat/completions; here tools takes hard-island names such as [\"calc\"]",
                       param="tools")
    if req.echo and req.flow is not None:
        raise ApiError(400, "echo cannot be combined with a flow", param="echo")
    ask = memory_ask(state, req)
    recalled: list[dict[str, Any]] = []
    if ask is not None and ask.recall:
        try:
            why = {m.id: m for m in ask.store.search(given, k=ask.k, touch=False)}  # the same ranking recall_into makes, with scores
            prompt, soft = recall_into(ask.store, prompt, given, k=ask.k)
        except InvalidInput as e:
            raise ApiError(400, str(e), param="memory") from None
        ids = [int(s.ref.removeprefix("memory #")) for s in soft if s.ref.removeprefix("memory #").isdigit()]
        recalled = recalled_of([why[i] for i in ids if i in why])
    assert served.loop is not None
    ticket = served.loop.submit(job_for(state, served, req, prompt, params, remember=given), deltas=req.stream)
    rid, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    echo = given if req.echo else ""
    if req.stream:
        include = bool((req.stream_options or {}).get("include_usage"))
        return await stream(ticket, rid, created, served.name, chat=False, include_usage=include, prefix=echo, recalled=recalled)
    result = await collect(ticket, request)
    made = choices(result, lambda out: {"text": echo + out.text, "logprobs": legacy_logprobs(out, len(echo)),
                                        "stop_reason": getattr(out, "stop", None),
                                        **({"token_ids": list(out.tokens)} if req.return_token_ids else {})})
    return JSONResponse({"id": rid, "object": "text_completion", "created": created, "model": served.name,
                         "choices": made, "usage": usage(result), "islands": extra(result) | ({"recalled": recalled} if recalled else {})})


async def _prompt_logprobs(request: Request, req: CompletionRequest, prompt: str) -> Response:
    """The log-probability of every prompt token after the ones before it (the first one's
    after the model's BOS, where it has one), computed by the engine loop beside the other
    requests."""
    if req.logprobs is None or req.logprobs is False:
        raise ApiError(400, "echo with max_tokens 0 scores the prompt: ask for logprobs too", param="logprobs")
    if req.stream:
        raise ApiError(400, "prompt log-probabilities are not streamed", param="stream")
    if req.flow is not None or req.tools or req.memory:
        raise ApiError(400, "prompt log-probabilities take a plain prompt (no flow, tools or memory)", param="echo")
    state = state_of(request)
    served = await state.models.pick(req.model)
    assert served.loop is not None and served.engine is not None
    engine, driver = served.engine, served.loop.driver

    def make() -> Job:
        def work(_emit: Callable[[str], None]) -> Generation:
            score = engine.score("", prompt)
            lps = [TokenLogprob(t, p, lp) for t, p, lp in zip(score.tokens, score.pieces, score.logprobs)]
            return Generation([Output(prompt, [], "length", 0, lps)], score.stats)

        return ThreadJob(driver, work)

    result = await collect(served.loop.submit(make, deltas=False), request)
    out = result.outputs[0]
    rid, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    choice = {"index": 0, "text": prompt, "finish_reason": "length", "logprobs": legacy_logprobs(out)}
    return JSONResponse({"id": rid, "object": "text_completion", "created": created, "model": served.name, "choices": [choice],
                         "usage": {"prompt_tokens": len(out.logprobs or []), "completion_tokens": 0,
                                   "total_tokens": len(out.logprobs or [])}, "islands": extra(result)})
