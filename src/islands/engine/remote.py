"""RemoteEngine: islands against any OpenAI-compatible server (vLLM, SGLang, llama.cpp's
server, Ollama, or another `islands serve`) for when one machine and a small model are not
enough.

It speaks /v1/completions. Several base URLs make one engine: each request goes to the URL
with the fewest requests in flight; connection errors (and 502/503/504) are retried with
exponential backoff on the next URL, 4xx answers never. Grammars travel as the servers'
structured-output parameters: `response_format` for JSON Schema (OpenAI, vLLM, llama.cpp),
`grammar` for GBNF (llama.cpp, islands), `regex`/`choice` (islands; vLLM reads
`guided_regex`/`guided_choice`, sent too).

What it leaves out: KV-level branches (fork, truncate) and `score` — a remote server shares
its prefix cache, not its KV cells (`supports("branches")` is False). Hard islands work
through the same `IslandRunner` as locally (tools/remote.py drives it over streams): stop at
the call, run the tool, continue with the extended text.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from islands.engine.results import Delta, Generation, Output, Score, Stats, TokenLogprob
from islands.errors import EngineError, InvalidInput, Unsupported
from islands.grammar import Grammar
from islands.params import SamplingParams

__all__ = ["RemoteEngine", "RemoteStream"]

RETRY_STATUS = {502, 503, 504}


class RemoteEngine:
    """generate / stream against OpenAI-compatible servers (a `Generator`).

    `transport` replaces the network (httpx.MockTransport in tests)."""

    capabilities = frozenset({"generate", "stream", "grammar", "logprobs"})

    def __init__(
        self,
        base_urls: list[str] | str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 600.0,
        retries: int = 3,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise InvalidInput("the remote engine needs at least one base URL")
        self.urls = [u.rstrip("/") for u in urls]
        self.model = model
        self.retries = retries
        self.backoff = backoff
        self.attempts = 0  # HTTP attempts made, retries included
        self._outstanding = dict.fromkeys(self.urls, 0)
        self._lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    # -- requests -----------------------------------------------------------------------------

    def body(self, prompt: str, n: int, params: SamplingParams, grammar: Grammar | None, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model, "prompt": prompt, "n": n, "max_tokens": params.max_tokens,
            "temperature": params.temperature, "top_p": params.top_p, "stream": stream, "seed": params.seed,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if params.stop:
            body["stop"] = list(params.stop)
        if params.top_k:
            body["top_k"] = params.top_k
        if params.min_p:
            body["min_p"] = params.min_p
        if params.repeat_penalty != 1.0:
            body["repeat_penalty"] = params.repeat_penalty
        if params.ignore_eos:
            body["ignore_eos"] = True
        if params.logprobs is not None:
            body["logprobs"] = max(params.logprobs, 1)
        if grammar is not None:
            if grammar.kind == "json_schema":
                body["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": json.loads(grammar.source)}}
            elif grammar.kind in ("gbnf", "lark"):
                body["grammar"] = grammar.source
            elif grammar.kind == "regex":
                body["regex"] = body["guided_regex"] = grammar.source
            elif grammar.kind == "choice":
                body["choice"] = body["guided_choice"] = json.loads(grammar.source)
        return body

    def _pick(self, skip: set[str]) -> str:
        with self._lock:
            candidates = [u for u in self.urls if u not in skip] or self.urls
            url = min(candidates, key=lambda u: self._outstanding[u])
            self._outstanding[url] += 1
            return url

    def _done(self, url: str) -> None:
        with self._lock:
            self._outstanding[url] -= 1

    def _send(self, body: dict[str, Any]) -> tuple[str, httpx.Response]:
        """POST /completions with retries; the caller closes the (streaming) response."""
        tried: set[str] = set()
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            url = self._pick(tried)
            tried.add(url)
            self.attempts += 1
            try:
                request = self._http.build_request("POST", f"{url}/v1/completions", json=body)
                response = self._http.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError) as e:
                self._done(url)
                last = e
            else:
                if response.status_code in RETRY_STATUS:
                    response.read()
                    response.close()
                    self._done(url)
                    last = EngineError(f"{url} answered {response.status_code}")
                elif response.status_code >= 400:
                    response.read()
                    response.close()
                    self._done(url)
                    raise InvalidInput(f"{url} refused the request ({response.status_code}): {_message(response)}")
                else:
                    return url, response
            time.sleep(self.backoff * 2**attempt)
        raise EngineError(f"no server answered after {self.retries + 1} attempts: {last}")

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def generate(
        self,
        prompt: str,
        n: int = 1,
        params: SamplingParams | None = None,
        on_text: Callable[[int, str], None] | None = None,
        grammar: Grammar | None = None,
    ) -> Generation:
        stream = self.stream(prompt, n, params, grammar)
        for delta in stream:
            if on_text is not None:
                on_text(delta.index, delta.text)
        assert stream.result is not None
        return stream.result

    def stream(
        self, prompt: str, n: int = 1, params: SamplingParams | None = None, grammar: Grammar | None = None
    ) -> RemoteStream:
        """Deltas as the server streams them; `.result` holds the Generation at the end."""
        if not prompt:
            raise InvalidInput("prompt is empty")
        return RemoteStream(self, prompt, n, (params or SamplingParams()).seeded(), grammar)

    def score(self, prefix: str, continuation: str) -> Score:
        raise Unsupported("score", "RemoteEngine", "prompt log-probabilities are not requested from servers yet")


class RemoteStream:
    """One streamed completion request: iterate for `Delta`s, then read `.result`.
    `close()` hangs up (the server stops generating)."""

    def __init__(self, engine: RemoteEngine, prompt: str, n: int, params: SamplingParams, grammar: Grammar | None) -> None:
        self.engine = engine
        self.prompt = prompt
        self.n = n
        self.params = params
        self.grammar = grammar
        self.result: Generation | None = None
        self._response: httpx.Response | None = None
        self._url = ""

    def __iter__(self) -> Iterator[Delta]:
        n, params = self.n, self.params
        t0 = time.perf_counter()
        self._url, self._response = self.engine._send(self.engine.body(self.prompt, n, params, self.grammar, stream=True))
        texts, finish = [""] * n, ["length"] * n
        logprobs: list[list[TokenLogprob]] = [[] for _ in range(n)]
        stats = Stats()
        try:
            for line in self._response.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    raise EngineError(f"{self._url}: {chunk['error'].get('message', chunk['error'])}")
                for choice in chunk.get("choices", []):
                    i = int(choice.get("index", 0))
                    text = choice.get("text") or ""
                    if text:
                        texts[i] += text
                        yield Delta(i, text)
                    lp = choice.get("logprobs") or {}
                    tops = lp.get("top_logprobs") or []  # per token {text: logprob}, when the server sends them
                    for k, (tok, val) in enumerate(zip(lp.get("tokens") or [], lp.get("token_logprobs") or [])):
                        top = tops[k] if k < len(tops) and isinstance(tops[k], dict) else {}
                        logprobs[i].append(TokenLogprob(-1, tok, float(val), tuple((str(t), float(v)) for t, v in top.items())))
                    if choice.get("finish_reason"):
                        finish[i] = "stop" if choice["finish_reason"] == "stop" else "length"
                usage = chunk.get("usage") or {}
                stats.prompt_tokens = usage.get("prompt_tokens", stats.prompt_tokens)
                stats.sampled_tokens = usage.get("completion_tokens", stats.sampled_tokens)
        finally:
            self.close()
        stats.seconds = time.perf_counter() - t0
        seed = params.seed or 0
        outputs = [
            Output(texts[i], [], finish[i], seed + i, logprobs[i] if params.logprobs is not None else None)
            for i in range(n)
        ]
        self.result = Generation(outputs, stats)

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self.engine._done(self._url)
            self._response = None


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return str(error.get("message", error)) if isinstance(error, dict) else str(error)
    except (json.JSONDecodeError, AttributeError):
        return response.text[:200]
