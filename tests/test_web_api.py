"""The routes behind the web page, over the mock engine in process: a flow run told as events
(variants made, scored, pruned, the winner path), those events as server-sent events,
validation errors that name the node, the memory browser's reads, spans in a streamed
reply's last chunk, and the page's static files (no path escapes the build folder)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from islands.engine import Engine, MockModel
from islands.errors import InvalidInput
from islands.flows.graph import load_flow, run_flow
from islands.memory import MemoryStore, ValueStore
from islands.server.app import create_app
from islands.server.routes import web

FLOWS = Path(__file__).resolve().parent.parent / "examples" / "flows"


def _events(lines: Iterator[str]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line[6:]))
    return out


def test_a_flow_run_tells_its_tree_variants_scores_pruning_and_the_winner_path() -> None:
    seen: list[dict[str, Any]] = []
    run = run_flow(Engine(MockModel()), load_flow(FLOWS / "best_of_n.yaml"), on_event=seen.append)
    kinds = [e["event"] for e in seen]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert kinds.count("variant") == 4 and kinds.count("scored") == 4 and kinds.count("pruned") == 3
    assert kinds.index("variant") < kinds.index("scored") < kinds.index("pruned")
    scored = {e["id"]: e["score"] for e in seen if e["event"] == "scored"}
    pruned = {e["id"] for e in seen if e["event"] == "pruned"}
    (kept,) = set(scored) - pruned
    assert scored[kept] == max(scored.values())  # prune k=1 kept the best
    assert seen[-1]["winner"] == ["root", "drafts", kept, "answer"]
    assert seen[-1]["output"] == run.output
    assert next(e for e in seen if e["event"] == "variant" and e["id"] == kept)["text"].strip() == run.output


def test_template_references_are_not_pruned() -> None:
    flow = load_flow({"name": "two", "nodes": [
        {"id": "a", "op": "fanout", "prompt": "The sea", "n": 2, "max_tokens": 4},
        {"id": "b", "op": "generate", "prompt": "{a} and", "max_tokens": 4},
    ]})
    seen: list[dict[str, Any]] = []
    run_flow(Engine(MockModel()), flow, on_event=seen.append)
    assert not [e for e in seen if e["event"] == "pruned"]
    assert [e["id"] for e in seen if e["event"] == "variant"] == ["a/0", "a/1", "b/0"]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    store = MemoryStore.open(tmp_path / "m.db")
    ep = store.add_episode("The keeper of the Tern lighthouse grows tea.", source="test")
    old = store.add_memory("Tern's keeper grows tea.", episode_ids=[ep])
    new = store.add_memory("The Tern lighthouse keeper grows green tea.", episode_ids=[ep])
    store.supersede(old, new)
    ValueStore(store).set("tea", 2.0, "log", 1.0)
    flows = {f.name: f for f in (load_flow(p) for p in sorted(FLOWS.iterdir()))}
    with TestClient(create_app(Engine(MockModel()), model_name="mock", flows=flows, memory=store)) as c:
        c.ids = (old, new)  # type: ignore[attr-defined]
        yield c
    store.close()


def test_served_flows_schema_and_validation_name_the_node(client: TestClient) -> None:
    names = [f["name"] for f in client.get("/islands/flows").json()["flows"]]
    assert names == ["best-of-n", "poem", "self-consistency"]
    assert "fanout" in json.dumps(client.get("/islands/flows/schema").json()["$defs"])
    bad = client.post("/islands/flows/validate", json={"flow": {"name": "x", "nodes": [{"id": "g", "op": "generate", "prompt": "a",
                                                                                           "max_tokens": 0}]}}).json()
    assert bad["ok"] is False and bad["node"] == "g" and bad["field"] == "max_tokens"
    assert client.post("/islands/flows/validate", json={"flow": "best-of-n"}).json() == {"ok": True, "nodes": 4}


def test_a_flow_runs_as_server_sent_events(client: TestClient) -> None:
    with client.stream("POST", "/islands/flows/run", json={"flow": "best-of-n", "inputs": {"question": "Why is the sea salty?"}}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = list(r.iter_lines())
    assert "data: [DONE]" in lines
    events = _events(iter(lines))
    assert events[0]["event"] == "started" and events[0]["inputs"] == {"question": "Why is the sea salty?"}
    assert events[-1]["event"] == "finished" and events[-1]["winner"][0] == "root"
    assert client.post("/islands/flows/run", json={"flow": "nope"}).status_code == 404
    assert client.post("/islands/flows/run", json={"flow": "best-of-n", "inputs": {"x": "1"}}).status_code == 400


def test_a_streamed_reply_with_tools_ends_with_its_spans(client: TestClient) -> None:
    body = {"prompt": "2^10 is CALC(2^10)", "max_tokens": 3, "tools": ["calc"], "stream": True, "temperature": 0}
    with client.stream("POST", "/v1/completions", json=body) as r:
        chunks = _events(r.iter_lines())
    text = "".join(c["choices"][0]["text"] for c in chunks)
    spans = chunks[-1]["choices"][0]["spans"]
    hard = [s for s in spans if s["kind"] == "hard"]
    assert hard[0]["tool"] == "CALC" and hard[0]["result"] == "1024"
    assert text[hard[0]["start"]:hard[0]["end"]].strip() == "=> 1024"


def test_the_memory_browser_reads_search_a_memory_and_values(client: TestClient) -> None:
    old, new = client.ids  # type: ignore[attr-defined]
    found = client.get("/islands/memory", params={"q": "lighthouse tea"}).json()["memories"]
    assert found and found[0]["id"] == new
    one = client.get(f"/islands/memory/{new}").json()
    assert one["episodes"][0]["text"].startswith("The keeper of the Tern lighthouse")
    assert [m["id"] for m in one["merged"]] == [old]
    assert client.get(f"/islands/memory/{old}").json()["replaced_by"]["id"] == new
    assert client.get("/islands/memory/9999").status_code == 404
    (tea,) = client.get("/islands/values").json()["values"]
    assert tea["name"] == "tea" and tea["marginal"] == 2.0


def test_without_memory_the_browser_gets_a_clear_error() -> None:
    with TestClient(create_app(Engine(MockModel()), model_name="mock")) as c:
        r = c.get("/islands/memory")
    assert r.status_code == 400 and "--memory" in r.json()["error"]["message"]


def test_the_page_and_its_assets_come_from_the_build_folder_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with TestClient(create_app(Engine(MockModel()), model_name="mock")) as c:
        monkeypatch.setattr(web, "STATIC", tmp_path / "none")
        assert c.get("/").status_code == 503 and "make web" in c.get("/").text
        (tmp_path / "assets").mkdir()
        (tmp_path / "index.html").write_text("<div id=root></div>")
        (tmp_path / "assets" / "app.js").write_text("console.log(1)")
        (tmp_path / "secret.txt").write_text("no")
        monkeypatch.setattr(web, "STATIC", tmp_path)
        assert c.get("/").text == "<div id=root></div>"
        assert c.get("/assets/app.js").text == "console.log(1)"
        assert c.get("/assets/..%2Fsecret.txt").status_code == 404
        assert c.get("/assets/nope.js").status_code == 404


def test_memories_recalled_into_a_streamed_prompt_come_first_as_soft_islands(client: TestClient) -> None:
    _old, new = client.ids  # type: ignore[attr-defined]
    body = {"prompt": "Who grows tea by the lighthouse?", "max_tokens": 2, "stream": True, "memory": {"recall": True, "remember": False}}
    with client.stream("POST", "/v1/completions", json=body) as r:
        chunks = _events(r.iter_lines())
    first = chunks[0]
    assert first["choices"] == [] and first["islands"]["recalled"][0]["ref"] == f"memory #{new}"
    assert "green tea" in first["islands"]["recalled"][0]["text"] and "score" in first["islands"]["recalled"][0]["why"]
    whole = client.post("/v1/completions", json=body | {"stream": False}).json()
    assert whole["islands"]["recalled"][0]["ref"] == f"memory #{new}"


def test_an_ask_node_tells_its_candidates_with_their_spans() -> None:
    flow = load_flow({"name": "ask", "inputs": {"question": "What is 2+2?"},
                      "nodes": [{"id": "ask", "op": "ask", "question": "{question}", "n": 3}]})
    seen: list[dict[str, Any]] = []
    run = run_flow(Engine(MockModel()), flow, on_event=seen.append)
    candidates = [e for e in seen if e["event"] == "variant"]
    assert [c["id"] for c in candidates] == ["ask/0", "ask/1", "ask/2"]
    for c in candidates:
        assert c["spans"] and c["spans"][0]["start"] == 0 and c["spans"][-1]["end"] == len(c["text"])
    value = next(e for e in seen if e["event"] == "value")
    assert value["id"] == "ask/answer" and value["text"] == run.output
    assert seen[-1]["winner"][:2] == ["root", "ask"] and seen[-1]["winner"][-1] == "ask/answer"
    kept = [c for c in candidates if c["id"] not in {e["id"] for e in seen if e["event"] == "pruned"}]
    assert all(c["answer"] == run.output for c in kept)


def test_groups_are_checked_and_do_not_change_a_run() -> None:
    nodes = [{"id": "g", "op": "generate", "prompt": "The sea", "max_tokens": 4, "temperature": 0},
             {"id": "out", "op": "output", "from": "g"}]
    plain = run_flow(Engine(MockModel()), load_flow({"name": "f", "nodes": nodes}))
    grouped = run_flow(Engine(MockModel()), load_flow({"name": "f", "nodes": nodes, "groups": [{"name": "main", "nodes": ["g", "out"]}]}))
    assert grouped.output == plain.output
    with pytest.raises(InvalidInput, match="group 'main': unknown input or node 'nope'"):
        load_flow({"name": "f", "nodes": nodes, "groups": [{"name": "main", "nodes": ["nope"]}]})
