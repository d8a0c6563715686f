"""`islands bench remote`: islands' flows through a remote engine (islands → llama-server on
127.0.0.1, serving the same GGUF) against islands alone, and a Ray batch against one process.

Workloads, each run both ways in one process (one untimed warm-up, then timed):
- tree:  a fan-out of `branches` variants x `tokens` tokens from one prompt (temperature 0.8,
         seeded) — locally forks of one prefilled branch, remotely one request with `n`;
- ask:   `ask` on one arithmetic question (n=4 candidates, hard islands CALC/PY) — remotely
         the islands run over streams (tools/remote.py);
- score: `score_options` of 4 options after a prompt — remotely prompt log-probabilities;
- batch: `ask_item` over `items` questions on `workers` Ray actors vs one process (optional).

Keys: `<workload>_local_s`, `<workload>_remote_s`, `<workload>_ratio` (= local_s / remote_s:
above 1, the remote path is faster), and for greedy runs `<workload>_same` (the texts and
answers agree). What it leaves out: a server on another machine (the ratio then measures the
other machine, not islands).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from islands.engine import Engine
from islands.engine.llama_server import llama_server
from islands.engine.remote import RemoteEngine
from islands.flows import ask, fanout
from islands.flows.choices import score_options
from islands.params import SamplingParams
from islands.scale.batch import run_batch, run_here
from islands.scale.jobs import ask_item
from islands.scale.pool import EngineSpec

__all__ = ["bench_remote"]

Say = Callable[[str], None]
PROMPT = "The lighthouse keepers of the northern islands kept a log of every ship. One evening the log said:"
QUESTION = "What is 1234 * 5678?"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """A warm-up run (it fills the server's prompt cache, as islands' own prefix cache gets
    it), then a timed one — both on a thread of their own, as a server's loop drives its
    engine (where OpenMP threads spin, a decode from the main thread was several times
    slower: see engine/llama.py)."""
    out: list[Any] = []

    def both() -> None:
        fn()
        t0 = time.perf_counter()
        value = fn()
        out.extend([time.perf_counter() - t0, value])

    with ThreadPoolExecutor(1, thread_name_prefix="islands-bench") as pool:
        pool.submit(both).result()
    return out[0], out[1]


def bench_remote(
    model: Path, *, branches: int = 8, tokens: int = 24, n_ctx: int = 4096, items: int = 0, workers: int = 2,
    say: Say = lambda _msg: None,
) -> dict[str, Any]:
    result: dict[str, Any] = {"branches": branches, "tokens": tokens, "model": model.name}
    local = Engine(model, n_ctx=n_ctx)
    hot = SamplingParams(max_tokens=tokens, temperature=0.8, seed=7, ignore_eos=True)
    greedy = SamplingParams(max_tokens=tokens, temperature=0.0, seed=7)
    try:
        say("starting llama-server")
        with llama_server(model, n_ctx=n_ctx, parallel=max(branches, 4)) as base:
            remote = RemoteEngine(base, model.name)
            result["dialect"] = remote.dialect
            for name, run in [
                ("tree", lambda e: [v.text for v in fanout(e, PROMPT, branches, hot)]),
                ("tree_greedy", lambda e: [v.text for v in fanout(e, PROMPT, 2, greedy)]),
                ("ask", lambda e: ask(e, QUESTION, n=4, max_tokens=48, seed=1).answer),
                ("score", lambda e: score_options(e, "Q: Is the sea salty?\nA:", [" yes", " no", " maybe", " never"])),
            ]:
                say(f"{name}: islands alone")
                local_s, mine = _timed(functools.partial(run, local))
                say(f"{name}: islands -> llama-server")
                remote_s, theirs = _timed(functools.partial(run, remote))
                result[f"{name}_local_s"] = round(local_s, 3)
                result[f"{name}_remote_s"] = round(remote_s, 3)
                result[f"{name}_ratio"] = round(local_s / remote_s, 3)
                if name == "score":
                    result["score_max_diff"] = round(max(abs(a - b) for a, b in zip(mine, theirs)), 4)
                elif name != "tree":
                    result[f"{name}_same"] = mine == theirs
            remote.close()
    finally:
        local.close()
    if items:
        questions = [f"What is {17 * i + 3} * {29 + i}?" for i in range(items)]
        work = functools.partial(ask_item, n=2, max_tokens=40, seed=1)
        spec = EngineSpec.local(str(model), n_ctx=n_ctx)
        say(f"batch: {items} items in one process")
        here = run_here(questions, work, spec)
        say(f"batch: {items} items on {workers} Ray actors")
        there = run_batch(questions, work, spec, workers=workers, cpus_per_worker=0.5)
        result |= {"batch_items": items, "batch_workers": workers, "batch_local_s": round(here.seconds, 3),
                   "batch_ray_s": round(there.seconds, 3), "batch_ratio": round(here.seconds / there.seconds, 3),
                   "batch_same": here.results == there.results}
    return result
