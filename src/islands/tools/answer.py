"""Answers by reference: the answer slot may only copy an island's exact result or be a
short free answer that does not look like a number.

A model that computed `CALC(987654321*123456789) => 121932631112635269` and then writes
"Answer: 12193263112635269" has re-typed the result and dropped a digit. In the answer slot
the model's tokens are limited, token by token, to those that keep the text a prefix of one
of the results (` 121932631112635269`), or — for answers a tool did not compute ("yes",
"the owl") — to a free start that is not a digit, sign or point. So a number in the answer
is always one the computer produced, whole.

    slot = AnswerSlot(["121932631112635269", "8"], pieces)      # pieces: bytes -> token ids
    slot.allow(b"", n_vocab, free_start)   # the tokens of " 1...", " 8", "1...", "8", or a free start
    slot.match(" 121932631112635269")      # 0: the answer is island 0's result

The same limit as a regular expression (`regex()`) constrains remote servers.

What it leaves out: which islands deserve to be answers (flows/verify.py judges that).
"""

from __future__ import annotations

import re
import string

import numpy as np

__all__ = ["FREE_START", "AnswerSlot", "free_start"]

MAX_OPTION_CHARS = 200  # longer results (COPY spans, tables) are not offered as answers
_NUMERIC_START = set(string.digits + "+-.")


def free_start(piece: bytes) -> bool:
    """Can a free answer start with this token? Not with a digit, a sign or a point (a number
    is copied from an island, never typed), not with a newline."""
    text = piece.decode("utf-8", errors="replace").lstrip(" ")
    return bool(text) and text[0] not in _NUMERIC_START and text[0] not in "\n\r"


FREE_START = "answer:free-start"  # the token-mask key of `free_start`


class AnswerSlot:
    """The allowed continuations of one answer: the options' exact texts, or free text."""

    def __init__(self, options: list[str], pieces: dict[bytes, list[int]], end_ids: list[int]) -> None:
        self.options = [o for o in options if o and len(o) <= MAX_OPTION_CHARS and "\n" not in o]
        self._pieces = pieces
        self._end = end_ids  # newline and end-of-generation tokens
        # targets: each option with and without the space the model usually writes first
        self._targets = [(i, t.encode()) for i, o in enumerate(self.options) for t in (" " + o, o)]

    def allow(self, written: bytes, n_vocab: int, free: np.ndarray) -> np.ndarray | None:
        """The tokens that may come after `written` (the slot's text so far); None: any.
        With no options there is nothing to copy from: the answer is free, numbers too."""
        if not self.options:
            return None
        live = [t for _, t in self._targets if t.startswith(written)]
        if written and not live:
            return None  # a free answer, past its start
        mask = np.zeros(n_vocab, dtype=bool)
        for target in live:
            rest = target[len(written) :]
            if not rest:
                mask[self._end] = True  # complete: it may end here
            for k in range(1, len(rest) + 1):
                ids = self._pieces.get(rest[:k])
                if ids:
                    mask[ids] = True
        if not written.strip():
            mask |= free  # nothing but spaces so far: a free answer may still start
        return mask

    def complete(self, written: str) -> bool:
        """`written` is an option whole, and no longer option goes on from it."""
        data = written.encode()
        full = any(t == data for _, t in self._targets)
        return full and not any(len(t) > len(data) and t.startswith(data) for _, t in self._targets)

    def rest(self, written: str) -> str | None:
        """What is left to copy once `written` (begun, not just spaces) can only become one
        option: the driver writes it at once instead of sampling it token by token. None
        while two options (or a free answer) are still open."""
        data = written.encode()
        if not self.options or not data.strip():
            return None
        live = {t for _, t in self._targets if t.startswith(data)}
        if len(live) != 1:
            return None
        (target,) = live
        if len(target) == len(data):
            return None
        try:
            return target[len(data) :].decode()
        except UnicodeDecodeError:  # `written` ends inside a character: one more token first
            return None

    def match(self, written: str) -> int | None:
        """The option `written` copies (spaces and a final newline aside), else None."""
        text = written.strip()
        for i, o in enumerate(self.options):
            if text == o:
                return i
        return None

    def regex(self) -> str:
        """The slot as a regular expression (for engines that take a regex grammar)."""
        copies = "|".join(re.escape(o) for o in sorted(self.options, key=len, reverse=True))
        free = r"[^0-9+\-.\s][^\n]{0,80}"
        return f" ?(?:{copies}|{free})" if copies else f" ?{free}"
