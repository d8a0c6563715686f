"""Hard islands on the embedded model: a few-shot prompt makes it call CALC; the exact
result is spliced in and only the result's tokens are prefilled."""

from __future__ import annotations

import pytest

from islands import Engine, SamplingParams
from islands.tools import IslandRunner, Registry, calc

pytestmark = pytest.mark.model

FEW_SHOT = "Q: What is 12 * 34?\nA: CALC(12*34) => 408\nQ: What is 2^64?\nA: CALC("


def test_model_calls_calc_and_the_exact_result_is_injected(real: Engine) -> None:
    runner = IslandRunner(real, Registry.default())
    try:
        g = runner.generate(FEW_SHOT, n=3, params=SamplingParams(max_tokens=16, temperature=0.7, seed=1, stop=("\n",)))
    finally:
        runner.close()
    n_prompt = len(real.tokenize(FEW_SHOT))
    assert g.stats.prefill_tokens - n_prompt <= g.injected_tokens + 3  # + at most one re-split token per branch
    for out in g.outputs:
        hard = [s for s in out.spans if s.kind == "hard"]
        assert hard, out.text
        assert hard[0].tool == "CALC"
        assert hard[0].result == calc(hard[0].args or "")
        assert not hard[0].error  # the argument grammar admits only well-formed arithmetic
        assert out.text[hard[0].start : hard[0].end] == f" => {hard[0].result}"
        assert set(out.text[: out.text.index(")")]) <= set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,+-*/%^()!_")


def test_bench_islands_prefills_only_the_injections(real: Engine) -> None:
    from islands.tools.bench import bench_islands

    result = bench_islands(real, calls=2, tokens=4, prompt_repeat=1, repeat=1)
    assert result["same_text"]  # all three ways did the same work
    assert result["injected_tokens"] > 0
    assert result["prefilled_tokens"] == result["injected_tokens"]
    assert result["resend_prefilled_tokens"] > 3 * result["prompt_tokens"]  # the text, sent again each time
    # the cached resend prefills only the new tails, yet more than islands: each tail's first
    # token is decoded again to get its logits
    assert result["injected_tokens"] < result["resend_cached_prefilled_tokens"] < result["resend_prefilled_tokens"]


def test_bench_copy_reports_rates(real: Engine) -> None:
    from islands.tools.bench import bench_copy

    result = bench_copy(real, megabytes=1, tokens=4, repeat=1)
    assert result["copied_exactly"] and result["copy_bytes"] > 999_000
    assert result["context_tokens_added"] < 60  # a marker, not a megabyte
    assert 0 < result["file_read_bytes_per_s"] and result["copy_bytes_per_s"] > result["generated_bytes_per_s"]
