"""`islands bench serve`: the server under N concurrent streaming clients against the engine's
own batched decode of the same N requests, and against the requests one at a time — all in
one run, on 127.0.0.1.

Ways, each the same N prompts, `tokens` tokens each (end-of-generation masked), seeded:
- engine:     the N requests as N branches of the engine, decoded in one batch per step
              (no HTTP, no loop thread): the server's ceiling at this concurrency;
- stream:     the server (uvicorn in a thread of this process), N concurrent streaming
              clients in another process (asyncio + httpx, so their work does not hold
              this process's GIL);
- whole:      the same, not streamed (one JSON answer per request): stream - whole is
              what server-sent events cost;
- sequential: one request at a time (streamed).

The engine way runs before and after the server (the better run counts, `engine_runs_s`).
Keys: fraction_of_engine (= engine_s / stream_s: the target is 1), tokens_per_s,
engine_tokens_per_s, whole_s, sequential_s, ratio (= sequential_s / stream_s), p50_s/p95_s
(latency under load), and `loop`: where the server's loop thread spent the streaming run —
engine steps (decode + sampling + detokenization), flow turns, handing deltas to the handlers
— and `other_s`, the rest of the wall time (HTTP parsing, asyncio, SSE writing, waiting on
the GIL). What it leaves out: clients on another machine.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

from islands.engine import Engine
from islands.server.app import create_app
from islands.server.background import serve_in_thread
from islands.server.sampling import sampling_of
from islands.server.schemas import CompletionRequest, Limits
from islands.server.state import ServerState

__all__ = ["bench_serve", "run_clients"]


def _prompt(i: int) -> str:
    return f"Island number {i} in the chain is called"


def _body(i: int, tokens: int, stream: bool) -> dict[str, Any]:
    return {"prompt": _prompt(i), "max_tokens": tokens, "stream": stream, "ignore_eos": True, "seed": abs(i), "temperature": 0.8}


async def _clients(base: str, ids: list[int], tokens: int, stream: bool) -> list[float]:
    """One request per id, all at once; the wall time of them all, then each one's latency
    (seconds)."""
    limits = httpx.Limits(max_connections=len(ids) + 4)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:

        async def one(i: int) -> float:
            t0 = time.perf_counter()
            if stream:
                async with client.stream("POST", f"{base}/v1/completions", json=_body(i, tokens, True)) as r:
                    r.raise_for_status()
                    async for line in r.aiter_lines():
                        if line == "data: [DONE]":
                            break
            else:
                r = await client.post(f"{base}/v1/completions", json=_body(i, tokens, False))
                r.raise_for_status()
            return time.perf_counter() - t0

        t0 = time.perf_counter()
        latencies = list(await asyncio.gather(*(one(i) for i in ids)))
        return [time.perf_counter() - t0, *latencies]


def run_clients(base: str, requests: int, tokens: int, stream: bool) -> tuple[float, list[float]]:
    """The clients in a separate Python process (its start-up not timed): the wall time of
    all requests, and their latencies."""
    code = ("import asyncio, json, sys; from islands.server.bench import _clients; "
            "print(json.dumps(asyncio.run(_clients(sys.argv[1], list(range(int(sys.argv[2]))), int(sys.argv[3]), sys.argv[4] == '1'))))")
    done = subprocess.run([sys.executable, "-c", code, base, str(requests), str(tokens), "1" if stream else "0"],
                          capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the benchmark clients failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
    wall, *latencies = (float(x) for x in json.loads(done.stdout))
    return wall, latencies


def _one(base: str, i: int, tokens: int) -> float:
    t0 = time.perf_counter()
    with httpx.stream("POST", f"{base}/v1/completions", json=_body(i, tokens, True), timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line == "data: [DONE]":
                break
    return time.perf_counter() - t0


def _engine_batch(engine: Engine, requests: int, tokens: int) -> float:
    """The same requests as branches of the engine, in one batch per step, driven from a
    thread of its own as the server's loop thread drives it (where OpenMP threads spin, a
    decode from the main thread was several times slower: see engine/llama.py)."""
    out: list[float] = []
    thread = threading.Thread(target=lambda: out.append(_engine_batch_here(engine, requests, tokens)), name="islands-bench")
    thread.start()
    thread.join()
    if not out:
        raise RuntimeError("the engine baseline failed")
    return out[0]


def _engine_batch_here(engine: Engine, requests: int, tokens: int) -> float:
    branches = [engine.branch(_prompt(i)) for i in range(requests)]
    t0 = time.perf_counter()
    try:
        for i, b in enumerate(branches):  # the very params the server makes of the request's body
            b.start(sampling_of(CompletionRequest.model_validate(_body(i, tokens, False)), tokens, Limits()))
        engine.run(branches)
        return time.perf_counter() - t0
    finally:
        for b in branches:
            b.release(cache=False)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_serve(engine: Engine, *, requests: int = 64, tokens: int = 32, sequential: bool = True) -> dict[str, Any]:
    _engine_batch(engine, min(requests, 4), 4)  # warm up
    engine_runs = [_engine_batch(engine, requests, tokens)]
    engine.clear_cache()
    app = create_app(engine, model_name="bench")
    with serve_in_thread(app) as base:
        _one(base, -1, 4)  # warm up
        state = app.state.islands
        assert isinstance(state, ServerState)
        loop = state.models.started()[0].loop
        assert loop is not None
        engine.clear_cache()
        before = (loop.step_s, loop.flows_s, loop.deliver_s)
        stream_s, latencies = run_clients(base, requests, tokens, stream=True)
        spent = [round(after - b, 3) for after, b in zip((loop.step_s, loop.flows_s, loop.deliver_s), before)]
        engine.clear_cache()
        whole_s, _ = run_clients(base, requests, tokens, stream=False)
        one_by_one: list[float] = []
        t0 = time.perf_counter()
        if sequential:
            one_by_one = [_one(base, i, tokens) for i in range(requests)]
        sequential_s = time.perf_counter() - t0
    engine.clear_cache()
    engine_runs.append(_engine_batch(engine, requests, tokens))  # before and after the server: the better one counts
    engine_s = min(engine_runs)
    total = requests * tokens
    result: dict[str, Any] = {
        "requests": requests,
        "tokens_per_request": tokens,
        "engine_s": round(engine_s, 3),
        "engine_runs_s": [round(x, 3) for x in engine_runs],
        "stream_s": round(stream_s, 3),
        "whole_s": round(whole_s, 3),
        "fraction_of_engine": round(engine_s / stream_s, 3),
        "fraction_of_engine_whole": round(engine_s / whole_s, 3),
        "engine_tokens_per_s": round(total / engine_s, 1),
        "tokens_per_s": round(total / stream_s, 1),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(_quantile(latencies, 0.95), 3),
        "loop": {"step_s": spent[0], "flows_s": spent[1], "deliver_s": spent[2],
                 "other_s": round(stream_s - sum(spent), 3)},
    }
    if sequential:
        result |= {"sequential_s": round(sequential_s, 3), "sequential_p50_s": round(statistics.median(one_by_one), 3),
                   "sequential_tokens_per_s": round(total / sequential_s, 1), "ratio": round(sequential_s / stream_s, 2)}
    return result
