"""Hard islands against a remote OpenAI-compatible server: stream until a call closes,
hang up (the server stops generating), run the tool, and continue with a new completion
of the extended text — the server's prefix cache keeps that cheap.

Each output is an `IslandTrack` (track.py), the same state machine the local runner drives
over engine branches; here a thread per output drives it over streamed completions. A call
the prompt ends with runs once, before the outputs fan out.

Argument grammars: a server cannot be constrained mid-stream, so when a call of a tool with
an argument grammar opens, the driver hangs up and asks for the arguments in a request of
their own under that grammar (Lark: `islands serve`; GBNF where it converts), then streams on.
A server that refuses the grammar (llama.cpp's server for most Lark grammars, a model without
grammar support) gets the old way for the rest of that output: the model writes the arguments
freely and a malformed call gets ` => error: …` like any failing tool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from islands.engine.protocol import Generator
from islands.engine.results import Stats
from islands.errors import IslandsError
from islands.grammar import Grammar
from islands.params import SamplingParams
from islands.tools.answer import AnswerSlot
from islands.tools.calls import Call
from islands.tools.track import IslandGeneration, IslandTrack

if TYPE_CHECKING:
    from islands.tools.runner import IslandRunner

__all__ = ["generate_remote"]

MAX_ARG_TOKENS = 256  # the longest arguments one constrained request writes


def generate_remote(
    runner: IslandRunner,
    prompt: str,
    n: int = 1,
    params: SamplingParams | None = None,
    on_text: Callable[[int, str], None] | None = None,
    per_branch: list[SamplingParams] | None = None,
) -> IslandGeneration:
    """n continuations of `prompt` on the runner's engine (any `Generator`: it needs only
    `stream` and `generate`), each running its calls."""
    from islands.tools.runner import branch_params, head_track

    engine = runner.engine
    t0 = time.perf_counter()
    every = branch_params(n, (params or SamplingParams()).seeded(), per_branch)
    lock = threading.Lock()

    def emit(i: int, text: str) -> None:
        if on_text is not None and text:
            with lock:
                on_text(i, text)

    head = head_track(runner, prompt, every[0])
    context = prompt
    if head.waiting:
        splice = head.poll(block=True)
        assert splice is not None
        context += splice.context
    tracks = [head.fork(p, prompt=prompt) for p in every]
    for i, t in enumerate(tracks):
        emit(i, t.text)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="remote-island") as threads:
        list(threads.map(lambda i: _drive(engine, tracks[i], context, lambda s: emit(i, s)), range(n)))
    stats = Stats(sampled_tokens=sum(t.sampled for t in tracks), seconds=time.perf_counter() - t0)
    return IslandGeneration([t.output() for t in tracks], stats, 0)


def _drive(engine: Generator, track: IslandTrack, context: str, emit: Callable[[str], None]) -> None:
    """One output: segments streamed from the server, calls run between them."""
    if track.answer_due:
        _answer(engine, track, context, emit)
        return
    params: SamplingParams | None = track.params
    constrain = engine.supports("grammar")  # until a server refuses an argument grammar
    while params is not None and not track.done:
        segment, shown, tokens, paused = "", 0, 0, False
        while not paused and tokens < params.max_tokens:
            stream = engine.stream(context + segment, 1, params.replace(max_tokens=params.max_tokens - tokens))
            opened = None
            try:
                for delta in stream:
                    segment += delta.text
                    tokens += 1  # one streamed chunk is one token on the servers we know
                    if track.watch(segment):
                        paused = True
                        break
                    opened = _grammar_call(track) if constrain else None
                    if opened is not None:
                        break
                    emit(segment[shown:])
                    shown = len(segment)
            finally:
                stream.close()  # hanging up stops the server's generation
            if opened is None:
                break
            args = _constrained_args(engine, context, segment, opened, params)
            if args is None:
                constrain = False  # this server takes no such grammar: the model goes on freely
                continue
            text, used = args
            segment = segment[: len(segment) - len(opened[0].args)]
            track.watch(segment)  # back to the call's opening: the free arguments are dropped
            segment += text
            tokens += used
            paused = track.watch(segment)
        cut = track.cut()
        if paused and cut is not None:
            segment = segment[:cut]
        emit(segment[shown:])
        if paused:
            reason = "island"
        else:
            result = stream.result
            reason = result.outputs[0].finish_reason if result is not None else "length"
        track.end_segment(segment, tokens, reason)
        context += segment
        if track.answer_due:
            _answer(engine, track, context, emit)
            return
        if not track.waiting:
            return
        splice = track.poll(block=True)
        assert splice is not None
        emit(splice.output)
        context += splice.context
        params = track.resume()


def _grammar_call(track: IslandTrack) -> tuple[Call, str] | None:
    """The call now open and its tool's argument grammar, when it has one."""
    call = track.open_call()
    if call is None:
        return None
    try:
        grammar = track.registry.get(call.name).grammar
    except IslandsError:
        return None
    return (call, grammar) if grammar is not None else None


def _constrained_args(
    engine: Generator, context: str, segment: str, opened: tuple[Call, str], params: SamplingParams
) -> tuple[str, int] | None:
    """The call's arguments (through its closing parenthesis) written by the server under the
    tool's grammar, from the call's opening on; None when the server refuses the grammar."""
    call, grammar = opened
    head = segment[: len(segment) - len(call.args)]  # up to and including "NAME("
    try:
        out = engine.generate(context + head, 1, params.replace(max_tokens=MAX_ARG_TOKENS, stop=()), grammar=Grammar.lark(grammar))
    except IslandsError:
        return None
    o = out.outputs[0]
    return o.text, len(o.tokens) or 1


def _answer(engine: Generator, track: IslandTrack, context: str, emit: Callable[[str], None]) -> None:
    """The answer slot remotely: one request under the slot's regex (answer.py)."""
    slot = AnswerSlot(track.answer_options(), {}, [])
    params = track.begin_answer()
    if params is None:
        return
    grammar = Grammar.regex(slot.regex()) if slot.options and engine.supports("grammar") else None
    out = engine.generate(context, 1, params, grammar=grammar)
    text = out.outputs[0].text
    emit(text)
    track.end_segment(text, len(out.outputs[0].tokens) or 1, out.outputs[0].finish_reason)
