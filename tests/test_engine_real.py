"""Short tests on the embedded gemma-3-270m through llama.cpp (tens of tokens each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from islands import ContextFull, Engine, SamplingParams

pytestmark = pytest.mark.model

GREEDY16 = SamplingParams(temperature=0, max_tokens=16)


def test_greedy_output_is_deterministic(real: Engine) -> None:
    a = real.generate("The capital of France is", params=GREEDY16)
    real.clear_cache()  # same batch split both times: logits depend on it
    b = real.generate("The capital of France is", params=GREEDY16)
    assert a.text == b.text
    assert len(a.outputs[0].tokens) == 16 or a.outputs[0].finish_reason == "eos"
    assert "Paris" in a.text or "France" in a.text


def test_forked_branches_prefill_the_prompt_once(real: Engine) -> None:
    prompt = "Write a list of islands in the Pacific Ocean:"
    n_prompt = len(real.tokenize(prompt))
    g = real.generate(prompt, n=8, params=SamplingParams(max_tokens=12, seed=42, ignore_eos=True))
    assert len(g.outputs) == 8
    assert g.stats.prefill_tokens == n_prompt  # once, not 8x
    assert g.stats.sampled_tokens == 8 * 12
    assert g.stats.decode_steps == 12  # the prompt, then 11 batched steps of 8 rows
    assert len(set(g.texts)) > 1


def test_truncate_and_regenerate_with_same_seed(real: Engine) -> None:
    params = SamplingParams(temperature=1.0, max_tokens=12, seed=5, ignore_eos=True)
    b = real.branch("The old lighthouse keeper")
    try:
        b.start(params)
        real.run([b])
        first = list(b.generated)
        start = len(b.tokens) - 12
        b.truncate(start + 5)
        b.start(params.replace(max_tokens=7))
        real.run([b])
        assert b.generated == first[5:]
    finally:
        b.release()


def test_repeated_prompt_hits_the_prefix_cache(real: Engine) -> None:
    prompt = "Islands in the sea: Sicily, Crete, Cyprus,"
    n = len(real.tokenize(prompt))
    first = real.generate(prompt, params=SamplingParams(max_tokens=8, seed=1))
    second = real.generate(prompt, params=SamplingParams(max_tokens=8, seed=1))
    assert first.stats.reused_tokens == 0 and first.stats.prefill_tokens == n
    assert second.stats.reused_tokens == n - 1
    assert second.stats.prefill_tokens == 1


def test_special_tokens_never_sampled_at_temperature_one(real: Engine) -> None:
    masked = set(real.model.masked_tokens.tolist())
    assert {255999, 256000, 6} <= masked  # <start_of_image>, <end_of_image>, <unused0>
    wide = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, max_tokens=16, seed=9, logprobs=5)
    g = real.generate("<start_of_image>", n=4, params=wide)
    for out in g.outputs:
        assert not masked & set(out.tokens)
        assert out.logprobs is not None
        for lp in out.logprobs:
            assert not masked & {real.tokenize(text, add_bos=False)[0] for text, _ in lp.top if text}


def test_score_prefers_the_likely_continuation(real: Engine) -> None:
    likely = real.score("The capital of France is", " Paris")
    unlikely = real.score("The capital of France is", " banana")
    assert likely.total < unlikely.total
    assert all(lp <= 0 for lp in likely.logprobs)
    assert len(unlikely.logprobs) == len(real.tokenize(" banana", add_bos=False))


def test_context_full_error_is_clear(model_path: Path) -> None:
    with Engine(model_path, n_ctx=256) as small:  # llama.cpp's smallest context
        with pytest.raises(ContextFull, match=r"needed \d+ more KV cells but only \d+ of \d+ are free"):
            small.generate("Tell me a long story about the sea.", n=8, params=SamplingParams(max_tokens=40, ignore_eos=True))
        assert not small.live_branches
