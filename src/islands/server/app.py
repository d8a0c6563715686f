"""The OpenAI-compatible API: /v1/completions, /v1/chat/completions (streaming or not),
/v1/models, /health and /metrics, over one engine shared by every request.

Responses are OpenAI's shapes plus `islands` (the engine counters) and, for requests with
hard-island tools, `spans` in each choice. Errors are OpenAI's shape too:
{"error": {"message", "type", "param", "code"}} with 400 (bad request), 401 (key), 404
(unknown model), 413 (body too large) or 503 (no sequence slots left).
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import (
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from pydantic import BaseModel, ValidationError

from islands.engine import Engine, Generation
from islands.grammar import Grammar
from islands.engine.stream import GenerationJob
from islands.errors import ContextFull, InvalidInput, TooManyBranches
from islands.flows.graph import Flow, FlowJob, load_flow
from islands.memory import MemoryStore, remember
from islands.memory.tools import recall_into
from islands.params import SamplingParams
from islands.server.loop import EngineLoop, Ticket
from islands.server.schemas import ChatRequest, Common, CompletionRequest, Limits
from islands.tools import IslandGeneration, IslandRunner, Registry

__all__ = ["create_app"]

FINISH = {"eos": "stop", "stop": "stop", "island": "stop", "length": "length"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str = "invalid_request_error", param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def _error(status: int, message: str, code: str, param: str | None = None) -> JSONResponse:
    kind = "authentication_error" if status == 401 else "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status_code=status)


def _from_islands(e: Exception) -> ApiError:
    if isinstance(e, ContextFull):
        return ApiError(400, str(e), "context_length_exceeded")
    if isinstance(e, InvalidInput):
        return ApiError(400, str(e), "invalid_request_error")
    if isinstance(e, TooManyBranches):
        return ApiError(503, str(e), "server_busy")
    return ApiError(500, f"{type(e).__name__}: {e}", "server_error")


def create_app(
    engine: Engine,
    *,
    model_name: str,
    api_key: str | None = None,
    limits: Limits | None = None,
    registry: Registry | None = None,
    flows: dict[str, Flow] | None = None,
    memory: MemoryStore | None = None,
) -> FastAPI:
    """The app over `engine`; the engine loop runs while the app does."""
    limits = limits or Limits()
    registry = registry or Registry.default()
    loop = EngineLoop(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loop.start()
        yield
        loop.stop()
        for island_runner in runners.values():
            island_runner.close()

    runners: dict[tuple[str, ...], IslandRunner] = {}
    app = FastAPI(title="islands", version="0.1.0", lifespan=lifespan)
    app.state.loop = loop

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, e: ApiError) -> JSONResponse:
        return _error(e.status, e.message, e.code, e.param)

    def authorize(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            raise ApiError(401, "missing or wrong API key (Authorization: Bearer ...)", "invalid_api_key")

    async def parse(request: Request, schema: type[BaseModel]) -> Any:
        authorize(request)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise ApiError(413, f"request body over {limits.max_body_bytes} bytes", "body_too_large")
        body = await request.body()
        if len(body) > limits.max_body_bytes:
            raise ApiError(413, f"request body over {limits.max_body_bytes} bytes", "body_too_large")
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ApiError(400, f"malformed JSON: {e}", "invalid_json") from None
        try:
            return schema.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ApiError(400, f"{where}: {first['msg']}", "invalid_request_error", where) from None

    def check(req: Common, max_tokens: int | None) -> SamplingParams:
        if req.model not in (None, "", model_name, "islands"):
            raise ApiError(404, f"model {req.model!r} not found; this server has {model_name!r}", "model_not_found", "model")
        if not 1 <= req.n <= limits.max_n:
            raise ApiError(400, f"n must be between 1 and {limits.max_n}", "invalid_request_error", "n")
        tokens = max_tokens if max_tokens is not None else 256
        if not 1 <= tokens <= limits.max_tokens:
            raise ApiError(400, f"max_tokens must be between 1 and {limits.max_tokens}, got {tokens}", "invalid_request_error", "max_tokens")
        top = req.top_logprobs if req.top_logprobs is not None else (req.logprobs if isinstance(req.logprobs, int) and not isinstance(req.logprobs, bool) else 0)
        want_logprobs = bool(req.logprobs) or req.top_logprobs is not None
        try:
            return SamplingParams(
                max_tokens=tokens, temperature=req.temperature, top_p=req.top_p, top_k=req.top_k, min_p=req.min_p,
                repeat_penalty=req.repeat_penalty, seed=req.seed, ignore_eos=req.ignore_eos,
                stop=tuple([req.stop] if isinstance(req.stop, str) else req.stop or ()),
                logprobs=top if want_logprobs else None,
            ).seeded()
        except InvalidInput as e:
            raise ApiError(400, str(e)) from None

    def grammar_of(req: Common) -> Grammar | None:
        chosen: list[Grammar] = []
        if req.grammar is not None:
            chosen.append(Grammar.gbnf(req.grammar))
        if req.json_schema is not None:
            chosen.append(Grammar.json_schema(req.json_schema))
        if req.regex is not None:
            chosen.append(Grammar.regex(req.regex))
        if req.choice is not None:
            chosen.append(Grammar.choice(req.choice))
        fmt = req.response_format or {}
        if fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema")
            if not isinstance(schema, dict):
                raise ApiError(400, "response_format.json_schema.schema must be an object", param="response_format")
            chosen.append(Grammar.json_schema(schema))
        elif fmt.get("type") == "json_object":
            chosen.append(Grammar.json_schema({"type": "object"}))
        if len(chosen) > 1:
            raise ApiError(400, "give at most one of grammar, json_schema, regex, choice, response_format")
        if chosen:
            try:
                engine.check_grammar(chosen[0])
            except InvalidInput as e:
                raise ApiError(400, str(e), param="grammar") from None
        return chosen[0] if chosen else None

    def job_factory(req: Common, prompt: str, params: SamplingParams, message: str | None = None) -> Any:
        if req.flow is not None:
            return flow_job(req, prompt)
        if req.memory:
            return memory_job(req, prompt, params, message if message is not None else prompt)
        grammar = grammar_of(req)
        names = req.tools or []
        if any(not isinstance(t, str) for t in names):
            raise ApiError(400, "tools takes hard-island names such as [\"calc\"]; OpenAI function tools are not supported", param="tools")
        if names and grammar is not None:
            raise ApiError(400, "tools cannot be combined with a grammar yet", param="tools")
        if names:
            try:
                chosen = registry.subset([str(t) for t in names])
            except InvalidInput as e:
                raise ApiError(400, str(e), param="tools") from None
            island_runner = runner_for(chosen)
            return lambda: island_runner.job(prompt, req.n, params)
        return lambda: GenerationJob(engine, prompt, req.n, params, engine.constraint(grammar) if grammar else None)

    def memory_job(req: Common, prompt: str, params: SamplingParams, message: str) -> Any:
        if memory is None:
            raise ApiError(400, "this server has no memory (start it with --memory FILE or URL)", param="memory")
        opts = req.memory if isinstance(req.memory, dict) else {}
        k = opts.get("k", 3)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 50:
            raise ApiError(400, "memory.k must be a whole number from 1 to 50", param="memory")
        if opts.get("recall", True):
            try:
                prompt, _ = recall_into(memory, prompt, message, k=k)
            except InvalidInput as e:
                raise ApiError(400, str(e), param="memory") from None
        plain = req.model_copy(update={"memory": None})

        def make() -> Any:  # on the loop thread: remember needs the engine
            if opts.get("remember", True) and message.strip():
                remember(engine, memory, message, source="server")
            return job_factory(plain, prompt, params)()

        return make

    def flow_job(req: Common, prompt: str) -> Any:
        if isinstance(req.flow, str):
            if req.flow not in (flows or {}):
                known = ", ".join(sorted(flows or {})) or "none (start the server with --flows DIR)"
                raise ApiError(404, f"unknown flow {req.flow!r}; served flows: {known}", "flow_not_found", "flow")
            flow = (flows or {})[req.flow]
        else:
            try:
                flow = load_flow(req.flow)
            except InvalidInput as e:
                raise ApiError(400, str(e), param="flow") from None
        inputs = req.inputs if req.inputs is not None else ({"question": prompt} if "question" in flow.inputs else {})
        return lambda: FlowJob(engine, flow, inputs)

    def runner_for(tools: Registry) -> IslandRunner:
        key = tuple(t.name for t in tools)
        if key not in runners:
            runners[key] = IslandRunner(engine, tools)
        return runners[key]

    async def first_event(ticket: Ticket) -> tuple[str, Any]:
        kind, value = await ticket.events.get()
        if kind == "error":
            raise _from_islands(value)
        return kind, value

    async def collect(ticket: Ticket) -> Generation | IslandGeneration:
        while True:
            kind, value = await first_event(ticket)
            if kind == "done":
                return value  # type: ignore[no-any-return]

    @app.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Response:
        req: CompletionRequest = await parse(request, CompletionRequest)
        params = check(req, req.max_tokens)
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if len(prompts) != 1 or not prompts[0]:
            raise ApiError(400, "prompt must be one non-empty string", param="prompt")
        ticket = loop.submit(job_factory(req, prompts[0], params))
        rid, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if req.stream:
            return await _stream(ticket, rid, created, chat=False, usage=bool((req.stream_options or {}).get("include_usage")))
        result = await collect(ticket)
        choices = _choices(result, lambda out: {"text": out.text, "logprobs": _legacy_logprobs(out)})
        return JSONResponse({"id": rid, "object": "text_completion", "created": created, "model": model_name,
                             "choices": choices, "usage": _usage(result), "islands": _extra(result)})

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Response:
        req: ChatRequest = await parse(request, ChatRequest)
        params = check(req, req.max_completion_tokens or req.max_tokens)
        messages = [("system" if m.role == "developer" else m.role, m.text()) for m in req.messages]
        prompt = engine.model.chat_prompt(messages)
        params = params.replace(stop=tuple(params.stop) + ("<end_of_turn>",))
        last_user = next((m.text() for m in reversed(req.messages) if m.role == "user"), "")
        ticket = loop.submit(job_factory(req, prompt, params, last_user))
        rid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if req.stream:
            return await _stream(ticket, rid, created, chat=True, usage=bool((req.stream_options or {}).get("include_usage")))
        result = await collect(ticket)
        choices = _choices(result, lambda out: {"message": {"role": "assistant", "content": out.text}, "logprobs": _chat_logprobs(out)})
        return JSONResponse({"id": rid, "object": "chat.completion", "created": created, "model": model_name,
                             "choices": choices, "usage": _usage(result), "islands": _extra(result)})

    async def _stream(ticket: Ticket, rid: str, created: int, *, chat: bool, usage: bool = False) -> Response:
        kind, value = await first_event(ticket)  # errors before the first byte get a status code
        obj = "chat.completion.chunk" if chat else "text_completion"

        def chunk(index: int, text: str | None, finish: str | None = None, role: bool = False) -> str:
            if chat:
                delta: dict[str, Any] = {"role": "assistant"} if role else ({"content": text} if text is not None else {})
                choice: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
            else:
                choice = {"index": index, "text": text or "", "finish_reason": finish, "logprobs": None}
            return "data: " + json.dumps({"id": rid, "object": obj, "created": created, "model": model_name, "choices": [choice]}) + "\n\n"

        async def events() -> AsyncIterator[str]:
            finished = False
            try:
                pending: list[tuple[str, Any]] = [(kind, value)]
                started: set[int] = set()
                while True:
                    k, v = pending.pop() if pending else await ticket.events.get()
                    if k == "delta":
                        if chat and v.index not in started:
                            started.add(v.index)
                            yield chunk(v.index, None, role=True)
                        yield chunk(v.index, v.text)
                    elif k == "error":
                        err = _from_islands(v)
                        yield "data: " + json.dumps({"error": {"message": err.message, "type": "server_error", "code": err.code}}) + "\n\n"
                        finished = True
                        break
                    else:
                        for i, out in enumerate(v.outputs):
                            if chat and i not in started:
                                yield chunk(i, None, role=True)
                            yield chunk(i, None, FINISH.get(out.finish_reason, "stop"))
                        if usage:  # OpenAI's stream_options.include_usage: a last chunk with no choices
                            yield "data: " + json.dumps({"id": rid, "object": obj, "created": created, "model": model_name, "choices": [], "usage": _usage(v)}) + "\n\n"
                        yield "data: [DONE]\n\n"
                        finished = True
                        break
            finally:
                if not finished:
                    ticket.cancelled = True  # the client went away: free its branches

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        authorize(request)
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": int(loop.started), "owned_by": "islands"}]}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_name, "live_requests": loop.live_jobs}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> str:
        uptime = max(time.monotonic() - loop.started, 1e-9)
        hit = loop.reused_tokens / loop.prompt_tokens if loop.prompt_tokens else 0.0
        rows = [
            ("islands_requests_total", "counter", "Requests admitted.", loop.requests),
            ("islands_sampled_tokens_total", "counter", "Tokens sampled for finished requests.", loop.sampled),
            ("islands_tokens_per_second", "gauge", "Sampled tokens per second since start.", round(loop.sampled / uptime, 3)),
            ("islands_live_requests", "gauge", "Requests being decoded now.", loop.live_jobs),
            ("islands_live_branches", "gauge", "Branches in the engine now.", engine.live_count),
            ("islands_prefix_cache_hit_ratio", "gauge", "Prompt tokens taken from the prefix cache.", round(hit, 4)),
        ]
        return "".join(f"# HELP {n} {h}\n# TYPE {n} {t}\n{n} {v}\n" for n, t, h, v in rows)

    return app


def _choices(result: Generation | IslandGeneration, body: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
    """One choice per output: index, finish_reason, the endpoint's own fields, spans with tools."""
    choices = []
    for i, out in enumerate(result.outputs):
        choice: dict[str, Any] = {"index": i, **body(out), "finish_reason": FINISH.get(out.finish_reason, "stop")}
        if isinstance(result, IslandGeneration):
            choice["spans"] = [asdict(s) for s in out.spans]
        choices.append(choice)
    return choices


def _usage(result: Generation | IslandGeneration) -> dict[str, int]:
    s = result.stats
    return {"prompt_tokens": s.prompt_tokens, "completion_tokens": s.sampled_tokens, "total_tokens": s.prompt_tokens + s.sampled_tokens}


def _extra(result: Generation | IslandGeneration) -> dict[str, Any]:
    extra: dict[str, Any] = {"stats": result.stats.to_dict()}
    flow = getattr(result, "flow", None)
    if flow is not None:
        extra["flow"] = flow.model_dump(mode="json")
    if isinstance(result, IslandGeneration):
        extra["injected_tokens"] = result.injected_tokens
    return extra


def _legacy_logprobs(out: Any) -> dict[str, Any] | None:
    lps = getattr(out, "logprobs", None)
    if lps is None:
        return None
    offsets, at = [], 0
    for lp in lps:
        offsets.append(at)
        at += len(lp.text)
    return {"tokens": [lp.text for lp in lps], "token_logprobs": [lp.logprob for lp in lps],
            "top_logprobs": [dict(lp.top) for lp in lps], "text_offset": offsets}


def _chat_logprobs(out: Any) -> dict[str, Any] | None:
    lps = getattr(out, "logprobs", None)
    if lps is None:
        return None
    return {"content": [{"token": lp.text, "logprob": lp.logprob, "bytes": list(lp.text.encode()),
                         "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in lp.top]} for lp in lps]}
