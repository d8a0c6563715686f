"""`islands bench islands` and `islands bench copy`: hard islands against the strongest
baselines that run in the same process on the same model.

bench islands — a response with K tool calls, three ways:
- islands:        one branch; at each call the result is spliced in with `extend` and
                  sampling resumes from the same KV state: only the injected tokens are prefilled;
- resend_cached:  stop at the call, run the tool, send the whole text so far again as a new
                  prompt, WITH a prefix cache (what llama-server and vLLM do): only the new
                  tail is prefilled, but the text is tokenized and matched again each time;
- resend:         the same without any prefix cache (the naive client), for scale.

The calls are forced (the benchmark writes ` CALC(a*b) => result` itself after every
segment of sampled text) so every way does the same work: K+1 segments of `tokens` greedy
tokens each, K CALC results. Every way gets one warm-up run and `repeat` timed runs,
interleaved; the best of each counts. Keys: injected_tokens, prefilled_tokens (what islands
decoded besides the prompt and sampled tokens; target: equal to injected_tokens), *_s,
ratio_vs_resend_cached and ratio_vs_resend (baseline seconds / islands seconds).

bench copy — a response that is mostly one COPY island: its output bytes per second against
the machine's own read rate of the same file (the limit COPY works under) and against text
the model generates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from islands.engine import Engine
from islands.params import SamplingParams
from islands.tools.calc import calc

__all__ = ["bench_copy", "bench_islands"]

_PROMPT = (
    "The harbour master kept a ledger of every ship, its cargo and its weight, and worked out "
    "the totals by hand until the island bought a calculator. "
)


def _injection(k: int) -> str:
    a, b = 1234 + 97 * k, 5678 + 31 * k
    return f" CALC({a}*{b}) => {calc(f'{a}*{b}')}."


def _islands_way(engine: Engine, prompt: str, calls: int, params: SamplingParams) -> tuple[float, int, str]:
    engine.clear_cache()
    t0 = time.perf_counter()
    b = engine.branch(prompt)
    text = ""
    try:
        b.start(params)
        engine.run([b])
        text += b.text
        for k in range(calls):
            b.extend(_injection(k))
            text += _injection(k)
            b.start(params)
            engine.run([b])
            text += b.text
        prefilled = b.stats.prefill_tokens
    finally:
        b.release(cache=False)
    return time.perf_counter() - t0, prefilled, text


def _resend_way(engine: Engine, prompt: str, calls: int, params: SamplingParams, cached: bool) -> tuple[float, int, str]:
    saved = engine.cache_tokens
    engine.clear_cache()
    engine.cache_tokens = saved if cached else 0
    prefilled = 0
    try:
        t0 = time.perf_counter()
        text = prompt
        for k in range(calls + 1):
            out = engine.generate(text, params=params)
            prefilled += out.stats.prefill_tokens
            text += out.text + (_injection(k) if k < calls else "")
        seconds = time.perf_counter() - t0
    finally:
        engine.cache_tokens = saved
        engine.clear_cache()
    return seconds, prefilled, text[len(prompt) :]


def bench_islands(
    engine: Engine, *, calls: int = 8, tokens: int = 32, prompt_repeat: int = 4, repeat: int = 3
) -> dict[str, Any]:
    prompt = _PROMPT * prompt_repeat
    params = SamplingParams(temperature=0, max_tokens=tokens, ignore_eos=True)
    n_prompt = len(engine.tokenize(prompt))
    injected = sum(len(engine.tokenize(_injection(k), add_bos=False)) for k in range(calls))
    ways: dict[str, Callable[[], tuple[float, int, str]]] = {
        "islands": lambda: _islands_way(engine, prompt, calls, params),
        "resend_cached": lambda: _resend_way(engine, prompt, calls, params, cached=True),
        "resend": lambda: _resend_way(engine, prompt, calls, params, cached=False),
    }
    times: dict[str, list[float]] = {w: [] for w in ways}
    prefilled: dict[str, int] = {}
    texts: dict[str, str] = {}
    for run in ways.values():  # one warm-up each, not timed
        run()
    for _ in range(repeat):
        for w, run in ways.items():
            seconds, prefilled[w], texts[w] = run()
            times[w].append(seconds)
    best = {w: min(t) for w, t in times.items()}
    return {
        "calls": calls,
        "tokens_per_segment": tokens,
        "prompt_tokens": n_prompt,
        "injected_tokens": injected,
        "prefilled_tokens": prefilled["islands"] - n_prompt,
        "resend_cached_prefilled_tokens": prefilled["resend_cached"],
        "resend_prefilled_tokens": prefilled["resend"],
        "same_text": texts["islands"] == texts["resend_cached"] == texts["resend"],
        "repeat": repeat,
        "islands_s": round(best["islands"], 3),
        "resend_cached_s": round(best["resend_cached"], 3),
        "resend_s": round(best["resend"], 3),
        "ratio_vs_resend_cached": round(best["resend_cached"] / best["islands"], 3),
        "ratio_vs_resend": round(best["resend"] / best["islands"], 3),
    }


def bench_copy(engine: Engine, *, megabytes: int = 8, tokens: int = 16, repeat: int = 3) -> dict[str, Any]:
    """Output bytes per second of a response that is mostly one COPY island, against the
    machine's read rate of the same file (warm page cache, like the COPY) and against the
    bytes per second of text the model generates itself. Best of `repeat`, after a warm-up."""
    import tempfile
    from pathlib import Path

    from islands.tools.corpus import Corpus
    from islands.tools.registry import Registry
    from islands.tools.runner import IslandRunner

    params = SamplingParams(temperature=0, max_tokens=tokens, ignore_eos=True)
    copy_times: list[float] = []
    read_times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        line = "Each island in the chain had its own harbour, its own bell and its own record of storms.\n"
        ledger = folder / "ledger.txt"
        ledger.write_text(line * (megabytes * 1_000_000 // len(line)))
        corpus = Corpus(folder, Path(tmp) / "index.sqlite")
        corpus.index()
        tools = Registry.default(corpus).subset(["COPY"])
        runner = IslandRunner(engine, tools)
        runner.alphabet_mask(tools.get("COPY"))  # a one-time vocabulary scan, not timed
        size = megabytes * 1_000_000 - 100
        prompt = f"The ledger, copied in full:\nCOPY(1, 0, {size})"
        try:
            for r in range(repeat + 1):  # the first run warms up
                engine.clear_cache()
                t0 = time.perf_counter()
                copied = runner.generate(prompt, params=params)
                copy_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                with ledger.open("rb") as f:
                    data = f.read()
                read_s = time.perf_counter() - t0
                if r:
                    copy_times.append(copy_s)
                    read_times.append(read_s)
        finally:
            runner.close()
            corpus.close()
    engine.clear_cache()
    free = engine.generate(_PROMPT, params=params.replace(max_tokens=64))
    out = copied.outputs[0]
    copy_bytes = len(out.text.encode())
    copy_rate = copy_bytes / min(copy_times)
    read_rate = len(data) / min(read_times)
    hard = [s for s in out.spans if s.kind == "hard" and s.tool == "COPY"]
    exact = bool(hard) and out.text[hard[0].start : hard[0].end].endswith(data[:size].decode())
    free_rate = len(free.text.encode()) / free.stats.seconds
    return {
        "copy_bytes": copy_bytes,
        "copied_exactly": exact,
        "copy_s": round(min(copy_times), 3),
        "context_tokens_added": copied.injected_tokens,
        "copy_bytes_per_s": round(copy_rate),
        "file_read_bytes_per_s": round(read_rate),
        "generated_bytes_per_s": round(free_rate),
        "fraction_of_read_rate": round(copy_rate / read_rate, 3),
        "ratio_vs_generated": round(copy_rate / free_rate, 1),
    }
