"""OpenAI function calling for the chat endpoint: `tools` of {"type": "function",
"function": {"name", "description", "parameters"}} and `tool_choice`.

The functions are described to the model in a system message; a call is the JSON object
{"name": ..., "arguments": {...}}, and a grammar built from the functions' JSON Schemas
makes the model write a valid one: "required" or a named function force a call, "auto"
lets the answer be a call or plain text (a reply that starts with "{" or "[" must be a
call), "none" leaves the functions out. Unless `parallel_tool_calls` is false, a reply may
hold several calls as a JSON array (at most 8). Earlier calls (assistant `tool_calls`) and their results
(role "tool") go back into the conversation as text the model can read.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from islands.grammar import Grammar
from islands.server.errors import ApiError
from islands.server.schemas import ChatMessage, ChatRequest

__all__ = ["Function", "FunctionCalling", "function_calling", "messages_of"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_PARALLEL_CALLS = 8


@dataclass(frozen=True)
class Function:
    name: str
    description: str
    parameters: dict[str, Any]


def _functions(tools: list[Any]) -> list[Function]:
    made: list[Function] = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(fn, dict):
            raise ApiError(400, f"tools[{i}] must be {{\"type\": \"function\", \"function\": {{...}}}} (or all tools hard-island names)",
                           param="tools")
        name = fn.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ApiError(400, f"tools[{i}].function.name must be 1-64 letters, digits, _ or -", param="tools")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise ApiError(400, f"tools[{i}].function.parameters must be a JSON Schema object", param="tools")
        made.append(Function(name, str(fn.get("description") or ""), params))
    if len({f.name for f in made}) != len(made):
        raise ApiError(400, "two tools have the same name", param="tools")
    return made


@dataclass
class FunctionCalling:
    """The functions a request offers and how the reply must treat them."""

    functions: list[Function]
    mode: str  # "auto", "required" (a named choice is "required" over one function)
    parallel: bool = True  # several calls in one reply, as a JSON array (OpenAI's parallel_tool_calls)

    def system_text(self) -> str:
        lines = [('You can call functions. To call one, reply with only a JSON object: '
                  '{"name": "<function name>", "arguments": {<the arguments>}}.')]
        if self.parallel:
            lines.append("To call several at once, reply with a JSON array of such objects.")
        if self.mode == "auto":
            lines.append("If no function is needed, reply in plain text instead.")
        lines.append("Functions:")
        for f in self.functions:
            lines.append(f"- {f.name}: {f.description or '(no description)'} Arguments (JSON Schema): {json.dumps(f.parameters)}")
        return "\n".join(lines)

    def grammar(self) -> Grammar:
        calls = [{"type": "object", "properties": {"name": {"const": f.name}, "arguments": f.parameters},
                  "required": ["name", "arguments"], "additionalProperties": False} for f in self.functions]
        schema: dict[str, Any] = calls[0] if len(calls) == 1 else {"anyOf": calls}
        if self.parallel:
            schema = {"anyOf": [schema, {"type": "array", "items": schema, "minItems": 1, "maxItems": MAX_PARALLEL_CALLS}]}
        if self.mode == "required":
            return Grammar.json_schema(schema)
        return Grammar.lark("start: call | text\ncall: %json " + json.dumps(schema) + "\ntext: /[^{\\[ \\t\\n](.|\\n)*/\n")

    def calls_in(self, text: str) -> list[dict[str, Any]] | None:
        """The reply's tool calls in OpenAI's shape, or None when it is plain text."""
        body = text.strip()
        if not body.startswith(("{", "[")):
            return None
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError:
            return None
        calls = parsed if isinstance(parsed, list) and self.parallel else [parsed]
        names = {f.name for f in self.functions}
        if not calls or not all(isinstance(c, dict) and c.get("name") in names and isinstance(c.get("arguments"), dict) for c in calls):
            return None
        return [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                 "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}} for c in calls]


def function_calling(req: ChatRequest) -> FunctionCalling | None:
    """The request's function calling, or None (no function tools, or tool_choice "none")."""
    tools = req.tools or []
    if not tools or all(isinstance(t, str) for t in tools):
        if req.tool_choice not in (None, "none", "auto"):
            raise ApiError(400, "tool_choice needs function tools", param="tool_choice")
        return None
    functions = _functions(tools)
    choice = req.tool_choice if req.tool_choice is not None else "auto"
    if choice == "none":
        return None
    parallel = req.parallel_tool_calls is not False
    if choice in ("auto", "required"):
        return FunctionCalling(functions, str(choice), parallel)
    name = choice.get("function", {}).get("name") if isinstance(choice, dict) and choice.get("type") == "function" else None
    chosen = [f for f in functions if f.name == name]
    if not chosen:
        raise ApiError(400, "tool_choice must be auto, none, required or {\"type\": \"function\", \"function\": {\"name\": "
                       "one of the tools}}", param="tool_choice")
    return FunctionCalling(chosen, "required", parallel)


def messages_of(messages: list[ChatMessage]) -> list[tuple[str, str]]:
    """The conversation as (role, text) for the model's chat template: developer is system;
    an assistant's tool calls are their JSON; a tool result is a user turn that says so."""
    names: dict[str, str] = {}
    made: list[tuple[str, str]] = []
    for m in messages:
        if m.role == "tool":
            name = names.get(m.tool_call_id or "", m.name or "the function")
            made.append(("user", f"{name} returned: {m.text()}"))
        elif m.role == "assistant" and m.tool_calls:
            parts = []
            for call in m.tool_calls:
                fn = call.get("function") or {}
                names[str(call.get("id", ""))] = str(fn.get("name", ""))
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except (json.JSONDecodeError, TypeError):
                    args = fn.get("arguments")
                parts.append(json.dumps({"name": fn.get("name"), "arguments": args}))
            made.append(("assistant", (m.text() + "\n" if m.text() else "") + "\n".join(parts)))
        else:
            made.append(("system" if m.role == "developer" else m.role, m.text()))
    return made
