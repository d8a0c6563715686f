"""The server over the mock engine, in process (FastAPI's TestClient): fast checks of the
engine loop's behaviour that would take minutes on the real model."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from islands.engine import Engine, MockModel
from islands.server.app import create_app


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
    model = MockModel(n_ctx=2048, n_seq_max=32, n_batch=64)
    engine = Engine(model)
    with TestClient(create_app(engine, model_name="mock")) as client:
        body = {"prompt": "the islands", "max_tokens": 12, "ignore_eos": True}
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
        r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "When does the harbour bell ring?"}],
                                                      "max_tokens": 4, "memory": {"recall": True, "remember": True}})
        assert r.status_code == 200
        assert r.json()["usage"]["prompt_tokens"] > len("When does the harbour bell ring?") + 40  # the memory went into the prompt
        for bad in ("three", 0, True):
            r = client.post("/v1/completions", json={"prompt": "bell", "memory": {"k": bad}})
            assert r.status_code == 400 and r.json()["error"]["param"] == "memory"
    assert store.stats()["episodes"] == 1  # the user's message was remembered (raw episode at least)
    with TestClient(create_app(Engine(MockModel()), model_name="mock")) as client:
        r = client.post("/v1/completions", json={"prompt": "x", "memory": True})
        assert r.status_code == 400 and "--memory" in r.json()["error"]["message"]
