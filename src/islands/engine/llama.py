"""LlamaModel: the llama.cpp backend — the only module in islands that imports llama_cpp.

One `llama_context` with a unified KV cache (`kv_unified=True`, so `seq_cp` shares cells
instead of copying them) and `swa_full=True` (so backtracking with `seq_rm` works on the
sliding-window layers too). One `llama_batch` is allocated once and refilled each step
through numpy views. Samplers are llama.cpp sampler chains; the final random draw is
re-seeded per position so a branch truncated and sampled again repeats itself.

What it leaves out: GPU offload settings and LoRA (not needed for the embedded model).
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# llama.cpp's CPU backend runs its threads under OpenMP, whose idle threads spin by default.
# On a machine with more busy threads than cores (this project's 2 shared cores) that made a
# decode step from the main thread 4-7x slower than from another thread; passive waiting
# made both fast (8 branches x 8 tokens: 0.9-1.5 s against 4.8-5.4 s from the main thread and
# 2.4-2.6 s from another, measured back to back). It counts only if set before libgomp loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import llama_cpp as L  # noqa: E402
import numpy as np  # noqa: E402

from islands.engine.model import KVFull, Model, ModelInfo, Sampler, position_seed
from islands.engine.vocab import VocabCache, VocabTables
from islands.errors import EngineError, InvalidInput, ModelError
from islands.params import SamplingParams

__all__ = ["MIN_CTX", "LlamaModel", "LlamaSampler", "read_gguf_magic", "sequential_completions"]

_ATTR_UNUSED = 2
_ATTR_CONTROL = 8
_ATTR_USER_DEFINED = 16
# user-defined tokens that are markers, not text (gemma: [multimodal], <start_of_image>, ...)
_MARKER = re.compile(rb"^(\[[a-z_]+\]|<(start|end)_of_[a-z_]+>|<image[a-z_]*>)$")


def _quiet(level: int, text: bytes, data: ctypes.c_void_p) -> None:
    return None


_LOG_CALLBACK = L.llama_log_callback(_quiet)  # kept referenced: llama.cpp calls it later
L.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))
L.llama_backend_init()


def read_gguf_magic(path: Path) -> None:
    """Raise ModelError unless `path` is a readable file that starts like a GGUF file."""
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelError(f"model path is not a file: {path}")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ModelError(f"cannot read model file {path}: {e.strerror}") from None
    if magic != b"GGUF":
        raise ModelError(f"not a GGUF model file: {path}")


# the smallest context llama.cpp makes (it rounds n_ctx up to a multiple of 256: 300 -> 512)
MIN_CTX = 256


class LlamaModel(Model):
    """A GGUF model in one llama.cpp context shared by up to n_seq_max sequences."""

    def __init__(
        self, path: Path, *, n_ctx: int = 8192, threads: int | None = None, n_batch: int = 512
    ) -> None:
        read_gguf_magic(path)
        if n_ctx < MIN_CTX:  # llama.cpp would silently make it 256
            raise InvalidInput(f"invalid context size {n_ctx} (--ctx): llama.cpp needs at least {MIN_CTX} tokens")
        self.path = path
        mparams = L.llama_model_default_params()
        self._model = L.llama_model_load_from_file(str(path).encode(), mparams)
        if not self._model:
            raise ModelError(f"cannot load model (corrupt or unsupported GGUF): {path}")
        self._vocab = L.llama_model_get_vocab(self._model)
        self.n_vocab = L.llama_vocab_n_tokens(self._vocab)
        self._n_ctx_train = L.llama_model_n_ctx_train(self._model)
        if n_ctx > self._n_ctx_train:
            L.llama_model_free(self._model)
            raise InvalidInput(f"invalid context size {n_ctx} (--ctx): this model was trained for at most {self._n_ctx_train}")
        threads = threads or os.cpu_count() or 1
        n_batch = min(n_batch, n_ctx)  # llama.cpp clamps it so; outputs per step <= n_batch
        self.n_seq_max = min(L.llama_max_parallel_sequences(), n_batch)
        self.n_batch = n_batch
        cparams = L.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_batch
        cparams.n_seq_max = self.n_seq_max
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        cparams.kv_unified = True
        cparams.swa_full = True
        cparams.no_perf = True
        self._ctx = L.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            L.llama_model_free(self._model)
            raise ModelError(f"cannot create a context of {n_ctx} tokens for {path}")
        self.n_ctx = L.llama_n_ctx(self._ctx)
        self._mem = L.llama_get_memory(self._ctx)
        self._batch = L.llama_batch_init(n_batch, 0, 1)
        self._tok = np.ctypeslib.as_array(self._batch.token, shape=(n_batch,))
        self._pos = np.ctypeslib.as_array(self._batch.pos, shape=(n_batch,))
        self._flags = np.ctypeslib.as_array(self._batch.logits, shape=(n_batch,))
        np.ctypeslib.as_array(self._batch.n_seq_id, shape=(n_batch,))[:] = 1
        self._seq_slots = [self._batch.seq_id[i] for i in range(n_batch)]
        self._n_out = 0
        self._piece_buf = ctypes.create_string_buffer(256)
        self._ll_tokenizers: dict[bool, object] = {}
        self._ll_lock = threading.Lock()
        bos = L.llama_vocab_bos(self._vocab)
        self.bos = bos if bos >= 0 and L.llama_vocab_get_add_bos(self._vocab) else None
        self.vocab_cache = VocabCache.for_model(path)
        tables = self.vocab_cache.load()
        if tables is None or len(tables.pieces) != self.n_vocab:
            tables = self.vocab_cache.save(self._read_vocab())
        self._tables = tables
        self._pieces = tables.pieces
        self.eog_tokens = frozenset(int(t) for t in tables.eog)
        self.masked_tokens = tables.masked

    def _read_vocab(self) -> VocabTables:
        """Every token's pieces and attributes, read through llama.cpp (about 2 s)."""
        pieces, grammar, eog, masked = [], [], [], []
        for t in range(self.n_vocab):
            attr = L.llama_vocab_get_attr(self._vocab, t)
            special = self._piece(t, special=True)
            pieces.append(self._piece(t, special=False))
            # llguidance's convention: control tokens (and "<...>" user-defined ones) start 0xff
            marked = attr & _ATTR_CONTROL or (attr & _ATTR_USER_DEFINED and special[:1] == b"<" and special[-1:] == b">")
            grammar.append(b"\xff" + special if marked else special)
            if L.llama_vocab_is_eog(self._vocab, t):
                eog.append(t)
            elif attr & (_ATTR_UNUSED | _ATTR_CONTROL) or (attr & _ATTR_USER_DEFINED and _MARKER.match(special)):
                masked.append(t)  # control, unused and marker tokens; never end tokens
        return VocabTables(pieces, grammar, np.array(eog, dtype=np.int64), np.array(masked, dtype=np.int64))

    def info(self) -> ModelInfo:
        buf = ctypes.create_string_buffer(256)
        L.llama_model_desc(self._model, buf, len(buf))
        return ModelInfo(
            name=self.path.name,
            path=str(self.path),
            size_bytes=self.path.stat().st_size,
            n_vocab=self.n_vocab,
            n_ctx_train=self._n_ctx_train,
            n_ctx=self.n_ctx,
            n_params=L.llama_model_n_params(self._model),
            description=buf.value.decode("utf-8", errors="replace"),
        )

    def tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8
        buf = (L.llama_token * cap)()
        n = L.llama_tokenize(self._vocab, data, len(data), buf, cap, add_bos, True)
        if n < 0:
            cap = -n
            buf = (L.llama_token * cap)()
            n = L.llama_tokenize(self._vocab, data, len(data), buf, cap, add_bos, True)
        if n < 0:
            raise InvalidInput("text could not be tokenized")
        return list(buf[:n])

    def _piece(self, token: int, *, special: bool) -> bytes:
        buf = self._piece_buf
        n = L.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = L.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def piece(self, token: int) -> bytes:
        return self._pieces[token]

    def decode(
        self,
        tokens: Sequence[int],
        positions: Sequence[int],
        seqs: Sequence[int],
        want_logits: Sequence[bool],
    ) -> None:
        n = len(tokens)
        assert 0 < n <= self.n_batch
        self._tok[:n] = tokens
        self._pos[:n] = positions
        self._flags[:n] = want_logits
        slots = self._seq_slots
        for i, s in enumerate(seqs):
            slots[i][0] = s
        self._batch.n_tokens = n
        rc = L.llama_decode(self._ctx, self._batch)
        if rc == 1:
            raise KVFull()
        if rc != 0:
            raise EngineError(f"llama_decode failed with code {rc}")
        self._n_out = int(sum(want_logits))

    def logits(self) -> np.ndarray:
        ptr = L.llama_get_logits(self._ctx)
        return np.ctypeslib.as_array(ptr, shape=(self._n_out, self.n_vocab))

    def seq_cp(self, src: int, dst: int, p0: int, p1: int) -> None:
        L.llama_memory_seq_cp(self._mem, src, dst, p0, p1)

    def seq_rm(self, seq: int, p0: int, p1: int) -> None:
        if not L.llama_memory_seq_rm(self._mem, seq, p0, p1):
            raise EngineError(f"llama.cpp could not remove positions {p0}..{p1} of sequence {seq}")

    def sampler(self, params: SamplingParams) -> LlamaSampler:
        return LlamaSampler(self, params)

    def chat_prompt(self, messages: Sequence[tuple[str, str]]) -> str:
        """The GGUF's own chat template; without one (base models), llama.cpp's built-in
        template for the model's architecture (gemma), else ChatML."""
        template = L.llama_model_chat_template(self._model, None)
        if not template:
            arch = self._meta("general.architecture")
            template = b"gemma" if arch.startswith("gemma") else b"chatml"
        chat = (L.llama_chat_message * len(messages))()
        keep = []  # the byte strings must outlive the call
        for i, (role, content) in enumerate(messages):
            keep.append((role.encode(), content.encode()))
            chat[i].role, chat[i].content = keep[-1]
        size = 2 * sum(len(c) for _, c in keep) + 256
        for _ in range(2):
            buf = ctypes.create_string_buffer(size)
            n = L.llama_chat_apply_template(template, chat, len(messages), True, buf, size)
            if n < 0:
                raise InvalidInput("the model's chat template could not format these messages")
            if n <= size:
                return buf.raw[:n].decode("utf-8", errors="replace")
            size = n
        raise InvalidInput("chat template output too large")

    def _meta(self, key: str) -> str:
        buf = ctypes.create_string_buffer(256)
        n = L.llama_model_meta_val_str(self._model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", errors="replace") if n >= 0 else ""

    def grammar_tokenizer(self, *, sliced: bool = False) -> object:
        """llguidance's tokenizer for this vocabulary, built once per process from the
        cached pieces. `sliced` adds llguidance's "slices", which make JSON-schema masks ~4x
        faster but double the build (≈1 s more here); small grammars (tool arguments,
        choices, regexes) are as fast without them."""
        with self._ll_lock:
            if sliced not in self._ll_tokenizers:
                self._ll_tokenizers[sliced] = self._build_tokenizer(sliced)
            return self._ll_tokenizers[sliced]

    def prepare_grammars(self) -> None:
        """Start building the (unsliced) grammar tokenizer on a thread, so it overlaps the
        first decode steps (llama_decode releases the GIL) instead of delaying them."""
        if False not in self._ll_tokenizers and not self._ll_lock.locked():
            threading.Thread(target=self.grammar_tokenizer, name="grammar-tokenizer", daemon=True).start()

    def _build_tokenizer(self, sliced: bool) -> object:
        from llguidance import LLTokenizer

        tokenize = ctypes.cast(L.llama_cpp._lib.llama_tokenize, ctypes.c_void_p).value
        return LLTokenizer.from_llamacpp(  # type: ignore[attr-defined]
            tokens=self._tables.grammar_pieces,
            vocab_ptr=self._vocab,
            tokenize_fptr=tokenize,
            eos_token=L.llama_vocab_eos(self._vocab),
            slices=None if sliced else [],
        )

    def token_mask(self, key: str, keep: Callable[[bytes], bool]) -> np.ndarray:
        """The tokens whose piece `keep` accepts, cached on disk under `key`."""
        pieces = self._pieces
        return self.vocab_cache.mask(
            key, self.n_vocab, lambda: np.fromiter((keep(p) for p in pieces), dtype=bool, count=len(pieces))
        )

    def close(self) -> None:
        if getattr(self, "_ctx", None):
            L.llama_batch_free(self._batch)
            L.llama_free(self._ctx)
            L.llama_model_free(self._model)
            self._ctx = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class LlamaSampler(Sampler):
    """A llama.cpp sampler chain; the last link (the draw) is re-seeded per position."""

    def __init__(self, model: LlamaModel, params: SamplingParams, chain: int | None = None) -> None:
        self._model = model
        self._params = params
        self._chain: int | None  # a llama_sampler pointer; None once freed
        if chain is not None:
            self._chain = chain
            return
        self._chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())

        def add(sampler: Any) -> None:
            L.llama_sampler_chain_add(self._chain, sampler)

        if params.repeat_penalty != 1.0:
            add(L.llama_sampler_init_penalties(params.repeat_last_n, params.repeat_penalty, 0.0, 0.0))
        if params.greedy:
            add(L.llama_sampler_init_greedy())
            return
        if params.top_k > 0:
            add(L.llama_sampler_init_top_k(params.top_k))
        if params.top_p < 1.0:
            add(L.llama_sampler_init_top_p(params.top_p, 1))
        if params.min_p > 0.0:
            add(L.llama_sampler_init_min_p(params.min_p, 1))
        add(L.llama_sampler_init_temp(params.temperature))
        add(L.llama_sampler_init_dist(0))

    def sample(self, batch_index: int, position: int) -> int:
        if not self._params.greedy:
            assert self._params.seed is not None
            last = L.llama_sampler_chain_n(self._chain) - 1
            L.llama_sampler_free(L.llama_sampler_chain_remove(self._chain, last))
            L.llama_sampler_chain_add(
                self._chain, L.llama_sampler_init_dist(position_seed(self._params.seed, position))
            )
        return int(L.llama_sampler_sample(self._chain, self._model._ctx, batch_index))

    def accept(self, token: int) -> None:
        L.llama_sampler_accept(self._chain, token)

    def clone(self) -> LlamaSampler:
        return LlamaSampler(self._model, self._params, chain=L.llama_sampler_clone(self._chain))

    def close(self) -> None:
        if self._chain:
            L.llama_sampler_free(self._chain)
            self._chain = None


def sequential_completions(
    path: Path, prompt: list[int], branches: int, tokens: int, n_ctx: int, eog: frozenset[int], *, repeat: int = 1
) -> list[float]:
    """The sequential baseline of `islands bench tree`: llama-cpp-python's high-level `Llama`,
    one completion per branch (it reuses the common prompt prefix between calls). One
    warm-up completion, then `repeat` timed runs; end tokens `eog` are banned so every
    branch samples exactly `tokens` tokens. Returns the seconds of each run."""
    llm = L.Llama(str(path), n_ctx=n_ctx, n_batch=512, n_threads=os.cpu_count(), verbose=False)
    ban = {t: -1e9 for t in eog}

    def complete(seed: int, max_tokens: int) -> int:
        out = llm.create_completion(
            prompt, max_tokens=max_tokens, temperature=0.8, top_k=40, top_p=0.95, min_p=0.05, seed=seed, logit_bias=ban
        )
        return int(out["usage"]["completion_tokens"])  # type: ignore[index]

    try:
        complete(1, 4)  # warm-up, not timed
        runs = []
        for _ in range(repeat):
            llm.reset()  # type: ignore[no-untyped-call]  # each run prefills the prompt once, as the engine's runs do
            t0 = time.perf_counter()
            for i in range(branches):
                got = complete(1234 + i, tokens)
                if got != tokens:
                    raise EngineError(f"sequential baseline sampled {got} tokens, not {tokens}")
            runs.append(time.perf_counter() - t0)
        return runs
    finally:
        llm.close()
