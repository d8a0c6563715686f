"""Segment: the text of one generation segment of a branch — what `start` begins.

Sampled pieces are decoded incrementally (UTF-8 split across tokens stays whole), stop
strings are cut off as soon as they appear, and a reader takes the new text with `take()`,
which holds back a tail that could still grow into a stop string.

    seg = Segment(params, start=12)
    seg.add(b"Hel")          # None: still going
    seg.take()               # "Hel"

What it leaves out: tokens and KV (the branch's), deciding when to sample (the engine's).
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

from islands.engine.results import TokenLogprob
from islands.params import SamplingParams

__all__ = ["Segment"]


def _utf8() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")("replace")


class Segment:
    """One segment's text, logprobs and finish reason."""

    def __init__(self, params: SamplingParams, start: int) -> None:
        self.params = params
        self.start = start  # the branch position where this segment's first token stands
        self.active = True  # still sampling
        self.finish_reason: str | None = None  # "stop", "eos", "length", "island"
        self.text = ""  # decoded so far, a stop string cut off
        self.stopped_by: str | None = None  # the stop string that ended it
        self.logprobs: list[TokenLogprob] = []
        self._decoder = _utf8()
        self._taken = 0  # how much of `text` a reader has taken

    def copy(self) -> Segment:
        """An independent copy (a fork's child carries on its parent's segment)."""
        twin = Segment(self.params, self.start)
        twin.active, twin.finish_reason, twin.text = self.active, self.finish_reason, self.text
        twin.stopped_by = self.stopped_by
        twin.logprobs = list(self.logprobs)
        twin._decoder.setstate(self._decoder.getstate())
        twin._taken = self._taken
        return twin

    def add(self, piece: bytes) -> bool:
        """Append a sampled piece; True when a stop string appeared (the segment stops)."""
        before = len(self.text)
        self.text += self._decoder.decode(piece)
        if self.params.stop and self._cut_at_stop(before):
            self.finish("stop")
            return True
        return False

    def finish(self, reason: str) -> None:
        if reason != "stop":
            self.text += self._decoder.decode(b"", final=True)
        self.active = False
        self.finish_reason = reason

    def rebuild(self, pieces: Sequence[bytes]) -> None:
        """Recompute the text from the segment's pieces (after a truncation)."""
        self._decoder = _utf8()
        self.text = "".join(self._decoder.decode(p) for p in pieces)
        self._taken = min(self._taken, len(self.text))
        self.logprobs = self.logprobs[: len(pieces)]

    def append_text(self, text: str) -> None:
        """Text that belongs to the segment without being sampled (a re-split token)."""
        self.text += text

    def take(self) -> str:
        """New text since the last take: all of it when finished, else all but a tail that
        could still turn into a stop string ("ab" is held back while "abc" is a stop)."""
        end = len(self.text)
        if self.active and self.params.stop:
            for s in self.params.stop:
                for k in range(min(len(s) - 1, end), 0, -1):
                    if self.text.endswith(s[:k]):
                        end = min(end, len(self.text) - k)
                        break
        delta = self.text[self._taken : end] if end > self._taken else ""
        self._taken = max(self._taken, end)
        return delta

    def _cut_at_stop(self, before: int) -> bool:
        longest = max(len(s) for s in self.params.stop)
        lo = max(0, before - longest + 1)
        hits = [(i, s) for i, s in ((self.text.find(s, lo), s) for s in self.params.stop) if i >= 0]
        if not hits:
            return False
        at, self.stopped_by = min(hits)
        self.text = self.text[:at]
        return True
