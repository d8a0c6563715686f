"""RemoteEngine: islands against any OpenAI-compatible server (vLLM, SGLang, llama.cpp's
server, Ollama, or another `islands serve`) for when one machine and a small model are not
enough — every flow included.

It speaks /v1/completions (and llama.cpp's /completion, /tokenize where the server is one).
Several base URLs make one engine: each request goes to the URL with the fewest requests in
flight; connection errors and 502/503/504 are retried with exponential backoff on the next
URL, 4xx answers never — so a flow's work moves to the servers still up. A whole (not
streamed) answer cut off by a dying server is asked again elsewhere too (virtual branches'
requests are seeded: any server gives the same answer); a stream cut off after its first
deltas raises `EngineError` (its text was already handed out). Grammars travel as the servers' structured-output
parameters: `response_format` for JSON Schema (OpenAI, vLLM, llama.cpp), `grammar` for GBNF
(llama.cpp, islands; regexes and choices become GBNF for llama.cpp), `regex`/`choice`
(islands; vLLM reads `guided_regex`/`guided_choice`, sent too).

Capabilities (engine/protocol.py) depend on the server's dialect, found on first need
(`dialect="auto"`: llama.cpp answers GET /props, islands says so in /v1/models):
- "branches": virtual branches (engine/remote_branch.py) — text held here, each segment a
  completion of the extended prefix, which the server's prefix cache keeps cheap;
- "n": fan-out in one request;
- "score": prompt log-probabilities — OpenAI's `echo` + `logprobs` with `max_tokens: 0`
  (islands, vLLM), or for llama.cpp (which refuses echo) the continuation's token ids forced
  by a token grammar (`<[id]>`) and read back with `n_probs`;
- never "kv": token ids, KV cells and logits rows stay inside the server.
`capabilities=` declares a smaller set for a server that lacks some; a server that refuses a
capability's request raises `Unsupported` naming it.

What it leaves out: hard islands inside the decode loop (they run through the same
`IslandRunner` as locally, over streams: tools/remote.py); logits constraints.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from islands.engine.gbnf import grammar_gbnf, tokens_gbnf
from islands.engine.remote_branch import RemoteBranch
from islands.engine.results import Delta, Generation, Output, Score, Stats, TokenLogprob
from islands.errors import EngineError, InvalidInput, Unsupported
from islands.grammar import Grammar
from islands.params import SamplingParams

__all__ = ["DIALECTS", "RemoteEngine", "RemoteStream"]

RETRY_STATUS = {502, 503, 504}
DIALECTS = ("auto", "openai", "islands", "llama.cpp")
_HAS = {
    "openai": frozenset({"generate", "stream", "grammar", "logprobs", "n", "branches", "score"}),
    "islands": frozenset({"generate", "stream", "grammar", "logprobs", "n", "branches", "score"}),
    "llama.cpp": frozenset({"generate", "stream", "grammar", "logprobs", "n", "branches", "score"}),
}
_NETWORK = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class RemoteEngine:
    """generate / stream / score / virtual branches against OpenAI-compatible servers (a
    `Brancher` without "kv").

    `transport` replaces the network (httpx.MockTransport in tests); `parallel` bounds the
    requests one `run` keeps in flight."""

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
        dialect: str = "auto",
        capabilities: Iterable[str] | None = None,
        parallel: int = 16,
    ) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise InvalidInput("the remote engine needs at least one base URL")
        if dialect not in DIALECTS:
            raise InvalidInput(f"unknown dialect {dialect!r}: choose {', '.join(DIALECTS)}")
        self.urls = [u.rstrip("/") for u in urls]
        self.model = model
        self.retries = retries
        self.backoff = backoff
        self.parallel = max(1, parallel)
        self.attempts = 0  # HTTP attempts made, retries included
        self.failovers = 0  # attempts that failed on one URL and went on to the next
        self._dialect = None if dialect == "auto" else dialect
        self._declared = frozenset(capabilities) if capabilities is not None else None
        self._outstanding = dict.fromkeys(self.urls, 0)
        self._lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport,
                                  limits=httpx.Limits(max_connections=max(100, 2 * self.parallel)))

    def close(self) -> None:
        self._http.close()

    # -- what the server can do ---------------------------------------------------------------

    @property
    def dialect(self) -> str:
        """"islands", "llama.cpp" or "openai" (asked of the servers on first need)."""
        if self._dialect is None:
            self._dialect = self._probe()
        return self._dialect

    def _probe(self) -> str:
        for url in self.urls:
            try:
                r = self._http.get(f"{url}/props", timeout=10)
                if r.status_code == 200 and "default_generation_settings" in r.text:
                    return "llama.cpp"
                r = self._http.get(f"{url}/v1/models", timeout=10)
                if r.status_code == 200 and any(m.get("owned_by") == "islands" for m in r.json().get("data", [])):
                    return "islands"
                return "openai"
            except (httpx.HTTPError, json.JSONDecodeError, AttributeError):
                continue
        return "openai"

    @property
    def capabilities(self) -> frozenset[str]:
        if self._declared is not None:  # declared: no need to ask the server
            return self._declared
        return _HAS[self.dialect]

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

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
            self._grammar_fields(body, grammar)
        return body

    def _grammar_fields(self, body: dict[str, Any], grammar: Grammar) -> None:
        if grammar.kind == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": json.loads(grammar.source)}}
        elif self._dialect == "llama.cpp":  # GBNF is its only grammar language
            gbnf = grammar_gbnf(grammar)
            if gbnf is None:
                raise Unsupported("grammar", "RemoteEngine", f"llama.cpp's server takes GBNF or JSON Schema, not {grammar.kind}")
            body["grammar"] = gbnf
        elif grammar.kind in ("gbnf", "lark"):
            body["grammar"] = grammar.source
        elif grammar.kind == "regex":
            body["regex"] = body["guided_regex"] = grammar.source
        elif grammar.kind == "choice":
            body["choice"] = body["guided_choice"] = json.loads(grammar.source)

    def _pick(self, skip: set[str]) -> str:
        with self._lock:
            candidates = [u for u in self.urls if u not in skip] or self.urls
            url = min(candidates, key=lambda u: self._outstanding[u])
            self._outstanding[url] += 1
            return url

    def _done(self, url: str) -> None:
        with self._lock:
            self._outstanding[url] -= 1

    def _send(self, body: dict[str, Any], path: str = "/v1/completions") -> tuple[str, httpx.Response]:
        """POST `path` with retries; the caller closes the (streaming) response."""
        tried: set[str] = set()
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            url = self._pick(tried)
            tried.add(url)
            self.attempts += 1
            try:
                request = self._http.build_request("POST", f"{url}{path}", json=body)
                response = self._http.send(request, stream=True)
            except _NETWORK as e:
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
            self.failovers += 1
            time.sleep(self.backoff * 2**attempt)
        raise EngineError(f"no server answered after {self.retries + 1} attempts: {last}")

    def _post(self, body: dict[str, Any], path: str = "/v1/completions") -> dict[str, Any]:
        """POST and read the whole JSON answer; a server that dies while answering counts as
        a failed attempt too (the request goes to the next URL: completions are seeded, so
        any server gives the same answer)."""
        last: Exception | None = None
        for _ in range(self.retries + 1):
            url, response = self._send(body, path)
            try:
                response.read()
                return response.json()  # type: ignore[no-any-return]
            except (*_NETWORK, httpx.ReadTimeout, json.JSONDecodeError) as e:
                last = e
                self.failovers += 1
            finally:
                response.close()
                self._done(url)
        raise EngineError(f"no server answered whole after {self.retries + 1} attempts: {last}")

    # -- Generator ----------------------------------------------------------------------------

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
        if grammar is not None and self._dialect is None and grammar.kind in ("regex", "choice"):
            _ = self.dialect  # how a regex travels depends on the server
        return RemoteStream(self, prompt, n, (params or SamplingParams()).seeded(), grammar)

    def complete(self, prompt: str, n: int = 1, params: SamplingParams | None = None, grammar: Grammar | None = None) -> Generation:
        """Like `generate`, in one non-streamed request: token ids and the stop string that
        ended each output come back where the server says them."""
        if not prompt:
            raise InvalidInput("prompt is empty")
        params = (params or SamplingParams()).seeded()
        if n == 1 and self.dialect == "llama.cpp":
            return self._complete_native(prompt, params, grammar)
        if grammar is not None:
            _ = self.dialect
        body = self.body(prompt, n, params, grammar, stream=False)
        body["return_token_ids"] = True  # islands and vLLM
        if self.dialect == "llama.cpp":
            body["return_tokens"] = True
            body["cache_prompt"] = True
        t0 = time.perf_counter()
        doc = self._post(body)
        outputs: list[Output] = []
        seed = params.seed or 0
        for i, choice in enumerate(sorted(doc.get("choices", []), key=lambda c: int(c.get("index", 0)))):
            ids = choice.get("token_ids") or choice.get("tokens") or []
            tokens = [int(t) for t in ids] if all(isinstance(t, int) for t in ids) else []
            finish = "stop" if choice.get("finish_reason") == "stop" else "length"
            stop = choice.get("stop_reason")
            if finish == "stop" and not isinstance(stop, str):
                stop = params.stop[0] if len(params.stop) == 1 and stop is None and self.dialect != "islands" else None
            lp = choice.get("logprobs") or {}
            logprobs = [TokenLogprob(-1, t, float(v)) for t, v in zip(lp.get("tokens") or [], lp.get("token_logprobs") or [])]
            outputs.append(Output(choice.get("text") or "", tokens, finish, seed + i,
                                  logprobs if params.logprobs is not None else None, stop if isinstance(stop, str) else None))
        if len(outputs) != n:
            raise EngineError(f"the server answered {len(outputs)} choices for n={n}")
        usage = doc.get("usage") or {}
        stats = Stats(prompt_tokens=int(usage.get("prompt_tokens", 0)), sampled_tokens=int(usage.get("completion_tokens", 0)),
                      seconds=time.perf_counter() - t0)
        return Generation(outputs, stats)

    def _complete_native(self, prompt: str, params: SamplingParams, grammar: Grammar | None) -> Generation:
        """One completion on llama.cpp's own /completion, which (unlike its OpenAI route) says
        the token ids and whether a stop string or end-of-generation ended it."""
        body = self.body(prompt, 1, params, grammar, stream=False)
        native: dict[str, Any] = {k: v for k, v in body.items() if k not in ("model", "n", "max_tokens", "stream", "logprobs")}
        native |= {"n_predict": params.max_tokens, "return_tokens": True, "cache_prompt": True}
        if params.logprobs is not None:
            native["n_probs"] = max(params.logprobs, 1)
        if "response_format" in native:
            native["json_schema"] = native.pop("response_format")["json_schema"]["schema"]
        t0 = time.perf_counter()
        doc = self._post(native, "/completion")
        kind = doc.get("stop_type")
        finish = {"eos": "eos", "word": "stop"}.get(str(kind), "length")
        stop = doc.get("stopping_word") if finish == "stop" else None
        probs = doc.get("completion_probabilities") or []
        logprobs = [TokenLogprob(int(p.get("id", -1)), str(p.get("token", "")), float(p.get("logprob", 0.0))) for p in probs]
        out = Output(str(doc.get("content", "")), [int(t) for t in doc.get("tokens") or []], finish, params.seed or 0,
                     logprobs if params.logprobs is not None else None, stop if isinstance(stop, str) and stop else None)
        stats = Stats(prompt_tokens=int(doc.get("tokens_evaluated", 0)), sampled_tokens=int(doc.get("tokens_predicted", 0)),
                      seconds=time.perf_counter() - t0)
        return Generation([out], stats)

    def score(self, prefix: str, continuation: str) -> Score:
        """Log-probability of each token of `continuation` after `prefix` (nats), from the
        server's prompt log-probabilities."""
        if not continuation:
            raise InvalidInput("continuation is empty")
        if "score" not in self.capabilities:
            raise Unsupported("score", "RemoteEngine", "this server was declared without prompt log-probabilities")
        return self._score_forced(prefix, continuation) if self.dialect == "llama.cpp" else self._score_echo(prefix, continuation)

    def _score_echo(self, prefix: str, continuation: str) -> Score:
        """OpenAI's legacy scoring: echo the prompt with its log-probabilities, sample nothing;
        the continuation's tokens are those that start at or after `len(prefix)`."""
        t0 = time.perf_counter()
        body = {"model": self.model, "prompt": prefix + continuation, "echo": True, "logprobs": 1, "max_tokens": 0, "temperature": 0.0}
        try:
            doc = self._post(body)
        except InvalidInput as e:
            raise Unsupported("score", "RemoteEngine", f"the server refused prompt log-probabilities ({e})") from None
        lp = (doc.get("choices") or [{}])[0].get("logprobs") or {}
        rows = list(zip(lp.get("tokens") or [], lp.get("token_logprobs") or [], lp.get("text_offset") or []))
        tail = [(tok, val) for tok, val, at in rows if at >= len(prefix)]
        if not tail or any(val is None for _, val in tail):
            raise Unsupported("score", "RemoteEngine", "the server's echo carries no log-probabilities for the continuation")
        stats = Stats(prompt_tokens=len(rows), seconds=time.perf_counter() - t0)
        return Score(tokens=[-1] * len(tail), pieces=[t for t, _ in tail], logprobs=[float(v) for _, v in tail], stats=stats)

    def _score_forced(self, prefix: str, continuation: str) -> Score:
        """llama.cpp: the prefix's and the continuation's token ids (tokenized apart, as the
        local engine does), the continuation forced token by token with a token grammar, and
        each forced token's log-probability under the raw logits (`n_probs`)."""
        t0 = time.perf_counter()
        head = self.tokenize(prefix, add_bos=True)
        tail = self.tokenize(continuation, add_bos=False)
        body = {"prompt": head, "n_predict": len(tail), "grammar": tokens_gbnf(tail), "temperature": 0.0, "n_probs": 1,
                "cache_prompt": True, "ignore_eos": True}
        doc = self._post(body, "/completion")
        probs = doc.get("completion_probabilities") or []
        ids = [int(p.get("id", -1)) for p in probs]
        if ids != tail:
            raise EngineError(f"the server forced tokens {ids[:8]} instead of {tail[:8]}")
        stats = Stats(prompt_tokens=len(head) + len(tail), seconds=time.perf_counter() - t0)
        return Score(tokens=tail, pieces=[str(p.get("token", "")) for p in probs], logprobs=[float(p["logprob"]) for p in probs],
                     stats=stats)

    # -- text <-> tokens (llama.cpp's /tokenize, /detokenize) ---------------------------------

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        if self.dialect != "llama.cpp":
            raise Unsupported("kv", "RemoteEngine", "this server does not tokenize for clients")
        doc = self._post({"content": text, "add_special": add_bos}, "/tokenize")
        return [int(t) for t in doc.get("tokens", [])]

    def detokenize(self, tokens: Sequence[int]) -> str:
        if self.dialect != "llama.cpp":
            raise Unsupported("kv", "RemoteEngine", "this server does not detokenize for clients")
        return str(self._post({"tokens": list(tokens)}, "/detokenize").get("content", ""))

    # -- virtual branches ---------------------------------------------------------------------

    def branch(self, prompt: str | Sequence[int], *, stats: Stats | None = None) -> RemoteBranch:
        """A virtual branch holding `prompt` (see engine/remote_branch.py)."""
        if "branches" not in self.capabilities:
            raise Unsupported("branches", "RemoteEngine", "this server was declared without them")
        text = prompt if isinstance(prompt, str) else self.detokenize(list(prompt))
        if not text.strip():
            raise InvalidInput("prompt is empty" if not text else "prompt is only whitespace")
        return RemoteBranch(self, text, stats if stats is not None else Stats())  # tokens counted from the servers' usage

    def prefill(self, *branches: Any) -> None:
        """Nothing to do ahead: the first request over a prefix fills the server's cache."""

    def run(self, branches: Any = None, until: Callable[[], bool] | None = None) -> None:
        """Send every generating branch's segment, concurrently (branches that differ only
        by seed share one request with `n` where the server has it); wait for all."""
        todo = [b for b in (branches or []) if isinstance(b, RemoteBranch) and b.alive and b.generating]
        if not todo or (until is not None and until()):
            return
        groups = self._groups(todo)
        with ThreadPoolExecutor(min(self.parallel, len(groups)), thread_name_prefix="remote-branch") as pool:
            for group, result in zip(groups, pool.map(self._run_group, groups)):
                group[0].stats.prompt_tokens += result.stats.prompt_tokens
                group[0].stats.sampled_tokens += result.stats.sampled_tokens
                for b, out in zip(group, result.outputs):
                    b.finish(out, out.stop)

    def _groups(self, todo: list[RemoteBranch]) -> list[list[RemoteBranch]]:
        """Runs of branches with the same text, grammar and settings whose seeds count up by
        one (what a request with `n` samples on islands; at temperature 0 any seeds do).
        llama.cpp's branches go one per request to its native route (token ids, stop kind)."""
        if not self.supports("n"):
            return [[b] for b in todo]
        groups: list[list[RemoteBranch]] = []
        for b in todo:
            last = groups[-1][-1] if groups else None
            if last is not None and self._same(last, b):
                groups[-1].append(b)
            else:
                groups.append([b])
        return groups

    def _same(self, a: RemoteBranch, b: RemoteBranch) -> bool:
        pa, pb = a.params, b.params
        assert pa is not None and pb is not None and pa.seed is not None and pb.seed is not None
        if a.full_text != b.full_text or a.grammar != b.grammar or pa.replace(seed=0) != pb.replace(seed=0):
            return False
        if self.dialect == "llama.cpp":  # one request each on its /completion, which says how each ended
            return False
        if pa.temperature == 0:
            return True
        return self.dialect == "islands" and pb.seed == (pa.seed + 1) % 2**32

    def _run_group(self, group: list[RemoteBranch]) -> Generation:
        first = group[0]
        assert first.params is not None
        return self.complete(first.full_text, len(group), first.params, first.grammar)


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
