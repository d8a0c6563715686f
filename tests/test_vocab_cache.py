"""The vocabulary cache: tables and token masks computed once per model file, kept on disk,
rebuilt for another file or when damaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from islands.engine.vocab import VocabCache, VocabTables, model_key


def _tables() -> VocabTables:
    return VocabTables([b"a", b"", b"\xe2\x82", b"<eos>"], [b"a", b"", b"\xe2\x82", b"\xff<eos>"],
                       np.array([3]), np.array([1]))


def test_tables_round_trip_and_damage_is_rebuilt(tmp_path: Path) -> None:
    cache = VocabCache(tmp_path / "v")
    assert cache.load() is None
    cache.save(_tables())
    got = cache.load()
    assert got is not None and got.pieces == _tables().pieces and got.grammar_pieces[3] == b"\xff<eos>"
    assert got.eog.tolist() == [3] and got.masked.tolist() == [1]
    assert not list((tmp_path / "v").glob("*.part"))  # nothing half-written left behind
    cache.tables_path.write_bytes(b"garbage")
    assert cache.load() is None  # damaged: the caller computes and saves again


def test_masks_are_computed_once_and_kept_on_disk(tmp_path: Path) -> None:
    calls = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.array([True, False, True, True, False])

    first = VocabCache(tmp_path).mask("alphabet:abc", 5, compute)
    again = VocabCache(tmp_path).mask("alphabet:abc", 5, compute)  # a new process, same file
    other = VocabCache(tmp_path).mask("alphabet:xyz", 5, compute)
    assert first.tolist() == again.tolist() == other.tolist() == [True, False, True, True, False]
    assert len(calls) == 2  # abc once, xyz once


def test_the_key_follows_the_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    a.write_bytes(b"GGUF" + b"x" * 1000)
    b.write_bytes(b"GGUF" + b"y" * 1000)
    assert model_key(a) != model_key(b)
    key = model_key(a)
    a.write_bytes(b"GGUF" + b"x" * 999 + b"z")  # the same size, one byte changed
    assert model_key(a) != key


@pytest.mark.model
def test_a_second_load_reads_the_cache(model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from islands.engine.llama import LlamaModel

    first = LlamaModel(model_path, n_ctx=256)
    pieces = [first.piece(t) for t in (2, 100, 1000)]
    first.close()

    def never(self: LlamaModel) -> VocabTables:
        raise AssertionError("the vocabulary was read again")

    monkeypatch.setattr(LlamaModel, "_read_vocab", never)
    second = LlamaModel(model_path, n_ctx=256)
    try:
        assert [second.piece(t) for t in (2, 100, 1000)] == pieces
        assert second.eog_tokens == first.eog_tokens and len(second.masked_tokens) > 0
    finally:
        second.close()
