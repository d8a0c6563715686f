"""Soft islands (sources in the input, with citations), traces, and fuzzing the grammar
front-ends: no input crashes them."""

from __future__ import annotations

import json
from pathlib import Path

import llguidance
from hypothesis import given, settings
from hypothesis import strategies as st

from islands import InvalidInput, SamplingParams
from islands.engine import Engine
from islands.engine.grammar import to_llguidance
from islands.grammar import Grammar
from islands.tools import IslandRunner, Registry
from islands.tools.corpus import Corpus
from islands.tools.soft import Source, retrieve, with_sources
from islands.tools.trace import write_trace


def test_sources_are_marked_where_they_stand() -> None:
    sources = [Source("a.md", "A", "alpha text"), Source("b.md", "B", "beta")]
    prompt, spans = with_sources("Q: which?\nA:", sources)
    assert prompt.endswith("Q: which?\nA:")
    assert [prompt[s.start : s.end] for s in spans] == ["alpha text", "beta"]
    assert "[1] A (a.md)" in prompt and "[2] B (b.md)" in prompt
    assert with_sources("plain", []) == ("plain", [])


def test_retrieve_from_a_corpus(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "t.md").write_text("# Tides\nKirkwall tide 3.2 m.\n")
    corpus = Corpus(tmp_path / "c", tmp_path / "i.sqlite")
    corpus.index()
    docs = retrieve(corpus, "Kirkwall tide", k=3, budget=10)
    assert len(docs) == 1 and docs[0].ref == "t.md" and len(docs[0].text) == 10


def test_trace_has_prompt_soft_and_hard_spans(engine: Engine, tmp_path: Path) -> None:
    prompt, soft = with_sources("6*7 is CALC(6*7)", [Source("n.md", "Numbers", "six sevens")])
    runner = IslandRunner(engine, Registry.default())
    try:
        result = runner.generate(prompt, params=SamplingParams(max_tokens=3, seed=1))
    finally:
        runner.close()
    path = tmp_path / "trace.jsonl"
    write_trace(path, prompt, result, soft)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["type"] == "prompt" and lines[0]["soft"][0]["ref"] == "n.md"
    assert lines[1]["type"] == "output"
    kinds = [s["kind"] for s in lines[1]["spans"]]
    assert kinds[0] == "hard" and lines[1]["spans"][0]["result"] == "42"
    plain = engine.generate("the sea", params=SamplingParams(max_tokens=3, seed=1, logprobs=2))
    write_trace(path, "the sea", plain)
    out = json.loads(path.read_text().splitlines()[1])
    assert out["spans"][0]["kind"] == "sea" and len(out["logprobs"]) == 3


class _Bytes:
    """A byte-level tokenizer for llguidance: token i is byte i, 256 is the end."""

    eos_token_id, bos_token_id, special_token_ids = 256, None, [256]
    tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]

    def __call__(self, text: bytes) -> list[int]:
        return list(text)


BYTES = llguidance.LLTokenizer(llguidance.TokenizerWrapper(_Bytes()), slices=[])


def _accepts(grammar: str, text: str) -> bool:
    matcher = llguidance.LLMatcher(BYTES, grammar)
    return bool(matcher.consume_tokens(list(text.encode()))) and matcher.is_accepting()


def test_grammar_front_ends_say_what_they_mean() -> None:
    cases = [("regex", "[0-9]+", "42", "4x"), ("lark", 'start: "x"+', "xx", "y"), ("gbnf", 'root ::= "a" [bc]', "ab", "aa"),
             ("json_schema", '{"type": "integer"}', "42", "4.5"), ("json_schema", '{"type": "object"}', "{}", "{ }")]
    for kind, source, good, bad in cases:
        grammar = to_llguidance(Grammar(kind, source))
        assert _accepts(grammar, good) and not _accepts(grammar, bad), (kind, source)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["regex", "gbnf", "lark", "json_schema"]))
def test_grammar_front_ends_never_crash(text: str, kind: str) -> None:
    try:
        grammar = to_llguidance(Grammar(kind, text))
    except InvalidInput:
        return
    matcher = llguidance.LLMatcher(BYTES, grammar)  # what a front end accepts, a matcher can run
    assert not matcher.is_error(), matcher.get_error()
