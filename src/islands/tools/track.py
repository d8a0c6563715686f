"""IslandTrack: one branch's hard-island state machine, the same for local and remote engines.

A track follows one output across its segments:

    sampling --(a call closes)--> calling --(the tool returns)--> sampling ... --> done

While sampling, the driver feeds it the segment's text (`watch`); the track scans it
incrementally for a call (calls.py). When a call closes the driver stops the segment, cuts
it right after the ")" (`cut`), and hands it over (`end_segment`): the tool starts on a
worker thread. When it returns (`poll`), the track gives the driver a `Splice` — the text
for the response and the text for the model's context, which differ for COPY — and the
params for the next segment (`resume`), or None when the token budget is spent.

The local driver (runner.py) runs tracks on engine branches; the remote one (remote.py) on
streamed completions. A prompt that ends in a complete call runs it first (`run_head`); a
prompt that ends in an open call (`CALC(`) hands its text over as `carry`, so the model's
arguments complete that call.

What it leaves out: engines, branches and streams (the drivers'), argument grammars (the
local driver's).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from islands.engine.results import Stats
from islands.errors import IslandsError
from islands.params import SamplingParams
from islands.tools.calls import Call, CallScanner
from islands.tools.registry import Registry

__all__ = [
    "MAX_ARGS_CHARS",
    "MAX_CALLS",
    "MAX_RESULT_CHARS",
    "Island",
    "IslandGeneration",
    "IslandOutput",
    "IslandTrack",
    "Span",
    "Splice",
    "call_tool",
    "run_tool",
    "tool_result",
]

MAX_ARGS_CHARS = 2000
MAX_RESULT_CHARS = 2000
MAX_CALLS = 16  # per output: a model stuck calling in a loop stops calling
BOOLEAN_WORDS = {"True": ("yes", "Yes"), "False": ("no", "No")}  # a yes/no answer copying a truth value


@dataclass(frozen=True)
class Island:
    """A tool result: `output` goes into the response, `context` into the model's input
    (they differ for COPY, whose context is a short marker)."""

    output: str
    context: str

    @classmethod
    def both(cls, text: str) -> Island:
        return cls(text, text)

    @property
    def error(self) -> bool:
        return self.context.startswith("error:")


@dataclass
class Span:
    """A run of output text: "sea" (sampled by the model) or "hard" (spliced in).

    A hard span carries its tool call and result; `island` numbers the hard islands of one
    output (0, 1, ...). An answer that copies an island's result is a hard span too, with
    `ref` naming the island it copies (see answer.py)."""

    start: int
    end: int
    kind: str
    tool: str | None = None
    args: str | None = None
    result: str | None = None
    seconds: float | None = None
    error: bool = False
    island: int | None = None
    ref: int | None = None
    answer: bool = False  # the answer slot's text (a copy of island `ref`, or free sea)


@dataclass
class IslandOutput:
    text: str
    spans: list[Span]
    finish_reason: str
    seed: int
    calls: int

    def islands(self) -> list[Span]:
        """The hard spans that came from tool calls, in order."""
        return [s for s in self.spans if s.kind == "hard" and s.tool is not None]

    @property
    def answer(self) -> Span | None:
        """The answer slot's span, when the output has one (`IslandRunner(answer=...)`)."""
        found = [s for s in self.spans if s.answer]
        return found[-1] if found else None


@dataclass
class IslandGeneration:
    outputs: list[IslandOutput]
    stats: Stats
    injected_tokens: int = 0

    @property
    def texts(self) -> list[str]:
        return [o.text for o in self.outputs]


@dataclass(frozen=True)
class Splice:
    """What a finished call puts into its output and into the model's context."""

    output: str
    context: str


def call_tool(registry: Registry, name: str, args: str) -> object:
    """The tool's raw return value (raises what the tool raises)."""
    tool = registry.get(name)
    return tool.fn(*tool.parse_args(args))


def tool_result(future: Future[object], timeout: float) -> Island:
    """A finished (or timed-out) tool call as an Island; errors become text for both sides."""
    try:
        value = future.result(timeout=timeout)
    except FutureTimeout:
        return Island.both(f"error: timed out after {timeout:g} s")
    except IslandsError as e:
        return Island.both(f"error: {e}")
    except Exception as e:  # a tool's own bug must not stop generation
        return Island.both(f"error: {type(e).__name__}: {e}")
    if isinstance(value, Island):
        return value
    text = str(value)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + "…"
    return Island.both(text)


def run_tool(registry: Registry, pool: ThreadPoolExecutor, name: str, args: str) -> Island:
    """Run one call on `pool`, waiting at most the tool's timeout."""
    timeout = registry.get(name).timeout if name in registry else 1.0
    return tool_result(pool.submit(call_tool, registry, name, args), timeout)


def _too_long() -> object:
    return Island.both("error: arguments too long")


@dataclass
class _Pending:
    """A tool running for the track."""

    call: Call
    future: Future[object]
    timeout: float
    started: float = field(default_factory=time.perf_counter)


class IslandTrack:
    """One output's hard-island state across its segments."""

    def __init__(
        self,
        registry: Registry,
        pool: ThreadPoolExecutor,
        params: SamplingParams,
        *,
        template: str = " => {result}",
        carry: str = "",
        answer: str | None = None,
    ) -> None:
        self.registry = registry
        self.params = params
        self.template = template
        self.answer = answer  # the text after which the answer slot opens ("Answer:")
        self.text = ""  # the output so far, before the current segment
        self.spans: list[Span] = []
        self.sampled = 0  # tokens sampled over all segments
        self.calls = 0
        self.done = False
        self.finish_reason = "length"
        self._pool = pool
        self._carry = carry  # an open call the prompt ends with ("CALC("): the model finishes it
        self._scanner = self._new_scanner()
        self._closed: Call | None = None  # the call that paused the segment
        self._pending: _Pending | None = None
        self._answer_due = False  # the sea wrote the answer's opening: the slot comes next
        self._answering = False  # the current segment is the answer slot
        self._complete: Callable[[str], bool] | None = None

    # -- sampling -----------------------------------------------------------------------------

    def _new_scanner(self) -> CallScanner:
        scanner = CallScanner(self.registry.names if self.calls < MAX_CALLS else ())
        if self._carry:
            scanner.feed(self._carry)
        return scanner

    def watch(self, segment: str) -> bool:
        """The segment's text so far; True when a call closed (or its arguments ran over
        MAX_ARGS_CHARS), when the answer's opening was written, or when the answer slot holds
        a whole island result: the segment must stop here."""
        if self._answering:
            return self._complete is not None and self._complete(segment)
        fed = len(self._scanner.text) - len(self._carry)
        if len(segment) < fed:  # the segment was cut back (a truncation): scan it again
            self._scanner = self._new_scanner()
            fed = 0
        call = self._scanner.feed(segment[fed:])
        if call is None:
            opened = self._scanner.open
            if opened is None and self.answer is not None and segment.endswith(self.answer):
                self._answer_due = True
                return True
            if opened is None or len(opened.args) <= MAX_ARGS_CHARS:
                return False
            call = opened
        self._closed = call
        return True

    def open_call(self) -> Call | None:
        """The call the segment is writing now, if one is open."""
        return self._scanner.open

    def cut(self) -> int | None:
        """Where the stopped segment's text must end (right after the call's ")"), or None."""
        if self._closed is None or self._closed.end < 0:
            return None
        return self._closed.end - len(self._carry)

    def end_segment(self, sea: str, sampled: int, reason: str) -> None:
        """The segment stopped with `sea` as its text (already cut); a paused call starts."""
        self.sampled += sampled
        if self._answering:
            self._end_answer(sea)
            return
        if sea:
            self._emit(sea, Span(len(self.text), len(self.text) + len(sea), "sea"))
        self._carry = ""
        if self._answer_due:
            return  # the driver opens the answer slot next (answer_options, begin_answer)
        call, self._closed = self._closed, None
        if reason == "island" and call is not None:
            self.calls += 1
            if call.end < 0:
                future: Future[object] = self._pool.submit(_too_long)
            else:
                future = self._pool.submit(call_tool, self.registry, call.name, call.args)
            self._pending = _Pending(call, future, self.registry.get(call.name).timeout)
        else:
            self.done = True
            self.finish_reason = reason
        self._scanner = self._new_scanner()

    def run_head(self, call: Call) -> None:
        """Run a call the prompt ends with before anything is sampled."""
        self._pending = _Pending(
            call, self._pool.submit(call_tool, self.registry, call.name, call.args), self.registry.get(call.name).timeout
        )

    # -- the answer slot ---------------------------------------------------------------------

    @property
    def answer_due(self) -> bool:
        """The answer's opening was written: the driver opens the slot (`begin_answer`)."""
        return self._answer_due

    def _answerable(self) -> list[tuple[int | None, str]]:
        """(island, text) pairs the answer may copy: every result that is not an error, and
        for a True/False result the words that answer a yes/no question with it."""
        out: list[tuple[int | None, str]] = []
        for s in self.spans:
            if s.kind == "hard" and s.tool is not None and not s.error and s.result:
                out.append((s.island, s.result))
                out.extend((s.island, word) for word in BOOLEAN_WORDS.get(s.result, ()))
        return out

    def answer_options(self) -> list[str]:
        """What the answer may copy (see `_answerable`)."""
        return list(dict.fromkeys(text for _, text in self._answerable()))

    @property
    def answering(self) -> bool:
        """The current segment is the answer slot."""
        return self._answering

    def begin_answer(self, complete: Callable[[str], bool] | None = None) -> SamplingParams | None:
        """Open the slot; `complete(text)` says when the slot holds a whole option. The params
        of the slot's segment: at most 48 tokens, one line; None when the budget is spent."""
        self._answer_due, self._answering, self._complete = False, True, complete
        left = self.params.max_tokens - self.sampled
        if left <= 0:
            self._answering = False
            self.done, self.finish_reason = True, "length"
            return None
        return self.params.replace(max_tokens=min(left, 48), stop=("\n",))

    def _end_answer(self, text: str) -> None:
        stripped = text.strip()
        ref = next((i for i, option in reversed(self._answerable()) if option == stripped), None)  # the latest
        kind = "hard" if ref is not None else "sea"
        if text:
            self._emit(text, Span(len(self.text), len(self.text) + len(text), kind, ref=ref, answer=True))
        self._answering = False
        self.done, self.finish_reason = True, "stop"

    # -- calling ------------------------------------------------------------------------------

    @property
    def waiting(self) -> bool:
        """A tool is running for this track."""
        return self._pending is not None

    @property
    def future(self) -> Future[object] | None:
        return self._pending.future if self._pending is not None else None

    def poll(self, *, block: bool = False) -> Splice | None:
        """The finished call's splice (a hung tool times out as an error); None while it runs."""
        p = self._pending
        if p is None:
            return None
        seconds = time.perf_counter() - p.started
        if block:
            island = tool_result(p.future, max(0.0, p.timeout - seconds))
        elif p.future.done():
            island = tool_result(p.future, 0)
        elif seconds > p.timeout:  # abandoned on its thread; the output goes on with an error
            island = Island.both(f"error: timed out after {p.timeout:g} s")
        else:
            return None
        self._pending = None
        seconds = time.perf_counter() - p.started
        output = self.template.format(result=island.output)
        number = sum(1 for s in self.spans if s.kind == "hard" and s.tool is not None)
        span = Span(
            len(self.text), len(self.text) + len(output), "hard", p.call.name, p.call.args,
            island.context, seconds, island.error, number,
        )
        self._emit(output, span)
        return Splice(output, self.template.format(result=island.context))

    def resume(self) -> SamplingParams | None:
        """Params for the next segment, or None (and done) when the token budget is spent."""
        left = self.params.max_tokens - self.sampled
        if left <= 0:
            self.done, self.finish_reason = True, "length"
            return None
        return self.params.replace(max_tokens=left)

    # -- results ------------------------------------------------------------------------------

    def _emit(self, text: str, span: Span) -> None:
        self.spans.append(span)
        self.text += text

    def settle(self, sea: str) -> None:
        """End now, keeping `sea` (the unfinished segment's text): the caller has decided."""
        if sea:
            self._emit(sea, Span(len(self.text), len(self.text) + len(sea), "sea"))
        self._pending = None
        self._answering = self._answer_due = False
        self.done, self.finish_reason = True, "settled"

    def fork(self, params: SamplingParams, *, prompt: str = "") -> IslandTrack:
        """A track that carries on from this one's output (a fan-out after a head call).
        When `prompt` and the output so far end with the answer's opening, the answer slot
        comes first."""
        twin = IslandTrack(self.registry, self._pool, params, template=self.template, carry=self._carry, answer=self.answer)
        twin.text, twin.spans, twin.calls = self.text, [Span(**vars(s)) for s in self.spans], self.calls
        twin._answer_due = self.answer is not None and (prompt + self.text).rstrip(" ").endswith(self.answer)
        return twin

    def output(self) -> IslandOutput:
        return IslandOutput(self.text, self.spans, self.finish_reason, self.params.seed or 0, self.calls)
