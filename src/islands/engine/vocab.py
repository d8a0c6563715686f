"""VocabCache: what islands learns about a model's vocabulary, computed once per model file.

Reading 262,144 tokens through llama.cpp one by one costs seconds per process: their text
pieces, the pieces llguidance's tokenizer is built from, which tokens end a turn and which
are control tokens to mask, and the token masks of tool alphabets. All of it depends only
on the model file, so it is kept on disk under `$ISLANDS_HOME/vocab/<key>/`, where the key
hashes the file's size with its first and last 8 MiB (a different file gets a different
key; rebuilding is automatic). Files are written to a temporary name and renamed: a crash
never leaves half a cache, and a damaged one is rebuilt.

    cache = VocabCache.for_model(path)
    tables = cache.load() or cache.save(compute_tables())
    mask = cache.mask("alphabet:0123456789+-*/()", n_vocab, compute)   # (n_vocab,) bool

What it leaves out: the llguidance tokenizer object itself (it holds a pointer into the
loaded model; it is rebuilt per process from the cached pieces, which is the cheap half).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from islands.home import islands_home

__all__ = ["VocabCache", "VocabTables", "model_key"]

_EDGE = 8 << 20  # bytes hashed at each end of the model file
_FORMAT = 1  # bump when the tables change shape


def model_key(path: Path) -> str:
    """A short key for a model file: sha256 of its size, first and last 8 MiB."""
    size = path.stat().st_size
    h = hashlib.sha256(f"{_FORMAT}:{size}:".encode())
    with path.open("rb") as f:
        h.update(f.read(_EDGE))
        if size > 2 * _EDGE:
            f.seek(size - _EDGE)
            h.update(f.read(_EDGE))
    return h.hexdigest()[:24]


@dataclass
class VocabTables:
    """Per-token facts: pieces (the text a token renders to), the byte strings llguidance
    builds its tokenizer from (control tokens prefixed with 0xff), end-of-generation ids,
    and ids masked by default (control, unused, marker tokens)."""

    pieces: list[bytes]
    grammar_pieces: list[bytes]
    eog: np.ndarray  # (k,) int64
    masked: np.ndarray  # (m,) int64


def _pack(items: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(b) for b in items), dtype=np.int64, count=len(items))
    return np.frombuffer(b"".join(items), dtype=np.uint8), np.concatenate([[0], np.cumsum(lengths)])


def _unpack(data: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    raw = data.tobytes()
    bounds = offsets.tolist()
    return [raw[a:b] for a, b in zip(bounds, bounds[1:])]


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class VocabCache:
    """The on-disk cache of one model file's vocabulary tables and token masks."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._masks: dict[str, np.ndarray] = {}

    @classmethod
    def for_model(cls, path: Path, home: Path | None = None) -> VocabCache:
        return cls((home or islands_home()) / "vocab" / model_key(path))

    @property
    def tables_path(self) -> Path:
        return self.folder / "tables.npz"

    def load(self) -> VocabTables | None:
        """The cached tables, or None when there are none (or they are damaged)."""
        try:
            with np.load(self.tables_path) as z:
                return VocabTables(
                    _unpack(z["pieces"], z["piece_offsets"]),
                    _unpack(z["grammar"], z["grammar_offsets"]),
                    z["eog"].astype(np.int64),
                    z["masked"].astype(np.int64),
                )
        except (OSError, ValueError, KeyError, EOFError):
            return None

    def save(self, tables: VocabTables) -> VocabTables:
        pieces, piece_offsets = _pack(tables.pieces)
        grammar, grammar_offsets = _pack(tables.grammar_pieces)

        def write(tmp: Path) -> None:
            with tmp.open("wb") as f:
                np.savez(
                    f, pieces=pieces, piece_offsets=piece_offsets, grammar=grammar,
                    grammar_offsets=grammar_offsets, eog=tables.eog, masked=tables.masked,
                )

        try:
            _write_atomic(self.tables_path, write)
        except OSError:
            pass  # a read-only home: work without the cache
        return tables

    def mask(self, key: str, n_vocab: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """A (n_vocab,) bool mask named `key`: from memory, from disk, or computed and kept."""
        if key in self._masks:
            return self._masks[key]
        path = self.folder / f"mask-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npy"
        mask: np.ndarray | None = None
        try:
            bits = np.load(path)
            unpacked = np.unpackbits(bits)[:n_vocab].astype(bool)
            if unpacked.shape == (n_vocab,):
                mask = unpacked
        except (OSError, ValueError, EOFError):
            pass
        if mask is None:
            mask = np.asarray(compute(), dtype=bool)
            packed = np.packbits(mask)

            def write(tmp: Path) -> None:
                with tmp.open("wb") as f:
                    np.save(f, packed)

            try:
                _write_atomic(path, write)
            except OSError:
                pass
        self._masks[key] = mask
        return mask
