"""`islands serve` on 127.0.0.1 with the embedded models (gemma-3-270m for completions,
smollm2-135m-instruct for chat, loaded on the first chat), driven by the official `openai`
client: completion, chat that ends its turn, streaming, n>1, JSON-schema response_format
(also cut by max_tokens), function calling, embeddings, a hard-island call, a wrong API
key, bad requests, and 64 concurrent streaming clients (bounded)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

pytestmark = pytest.mark.model

KEY = "test-key-123"
LOGS: dict[str, Path] = {}  # a server's base URL -> the file its stdout and stderr go to


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    islands = str(Path(sys.executable).parent / "islands")
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    log = log_path.open("w")
    flows = Path(__file__).parent.parent / "examples" / "flows"
    proc = subprocess.Popen(
        [islands, "serve", "--port", str(port), "--api-key", KEY, "--ctx", "8192", "--flows", str(flows), "--embedder", "hash"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # model_path: the embedded base model is assembled
    base = f"http://127.0.0.1:{port}"
    LOGS[base] = log_path
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def client(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0, timeout=120)


def test_models_and_completion(client: openai.OpenAI) -> None:
    names = [m.id for m in client.models.list().data]
    assert names == ["gemma-3-270m", "smollm2-135m-instruct"]
    name = names[0]
    done = client.completions.create(model=name, prompt="The capital of France is", max_tokens=8, temperature=0)
    assert done.choices[0].text.strip()
    assert done.usage is not None and done.usage.completion_tokens <= 8 and done.usage.prompt_tokens == 6


def test_chat_ends_its_turn(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="islands", messages=[{"role": "user", "content": "What is the capital of France?"}], max_tokens=30, temperature=0
    )
    assert reply.model == "smollm2-135m-instruct"  # the chat model by default
    assert reply.choices[0].message.role == "assistant"
    assert "Paris" in (reply.choices[0].message.content or "")
    assert reply.choices[0].finish_reason == "stop"  # at the end-of-turn token, not max_tokens
    assert reply.usage is not None and reply.usage.completion_tokens < 30
    base = client.chat.completions.create(model="gemma-3-270m", messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    assert base.model == "gemma-3-270m"  # a model named in the request answers


def test_structured_output_cut_by_max_tokens_says_length(client: openai.OpenAI) -> None:
    schema: Any = {"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]}
    reply = client.chat.completions.create(
        model="islands",
        messages=[{"role": "user", "content": "Tell a long story in JSON."}],
        max_tokens=5,
        seed=1,
        response_format={"type": "json_schema", "json_schema": {"name": "story", "schema": schema}},
    )
    assert reply.choices[0].finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.choices[0].message.content or "")


def test_streaming(client: openai.OpenAI) -> None:
    pieces, finishes = [], []
    for chunk in client.chat.completions.create(
        model="islands", messages=[{"role": "user", "content": "Count to five."}], max_tokens=12, stream=True, seed=2
    ):
        delta = chunk.choices[0].delta
        if delta.content:
            pieces.append(delta.content)
        if chunk.choices[0].finish_reason:
            finishes.append(chunk.choices[0].finish_reason)
    assert pieces and finishes == [finishes[0]] and finishes[0] in ("stop", "length")
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(model="islands", prompt="Once upon a time", max_tokens=10, temperature=0, stream=True)
    )
    whole = client.completions.create(model="islands", prompt="Once upon a time", max_tokens=10, temperature=0).choices[0].text
    assert streamed == whole


def test_n_branches(client: openai.OpenAI) -> None:
    done = client.completions.create(model="islands", prompt="Three islands:", max_tokens=8, n=4, seed=3, temperature=1.0)
    assert sorted(c.index for c in done.choices) == [0, 1, 2, 3]
    assert len({c.text for c in done.choices}) > 1
    extra = done.model_extra or {}
    stats = extra["islands"]["stats"]
    assert stats["prefill_tokens"] + stats["reused_tokens"] == done.usage.prompt_tokens  # type: ignore[union-attr]  # once, not 4x


def test_json_schema_response_format(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "boolean"}}, "required": ["answer"], "additionalProperties": False}
    reply = client.chat.completions.create(
        model="islands",
        messages=[{"role": "user", "content": "Is the sea salty? Reply in JSON."}],
        max_tokens=20,
        seed=4,
        response_format={"type": "json_schema", "json_schema": {"name": "yes_no", "schema": schema}},
    )
    assert isinstance(json.loads(reply.choices[0].message.content or "")["answer"], bool)


def test_hard_island_call(client: openai.OpenAI) -> None:
    done = client.completions.create(
        model="islands", prompt="2^100 is CALC(2^100)", max_tokens=4, temperature=0, extra_body={"tools": ["calc"]}
    )
    assert done.choices[0].text.startswith(f" => {2**100}")
    spans = (done.choices[0].model_extra or {})["spans"]
    assert spans[0]["kind"] == "hard" and spans[0]["tool"] == "CALC"


def test_wrong_api_key(server: str) -> None:
    bad = openai.OpenAI(base_url=f"{server}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"model": "gpt-9", "prompt": "x"}, 404, "not found"),
        ({"prompt": "x", "max_tokens": -1}, 400, "max_tokens"),
        ({"prompt": "x", "regex": "a("}, 400, "position 1"),
        ({"prompt": "x", "n": 999}, 400, "n must be"),
        ({"prompt": ""}, 400, "prompt"),
        ({"prompt": "x", "temperature": -2}, 400, "temperature"),
        ({"prompt": "x", "tools": ["nope"]}, 400, "unknown tool"),
    ],
)
def test_bad_requests(server: str, body: dict[str, object], status: int, words: str) -> None:
    r = httpx.post(f"{server}/v1/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]


def test_malformed_and_oversized(server: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    r = httpx.post(f"{server}/v1/completions", content=b"{not json", headers=auth, timeout=30)
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]["message"]
    r = httpx.post(f"{server}/v1/completions", content=b'{"prompt": "' + b"x" * 2_000_000 + b'"}', headers=auth, timeout=30)
    assert r.status_code == 413
    assert httpx.get(f"{server}/health", timeout=5).json()["status"] == "ok"  # still serving


def test_sixty_four_concurrent_streams(server: str, client: openai.OpenAI) -> None:
    def one(i: int) -> tuple[int, str | None]:
        text, finish = "", None
        for chunk in client.completions.create(
            model="islands", prompt=f"Island number {i} is called", max_tokens=8, stream=True, seed=i, extra_body={"ignore_eos": True}
        ):
            text += chunk.choices[0].text
            finish = chunk.choices[0].finish_reason or finish
        return len(text), finish

    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(one, range(64)))
    assert all(finish == "length" and n > 0 for n, finish in results)
    metrics = httpx.get(f"{server}/metrics", timeout=5).text
    assert "islands_requests_total" in metrics and "islands_live_branches 0" in metrics


def test_a_client_that_disconnects_frees_its_branches(server: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    body = {"prompt": "A very long story:", "max_tokens": 2000, "n": 4, "stream": True, "ignore_eos": True}
    with httpx.stream("POST", f"{server}/v1/completions", json=body, headers=auth, timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                break  # one chunk, then hang up
    live = None
    for _ in range(100):
        metrics = httpx.get(f"{server}/metrics", timeout=5).text
        live = next(line for line in metrics.splitlines() if line.startswith("islands_live_branches "))
        if live.endswith(" 0"):
            break
        time.sleep(0.1)
    assert live == "islands_live_branches 0"


def test_bench_serve_runs_a_tiny_load(real: object) -> None:
    from islands.server.bench import bench_serve

    result = bench_serve(real, requests=4, tokens=4)  # type: ignore[arg-type]
    assert result["requests"] == 4 and result["p95_s"] >= result["p50_s"] > 0
    assert result["p50_s"] > 0.75 * result["stream_s"]  # the four finished together: decoded in shared steps, not in turn
    assert 0 < result["fraction_of_engine"] and result["loop"]["step_s"] > 0


def test_remote_engine_against_the_server(server: str) -> None:
    from islands import InvalidInput, SamplingParams
    from islands.engine.remote import RemoteEngine
    from islands.grammar import Grammar

    remote = RemoteEngine([server], "islands", api_key=KEY)
    try:
        greedy = SamplingParams(temperature=0, max_tokens=8)
        direct = httpx.post(
            f"{server}/v1/completions",
            json={"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=60,
        ).json()
        got = remote.generate("The capital of France is", params=greedy)
        assert got.text == direct["choices"][0]["text"]
        assert got.stats.sampled_tokens == direct["usage"]["completion_tokens"]
        many = remote.generate("Islands:", n=3, params=SamplingParams(max_tokens=6, seed=1))
        assert len(many.outputs) == 3
        schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": False}
        doc = remote.generate("JSON:", params=SamplingParams(max_tokens=20, seed=1), grammar=Grammar.json_schema(schema)).text
        assert isinstance(json.loads(doc)["ok"], bool)
        before = remote.attempts
        with pytest.raises(InvalidInput, match="max_tokens"):
            remote.generate("x", params=SamplingParams(max_tokens=99_999))
        assert remote.attempts == before + 1  # a 4xx is never retried
    finally:
        remote.close()


def test_remote_engine_spreads_and_retries(server: str) -> None:
    from islands import EngineError, SamplingParams
    from islands.engine.remote import RemoteEngine

    dead = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    remote = RemoteEngine([dead, server], "islands", api_key=KEY, backoff=0.01)
    try:
        out = remote.generate("Hello", params=SamplingParams(max_tokens=4, seed=1))
        assert out.outputs[0].text and remote.attempts == 2  # the dead one first, then the live one
    finally:
        remote.close()
    nobody = RemoteEngine([dead], "islands", retries=2, backoff=0.01)
    with pytest.raises(EngineError, match="no server answered after 3 attempts"):
        nobody.generate("Hello", params=SamplingParams(max_tokens=4))
    nobody.close()


def test_hard_islands_against_a_remote_server(server: str) -> None:
    from islands import SamplingParams
    from islands.engine.remote import RemoteEngine
    from islands.tools import IslandRunner, Registry, calc

    runner = IslandRunner(RemoteEngine([server], "islands", api_key=KEY), Registry.default())
    try:
        ended = runner.generate("2^64 is CALC(2^64)", params=SamplingParams(max_tokens=4, temperature=0))
        assert ended.outputs[0].text.startswith(f" => {2**64}")
        few_shot = "Q: What is 12 * 34?\nA: CALC(12*34) => 408\nQ: What is 2^64?\nA: CALC("
        g = runner.generate(few_shot, params=SamplingParams(max_tokens=20, temperature=0, stop=("\n",)))
    finally:
        runner.close()
    out = g.outputs[0]
    hard = [s for s in out.spans if s.kind == "hard"]
    assert hard and hard[0].result == calc(hard[0].args or "")
    assert out.text[: hard[0].start].endswith(")")  # the model closed the call; then the result


def test_named_and_inline_flows(client: openai.OpenAI, server: str) -> None:
    done = client.completions.create(
        model="islands", prompt="What is the capital of Italy?", max_tokens=8, extra_body={"flow": "best-of-n"}
    )
    extra = done.model_extra or {}
    assert done.choices[0].text == extra["islands"]["flow"]["output"]
    assert len(extra["islands"]["flow"]["values"]["drafts"]) == 4
    inline = {
        "name": "one",
        "inputs": {"q": "x"},
        "nodes": [{"id": "g", "op": "generate", "prompt": "{q} is", "max_tokens": 4, "temperature": 0}],
    }
    done = client.completions.create(
        model="islands", prompt="unused", max_tokens=4, extra_body={"flow": inline, "inputs": {"q": "The sea"}}
    )
    assert done.choices[0].text
    auth = {"Authorization": f"Bearer {KEY}"}
    r = httpx.post(f"{server}/v1/completions", json={"prompt": "x", "flow": "nope"}, headers=auth, timeout=30)
    assert r.status_code == 404 and "best-of-n" in r.json()["error"]["message"]
    r = httpx.post(
        f"{server}/v1/completions",
        json={"prompt": "x", "flow": {"name": "bad", "nodes": [{"id": "a", "op": "zap"}]}},
        headers=auth,
        timeout=30,
    )
    assert r.status_code == 400 and "node 'a'" in r.json()["error"]["message"]


WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 40}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The time in a time zone.",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string", "maxLength": 40}}, "required": ["zone"]},
    },
}


def test_function_calling(client: openai.OpenAI) -> None:
    ask: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
    reply = client.chat.completions.create(
        model="islands", messages=ask, tools=[WEATHER, TIME], tool_choice="required", max_tokens=60, temperature=0
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call: Any = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name in ("get_weather", "get_time") and call.id.startswith("call_")
    assert isinstance(json.loads(call.function.arguments), dict)
    named = client.chat.completions.create(
        model="islands",
        messages=ask,
        tools=[WEATHER, TIME],
        max_tokens=60,
        temperature=0,
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    forced: Any = named.choices[0].message.tool_calls
    assert forced and forced[0].function.name == "get_time"
    assert "zone" in json.loads(forced[0].function.arguments)
    plain = client.chat.completions.create(model="islands", messages=ask, tools=[WEATHER], tool_choice="none", max_tokens=20, temperature=0)
    assert plain.choices[0].message.tool_calls is None and plain.choices[0].message.content
    history: Any = [
        *ask,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 24 degrees."},
    ]
    answered = client.chat.completions.create(model="islands", max_tokens=40, temperature=0, tools=[WEATHER], messages=history)
    assert answered.choices[0].finish_reason in ("stop", "tool_calls", "length")
    assert answered.choices[0].message.content or answered.choices[0].message.tool_calls


def test_function_calls_stream(client: openai.OpenAI) -> None:
    calls: list[Any] = []
    finishes: list[str] = []
    oslo: Any = [{"role": "user", "content": "Weather in Oslo?"}]
    for chunk in client.chat.completions.create(
        model="islands", messages=oslo, tools=[WEATHER], tool_choice="required", max_tokens=60, temperature=0, stream=True
    ):
        delta = chunk.choices[0].delta
        calls += delta.tool_calls or []
        if chunk.choices[0].finish_reason:
            finishes.append(chunk.choices[0].finish_reason)
    assert finishes == ["tool_calls"] and calls and calls[0].function and calls[0].function.name == "get_weather"
    assert "city" in json.loads(calls[0].function.arguments or "")
    assert [c.index for c in calls] == list(range(len(calls)))  # streamed calls are numbered, as OpenAI's are


def test_function_calling_bad_requests(server: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    msgs = [{"role": "user", "content": "hi"}]
    for body, words in [
        ({"messages": msgs, "tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"messages": msgs, "tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "name"),
        ({"messages": msgs, "tools": [WEATHER, "calc"]}, "tools[1]"),
        ({"messages": msgs, "tools": [WEATHER], "regex": "a+"}, "output constraint"),
    ]:
        r = httpx.post(f"{server}/v1/chat/completions", json=body, headers=auth, timeout=30)
        assert r.status_code == 400 and words in r.json()["error"]["message"], r.text


def test_embeddings(client: openai.OpenAI) -> None:
    got = client.embeddings.create(model="islands", input=["the ferry to Hoy", "the ferry to Hoy", "numbers are exact"])
    vectors = [d.embedding for d in got.data]
    assert got.model == "hash-256" and len(vectors) == 3 and len(vectors[0]) == 256
    assert vectors[0] == vectors[1] and vectors[0] != vectors[2]
    assert abs(sum(x * x for x in vectors[0]) - 1.0) < 1e-4  # unit vectors


def _chat_openai(server: str, **kw: Any) -> Any:
    langchain_openai = pytest.importorskip("langchain_openai")
    return langchain_openai.ChatOpenAI(
        base_url=f"{server}/v1", api_key=KEY, model="islands", temperature=0, max_retries=0, timeout=120, **kw
    )


def test_langchain_invoke_stream_batch(server: str) -> None:
    llm = _chat_openai(server, max_tokens=30)
    reply = llm.invoke("What is the capital of France?")
    assert "Paris" in reply.content and reply.response_metadata["finish_reason"] == "stop"
    assert reply.response_metadata["model_name"] == "smollm2-135m-instruct"
    pieces = [chunk.content for chunk in llm.stream("What is the capital of France?")]
    assert len(pieces) > 2 and "".join(pieces) == reply.content  # streamed token by token, the same greedy text
    many = llm.batch(["Say hi.", "Name a colour.", "Name a fruit."])
    assert len(many) == 3 and all(m.content for m in many)


def test_langchain_structured_output(server: str) -> None:
    from pydantic import BaseModel, Field

    class City(BaseModel):
        name: str = Field(max_length=30)
        country: str = Field(max_length=30)

    got = _chat_openai(server, max_tokens=60).with_structured_output(City, method="json_schema").invoke("Name a city in Italy.")
    assert isinstance(got, City) and got.name and got.country


def test_langchain_tool_calling_round(server: str) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city now."""
        return f"Sunny and 24 degrees in {city}."

    llm = _chat_openai(server, max_tokens=60).bind_tools([get_weather], tool_choice="required")
    messages: list[Any] = [HumanMessage("What is the weather in Paris?")]
    ai = llm.invoke(messages)
    assert ai.tool_calls and ai.tool_calls[0]["name"] == "get_weather" and isinstance(ai.tool_calls[0]["args"]["city"], str)
    messages += [ai, ToolMessage(get_weather.invoke(ai.tool_calls[0]["args"]), tool_call_id=ai.tool_calls[0]["id"])]
    final = _chat_openai(server, max_tokens=40).bind_tools([get_weather]).invoke(messages)  # tool_choice auto: text or another call
    assert final.content or final.tool_calls


def test_one_log_line_per_request(server: str) -> None:
    httpx.get(f"{server}/v1/nowhere", timeout=5)
    for _ in range(50):  # the line is written once the response has gone out
        lines = LOGS[server].read_text().splitlines()
        if any("/v1/nowhere" in line for line in lines):
            break
        time.sleep(0.05)
    assert lines[0].startswith("serving gemma-3-270m and smollm2-135m-instruct (chat) on http://127.0.0.1:")
    assert any(line.startswith("POST /v1/completions 200 ") and line.endswith(" ms") for line in lines)
    assert any(line.startswith("GET /v1/nowhere 404 ") for line in lines)
