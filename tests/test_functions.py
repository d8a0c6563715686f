"""OpenAI function calling without a model: which functions a request offers under each
tool_choice, the grammar that forces a valid call, reading a call back, and the
conversation with earlier calls and their results."""

from __future__ import annotations

import json
from typing import Any

import pytest

from islands.engine.grammar import check_grammar
from islands.server.errors import ApiError
from islands.server.functions import function_calling, messages_of
from islands.server.schemas import ChatMessage, ChatRequest

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather now.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}


def _req(**kw: Any) -> ChatRequest:
    return ChatRequest.model_validate({"messages": [{"role": "user", "content": "hi"}], **kw})


def test_tool_choice_picks_the_mode_and_functions() -> None:
    assert function_calling(_req()) is None
    assert function_calling(_req(tools=["calc"])) is None  # hard-island names: islands' own extension
    assert function_calling(_req(tools=[WEATHER], tool_choice="none")) is None
    auto = function_calling(_req(tools=[WEATHER, TIME]))
    assert auto is not None and auto.mode == "auto" and [f.name for f in auto.functions] == ["get_weather", "get_time"]
    named = function_calling(_req(tools=[WEATHER, TIME], tool_choice={"type": "function", "function": {"name": "get_time"}}))
    assert named is not None and named.mode == "required" and [f.name for f in named.functions] == ["get_time"]
    assert named.functions[0].parameters == {"type": "object", "properties": {}}  # no parameters: an empty object


@pytest.mark.parametrize(
    ("kw", "param"),
    [
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
        ({"tools": ["calc"], "tool_choice": "required"}, "tool_choice"),
        ({"tools": [WEATHER, WEATHER]}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools"),
        ({"tools": [{"type": "retrieval"}]}, "tools"),
    ],
)
def test_bad_function_requests(kw: dict[str, Any], param: str) -> None:
    with pytest.raises(ApiError) as e:
        function_calling(_req(**kw))
    assert e.value.status == 400 and e.value.param == param


def test_grammars_compile_and_calls_read_back() -> None:
    required = function_calling(_req(tools=[WEATHER, TIME], tool_choice="required"))
    auto = function_calling(_req(tools=[WEATHER]))
    assert required is not None and auto is not None
    assert required.grammar().kind == "json_schema" and auto.grammar().kind == "lark"
    check_grammar(required.grammar())
    check_grammar(auto.grammar())
    assert "get_weather" in required.system_text() and "plain text" in auto.system_text()
    calls = required.calls_in(' {"name": "get_weather", "arguments": {"city": "Oslo"}}')
    assert calls is not None and calls[0]["type"] == "function" and calls[0]["id"].startswith("call_")
    assert calls[0]["function"] == {"name": "get_weather", "arguments": json.dumps({"city": "Oslo"})}
    for text in ("Sunny today.", '{"name": "nope", "arguments": {}}', '{"name": "get_weather", "argu', '{"name": "get_time"}', "[]",
                 '[{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "nope", "arguments": {}}]'):
        assert required.calls_in(text) is None


def test_several_calls_in_one_reply_unless_parallel_calls_are_off() -> None:
    both = '[{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "get_time", "arguments": {"zone": "UTC"}}]'
    parallel = function_calling(_req(tools=[WEATHER, TIME], tool_choice="required"))
    single = function_calling(_req(tools=[WEATHER, TIME], tool_choice="required", parallel_tool_calls=False))
    auto = function_calling(_req(tools=[WEATHER, TIME]))
    assert parallel is not None and single is not None and auto is not None
    calls = parallel.calls_in(both)
    assert calls is not None and [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert len({c["id"] for c in calls}) == 2
    assert single.calls_in(both) is None and "JSON array" not in single.system_text()
    assert "JSON array" in parallel.system_text()
    for calling in (parallel, single, auto):
        check_grammar(calling.grammar())
    assert '"type": "array"' in parallel.grammar().source and '"type": "array"' not in single.grammar().source


def test_earlier_calls_and_results_go_back_as_text() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    msgs = [
        ChatMessage(role="developer", content="Be brief."),
        ChatMessage(role="user", content="Weather in Oslo?"),
        ChatMessage(role="assistant", content=None, tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id="call_1", content="Rain, 8 degrees."),
    ]
    assert messages_of(msgs) == [
        ("system", "Be brief."),
        ("user", "Weather in Oslo?"),
        ("assistant", '{"name": "get_weather", "arguments": {"city": "Oslo"}}'),
        ("user", "get_weather returned: Rain, 8 degrees."),
    ]
