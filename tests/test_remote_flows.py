"""Flows on a `RemoteEngine` against another `islands serve` (over the mock model, uvicorn on
127.0.0.1 in this process): the same flow gives the same result locally and remotely —
fan-out (one request with `n`, or concurrent ones), scoring from prompt log-probabilities,
search with backtracking on virtual branches, optimize, anneal, explore, ask — and a server
that dies mid-flow has its work moved to the others."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from islands import SamplingParams
from islands.engine import Engine, MockModel
from islands.engine.remote import RemoteEngine
from islands.errors import InvalidInput, Unsupported
from islands.flows import anneal, ask, explore, fanout, optimize, score_fn, score_logprob, search, vote
from islands.flows.choices import score_options
from islands.server.app import create_app
from islands.server.background import serve_in_thread
from islands.server.schemas import Limits


class Served:
    """`islands serve` over a fresh mock engine on a free port of 127.0.0.1."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url, self.engine = url, engine

    def live_branches(self) -> str:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return next(line.split()[1] for line in text.splitlines() if line.startswith("islands_live_branches "))


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    engine = Engine(MockModel(n_ctx=8192, n_seq_max=64, n_batch=64))
    with serve_in_thread(create_app(engine, model_name="mock", limits=Limits(max_tokens=512)), start_s=20, stop_s=20) as url:
        yield Served(url, engine)
    assert engine.live_count == 0


@pytest.fixture
def remote(served: Served) -> Iterator[RemoteEngine]:
    r = RemoteEngine(served.url, "mock", backoff=0.0)
    yield r
    r.close()


@pytest.fixture
def local() -> Engine:
    return Engine(MockModel(n_ctx=8192, n_seq_max=64, n_batch=64))


def _texts(variants: list) -> list[str]:  # type: ignore[type-arg]
    return [v.text for v in variants]


def test_the_server_is_recognized_and_says_what_it_can(remote: RemoteEngine) -> None:
    assert remote.dialect == "islands"
    assert {"branches", "score", "n", "grammar"} <= remote.capabilities and not remote.supports("kv")


def test_fanout_is_the_same_locally_and_remotely(local: Engine, remote: RemoteEngine, served: Served) -> None:
    params = SamplingParams(max_tokens=12, seed=7)
    hot = fanout(local, "the sea is", 4, params.replace(temperature=0.9))
    before = remote.attempts
    assert _texts(fanout(remote, "the sea is", 4, params.replace(temperature=0.9))) == _texts(hot)
    assert remote.attempts - before == 1  # seeds counting up from one prompt: one request with n=4
    temps = [1.2, 0.8, 0.4, 0.0]  # a schedule: one request per variant, sent together
    assert _texts(fanout(remote, "the sea is", 4, params, temperatures=temps)) == _texts(fanout(local, "the sea is", 4, params,
                                                                                                  temperatures=temps))
    assert served.live_branches() == "0"


def test_scores_come_from_prompt_logprobs_and_equal_the_local_ones(local: Engine, remote: RemoteEngine) -> None:
    here, there = local.score("the sea is", " wide and"), remote.score("the sea is", " wide and")
    assert there.pieces == here.pieces and len(there.logprobs) == len(" wide and")
    assert there.logprobs == pytest.approx(here.logprobs, abs=1e-5)
    variants = fanout(local, "islands are", 3, SamplingParams(max_tokens=8, seed=3, temperature=0.8))
    mine = [v.score for v in score_logprob(local, "islands are", variants)]
    theirs = [v.score for v in score_logprob(remote, "islands are", variants)]
    assert theirs == pytest.approx(mine, abs=1e-5)
    options = [" wide", " small", " exact"]
    assert score_options(remote, "the sea is", options) == pytest.approx(score_options(local, "the sea is", options), abs=1e-4)
    with pytest.raises(InvalidInput, match="continuation is empty"):
        remote.score("the sea", "")


def test_search_backtracks_on_virtual_branches_as_it_does_locally(local: Engine, remote: RemoteEngine) -> None:
    def run(engine: Engine | RemoteEngine) -> tuple[str | None, list[tuple[int, int | None, str, str]]]:
        result = search(engine, "the sea ", score=lambda p: float(p.count("a")), is_solution=lambda p: "sep 4" in p,
                        is_dead=lambda p: "w" in p, expand=3, max_depth=4, max_nodes=30,
                        params=SamplingParams(temperature=0.9, top_k=8, max_tokens=8, stop=(" ",), seed=5),
                        after_step=lambda path, step: f"{len(step)} ")  # a hard island spliced in after each step
        return (result.solution.path if result.solution else None), [(n.id, n.parent, n.step, n.status) for n in result.nodes]

    here, there = run(local), run(remote)
    assert here[0] is not None and {"dead", "expanded"} <= {n[3] for n in here[1]} and there == here
    for strategy in ("beam", "mcts"):
        a = search(local, "the sea ", score=len, is_solution=lambda p: False, strategy=strategy, expand=2, max_depth=3, max_nodes=12,
                   params=SamplingParams(temperature=0.9, top_k=8, max_tokens=4, stop=(" ",), seed=2))
        b = search(remote, "the sea ", score=len, is_solution=lambda p: False, strategy=strategy, expand=2, max_depth=3, max_nodes=12,
                   params=SamplingParams(temperature=0.9, top_k=8, max_tokens=4, stop=(" ",), seed=2))
        assert [(n.step, n.status) for n in b.nodes] == [(n.step, n.status) for n in a.nodes], strategy


def test_optimize_anneal_explore_vote_give_the_local_results(local: Engine, remote: RemoteEngine) -> None:
    def opt(engine: Engine | RemoteEngine) -> tuple[str, float, list[tuple[int, float, str]]]:
        r = optimize(engine, "Write many e's.", "x", lambda t: float(t.count("e")), iterations=2, n=3, max_tokens=10)
        return r.best, r.score, r.history

    assert opt(remote) == opt(local)

    def ann(engine: Engine | RemoteEngine) -> list[tuple[str, float | None]]:
        pool = anneal(engine, "the sea", lambda vs: score_fn(vs, lambda t: float(t.count("s"))), rounds=2, n=3,
                      params=SamplingParams(max_tokens=8, seed=11))
        return [(v.text, v.score) for v in pool]

    assert ann(remote) == ann(local)
    tail = SamplingParams(max_tokens=8, seed=4)
    mine, theirs = explore(local, "we fork", 3, tail, mode="tail"), explore(remote, "we fork", 3, tail, mode="tail")
    assert _texts(theirs) == _texts(mine)
    assert [v.meta["mean_logprob"] for v in theirs] == pytest.approx([v.meta["mean_logprob"] for v in mine], abs=1e-5)
    with pytest.raises(Unsupported, match="'kv'"):
        explore(remote, "we fork", 3, tail, mode="penalty")
    numbers = SamplingParams(max_tokens=10, seed=1, temperature=1.0)
    assert vote(fanout(remote, "numbers are 1", 5, numbers))[0] == vote(fanout(local, "numbers are 1", 5, numbers))[0]


def test_ask_runs_its_islands_over_the_remote_engine(local: Engine, remote: RemoteEngine) -> None:
    here = ask(local, "What is 2 + 3?", n=3, max_tokens=24, seed=2)
    there = ask(remote, "What is 2 + 3?", n=3, max_tokens=24, seed=2)
    assert [c.text for c in there.candidates] == [c.text for c in here.candidates]
    assert there.answer == here.answer
    chosen = ask(remote, "Which is the sea?", n=2, max_tokens=8, choices=["wide", "small"], seed=1)
    assert chosen.answer in ("wide", "small") and chosen.choice_scores is not None
    assert chosen.choice_scores == pytest.approx(
        ask(local, "Which is the sea?", n=2, max_tokens=8, choices=["wide", "small"], seed=1).choice_scores, abs=1e-4)  # type: ignore[arg-type]


def test_the_server_scores_prompts_with_echo_and_refuses_bad_requests(served: Served) -> None:
    r = httpx.post(f"{served.url}/v1/completions", json={"prompt": "the sea", "echo": True, "logprobs": 1, "max_tokens": 0}, timeout=10)
    assert r.status_code == 200, r.text
    lp = r.json()["choices"][0]["logprobs"]
    assert "".join(lp["tokens"]) == "the sea" and lp["text_offset"][:3] == [0, 1, 2]
    assert all(isinstance(v, float) and v <= 0 and math.isfinite(v) for v in lp["token_logprobs"])
    for body, param in [({"prompt": "x", "echo": True, "max_tokens": 0}, "logprobs"),
                        ({"prompt": "x", "echo": True, "logprobs": 1, "max_tokens": 0, "stream": True}, "stream")]:
        bad = httpx.post(f"{served.url}/v1/completions", json=body, timeout=10)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == param
    stop = httpx.post(f"{served.url}/v1/completions", json={"prompt": "the sea", "max_tokens": 30, "stop": [" "], "temperature": 0,
                                                            "return_token_ids": True}, timeout=10).json()["choices"][0]
    assert stop["stop_reason"] == " " and stop["finish_reason"] == "stop" and len(stop["token_ids"]) >= len(stop["text"])


def test_work_moves_to_the_servers_still_up_when_one_dies(local: Engine, served: Served) -> None:
    doomed = ExitStack()
    app = create_app(Engine(MockModel(n_ctx=8192, n_seq_max=64, n_batch=64)), model_name="mock", limits=Limits(max_tokens=512))
    url = doomed.enter_context(serve_in_thread(app, start_s=20, stop_s=20))
    remote = RemoteEngine([url, served.url], "mock", backoff=0.0, dialect="islands")
    params = SamplingParams(max_tokens=10, seed=9, temperature=0.8)
    temps = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    first = fanout(remote, "the islands", 6, params, temperatures=temps)
    assert first
    doomed.close()  # stopped: the next requests to it fail to connect and go to the other server
    again = fanout(remote, "the islands", 6, params, temperatures=temps)
    assert _texts(again) == _texts(first) == _texts(fanout(local, "the islands", 6, params, temperatures=temps))
    assert remote.failovers >= 1
    remote.close()
