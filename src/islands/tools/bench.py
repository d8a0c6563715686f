"""`islands bench islands`: a response with K tool calls, two ways, same process and model.

- islands: one branch; at each call the result is spliced in with `extend` and sampling
  resumes from the same KV state, so only the injected tokens are prefilled;
- resend:  the usual way without a runtime — stop at the call, run the tool, send the
  whole text so far again as a new prompt (no prefix cache) and continue.

The calls are forced (the benchmark writes ` CALC(a*b) => result` itself after every
segment of sampled text) so both ways do the same work: K+1 segments of `tokens` greedy
tokens each, K CALC results. Keys: injected_tokens, prefilled_tokens (what islands decoded
besides the prompt and sampled tokens; target: equal to injected_tokens), islands_s,
resend_s, ratio = resend_s / islands_s.
"""

from __future__ import annotations

import time
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


def bench_islands(engine: Engine, *, calls: int = 8, tokens: int = 32, prompt_repeat: int = 4) -> dict[str, Any]:
    prompt = _PROMPT * prompt_repeat
    params = SamplingParams(temperature=0, max_tokens=tokens, ignore_eos=True)
    engine.clear_cache()
    n_prompt = len(engine.tokenize(prompt))

    t0 = time.perf_counter()
    b = engine.branch(prompt)
    injected = 0
    try:
        b.start(params)
        engine.run([b])
        for k in range(calls):
            text = _injection(k)
            injected += len(engine.tokenize(text, add_bos=False))
            b.extend(text)
            b.start(params)
            engine.run([b])
        stats = b.stats
    finally:
        b.release(cache=False)
    islands_s = time.perf_counter() - t0
    prefilled = stats.prefill_tokens - n_prompt

    saved = engine.cache_tokens
    engine.clear_cache()
    engine.cache_tokens = 0  # the usual way has no prefix cache
    resend_prefill = 0
    try:
        t0 = time.perf_counter()
        text = prompt
        for k in range(calls + 1):
            out = engine.generate(text, params=params)
            resend_prefill += out.stats.prefill_tokens
            text += out.text + (_injection(k) if k < calls else "")
        resend_s = time.perf_counter() - t0
    finally:
        engine.cache_tokens = saved
    return {
        "calls": calls,
        "tokens_per_segment": tokens,
        "prompt_tokens": n_prompt,
        "injected_tokens": injected,
        "prefilled_tokens": prefilled,
        "resend_prefilled_tokens": resend_prefill,
        "islands_s": round(islands_s, 3),
        "resend_s": round(resend_s, 3),
        "ratio": round(resend_s / islands_s, 3),
    }


def bench_copy(engine: Engine, *, megabytes: int = 8, tokens: int = 16) -> dict[str, Any]:
    """Output bytes per second of a response that is mostly one COPY island, against the
    bytes per second of text the model generates itself."""
    import tempfile
    from pathlib import Path

    from islands.tools.corpus import Corpus
    from islands.tools.registry import Registry
    from islands.tools.runner import IslandRunner

    params = SamplingParams(temperature=0, max_tokens=tokens, ignore_eos=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        line = "Each island in the chain had its own harbour, its own bell and its own record of storms.\n"
        (folder / "ledger.txt").write_text(line * (megabytes * 1_000_000 // len(line)))
        corpus = Corpus(folder, Path(tmp) / "index.sqlite")
        corpus.index()
        tools = Registry.default(corpus).subset(["COPY"])
        runner = IslandRunner(engine, tools)
        runner.alphabet_mask(tools.get("COPY"))  # a one-time vocabulary scan, not timed
        try:
            size = megabytes * 1_000_000 - 100
            prompt = f"The ledger, copied in full:\nCOPY(1, 0, {size})"
            engine.clear_cache()
            t0 = time.perf_counter()
            copied = runner.generate(prompt, params=params)
            copy_s = time.perf_counter() - t0
        finally:
            runner.close()
            corpus.close()
    engine.clear_cache()
    free = engine.generate(_PROMPT, params=params.replace(max_tokens=64))
    copy_bytes = len(copied.outputs[0].text.encode())
    free_bytes = len(free.text.encode())
    copy_rate = copy_bytes / copy_s
    free_rate = free_bytes / free.stats.seconds
    return {
        "copy_bytes": copy_bytes,
        "copy_s": round(copy_s, 3),
        "context_tokens_added": copied.injected_tokens,
        "copy_bytes_per_s": round(copy_rate),
        "generated_bytes_per_s": round(free_rate),
        "ratio": round(copy_rate / free_rate, 1),
    }
