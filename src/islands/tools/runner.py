"""Hard islands during decoding: `NAME(args)` runs when it closes, and ` => result` is
spliced into that branch only; the model continues from the same KV state.

While a call is open, the branch may only sample tokens made of the tool's argument
alphabet, inside the tool's argument grammar where it has one (after `CALC(` only
arithmetic can follow). When the closing parenthesis is sampled, the branch pauses, the tool
runs on a worker thread while the other branches keep decoding, and the result's tokens are
the only ones prefilled before sampling resumes.

    runner = IslandRunner(engine, Registry.default())
    out = runner.generate("Q: 17 * 23 = ?\\nA: CALC(17*23)", params=SamplingParams(max_tokens=32))
    out.outputs[0].text    # " => 391\\n..."  with out.outputs[0].spans marking sea and hard text

Each branch's island state is an `IslandTrack` (track.py), the same state machine the
remote driver (remote.py) runs over streamed completions. `IslandRunner` given a remote
engine uses that driver, so callers need not know which kind of engine they hold.

What it leaves out: soft islands (soft.py), traces to files (trace.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import cast

import numpy as np

from islands.engine import Branch, Delta, Engine, Stats
from islands.engine.model import Constraint
from islands.engine.protocol import Generator, require
from islands.engine.stream import Job, run_job
from islands.errors import InvalidInput, IslandsError
from islands.grammar import Grammar
from islands.params import SamplingParams
from islands.tools.answer import FREE_START, AnswerSlot, free_start
from islands.tools.calls import last_call
from islands.tools.registry import Registry, Tool
from islands.tools.track import Island, IslandGeneration, IslandOutput, IslandTrack, run_tool

__all__ = ["IslandJob", "IslandRunner", "Settled"]

Settled = Callable[[list["IslandOutput | None"]], bool]  # finished outputs so far -> stop the rest?


class IslandRunner:
    """Generation with tools spliced in as hard islands."""

    def __init__(
        self,
        engine: Generator,
        registry: Registry,
        *,
        template: str = " => {result}",
        workers: int = 4,
        answer: str | None = None,
        wait_tools: bool = False,
    ) -> None:
        self.engine = engine
        # the local engine, whose branches run islands at the KV level; None: a remote one
        # (tools/remote.py drives islands over streamed completions)
        self.local: Engine | None = cast("Engine", engine) if engine.supports("kv") else None
        self.registry = registry
        self.template = template
        self.answer = answer  # e.g. "Answer:": the slot after it copies island results (answer.py)
        # wait for each tool before the next step: batches (and so logits and outputs) do not
        # depend on how fast tools run; the other branches wait that long too
        self.wait_tools = wait_tools
        if self.local is not None and any(t.grammar is not None for t in registry):
            self.local.model.prepare_grammars()  # argument grammars: build the tokenizer meanwhile
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="island")
        self._grammars = True  # argument grammars, until the model says it has none

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def track(self, params: SamplingParams, carry: str = "") -> IslandTrack:
        return IslandTrack(self.registry, self.pool, params, template=self.template, carry=carry, answer=self.answer)

    def args_constraint(self, tool: Tool, written: str) -> Constraint | None:
        """The tool's argument grammar, past what the model already wrote after `NAME(`;
        None where grammars are not available (the mock model) or the text does not fit."""
        if not self._grammars or tool.grammar is None or self.local is None:
            return None
        try:
            constraint = self.local.constraint(Grammar.lark(tool.grammar))
        except IslandsError:
            self._grammars = False  # this model has no grammar support: the alphabet will do
            return None
        if written and not constraint.feed(written):  # type: ignore[attr-defined]
            return None
        return constraint

    def alphabet_mask(self, tool: Tool) -> np.ndarray:
        """Tokens made only of the tool's argument characters (computed once per engine)."""
        require(self.engine, "kv")
        assert self.local is not None
        allowed = set(tool.alphabet)

        def keep(piece: bytes) -> bool:
            try:
                text = piece.decode("utf-8")
            except UnicodeDecodeError:
                return False
            return bool(text) and all(c in allowed for c in text)

        return self.local.token_mask(keep, key=f"alphabet:{tool.alphabet}")

    def answer_slot(self, options: list[str]) -> AnswerSlot:
        """The slot over these island results, with this engine's vocabulary."""
        require(self.engine, "kv")
        assert self.local is not None
        engine = self.local
        newline = engine.piece_ids().get(b"\n", [])
        return AnswerSlot(options, engine.piece_ids(), sorted(set(newline) | engine.model.eog_tokens))

    def run_tool(self, name: str, args: str) -> Island:
        """Run one tool directly (errors become `error: ...` text, as in generation)."""
        return run_tool(self.registry, self.pool, name, args)

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
        settled: Settled | None = None,
        straggle: float | None = None,
    ) -> IslandGeneration:
        """n continuations of `prompt`, each running the tools it calls. `settled(outputs)`,
        given the finished outputs so far (None for the others), may end the rest early:
        they stop with finish_reason "settled" (a vote that can no longer change). With
        `straggle`, once at least half the branches are done, a branch that has sampled more
        than `straggle` times the tokens of the longest finished one, outside any call or
        answer, stops too (finish_reason "settled"): one rambling candidate no longer holds
        the whole request for its full token budget."""
        if self.local is None:
            from islands.tools.remote import generate_remote

            return generate_remote(self, prompt, n, params, on_text, per_branch)
        job = self.job(prompt, n, params, per_branch)
        job.settled = settled
        job.straggle = straggle
        for delta in run_job(self.local, job):
            if on_text is not None:
                on_text(delta.index, delta.text)
        assert job.result is not None
        return job.result


def branch_params(n: int, params: SamplingParams, per_branch: list[SamplingParams] | None) -> list[SamplingParams]:
    """The params of each of n branches: per_branch (checked, seeded) or params' seeds + i."""
    if n < 1:
        raise InvalidInput(f"invalid n={n}: need at least 1 branch")
    if per_branch is None:
        return [params.for_branch(i) for i in range(n)]
    if len(per_branch) != n:
        raise InvalidInput(f"per-branch params for {len(per_branch)} branches, not {n}")
    return [p.seeded() for p in per_branch]


def head_track(runner: IslandRunner, prompt: str, params: SamplingParams) -> IslandTrack:
    """The track of the prompt itself: it runs a call the prompt ends with, and carries an
    open call (`... CALC(`) on to the branches, whose arguments finish it."""
    last = last_call(prompt, runner.registry.names)
    carry = prompt[last.start :] if last is not None and last.end < 0 else ""
    head = runner.track(params, carry)
    if last is not None and last.end == len(prompt.rstrip()):
        head.run_head(last)
    return head


class IslandJob(Job):
    """One hard-island request: the prompt's own call first, then n branches that pause
    at their calls while the others (and other jobs) keep decoding."""

    def __init__(
        self, runner: IslandRunner, prompt: str, n: int, params: SamplingParams, per_branch: list[SamplingParams] | None = None
    ) -> None:
        require(runner.engine, "kv")
        assert runner.local is not None
        self.runner = runner
        self.engine: Engine = runner.local
        self.prompt = prompt
        self.params = branch_params(n, params, per_branch)
        self.stats = Stats()
        self.injected = 0
        self.result: IslandGeneration | None = None
        self.root: Branch | None = None
        self.head: IslandTrack | None = None
        self.tracks: list[IslandTrack] = []
        self._slots: dict[int, AnswerSlot] = {}  # the open answer slot of each branch
        self.branches: list[Branch] = []
        self.settled: Settled | None = None
        self.straggle: float | None = None
        self._t0 = 0.0

    def begin(self) -> None:
        self._t0 = time.perf_counter()
        self.root = self.engine.branch(self.prompt, stats=self.stats)
        self.head = head_track(self.runner, self.prompt, self.params[0])
        self.root.keep_logits = True  # prefill once, then the branches fork from its logits

    def busy(self) -> bool:
        if self.done or (self.head is not None and self.head.waiting):
            return False
        return not self.tracks or any(b.generating or b.wants_decode for b in self.branches)

    def idle_wait(self) -> None:
        tracks = self.tracks or ([self.head] if self.head is not None else [])
        futures = [t.future for t in tracks if t.future is not None]
        wait(futures, timeout=0.05, return_when="FIRST_COMPLETED")

    def advance(self) -> list[Delta]:
        out: list[Delta] = []
        if not self.tracks:
            self._fan_out(out)
            return out
        for i, (track, b) in enumerate(zip(self.tracks, self.branches)):
            self._advance(track, b, i, out)
        if self.settled is not None and not all(t.done for t in self.tracks):
            if self.settled([t.output() if t.done else None for t in self.tracks]):
                for track, b in zip(self.tracks, self.branches):
                    if not track.done:
                        track.settle(b.text if not track.waiting else "")
                        b.release()
        if self.straggle is not None:
            self._stop_stragglers(self.straggle)
        if all(t.done for t in self.tracks):
            self.stats.seconds = time.perf_counter() - self._t0
            self.result = IslandGeneration([t.output() for t in self.tracks], self.stats, self.injected)
            self.done = True
        return out

    def _stop_stragglers(self, factor: float) -> None:
        """End the branches that run far past the finished ones (see `generate`)."""
        finished = [t.sampled for t in self.tracks if t.done]
        if not finished or 2 * len(finished) < len(self.tracks):
            return
        budget = max(16.0, factor * max(finished))
        for track, b in zip(self.tracks, self.branches):
            if track.done or track.waiting or track.answering or track.open_call() is not None:
                continue
            if track.sampled + len(b.generated) > budget:
                track.settle(b.text)
                b.release()

    def _fan_out(self, out: list[Delta]) -> None:
        root, head = self.root, self.head
        assert root is not None and head is not None
        if head.waiting:
            splice = head.poll(block=self.runner.wait_tools)
            if splice is None:
                return
            self._splice(root, splice.context)
        if root.pending or not root.ready:
            return
        root.keep_logits = False
        n = len(self.params)
        kids = [root] if n == 1 else root.fork(n)
        if n > 1:
            root.release(cache=False)
        for i, kid in enumerate(kids):
            track = head.fork(self.params[i], prompt=self.prompt)
            if track.text:
                out.append(Delta(i, track.text))
            self._watch(track, kid)
            if track.answer_due:
                self._open_answer(track, kid, i)
            else:
                kid.start(track.params)
            self.tracks.append(track)
            self.branches.append(kid)

    def _watch(self, track: IslandTrack, b: Branch) -> None:
        runner = self.runner

        def allow(b: Branch) -> np.ndarray | None:
            call = track.open_call()
            if call is None:
                return None
            tool = runner.registry.get(call.name)
            if b.constraint is None and tool.grammar is not None:  # the call just opened
                b.constrain(runner.args_constraint(tool, call.args))
            return runner.alphabet_mask(tool)

        b.watch = lambda b: track.watch(b.text)
        b.allow = allow

    def _splice(self, b: Branch, context: str) -> None:
        tokens = self.engine.tokenize(context, add_bos=False)
        b.extend(tokens)
        self.injected += len(tokens)

    def _advance(self, track: IslandTrack, b: Branch, index: int, out: list[Delta]) -> None:
        """Move one branch along: close a stopped segment, splice a finished tool result."""
        if track.done:
            return
        if track.waiting:
            splice = track.poll(block=self.runner.wait_tools)
            if splice is None:
                return
            out.append(Delta(index, splice.output))
            self._splice(b, splice.context)
            params = track.resume()
            if params is not None:
                b.start(params)
            return
        if b.generating:
            if delta := b.take_text():
                out.append(Delta(index, delta))
            return
        b.constrain(None)  # an argument grammar ends with its call
        cut = track.cut()
        if cut is not None:
            b.cut_text(cut)
        if delta := b.take_text():
            out.append(Delta(index, delta))
        sea = b.text
        slot = self._slots.get(index)
        if slot is not None and track.answering and (rest := slot.rest(sea)) is not None:
            out.append(Delta(index, rest))  # the one option the answer can still become, written at once
            sea += rest
        track.end_segment(sea, len(b.generated), b.finish_reason or "length")
        if track.answer_due:
            self._open_answer(track, b, index)

    def _open_answer(self, track: IslandTrack, b: Branch, index: int) -> None:
        """The answer slot: tokens limited to copies of island results or a free start. Once
        what it wrote can only become one island's result, it stops and `_advance` writes
        the rest (nothing is decoded after an answer, so the rest needs no KV)."""
        slot = self.runner.answer_slot(track.answer_options())
        params = track.begin_answer(slot.complete)
        if params is None:
            return
        self._slots[index] = slot
        b.watch = lambda b: track.watch(b.text) or slot.rest(b.text) is not None
        free = self.engine.token_mask(free_start, key=FREE_START)
        n_vocab = self.engine.model.n_vocab

        def allow(b: Branch) -> np.ndarray | None:
            return slot.allow(b.text.encode(), n_vocab, free)

        b.allow = allow
        b.start(params)

    def close(self) -> None:
        for b in self.branches:
            b.watch = b.allow = None
            b.constrain(None)
            b.release()
        if self.root is not None:
            self.root.release(cache=False)
