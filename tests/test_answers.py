"""Answers by reference: the answer slot copies an island's exact result (or is a free answer
that does not look like a number); a model that would re-type the result cannot drop a digit."""

from __future__ import annotations

import numpy as np

from islands import SamplingParams
from islands.engine import Engine, MockModel
from islands.tools import IslandRunner, Registry
from islands.tools.answer import AnswerSlot, free_start


class DigitHungryModel(MockModel):
    """A mock that loves digits: after the answer opens it would type digits, any digits."""

    def logits(self) -> np.ndarray:
        rows = super().logits()
        rows[:, ord("0") : ord("9") + 1] += 40.0
        rows[:, ord("4")] += 5.0  # its favourite: "4444..." (never the result 408 in full)
        return rows


def test_the_slot_only_continues_an_option_or_starts_free() -> None:
    pieces = {b" ": [1], b"4": [2], b"0": [3], b"8": [4], b"40": [5], b" 4": [6], b"x": [7], b"9": [8], b"\n": [9]}
    free = np.array([free_start(p) for p in [b"", b" ", b"4", b"0", b"8", b"40", b" 4", b"x", b"9", b"\n"]])
    slot = AnswerSlot(["408", ""], pieces, [9])
    assert slot.options == ["408"]  # an empty result is no option
    start = slot.allow(b"", 10, free)
    assert start is not None and set(np.flatnonzero(start)) == {1, 2, 5, 6, 7}  # " ", "4", "40", " 4", free "x"
    mid = slot.allow(b" 40", 10, free)
    assert mid is not None and set(np.flatnonzero(mid)) == {4}  # only the 8: no digit dropped or added
    done = slot.allow(b" 408", 10, free)
    assert done is not None and set(np.flatnonzero(done)) == {9}  # complete: only the end
    assert slot.allow(b" x", 10, free) is None  # a free answer, once started, is free
    assert slot.complete(" 408") and not slot.complete(" 40")
    assert slot.match(" 408\n") == 0 and slot.match("407") is None
    assert AnswerSlot([], pieces, [9]).allow(b"", 10, free) is None  # nothing to copy: numbers may be typed
    assert slot.regex() == r" ?(?:408|[^0-9+\-.\s][^\n]{0,80})"


def test_once_only_one_option_fits_the_rest_is_written_at_once() -> None:
    slot = AnswerSlot(["408", "4096", "17"], {}, [9])
    assert slot.rest("") is None and slot.rest(" ") is None  # nothing begun: a free answer may still start
    assert slot.rest(" 4") is None  # 408 or 4096: sample on
    assert slot.rest(" 40") is None
    assert slot.rest(" 409") == "6" and slot.rest("1") == "7" and slot.rest(" 1") == "7"
    assert slot.rest(" 4096") is None  # whole already
    assert slot.rest(" x") is None  # a free answer: nothing to copy
    assert AnswerSlot([], {}, [9]).rest(" 4") is None


def test_without_islands_of_its_own_the_answer_is_free_sea() -> None:
    engine = Engine(DigitHungryModel())
    runner = IslandRunner(engine, Registry.default().subset(["CALC"]), template=" => {result}.", answer="Answer:")
    try:
        g = runner.generate("Q: 12 * 34?\nA: CALC(12*34) => 408. Answer:", n=2, params=SamplingParams(max_tokens=6, seed=1))
    finally:
        runner.close()
    for out in g.outputs:  # the prompt's island is text it reads, not a result of this output
        span = out.answer
        assert span is not None and span.kind == "sea" and span.ref is None and out.calls == 0
        assert out.text.startswith("4")  # free: this model types digits when nothing is computed


def test_the_slot_opens_after_the_opening_and_splices_the_exact_result() -> None:
    engine = Engine(DigitHungryModel())
    runner = IslandRunner(engine, Registry.default().subset(["CALC"]), template=" => {result}. Answer:", answer="Answer:")
    try:
        g = runner.generate("Q: 12 * 34?\nA: CALC(12*34)", n=4, params=SamplingParams(max_tokens=12, temperature=1.0, seed=3))
    finally:
        runner.close()
    for out in g.outputs:
        span = out.answer
        assert span is not None and span.kind == "hard" and span.ref == 0, out.text
        assert out.text[span.start : span.end].strip() == "408"  # whole, though the model wanted "4444"
        assert out.finish_reason == "stop"
        assert out.text.endswith("408")  # written at once once only 408 fits, and nothing after it


def test_a_rambling_branch_stops_once_the_others_are_done() -> None:
    """`straggle`: with the short branches finished, the one still writing (no call open)
    stops at 1.5x the longest finished one (at least 16 tokens) instead of its whole budget."""
    engine = Engine(MockModel())
    runner = IslandRunner(engine, Registry.default().subset(["CALC"]))
    base = SamplingParams(max_tokens=10, temperature=1.0, seed=5)
    per_branch = [base.replace(seed=i) for i in range(3)] + [base.replace(max_tokens=120, seed=9)]
    try:
        cut = runner.generate("Q: hello\nA:", n=4, params=base, per_branch=per_branch, straggle=1.5)
        whole = runner.generate("Q: hello\nA:", n=4, params=base, per_branch=per_branch)
    finally:
        runner.close()
    assert [o.finish_reason for o in cut.outputs[:3]] == ["length"] * 3
    assert cut.outputs[3].finish_reason == "settled"
    assert cut.stats.sampled_tokens <= 3 * 10 + 17 < whole.stats.sampled_tokens
    assert whole.outputs[3].finish_reason == "length"
    assert whole.outputs[3].text.startswith(cut.outputs[3].text) and len(whole.outputs[3].text) > len(cut.outputs[3].text)
