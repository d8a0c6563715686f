"""Hard islands during decoding: `NAME(args)` runs when it closes, and ` => result` is
spliced into that branch only; the model continues from the same KV state.

While a call is open, the branch may only sample tokens made of the tool's argument
alphabet (after `CALC(` only arithmetic can follow). When the closing parenthesis is
sampled, the branch pauses, the tool runs on a worker thread while the other branches keep
decoding, and the result's tokens are the only ones prefilled before sampling resumes.

    runner = IslandRunner(engine, Registry.default())
    out = runner.generate("Q: 17 * 23 = ?\\nA: CALC(17*23)", params=SamplingParams(max_tokens=32))
    out.outputs[0].text    # " => 391\\n..."  with out.outputs[0].spans marking sea and hard text

What it leaves out: grammars beyond an argument alphabet, soft islands, traces to files.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import numpy as np

from islands.engine import Branch, Delta, Engine, Stats
from islands.engine.model import Constraint
from islands.engine.stream import Job, run_job
from islands.errors import InvalidInput, IslandsError
from islands.params import SamplingParams
from islands.tools.registry import Registry, Tool

__all__ = [
    "Call",
    "Island",
    "IslandGeneration",
    "IslandJob",
    "IslandOutput",
    "IslandRunner",
    "Span",
    "call_tool",
    "find_call",
    "run_tool",
    "tool_result",
]

MAX_ARGS_CHARS = 2000
MAX_RESULT_CHARS = 2000
MAX_CALLS = 16  # per branch: a model stuck calling in a loop stops calling


@dataclass(frozen=True)
class Call:
    """A tool call found in text: text[start:end] == f"{name}({args})"."""

    name: str
    args: str
    start: int
    end: int  # index after ')' ; -1 while the call is still open


@dataclass(frozen=True)
class Island:
    """A tool result whose output differs from what the model reads (COPY): `output` goes
    into the response, only `context` (a short marker) into the branch's KV."""

    output: str
    context: str


@dataclass
class Span:
    """A run of output text: "sea" (sampled by the model) or "hard" (spliced in)."""

    start: int
    end: int
    kind: str
    tool: str | None = None
    args: str | None = None
    result: str | None = None
    seconds: float | None = None
    error: bool = False


@dataclass
class IslandOutput:
    text: str
    spans: list[Span]
    finish_reason: str
    seed: int
    calls: int


@dataclass
class IslandGeneration:
    outputs: list[IslandOutput]
    stats: Stats
    injected_tokens: int = 0

    @property
    def texts(self) -> list[str]:
        return [o.text for o in self.outputs]


_NAME = re.compile(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]*)\(")


def find_call(text: str, names: Sequence[str] | Registry, start: int = 0) -> Call | None:
    """The first call of a known tool in text[start:], closed (end > 0) or still open.

    find_call("x CALC(2*(3+4)) y", ["CALC"]) -> Call("CALC", "2*(3+4)", 2, 15)
    """
    for m in _NAME.finditer(text, start):
        if m.group(1) not in names:
            continue
        depth, quote, i = 1, "", m.end()
        while i < len(text):
            c = text[i]
            if quote:
                if c == "\\":
                    i += 1
                elif c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return Call(m.group(1), text[m.end() : i], m.start(), i + 1)
            i += 1
        return Call(m.group(1), text[m.end() :], m.start(), -1)
    return None


def call_tool(registry: Registry, name: str, args: str) -> object:
    """The tool's raw return value (raises what the tool raises)."""
    tool = registry.get(name)
    return tool.fn(*tool.parse_args(args))


def tool_result(future: Future[object], timeout: float) -> Island:
    """A finished (or timed-out) tool call as (output, context); errors as text for both."""
    try:
        value = future.result(timeout=timeout)
    except FutureTimeout:
        return _both(f"error: timed out after {timeout:g} s")
    except IslandsError as e:
        return _both(f"error: {e}")
    except Exception as e:  # a tool's own bug must not stop generation
        return _both(f"error: {type(e).__name__}: {e}")
    if isinstance(value, Island):
        return value
    text = str(value)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + "…"
    return _both(text)


def run_tool(registry: Registry, pool: ThreadPoolExecutor, name: str, args: str) -> Island:
    """Run one call on `pool`, waiting at most the tool's timeout."""
    timeout = registry.get(name).timeout if name in registry else 1.0
    return tool_result(pool.submit(call_tool, registry, name, args), timeout)


def _both(text: str) -> Island:
    return Island(text, text)


def _last_call(text: str, names: Registry) -> Call | None:
    """The last call in text: _last_call("A(1) A(2", ...) -> the open A(2."""
    call, at = None, 0
    while (found := find_call(text, names, at)) is not None:
        call = found
        if found.end < 0:
            break
        at = found.end
    return call


class _Track:
    """One branch's hard-island state across its segments."""

    def __init__(self, runner: IslandRunner, branch: Branch, params: SamplingParams) -> None:
        self.runner = runner
        self.branch = branch
        self.params = params
        self.text = ""  # everything output so far, before the current segment
        self.spans: list[Span] = []
        self.sampled = 0
        self.calls = 0
        self.call: Call | None = None  # the call that paused the branch
        self.future: Future[object] | None = None
        self.started = 0.0
        self.done = False
        self.finish_reason = "length"
        self.carry = ""  # an open call the prompt ends with, e.g. "CALC(": the model finishes it
        branch.watch = self.watch
        branch.allow = self.allow

    def open_call(self) -> Call | None:
        if self.calls >= MAX_CALLS:
            return None
        call = find_call(self.carry + self.branch.text, self.runner.registry)
        if call is None or not self.carry:
            return call
        shift = len(self.carry)  # positions relative to the segment text
        return Call(call.name, call.args, call.start - shift, call.end - shift if call.end > 0 else -1)

    def watch(self, b: Branch) -> bool:
        call = self.open_call()
        if call is None:
            return False
        if call.end > 0 or len(call.args) > MAX_ARGS_CHARS:
            self.call = call
            return True
        return False

    def allow(self, b: Branch) -> np.ndarray | None:
        call = self.open_call()
        if call is None or call.end > 0:
            return None
        tool = self.runner.registry.get(call.name)
        if b.constraint is None and tool.grammar is not None:  # the call just opened
            b.constraint = self.runner.args_constraint(tool, call.args)
            b.constraint_from = len(b.tokens)
        return self.runner.alphabet_mask(tool)

    def emit(self, text: str, span: Span) -> None:
        self.spans.append(span)
        self.text += text


class IslandRunner:
    """Generation with tools spliced in as hard islands."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        *,
        template: str = " => {result}",
        workers: int = 4,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.template = template
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="island")
        self._grammars = True  # argument grammars, until the model says it has none

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def args_constraint(self, tool: Tool, written: str) -> Constraint | None:
        """The tool's argument grammar, past what the model already wrote after `NAME(`;
        None where grammars are not available (the mock model) or the text does not fit."""
        if not self._grammars or tool.grammar is None:
            return None
        from islands.engine.grammar import Grammar

        try:
            constraint = self.engine.constraint(Grammar.lark(tool.grammar))
        except IslandsError:
            self._grammars = False  # this model has no grammar support: the alphabet will do
            return None
        if written and not constraint.feed(written):  # type: ignore[attr-defined]
            return None
        return constraint

    def alphabet_mask(self, tool: Tool) -> np.ndarray:
        allowed = set(tool.alphabet)

        def keep(piece: bytes) -> bool:
            try:
                text = piece.decode("utf-8")
            except UnicodeDecodeError:
                return False
            return bool(text) and all(c in allowed for c in text)

        return self.engine.token_mask(keep, key=f"alphabet:{tool.alphabet}")

    def run_tool(self, name: str, args: str) -> Island:
        """Run one tool directly (errors become `error: ...` text, as in generation)."""
        return run_tool(self.registry, self._pool, name, args)

    def _call(self, name: str, args: str) -> object:
        return call_tool(self.registry, name, args)

    def _result(self, future: Future[object], timeout: float) -> Island:
        return tool_result(future, timeout)

    def job(
        self, prompt: str, n: int = 1, params: SamplingParams | None = None, per_branch: list[SamplingParams] | None = None
    ) -> IslandJob:
        """A request that a loop can advance together with others (see `Job`).
        `per_branch` gives each branch its own params (a temperature schedule)."""
        return IslandJob(self, prompt, n, (params or SamplingParams()).seeded(), per_branch)

    def generate(
        self,
        prompt: str,
        n: int = 1,
        params: SamplingParams | None = None,
        on_text: Callable[[int, str], None] | None = None,
        per_branch: list[SamplingParams] | None = None,
    ) -> IslandGeneration:
        """n continuations of `prompt`, each running the tools it calls."""
        job = self.job(prompt, n, params, per_branch)
        for delta in run_job(self.engine, job):
            if on_text is not None:
                on_text(delta.index, delta.text)
        assert job.result is not None
        return job.result

    def _advance(self, t: _Track, index: int, out: list[Delta]) -> int:
        """Move one branch along: close a paused segment, splice a finished tool result."""
        b, injected = t.branch, 0
        if t.done:
            return 0
        if not b.generating and t.future is None:
            b.constraint = None  # an argument grammar ends with its call
            if b.finish_reason == "island" and t.call is not None:
                self._cut_after_call(t)
            segment = b.text
            t.sampled += len(b.generated)
            if segment:
                t.emit(segment, Span(len(t.text), len(t.text) + len(segment), "sea"))
            delta = b._take_delta()
            if delta:
                out.append(Delta(index, delta))
            t.carry = ""
            if b.finish_reason == "island" and t.call is not None:
                t.calls += 1
                t.started = time.perf_counter()
                if t.call.end < 0:
                    t.future = self._pool.submit(lambda: _both("error: arguments too long"))
                else:
                    t.future = self._pool.submit(self._call, t.call.name, t.call.args)
            else:
                t.done = True
                t.finish_reason = b.finish_reason or "length"
            return 0
        if b.generating:
            delta = b._take_delta()
            if delta:
                out.append(Delta(index, delta))
        if t.future is not None and t.call is not None:
            timeout = self.registry.get(t.call.name).timeout
            seconds = time.perf_counter() - t.started
            if not t.future.done() and seconds <= timeout:
                return 0
            # a hung tool is abandoned on its thread; the branch goes on with an error
            island = self._result(t.future, 0) if t.future.done() else _both(f"error: timed out after {timeout:g} s")
            text = self.template.format(result=island.output)
            error = island.context.startswith("error:")
            t.emit(text, Span(len(t.text), len(t.text) + len(text), "hard", t.call.name, t.call.args, island.context, seconds, error))
            out.append(Delta(index, text))
            tokens = self.engine.tokenize(self.template.format(result=island.context), add_bos=False)
            b.extend(tokens)
            injected = len(tokens)
            t.future, t.call = None, None
            left = t.params.max_tokens - t.sampled
            if left <= 0:
                t.done, t.finish_reason = True, "length"
            else:
                b.start(t.params.replace(max_tokens=left))
        return injected

    def _cut_after_call(self, t: _Track) -> None:
        """The closing ')' came inside a token with text after it: re-split that token."""
        b, call = t.branch, t.call
        assert call is not None
        if call.end < 0 or call.end >= len(b.text):
            return
        piece = self.engine.detokenize([b.tokens[-1]])
        keep = b.text[len(b.text) - len(piece) : call.end]
        b.truncate(len(b.tokens) - 1)  # rebuilds b.text without the last token
        b.extend(keep)
        b.text += keep
        b.emitted = min(b.emitted, len(b.text))


class IslandJob(Job):
    """One hard-island request: the prompt's own call first, then n branches that pause
    at their calls while the others (and other jobs) keep decoding."""

    def __init__(
        self, runner: IslandRunner, prompt: str, n: int, params: SamplingParams, per_branch: list[SamplingParams] | None = None
    ) -> None:
        if n < 1:
            raise InvalidInput(f"invalid n={n}: need at least 1 branch")
        if per_branch is not None and len(per_branch) != n:
            raise InvalidInput(f"per-branch params for {len(per_branch)} branches, not {n}")
        self.per_branch = [p.seeded() for p in per_branch] if per_branch else None
        self.runner = runner
        self.engine = runner.engine
        self.prompt = prompt
        self.n = n
        self.params = params
        self.stats = Stats()
        self.injected = 0
        self.result: IslandGeneration | None = None
        self.root: Branch | None = None
        self.tracks: list[_Track] = []
        self._head: list[tuple[str, Span]] = []
        self._head_call: Call | None = None
        self._head_future: Future[object] | None = None
        self._carry = ""
        self._t0 = 0.0

    def begin(self) -> None:
        self._t0 = time.perf_counter()
        self.root = self.engine.branch(self.prompt, stats=self.stats)
        last = _last_call(self.prompt, self.runner.registry)
        self._carry = self.prompt[last.start :] if last is not None and last.end < 0 else ""
        if last is not None and last.end == len(self.prompt.rstrip()):  # the prompt ends in a call
            self._head_call = last
            self._head_future = self.runner._pool.submit(self.runner._call, last.name, last.args)
        self._t0_head = time.perf_counter()

    def busy(self) -> bool:
        if self.done:
            return False
        if self._head_future is not None:
            return False
        return any(t.branch.generating or t.branch.wants_decode for t in self.tracks) or not self.tracks

    def idle_wait(self) -> None:
        futures = [t.future for t in self.tracks if t.future is not None]
        if self._head_future is not None:
            futures.append(self._head_future)
        wait(futures, timeout=0.05, return_when="FIRST_COMPLETED")

    def advance(self) -> list[Delta]:
        root = self.root
        assert root is not None
        out: list[Delta] = []
        if self._head_future is not None:
            call = self._head_call
            assert call is not None
            timeout = self.runner.registry.get(call.name).timeout
            if not self._head_future.done() and time.perf_counter() - self._t0_head <= timeout:
                return out
            island = self.runner._result(self._head_future, 0) if self._head_future.done() else _both(f"error: timed out after {timeout:g} s")
            self._head_future = None
            text = self.runner.template.format(result=island.output)
            context = self.runner.template.format(result=island.context)
            root.extend(context)
            self.injected += len(self.engine.tokenize(context, add_bos=False))
            seconds = time.perf_counter() - self._t0_head
            self._head.append((text, Span(0, len(text), "hard", call.name, call.args, island.context, seconds, island.context.startswith("error:"))))
            if self.n > 1:
                root.keep_logits = True
        if not self.tracks:
            if self.n == 1:
                kids = [root]
            else:
                root.keep_logits = True
                if root.pending or not self.engine._fresh(root):
                    return out
                root.keep_logits = False
                kids = root.fork(self.n)
                root.release(cache=False)
            for i, kid in enumerate(kids):
                track = _Track(self.runner, kid, self.per_branch[i] if self.per_branch else self.params.for_branch(i))
                track.carry = self._carry
                for text, span in self._head:
                    track.emit(text, span)
                    out.append(Delta(i, text))
                self.tracks.append(track)
                kid.start(track.params)
            return out
        for i, t in enumerate(self.tracks):
            self.injected += self.runner._advance(t, i, out)
        if all(t.done for t in self.tracks):
            self.stats.seconds = time.perf_counter() - self._t0
            outputs = [IslandOutput(t.text, t.spans, t.finish_reason, t.params.seed or 0, t.calls) for t in self.tracks]
            self.result = IslandGeneration(outputs, self.stats, self.injected)
            self.done = True
        return out

    def close(self) -> None:
        for t in self.tracks:
            t.branch.watch = t.branch.allow = None
            t.branch.constraint = None
            t.branch.release()
        if self.root is not None:
            self.root.release(cache=False)
