"""Hard islands against a remote OpenAI-compatible server: stream until a call closes,
hang up (the server stops generating), run the tool, and continue with a new completion
of the extended text — the server's prefix cache keeps that cheap.

Each output is an `IslandTrack` (track.py), the same state machine the local runner drives
over engine branches; here a thread per output drives it over streamed completions. A call
the prompt ends with runs once, before the outputs fan out.

What it leaves out: argument grammars while a call is open (a remote server cannot be
constrained mid-stream); the model writes the arguments freely and a malformed call gets
` => error: …` like any failing tool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from islands.engine.protocol import Generator
from islands.engine.results import Stats
from islands.grammar import Grammar
from islands.params import SamplingParams
from islands.tools.answer import AnswerSlot
from islands.tools.track import IslandGeneration, IslandTrack

if TYPE_CHECKING:
    from islands.tools.runner import IslandRunner

__all__ = ["generate_remote"]


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
    while params is not None and not track.done:
        segment, shown, tokens, paused = "", 0, 0, False
        stream = engine.stream(context, 1, params)
        try:
            for delta in stream:
                segment += delta.text
                tokens += 1  # one streamed chunk is one token on the servers we know
                if track.watch(segment):
                    paused = True
                    break
                emit(segment[shown:])
                shown = len(segment)
        finally:
            stream.close()  # hanging up stops the server's generation
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
