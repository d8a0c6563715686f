"""Hard islands against a remote OpenAI-compatible server: stream until a call closes,
stop reading (the server stops generating), run the tool, and continue with a new
completion of the extended text — the server's prefix cache keeps that cheap.

What it leaves out: argument grammars while a call is open (a remote server cannot be
constrained mid-stream); the model writes the arguments freely and a malformed call gets
` => error: …` like any failing tool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from islands.engine.remote import RemoteEngine
from islands.engine.results import Stats
from islands.params import SamplingParams
from islands.tools.registry import Registry
from islands.tools.runner import (
    MAX_CALLS,
    IslandGeneration,
    IslandOutput,
    Span,
    _last_call,
    find_call,
    run_tool,
)

__all__ = ["RemoteIslandRunner"]


class RemoteIslandRunner:
    def __init__(self, engine: RemoteEngine, registry: Registry, *, template: str = " => {result}") -> None:
        self.engine = engine
        self.registry = registry
        self.template = template
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="island")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def generate(
        self,
        prompt: str,
        n: int = 1,
        params: SamplingParams | None = None,
        on_text: Callable[[int, str], None] | None = None,
    ) -> IslandGeneration:
        params = (params or SamplingParams()).seeded()
        lock = threading.Lock()

        def emit(i: int, text: str) -> None:
            if on_text is not None:
                with lock:
                    on_text(i, text)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as pool:
            results = list(pool.map(lambda i: self._one(prompt, params.for_branch(i), i, emit), range(n)))
        stats = Stats(sampled_tokens=sum(r[1] for r in results), seconds=time.perf_counter() - t0)
        return IslandGeneration([r[0] for r in results], stats, 0)

    def _one(self, prompt: str, params: SamplingParams, index: int, emit: Callable[[int, str], None]) -> tuple[IslandOutput, int]:
        text, spans, sampled, calls = "", [], 0, 0
        context, finish = prompt, "length"
        last = _last_call(prompt, self.registry)
        carry = prompt[last.start :] if last is not None and last.end < 0 else ""
        if last is not None and last.end == len(prompt.rstrip()):  # the prompt ends in a call
            output, injected = self._splice(last.name, last.args, text, spans)
            text, context = text + output, context + injected
            emit(index, output)
        while sampled < params.max_tokens:
            segment, closed, shown = "", None, 0
            stream = self.engine.stream(context, 1, params.replace(max_tokens=params.max_tokens - sampled))
            try:
                for delta in stream:
                    segment += delta.text
                    sampled += 1  # one streamed chunk is one token on the servers we know
                    call = find_call(carry + segment, self.registry) if calls < MAX_CALLS else None
                    if call is not None and call.end > 0:
                        closed = call
                        break
                    emit(index, delta.text)
                    shown = len(segment)
            finally:
                stream.close()  # hanging up stops the server's generation
            if closed is None:
                spans.append(Span(len(text), len(text) + len(segment), "sea"))
                text += segment
                finish = "stop" if sampled < params.max_tokens else "length"
                break
            cut = closed.end - len(carry)  # the call ends here in this segment
            emit(index, segment[shown:cut])
            spans.append(Span(len(text), len(text) + cut, "sea"))
            text, context, carry = text + segment[:cut], context + segment[:cut], ""
            calls += 1
            output, injected = self._splice(closed.name, closed.args, text, spans)
            text, context = text + output, context + injected
            emit(index, output)
        return IslandOutput(text, spans, finish, params.seed or 0, calls), sampled

    def _splice(self, name: str, args: str, text: str, spans: list[Span]) -> tuple[str, str]:
        started = time.perf_counter()
        island = run_tool(self.registry, self._pool, name, args)
        output = self.template.format(result=island.output)
        context = self.template.format(result=island.context)
        spans.append(Span(len(text), len(text) + len(output), "hard", name, args, island.context, time.perf_counter() - started, island.context.startswith("error:")))
        return output, context
