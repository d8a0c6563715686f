"""A bounded load test of `islands serve` on 127.0.0.1 (the mock engine, uvicorn in this
process): rounds of concurrent streams, clients that hang up mid-stream, slow readers,
oversized bodies (declared and chunked) and malformed ones. Nothing may answer outside the
intended 200/400/413/503, no branch may be left behind (/metrics and the engine agree), and
the process's memory stays flat from one round to the next."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from islands.engine import Engine, MockModel
from islands.server.app import create_app
from islands.server.background import serve_in_thread
from islands.server.schemas import Limits

ALLOWED = {200, 400, 413, 503}


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Engine]]:
    engine = Engine(MockModel(n_ctx=16384, n_seq_max=64, n_batch=256))
    app = create_app(engine, model_name="mock", limits=Limits(max_body_bytes=64_000, max_tokens=256))
    with serve_in_thread(app, stop_s=20) as url:
        yield url, engine


async def _round(client: httpx.AsyncClient, base: str, r: int) -> Counter[str]:
    seen: Counter[str] = Counter()

    async def stream(i: int, *, hang_up: bool = False, slow: bool = False) -> None:
        body = {"prompt": f"the sea {r} {i}", "max_tokens": 24, "stream": True, "ignore_eos": True, "seed": i, "n": 1 + i % 2}
        async with client.stream("POST", f"{base}/v1/completions", json=body) as resp:
            seen[str(resp.status_code)] += 1
            if resp.status_code != 200:
                await resp.aread()
                return
            done = False
            async for line in resp.aiter_lines():
                if hang_up and line.startswith("data: "):
                    seen["hung up"] += 1
                    return  # leaves the stream mid-way: the server must free its branches
                if slow:
                    await asyncio.sleep(0.02)
                if line == "data: [DONE]":
                    done = True
            seen["finished" if done else "cut short"] += 1

    async def oversized(chunked: bool) -> None:
        big = json.dumps({"prompt": "x" * 200_000}).encode()

        async def pieces() -> AsyncIterator[bytes]:
            for k in range(0, len(big), 16_384):
                yield big[k : k + 16_384]

        resp = await client.post(f"{base}/v1/completions", content=pieces() if chunked else big,
                                 headers={"content-type": "application/json"})
        seen[str(resp.status_code)] += 1

    async def malformed(i: int) -> None:
        bodies = [b"{not json", b'{"prompt": 3}', b'{"prompt": "x", "max_tokens": -1}', b'{"prompt": "x", "n": 1000}', b"\xff\xfe"]
        resp = await client.post(f"{base}/v1/completions", content=bodies[i % len(bodies)], headers={"content-type": "application/json"})
        seen[str(resp.status_code)] += 1

    jobs = [stream(i) for i in range(40)]
    jobs += [stream(100 + i, hang_up=True) for i in range(12)]
    jobs += [stream(200 + i, slow=True) for i in range(6)]
    jobs += [oversized(k % 2 == 0) for k in range(4)]
    jobs += [malformed(i) for i in range(10)]
    await asyncio.gather(*jobs)
    return seen


def _live(base: str) -> dict[str, str]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return dict(line.split(" ", 1) for line in text.splitlines() if line.startswith("islands_live_"))


def test_rounds_of_mixed_load_leave_nothing_behind(served: tuple[str, Engine]) -> None:
    base, engine = served

    async def rounds() -> tuple[list[Counter[str]], list[float]]:
        counts, rss = [], []
        # a fresh connection per request: a pooled keep-alive connection the server has just
        # closed (after a 413, or a client that hung up) fails the next request on the client's
        # side, a race of the pool that says nothing about the server
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            for r in range(4):
                counts.append(await _round(client, base, r))
                rss.append(_rss_mb())
        return counts, rss

    counts, rss = asyncio.run(rounds())
    for seen in counts:
        statuses = {int(k) for k in seen if k.isdigit()}
        assert statuses <= ALLOWED, seen
        # every stream either ran to [DONE], hung up as planned, or was refused with 503 (no sequence slots left)
        assert seen["finished"] + seen["hung up"] + seen["503"] == 40 + 12 + 6 and seen["cut short"] == 0, seen
        assert seen["finished"] >= 30 and seen["413"] == 4 and seen["400"] == 10, seen
    gauges: dict[str, str] = {}
    for _ in range(100):
        gauges = _live(base)
        if gauges.get("islands_live_branches") == "0":
            break
        time.sleep(0.05)
    assert gauges == {"islands_live_requests": "0", "islands_live_branches": "0"}
    assert engine.live_count == 0
    text = httpx.get(f"{base}/metrics", timeout=10).text
    assert not [line for line in text.splitlines() if 'status="5' in line and 'status="503"' not in line and not line.endswith(" 0")]
    assert rss[-1] - rss[1] < 40, f"memory grew from {rss[1]:.0f} MB to {rss[-1]:.0f} MB over two rounds"
