"""`islands bench serve`: the server under concurrent streaming clients against the same
requests sent one at a time, in one process, on 127.0.0.1.

The server runs in a thread of this process (uvicorn), the clients in a thread pool
(httpx, streaming). Keys: requests, tokens_per_request, concurrent_s, sequential_s,
p50_s, p95_s (latency of a request under load), sequential_p50_s, tokens_per_s,
sequential_tokens_per_s, ratio (= sequential_s / concurrent_s).
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import uvicorn

from islands.engine import Engine
from islands.server.app import create_app

__all__ = ["bench_serve"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one(base: str, i: int, tokens: int) -> float:
    body = {"prompt": f"Island number {i} in the chain is called", "max_tokens": tokens, "stream": True,
            "ignore_eos": True, "seed": abs(i), "temperature": 0.8}
    t0 = time.perf_counter()
    with httpx.stream("POST", f"{base}/v1/completions", json=body, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line == "data: [DONE]":
                break
    return time.perf_counter() - t0


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_serve(engine: Engine, *, requests: int = 64, tokens: int = 32) -> dict[str, Any]:
    port = _free_port()
    app = create_app(engine, model_name="bench")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the benchmark server did not start")
            time.sleep(0.05)
        _one(base, -1, 4)  # warm up
        t0 = time.perf_counter()
        with ThreadPoolExecutor(requests) as pool:
            latencies = list(pool.map(lambda i: _one(base, i, tokens), range(requests)))
        concurrent_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        one_by_one = [_one(base, i, tokens) for i in range(requests)]
        sequential_s = time.perf_counter() - t0
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    total = requests * tokens
    return {
        "requests": requests,
        "tokens_per_request": tokens,
        "concurrent_s": round(concurrent_s, 3),
        "sequential_s": round(sequential_s, 3),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(_quantile(latencies, 0.95), 3),
        "sequential_p50_s": round(statistics.median(one_by_one), 3),
        "tokens_per_s": round(total / concurrent_s, 1),
        "sequential_tokens_per_s": round(total / sequential_s, 1),
        "ratio": round(sequential_s / concurrent_s, 2),
    }
