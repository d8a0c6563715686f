"""The scheduler (core.Engine) on the deterministic mock model: batching, forks, cache,
eviction, backtracking, masking, stop strings, scoring. Fast; no llama.cpp involved."""

from __future__ import annotations

import numpy as np
import pytest

from islands import ContextFull, InvalidInput, SamplingParams, TooManyBranches
from islands.engine import Engine, MockModel
from islands.engine.mock import BOS, IMAGE, UNUSED
from islands.errors import EngineError

P = SamplingParams(max_tokens=12, temperature=0.9, seed=3)


def test_greedy_is_deterministic(engine: Engine) -> None:
    a = engine.generate("the sea", params=SamplingParams(temperature=0, max_tokens=20))
    engine.clear_cache()
    b = engine.generate("the sea", params=SamplingParams(temperature=0, max_tokens=20))
    assert a.text == b.text and len(a.outputs[0].tokens) == 20
    assert a.text.strip()  # the bigram table gives text, not nothing


def test_forks_prefill_the_prompt_once(engine: Engine, mock: MockModel) -> None:
    prompt = "we fork branches and keep the best"
    n_prompt = len(engine.tokenize(prompt))
    g = engine.generate(prompt, n=8, params=P.replace(ignore_eos=True))
    assert g.stats.prompt_tokens == n_prompt
    assert g.stats.prefill_tokens == n_prompt  # not 8x
    assert g.stats.sampled_tokens == 8 * 12
    assert g.stats.decode_steps == 12  # one prefill step, then 11 steps of 8 rows
    assert [len(b) for b in mock.batches] == [n_prompt] + [8] * 11
    assert all(sum(row[3] for row in b) == len(b) for b in mock.batches[1:])
    assert sum(row[3] for row in mock.batches[0]) == 1  # only the last prompt row asks for logits
    assert len(set(g.texts)) > 1  # seeds differ per branch


def test_prefill_rides_along_with_decoding(engine: Engine, mock: MockModel) -> None:
    a = engine.branch("a short one")
    a.start(SamplingParams(max_tokens=8, seed=1, ignore_eos=True))
    engine.step()  # a's prompt, then a samples its first token
    long_prompt = "memory keeps what matters " * 6  # 156 tokens > n_batch 64
    b = engine.branch(long_prompt)
    before = len(mock.batches)
    while b.pending:
        engine.step()
    steps = mock.batches[before:]
    assert len(steps) >= 3
    for batch in steps:
        seqs = [row[2] for row in batch]
        assert a.seq in seqs, "the decoding branch stalled during the other's prefill"
        assert len(batch) <= mock.n_batch
    assert len(a.generated) == 1 + len(steps)
    a.release()
    b.release()


def test_repeated_prompt_hits_the_cache(engine: Engine) -> None:
    prompt = "the islands are small"
    first = engine.generate(prompt, params=P)
    second = engine.generate(prompt, params=P)
    n = len(engine.tokenize(prompt))
    assert first.stats.reused_tokens == 0
    assert second.stats.reused_tokens == n - 1
    assert second.stats.prefill_tokens == 1
    assert second.text == first.text  # same seed, same logits


def test_a_branch_asked_not_to_reuse_decodes_its_whole_prompt(engine: Engine) -> None:
    prompt = "the islands are small"
    n = len(engine.tokenize(prompt))
    engine.generate(prompt, params=P)  # cached now
    fresh = engine.branch(prompt, reuse=False)
    assert fresh.n_past == 0 and fresh.stats.reused_tokens == 0
    engine.run([fresh])
    assert fresh.stats.prefill_tokens == n
    fresh.release(cache=False)
    again = engine.branch(prompt)
    assert again.stats.reused_tokens == n - 1  # the cache is still there for others
    again.release()


def test_partial_prefix_is_reused(engine: Engine) -> None:
    engine.generate("numbers are exact when a computer", params=P)
    g = engine.generate("numbers are exact and", params=P)
    assert g.stats.reused_tokens == len(engine.tokenize("numbers are exact "))


def test_truncate_and_regenerate_reproduces(engine: Engine) -> None:
    b = engine.branch("sleep makes it smaller")
    params = SamplingParams(max_tokens=10, temperature=1.0, seed=11, ignore_eos=True)
    b.start(params)
    engine.run([b])
    first = list(b.generated)
    start = len(b.tokens) - 10
    b.truncate(start + 4)
    b.start(params.replace(max_tokens=6))
    engine.run([b])
    assert b.generated == first[4:]
    assert b.tokens[start:] == first
    b.release()


def test_truncate_rejects_bad_positions(engine: Engine) -> None:
    b = engine.branch("abc")
    with pytest.raises(InvalidInput):
        b.truncate(0)
    with pytest.raises(InvalidInput):
        b.truncate(99)
    b.release()


def test_special_tokens_are_masked(engine: Engine) -> None:
    masked = set(UNUSED + [IMAGE])
    wide = SamplingParams(max_tokens=20, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=5)
    g = engine.generate("the sea", n=4, params=wide)
    assert not masked & {t for o in g.outputs for t in o.tokens}
    g = engine.generate("the sea", n=4, params=wide.replace(allow_special=True))
    assert masked & {t for o in g.outputs for t in o.tokens}, "the mock should tempt the sampler"


def test_stop_strings_cut_and_stream_matches(engine: Engine) -> None:
    params = SamplingParams(temperature=0, max_tokens=40)
    full = engine.generate("the", params=params).text
    stop = full[10:13]
    stream = engine.stream("the", params=params.replace(stop=(stop,)))
    streamed = "".join(d.text for d in stream)
    assert stream.result is not None
    out = stream.result.outputs[0]
    assert out.finish_reason == "stop"
    assert out.text == full[: full.index(stop)]
    assert streamed == out.text


def test_release_frees_cells(engine: Engine, mock: MockModel) -> None:
    b = engine.branch("x" * 30)
    engine.prefill(b)
    kids = b.fork(3)
    for k in kids:
        k.start(P.replace(ignore_eos=True))
    engine.run(kids)
    assert mock.used_cells == 31 + 3 * 11
    for k in kids:
        k.release(cache=False)
    assert mock.used_cells == 31
    b.release(cache=False)
    assert mock.used_cells == 0


def test_lru_eviction_under_budget() -> None:
    mock = MockModel(n_ctx=2048, n_seq_max=32, n_batch=64)
    engine = Engine(mock, cache_tokens=100)
    prompts = {w: list(f"{w} ".encode() * 5) for w in ("alpha", "bravo", "charlie")}  # no shared <bos>
    for tokens in prompts.values():
        engine.generate(tokens, params=P)  # ~40 tokens held each
    assert engine.cached_sequences == 2
    assert engine.generate(prompts["alpha"], params=P).stats.reused_tokens == 0  # evicted first
    assert engine.generate(prompts["charlie"], params=P).stats.reused_tokens == len(prompts["charlie"]) - 1
    assert engine.ledger.used == mock.used_cells


def test_cache_is_evicted_before_live_branches() -> None:
    mock = MockModel(n_ctx=128, n_seq_max=16, n_batch=64)
    engine = Engine(mock, cache_tokens=1000)
    live = engine.branch("keep me alive " * 3)
    engine.run([live])
    engine.generate("cached " * 8, params=P.replace(max_tokens=4))
    assert engine.cached_sequences == 1
    g = engine.generate("fresh " * 8, params=P.replace(max_tokens=20, ignore_eos=True))
    assert len(g.outputs[0].tokens) == 20
    assert engine.cached_sequences <= 1
    assert mock.seq_tokens(live.seq) == live.tokens  # untouched
    live.release()
    assert engine.ledger.used == mock.used_cells


def test_context_full_says_needed_and_free() -> None:
    mock = MockModel(n_ctx=64, n_seq_max=8, n_batch=32)
    engine = Engine(mock)
    with pytest.raises(ContextFull) as e:
        engine.generate("y" * 40, n=2, params=P.replace(max_tokens=30, ignore_eos=True))
    assert "needed" in str(e.value) and "free" in str(e.value)
    assert e.value.needed > e.value.free
    assert not engine.live_branches  # the failed request let go of its branches
    assert engine.ledger.used == mock.used_cells


def test_too_many_branches() -> None:
    engine = Engine(MockModel(n_seq_max=4))
    with pytest.raises(InvalidInput):
        engine.generate("z", n=8)
    b = engine.branch("zz")
    engine.run([b])
    with pytest.raises(TooManyBranches):
        b.fork(4)
    b.release()


def test_score_matches_the_model_rows(engine: Engine) -> None:
    s = engine.score("the sea is", " wide")
    assert s.pieces == list(" wide")
    fresh = MockModel()
    tokens = fresh.tokenize("the sea is wide", add_bos=True)
    fresh.decode(tokens, range(len(tokens)), [0] * len(tokens), [True] * len(tokens))
    rows = fresh.logits().astype(np.float64)
    start = len(fresh.tokenize("the sea is", add_bos=True))
    expected = []
    for p in range(start - 1, len(tokens) - 1):
        row = rows[p]
        expected.append(row[tokens[p + 1]] - (row.max() + np.log(np.exp(row - row.max()).sum())))
    assert s.logprobs == pytest.approx(expected, abs=1e-4)
    assert s.total == pytest.approx(-sum(expected), abs=1e-3)


def test_score_of_long_continuation_spans_steps(engine: Engine) -> None:
    text = " and the islands are small" * 5  # 130 rows of logits > MAX_LOGIT_ROWS
    s = engine.score("the sea", text)
    assert len(s.logprobs) == len(text)
    assert s.stats.decode_steps >= 3


def test_logprobs_of_sampled_tokens(engine: Engine) -> None:
    g = engine.generate("the", params=P.replace(logprobs=3))
    lps = g.outputs[0].logprobs
    assert lps is not None and len(lps) == len(g.outputs[0].tokens)
    for lp in lps:
        assert lp.logprob <= 0
        assert len(lp.top) == 3
        assert [v for _, v in lp.top] == sorted((v for _, v in lp.top), reverse=True)
        assert sum(np.exp(v) for _, v in lp.top) <= 1.0 + 1e-6


def test_extend_after_stop_prefills_only_new_tokens(engine: Engine, mock: MockModel) -> None:
    b = engine.branch("the sea ")
    b.start(SamplingParams(temperature=0, max_tokens=5))
    engine.run([b])
    n_before = len(b.tokens)
    b.extend(" => 42")
    rows_before = sum(len(x) for x in mock.batches)
    b.start(SamplingParams(temperature=0, max_tokens=3))
    engine.run([b])
    # the last sampled token + the 6 injected ones are prefilled; then 2 decode rows
    assert sum(len(x) for x in mock.batches) - rows_before == 1 + 6 + 2
    assert b.tokens[n_before : n_before + 6] == list(b" => 42")
    b.release()


def test_bad_prompts(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        engine.generate("")
    with pytest.raises(InvalidInput, match="context holds only"):
        engine.generate("w" * 5000)
    with pytest.raises(InvalidInput, match="outside the vocabulary"):
        engine.generate([BOS, 999])
    assert not engine.live_branches


def test_params_validation() -> None:
    for bad in ({"temperature": -1}, {"max_tokens": 0}, {"top_p": 0}, {"stop": ("",)}, {"seed": -1}, {"logprobs": 99}):
        with pytest.raises(InvalidInput):
            SamplingParams(**bad)  # type: ignore[arg-type]
    assert SamplingParams(stop="x").stop == ("x",)
    assert SamplingParams(seed=1).for_branch(2).seed == 3


def test_whitespace_only_prompts_are_refused(engine: Engine) -> None:
    for prompt in ("", "   ", "\n\t"):
        with pytest.raises(InvalidInput, match="prompt is"):
            engine.branch(prompt)


def test_branch_state_is_read_only(engine: Engine) -> None:
    b = engine.branch("the sea is")
    for name in ("tokens", "n_past", "segment", "constraint", "score_from", "scored", "seq", "alive", "stats"):
        with pytest.raises(AttributeError):
            setattr(b, name, None)
    b.release()
    assert not b.alive


def test_next_logprobs_from_a_kept_row_match_engine_score(engine: Engine) -> None:
    """keep_next: the last token's logits row outlives later steps, so several options'
    first tokens are scored from one row (what the people surveys do)."""
    head = engine.tokenize("the sea is", add_bos=True)
    options = [" salty", " deep", " wide"]
    firsts = [engine.tokenize(o, add_bos=False)[0] for o in options]
    want = [engine.score("the sea is", o).logprobs[0] for o in options]
    engine.clear_cache()
    b = engine.branch(head)
    with pytest.raises(EngineError, match="no logits row kept"):
        b.next_logprobs(firsts)
    b.keep_next = True
    engine.run([b])
    other = engine.branch(engine.tokenize("a later step decodes something else", add_bos=True))
    engine.run([other])  # the engine's current logits are another branch's now
    assert np.allclose(b.next_logprobs(firsts), want, atol=1e-4)
    b.extend(" salty")
    with pytest.raises(EngineError, match="no logits row kept"):
        b.next_logprobs(firsts)  # the row was for a shorter branch
    other.release()
    b.release()


def test_score_tokens_from_matches_engine_score(engine: Engine) -> None:
    head = engine.tokenize("the sea is", add_bos=True)
    tail = engine.tokenize(" salty and deep", add_bos=False)
    want = engine.score("the sea is", " salty and deep").logprobs
    engine.clear_cache()
    b = engine.branch(head + tail)
    with pytest.raises(ValueError, match="before the scored"):
        b.score_tokens_from(0)
    b.score_tokens_from(len(head))
    assert b.score_from == len(head)
    engine.run([b])
    assert len(b.scored) == len(tail)
    assert np.allclose(b.scored, want)
    with pytest.raises(ValueError, match="decoded already"):
        b.score_tokens_from(len(head))  # its KV holds the tail now
    b.release()


def test_score_without_bos_and_prefix_skips_the_first_token() -> None:
    from islands.engine import Engine, MockModel

    class NoBos(MockModel):
        def tokenize(self, text: str, *, add_bos: bool) -> list[int]:  # a model that adds no BOS
            return super().tokenize(text, add_bos=False)

    engine = Engine(NoBos(n_ctx=2048, n_seq_max=32, n_batch=64))
    whole = engine.tokenize("the sea is wide", add_bos=False)
    s = engine.score("", "the sea is wide")
    assert s.tokens == whole[1:] and len(s.logprobs) == len(whole) - 1  # the first token is the context
    with pytest.raises(InvalidInput, match="no BOS"):
        engine.score("", engine.model.piece(whole[0]).decode())
