"""Finding tool calls `NAME(args)` in text, incrementally, as the model writes it.

`CallScanner` is fed the text of a segment piece by piece (one sampled token at a time) and
scans each character once: a whole segment costs O(its length), not O(length²). It knows
whether a call is open (and its arguments so far) and says when one closes.

    s = CallScanner(["CALC"])
    s.feed("x = CALC(2*(3")   # None; s.open == Call("CALC", "2*(3", 4, -1)
    s.feed("+4)) y")          # Call("CALC", "2*(3+4)", 4, 16)

What it leaves out: running the tools (track.py) and the branches (runner.py, remote.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["Call", "CallScanner", "find_call", "last_call"]

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_WORD_CHARS = _NAME_CHARS | frozenset("abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Call:
    """A tool call found in text: text[start:end] == f"{name}({args})"."""

    name: str
    args: str
    start: int
    end: int  # index after ')' ; -1 while the call is still open


class CallScanner:
    """The calls of known tools in a growing text: the first one that closes stops it."""

    def __init__(self, names: Collection[str]) -> None:
        self._names = frozenset(n.upper() for n in names)
        self._longest = max((len(n) for n in self._names), default=0)
        self.text = ""
        self._i = 0  # next character to scan
        self._name = ""  # the open call's tool, "" when none is open
        self._start = 0  # where the open call's name starts
        self._args = 0  # where its arguments start
        self._depth = 0
        self._quote = ""
        self._escaped = False

    @property
    def open(self) -> Call | None:
        """The call being written, if one is open."""
        if not self._name:
            return None
        return Call(self._name, self.text[self._args :], self._start, -1)

    def feed(self, text: str) -> Call | None:
        """Scan `text` (appended to what came before); the first call that closes in it, if
        any. Scanning stops right after that call; the next feed goes on from there."""
        self.text += text
        return self._scan()

    def _scan(self) -> Call | None:
        text = self.text
        while self._i < len(text):
            c = text[self._i]
            self._i += 1
            if not self._name:
                if c == "(":
                    self._open_at(self._i - 1)
            elif self._quote:
                if self._escaped:
                    self._escaped = False
                elif c == "\\":
                    self._escaped = True
                elif c == self._quote:
                    self._quote = ""
            elif c in "'\"":
                self._quote = c
            elif c == "(":
                self._depth += 1
            elif c == ")":
                self._depth -= 1
                if self._depth == 0:
                    call = Call(self._name, text[self._args : self._i - 1], self._start, self._i)
                    self._name = ""
                    return call
        return None

    def _open_at(self, paren: int) -> None:
        """A "(" at `paren`: does a known tool's name end right before it, on a word start?"""
        j = paren
        while j > 0 and paren - j <= self._longest and self.text[j - 1] in _NAME_CHARS:
            j -= 1
        name = self.text[j:paren]
        if name not in self._names or (j > 0 and self.text[j - 1] in _WORD_CHARS):
            return
        self._name, self._start, self._args = name, j, paren + 1
        self._depth, self._quote, self._escaped = 1, "", False


def find_call(text: str, names: Collection[str], start: int = 0) -> Call | None:
    """The first call of a known tool in text[start:], closed (end > 0) or still open.

    find_call("x CALC(2*(3+4)) y", ["CALC"]) -> Call("CALC", "2*(3+4)", 2, 15)
    """
    scanner = CallScanner(names)
    scanner.text, scanner._i = text, start
    closed = scanner._scan()
    return closed if closed is not None else scanner.open


def last_call(text: str, names: Collection[str]) -> Call | None:
    """The last call in text, closed or open: last_call("A(1) A(2", ["A"]) -> the open A(2."""
    scanner = CallScanner(names)
    call = scanner.feed(text)
    while call is not None:
        found = scanner.feed("")
        if found is None:
            break
        call = found
    return scanner.open or call
