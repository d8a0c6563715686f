"""What an engine is to the layers above (engine/protocol.py): the local `Engine` and the
`RemoteEngine` satisfy the protocols; RemoteEngine's HTTP (streaming, retries, refusals) over
an injected `httpx.MockTransport` (no server); flows refuse a remote engine declared without
what they need, and what only the local engine has ("kv"), with one line."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from islands import InvalidInput, SamplingParams
from islands.engine import Engine
from islands.engine.protocol import Brancher, Generator, Stream, as_brancher, require
from islands.engine.remote import RemoteEngine
from islands.errors import EngineError, Unsupported
from islands.flows import ask, explore, fanout, judge
from islands.flows.choices import score_options
from islands.tools import IslandRunner, Registry

Handler = Callable[[httpx.Request], httpx.Response]


def _sse(*chunks: dict[str, object]) -> httpx.Response:
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


def _choice(text: str, finish: str | None = None, index: int = 0) -> dict[str, object]:
    return {"choices": [{"index": index, "text": text, "finish_reason": finish}]}


def _remote(handler: Handler, **kw: object) -> RemoteEngine:
    return RemoteEngine(["http://a.test", "http://b.test"], "m", backoff=0.0, transport=httpx.MockTransport(handler), **kw)  # type: ignore[arg-type]


def test_engines_satisfy_the_protocols(engine: Engine) -> None:
    remote = _remote(lambda r: _sse(), dialect="openai")
    assert isinstance(engine, Generator) and isinstance(engine, Brancher)
    assert isinstance(remote, Generator) and isinstance(remote, Brancher)  # virtual branches
    assert engine.supports("branches") and remote.supports("branches")
    assert engine.supports("kv") and not remote.supports("kv")
    assert isinstance(engine.stream("the sea", params=SamplingParams(max_tokens=2)), Stream)
    assert isinstance(remote.stream("the sea"), Stream)
    assert as_brancher(engine) is engine


def test_remote_stream_yields_deltas_and_sets_result() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return _sse(_choice("The "), _choice("sea", index=1), _choice("wide", "stop"), _choice(" deep", "length", index=1),
                    {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})

    remote = _remote(handler)
    stream = remote.stream("Once", n=2, params=SamplingParams(max_tokens=5, seed=7, stop=("\n",)))
    assert stream.result is None
    deltas = [(d.index, d.text) for d in stream]
    assert deltas == [(0, "The "), (1, "sea"), (0, "wide"), (1, " deep")]
    assert stream.result is not None
    assert stream.result.texts == ["The wide", "sea deep"]
    assert [o.finish_reason for o in stream.result.outputs] == ["stop", "length"]
    assert [o.seed for o in stream.result.outputs] == [7, 8]
    assert stream.result.stats.prompt_tokens == 3 and stream.result.stats.sampled_tokens == 4
    assert bodies[0]["n"] == 2 and bodies[0]["stream"] is True and bodies[0]["stop"] == ["\n"]


def test_remote_generate_streams_through_on_text() -> None:
    remote = _remote(lambda r: _sse(_choice("4"), _choice("2", "stop")))
    seen: list[str] = []
    g = remote.generate("6 * 7 =", on_text=lambda i, t: seen.append(t))
    assert g.text == "42" and seen == ["4", "2"]


def test_remote_retries_503_on_the_next_url_then_succeeds() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if len(hosts) == 1:
            return httpx.Response(503, json={"error": {"message": "busy"}})
        return _sse(_choice("ok", "stop"))

    remote = _remote(handler)
    assert remote.generate("hi").text == "ok"
    assert remote.attempts == 2 and hosts[0] != hosts[1]  # the retry went to the other server


def test_remote_gives_up_after_the_retries() -> None:
    remote = _remote(lambda r: httpx.Response(502), retries=2)
    with pytest.raises(EngineError, match="after 3 attempts"):
        remote.generate("hi")
    assert remote.attempts == 3


def test_remote_does_not_retry_a_400() -> None:
    remote = _remote(lambda r: httpx.Response(400, json={"error": {"message": "max_tokens too large"}}))
    with pytest.raises(InvalidInput, match="refused the request \\(400\\): max_tokens too large"):
        remote.generate("hi")
    assert remote.attempts == 1


def test_flows_refuse_a_remote_engine_declared_without_what_they_need_in_one_line() -> None:
    calls: list[httpx.Request] = []
    remote = _remote(lambda r: (calls.append(r), _sse())[1], capabilities={"generate", "stream"})
    with pytest.raises(Unsupported) as e:
        fanout(remote, "the sea", 2)
    message = str(e.value)
    assert message.startswith("RemoteEngine does not support 'branches'") and "\n" not in message
    assert e.value.capability == "branches"
    with pytest.raises(Unsupported, match="'score'"):
        score_options(remote, "Q: salty? A:", [" yes", " no"])
    with pytest.raises(Unsupported, match="branches"):
        judge(remote, "Q", [])
    with pytest.raises(Unsupported, match="'score'"):
        ask(remote, "Which is larger?", choices=["2", "3"])
    with pytest.raises(Unsupported, match="'score'"):
        require(remote, "generate", "score")
    require(remote, "generate", "stream")  # what it has passes
    full = _remote(lambda r: (calls.append(r), _sse())[1], dialect="openai")
    with pytest.raises(Unsupported, match="'kv'"):  # logits masks stay where the logits are
        explore(full, "the sea", 2, mode="penalty")
    assert not calls  # refused before any request


def test_island_runner_drives_a_remote_engine_over_streams() -> None:
    prompts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["prompt"]
        prompts.append(prompt)
        if "=> 5" not in prompt:
            return _sse(_choice(" CALC(2+3)"), _choice(" and more", "length"))
        return _sse(_choice(" done.", "stop"))

    runner = IslandRunner(_remote(handler), Registry.default().subset(["CALC"]))
    try:
        assert runner.local is None  # no KV-level branches: the stream driver runs the islands
        out = runner.generate("Add:", params=SamplingParams(max_tokens=16, seed=1)).outputs[0]
    finally:
        runner.close()
    assert out.text == " CALC(2+3) => 5 done."
    assert len(prompts) == 2 and prompts[1] == "Add: CALC(2+3) => 5"
    assert [s.kind for s in out.spans if s.tool] == ["hard"]
