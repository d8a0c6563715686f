"""Request bodies of the OpenAI-compatible API, with islands' extensions.

Plain OpenAI fields keep their meaning and defaults. Extensions (ignored by plain
clients, sent by others as extra body fields): `top_k`, `min_p`, `repeat_penalty`,
`ignore_eos`, `grammar` (GBNF or Lark), `json_schema`, `regex`, `choice`, `tools`
(hard-island tool names, e.g. ["calc", "py"]; a list of {"type": "function", ...}
objects is OpenAI function calling, with `tool_choice`), `flow` (a named flow or a flow graph) with
`inputs`, `memory` ({"recall": true, "remember": true, "k": 3}: memories recalled into
the prompt as soft islands, the last user message remembered after, surprise-gated). OpenAI's `response_format` with
`{"type": "json_schema", "json_schema": {"schema": ...}}` or `{"type": "json_object"}`
constrains the output the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ChatMessage", "ChatRequest", "CompletionRequest", "EmbeddingRequest", "Limits"]


class Limits(BaseModel):
    """What one request may ask for."""

    max_body_bytes: int = 1_000_000
    max_tokens: int = 4096
    max_n: int = 64


class Common(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: Any = None
    top_logprobs: int | None = None
    response_format: dict[str, Any] | None = None
    # islands extensions
    top_k: int = 0
    min_p: float = 0.0
    repeat_penalty: float = 1.0
    ignore_eos: bool = False
    grammar: str | None = None
    json_schema: dict[str, Any] | str | None = None
    regex: str | None = None
    choice: list[str] | None = None
    tools: list[Any] | None = None  # hard-island names, or OpenAI function tools (chat)
    tool_choice: str | dict[str, Any] | None = None  # "auto", "none", "required" or {"type": "function", ...}
    parallel_tool_calls: bool | None = None
    flow: str | dict[str, Any] | None = None  # a flow name (served with --flows DIR) or a flow graph
    inputs: dict[str, str] | None = None  # the flow's inputs (default: the prompt as "question")
    memory: dict[str, Any] | bool | None = None  # {"recall": true, "remember": true, "k": 3}


class CompletionRequest(Common):
    prompt: str | list[str] = Field(...)
    max_tokens: int | None = 16
    echo: bool = False  # with logprobs and max_tokens 0: the prompt's log-probabilities (scoring)
    return_token_ids: bool = False  # each choice's sampled token ids as `token_ids` (vLLM's field)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] | None = ""
    tool_calls: list[dict[str, Any]] | None = None  # an assistant's earlier function calls
    tool_call_id: str | None = None  # a tool message: the call it answers
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # [{"type": "text", "text": ...}, ...]
            return "".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""


class ChatRequest(Common):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_completion_tokens: int | None = None


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: str | list[str] = Field(...)
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
