"""A request's sampling fields as one checked `SamplingParams`, and its output constraint
(grammar, json_schema, regex, choice or response_format) as one `Grammar`."""

from __future__ import annotations

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.grammar import Grammar
from islands.params import SamplingParams
from islands.server.errors import ApiError, param_of
from islands.server.schemas import Common, Limits

__all__ = ["grammar_of", "sampling_of"]


def sampling_of(req: Common, max_tokens: int | None, limits: Limits) -> SamplingParams:
    if not 1 <= req.n <= limits.max_n:
        raise ApiError(400, f"n must be between 1 and {limits.max_n}", "invalid_request_error", "n")
    tokens = max_tokens if max_tokens is not None else 256
    if not 1 <= tokens <= limits.max_tokens:
        raise ApiError(400, f"max_tokens must be between 1 and {limits.max_tokens}, got {tokens}", "invalid_request_error", "max_tokens")
    legacy = req.logprobs if isinstance(req.logprobs, int) and not isinstance(req.logprobs, bool) else 0
    top = req.top_logprobs if req.top_logprobs is not None else legacy
    want_logprobs = bool(req.logprobs) or req.top_logprobs is not None
    try:
        return SamplingParams(
            max_tokens=tokens, temperature=req.temperature, top_p=req.top_p, top_k=req.top_k, min_p=req.min_p,
            repeat_penalty=req.repeat_penalty, seed=req.seed, ignore_eos=req.ignore_eos,
            stop=tuple([req.stop] if isinstance(req.stop, str) else req.stop or ()),
            logprobs=top if want_logprobs else None,
        ).seeded()
    except InvalidInput as e:
        raise ApiError(400, str(e), param=param_of(e)) from None


def grammar_of(req: Common, engine: Engine) -> Grammar | None:
    """The one constraint a request asks for (None: free text), checked against `engine`."""
    chosen: list[tuple[str, Grammar]] = []
    if req.grammar is not None:
        chosen.append(("grammar", Grammar.gbnf(req.grammar)))
    if req.json_schema is not None:
        chosen.append(("json_schema", Grammar.json_schema(req.json_schema)))
    if req.regex is not None:
        chosen.append(("regex", Grammar.regex(req.regex)))
    if req.choice is not None:
        chosen.append(("choice", Grammar.choice(req.choice)))
    fmt = req.response_format or {}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise ApiError(400, "response_format.json_schema.schema must be an object", param="response_format")
        chosen.append(("response_format", Grammar.json_schema(schema)))
    elif fmt.get("type") == "json_object":
        chosen.append(("response_format", Grammar.json_schema({"type": "object"})))
    elif fmt.get("type") not in (None, "text"):
        raise ApiError(400, "response_format.type must be text, json_object or json_schema", param="response_format")
    if len(chosen) > 1:
        raise ApiError(400, "give at most one of grammar, json_schema, regex, choice, response_format", param=chosen[1][0])
    if not chosen:
        return None
    field, grammar = chosen[0]
    try:
        engine.check_grammar(grammar)
    except InvalidInput as e:
        raise ApiError(400, str(e), param=field) from None
    return grammar
