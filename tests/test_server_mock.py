"""The server over the mock engine, in process (FastAPI's TestClient, or uvicorn on a free
port where a real client must hang up): fast checks of the engine loop's behaviour that
would take minutes on the real model, the error shapes, metrics and the request log."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from islands.engine import Engine, MockModel
from islands.engine.mock import EOS
from islands.server.app import create_app
from islands.server.background import serve_in_thread
from islands.server.schemas import Limits


def test_a_request_too_big_for_the_context_fails_alone() -> None:
    engine = Engine(MockModel(n_ctx=256, n_seq_max=16, n_batch=64))
    with TestClient(create_app(engine, model_name="mock")) as client:
        huge = {"prompt": "the sea", "max_tokens": 400, "n": 4, "ignore_eos": True}
        small = {"prompt": "x", "max_tokens": 5, "ignore_eos": True}
        with ThreadPoolExecutor(4) as pool:
            big = pool.submit(client.post, "/v1/completions", json=huge)
            fine = [pool.submit(client.post, "/v1/completions", json=small) for _ in range(3)]
            results = [f.result() for f in fine]
            r = big.result()
        assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
        assert all(x.status_code == 200 and x.json()["usage"]["completion_tokens"] == 5 for x in results)
        assert client.get("/health").json()["status"] == "ok"
        assert client.post("/v1/completions", json=small).status_code == 200  # still serving
    assert engine.live_count == 0


def test_requests_share_batches() -> None:
    # each decode takes 20 ms, so a request lasts about 0.8 s alone: six sent together overlap
    # however fast the loop hands results over, and the loop must batch them
    model = SlowMock(delay=0.02, n_ctx=2048, n_seq_max=32, n_batch=64)
    engine = Engine(model)
    with TestClient(create_app(engine, model_name="mock")) as client:
        body = {"prompt": "the islands", "max_tokens": 40, "ignore_eos": True}
        with ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda i: client.post("/v1/completions", json={**body, "seed": i}), range(6)))
    assert all(r.status_code == 200 for r in replies)
    widest = max(len({row[2] for row in batch}) for batch in model.batches)
    assert widest >= 3  # several requests' branches decoded in one batch


def test_the_memory_extension_recalls_and_remembers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from islands.memory import MemoryStore

    store = MemoryStore.open(tmp_path / "m.sqlite")
    store.add_memory("The harbour bell rings at noon.")
    engine = Engine(MockModel())
    with TestClient(create_app(engine, model_name="mock", memory=store)) as client:
        r = client.post(
            "/v1/chat/completions",
            json={
                "messages": [{"role": "user", "content": "When does the harbour bell ring?"}],
                "max_tokens": 4,
                "memory": {"recall": True, "remember": True},
            },
        )
        assert r.status_code == 200
        assert r.json()["usage"]["prompt_tokens"] > len("When does the harbour bell ring?") + 40  # the memory went into the prompt
        for bad in ("three", 0, True):
            r = client.post("/v1/completions", json={"prompt": "bell", "memory": {"k": bad}})
            assert r.status_code == 400 and r.json()["error"]["param"] == "memory"
        assert store.stats()["episodes"] == 0  # a question is not a memory
        r = client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "The ferry leaves at nine. When is lunch?"}], "max_tokens": 4, "memory": True},
        )
        assert r.status_code == 200
    assert [e[1] for e in store.episodes()] == ["The ferry leaves at nine."]  # the statement, without the question
    with TestClient(create_app(Engine(MockModel()), model_name="mock")) as client:
        r = client.post("/v1/completions", json={"prompt": "x", "memory": True})
        assert r.status_code == 400 and "--memory" in r.json()["error"]["message"]


class SlowMock(MockModel):
    """The mock model, a few ms per decode and never ending on its own (no <eos>)."""

    def __init__(self, delay: float = 0.004, **kw: int) -> None:
        super().__init__(**kw)
        self.delay = delay

    def decode(self, tokens, positions, seqs, want_logits) -> None:  # type: ignore[no-untyped-def]
        time.sleep(self.delay)
        super().decode(tokens, positions, seqs, want_logits)

    def logits(self) -> np.ndarray:
        rows = super().logits()
        rows[:, EOS] = -1e9
        return rows


def test_a_flow_does_not_stall_other_requests() -> None:
    engine = Engine(SlowMock(n_ctx=8192, n_seq_max=32, n_batch=256))
    flow = {
        "name": "long",
        "inputs": {"question": ""},
        "nodes": [
            {"id": "drafts", "op": "fanout", "prompt": "{question}", "n": 4, "max_tokens": 800},
            {"id": "out", "op": "output", "from": "drafts"},
        ],
    }
    with TestClient(create_app(engine, model_name="mock")) as client, ThreadPoolExecutor(2) as pool:
        slow = pool.submit(client.post, "/v1/completions", json={"prompt": "the sea", "flow": flow})
        deadline = time.monotonic() + 10
        while client.get("/health").json()["live_requests"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        quick = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 5})
        assert quick.status_code == 200 and quick.json()["usage"]["completion_tokens"] == 5
        assert not slow.done(), "the plain request waited for the whole flow"
        r = slow.result()
        assert r.status_code == 200, r.text
        assert len(r.json()["islands"]["flow"]["values"]["drafts"]) == 4
    assert engine.live_count == 0 and engine.driver is None


def test_openai_shaped_errors_and_fields() -> None:
    lines: list[str] = []
    with TestClient(create_app(Engine(MockModel()), model_name="mock", log=lines.append)) as client:
        r = client.get("/v1/nothing")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found" and "/v1/nothing" in r.json()["error"]["message"]
        r = client.get("/v1/completions")
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
        r = client.post("/v1/completions", json={"prompt": "x", "temperature": -1})
        assert r.status_code == 400 and r.json()["error"]["param"] == "temperature"
        r = client.post("/v1/completions", json={"prompt": "x", "top_p": 0})
        assert r.json()["error"]["param"] == "top_p"
        created = client.get("/v1/models").json()["data"][0]["created"]
        assert abs(created - time.time()) < 600  # Unix time, not a monotonic clock
        r = client.post("/v1/completions", json={"prompt": "the sea", "max_tokens": 3, "echo": True, "ignore_eos": True})
        assert r.json()["choices"][0]["text"].startswith("the sea") and len(r.json()["choices"][0]["text"]) > len("the sea")
        streamed = "".join(
            json.loads(line[6:])["choices"][0]["text"]
            for line in client.post(
                "/v1/completions", json={"prompt": "the sea", "max_tokens": 3, "echo": True, "stream": True, "seed": 1}
            ).text.splitlines()
            if line.startswith("data: {")
        )
        assert streamed.startswith("the sea")
        r = client.post("/v1/completions", json={"prompt": "x", "tools": [{"type": "function", "function": {"name": "f"}}]})
        assert r.status_code == 400 and r.json()["error"]["param"] == "tools"
    assert "GET /v1/nothing 404" in lines[0] and lines[0].endswith(" ms")
    assert any(line.startswith("POST /v1/completions 200 ") for line in lines)


def test_metrics_count_errors_and_latency_and_take_a_key() -> None:
    with TestClient(create_app(Engine(MockModel()), model_name="mock", api_key="k", metrics_key="m")) as client:
        auth = {"Authorization": "Bearer k"}
        assert client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2}, headers=auth).status_code == 200
        assert client.post("/v1/completions", json={"prompt": "x", "n": 0}, headers=auth).status_code == 400
        assert client.get("/metrics", headers=auth).status_code == 401  # the API key is not the metrics key
        text = client.get("/metrics", headers={"Authorization": "Bearer m"}).text
    assert 'islands_http_requests_total{path="/v1/completions",status="400"} 1' in text
    assert 'islands_http_requests_total{path="/metrics",status="401"} 1' in text
    assert "islands_http_errors_total 2" in text
    count = next(line for line in text.splitlines() if line.startswith("islands_request_seconds_count "))
    assert count == "islands_request_seconds_count 3"
    assert 'islands_request_seconds_bucket{le="+Inf"} 3' in text


def test_a_non_streaming_client_that_hangs_up_frees_its_branches() -> None:
    engine = Engine(SlowMock(n_ctx=65536, n_seq_max=16, n_batch=512))
    with serve_in_thread(create_app(engine, model_name="mock", limits=Limits(max_tokens=8000))) as base:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{base}/v1/completions", json={"prompt": "a long story", "n": 8, "max_tokens": 4000}, timeout=0.5)
        gauges: dict[str, str] = {}
        for _ in range(100):
            text = httpx.get(f"{base}/metrics", timeout=5).text
            gauges = dict(line.split(" ", 1) for line in text.splitlines() if line.startswith("islands_live_"))
            if gauges["islands_live_branches"] == "0":
                break
            time.sleep(0.05)
        assert gauges == {"islands_live_requests": "0", "islands_live_branches": "0"}
        assert 'status="499"' in httpx.get(f"{base}/metrics", timeout=5).text
    assert engine.live_count == 0


def test_embeddings_from_the_memory_embedder() -> None:
    import base64

    with TestClient(create_app(Engine(MockModel()), model_name="mock", embedder="hash")) as client:
        r = client.post("/v1/embeddings", json={"input": ["ferry to Hoy", "ferry to Hoy", "exact numbers"]})
        assert r.status_code == 200, r.text
        rows = [d["embedding"] for d in r.json()["data"]]
        assert r.json()["model"] == "hash-256" and rows[0] == rows[1] != rows[2] and len(rows[0]) == 256
        packed = client.post("/v1/embeddings", json={"input": "ferry to Hoy", "encoding_format": "base64"}).json()["data"][0]["embedding"]
        assert np.allclose(np.frombuffer(base64.b64decode(packed), dtype="<f4"), rows[0])
        for body, param in [
            ({"input": []}, "input"),
            ({"input": "x", "dimensions": 3}, "dimensions"),
            ({"input": "x", "model": "ada"}, "model"),
        ]:
            r = client.post("/v1/embeddings", json=body)
            assert r.status_code in (400, 404) and r.json()["error"]["param"] == param
    with TestClient(create_app(Engine(MockModel()), model_name="mock", embedder="none")) as client:
        r = client.post("/v1/embeddings", json={"input": "x"})
        assert r.status_code == 400 and "--embedder" in r.json()["error"]["message"]
