"""KVLedger: how many KV cells are in use, counting shared cells once.

llama.cpp with a unified KV cache shares cells between sequences on `seq_cp` instead of
copying them, and frees a cell only when no sequence uses it any more. It does not say
how many cells are free, so the engine keeps this ledger beside it: each sequence is a
list of virtual cell ids, one per position; a fork copies the ids; a cell counts as used
while any sequence lists it.

    ledger.append(seq=0, n=5)          # cells 0..4, used = 5
    ledger.share(src=0, dst=1, n=3)    # seq 1 lists cells 0..2, used = 5
    ledger.drop(seq=0, start=0)        # cells 3, 4 freed, used = 3

What it leaves out: where llama.cpp puts the cells (it decides), and fragmentation (the
engine also reacts when a decode reports no room).
"""

from __future__ import annotations

import itertools

__all__ = ["KVLedger"]


class KVLedger:
    def __init__(self, n_ctx: int) -> None:
        self.n_ctx = n_ctx
        self.used = 0
        self._cells: dict[int, list[int]] = {}  # seq -> virtual cell id per position
        self._refs: dict[int, int] = {}  # cell id -> number of sequences listing it
        self._ids = itertools.count()

    @property
    def free(self) -> int:
        return self.n_ctx - self.used

    def length(self, seq: int) -> int:
        return len(self._cells.get(seq, ()))

    def append(self, seq: int, n: int) -> None:
        """`seq` gets n new cells at its next positions."""
        new = [next(self._ids) for _ in range(n)]
        self._cells.setdefault(seq, []).extend(new)
        for cell in new:
            self._refs[cell] = 1
        self.used += n

    def share(self, src: int, dst: int, n: int) -> None:
        """`dst` (empty) lists the first n cells of `src`: nothing new is used."""
        assert not self._cells.get(dst), f"sequence {dst} is not empty"
        cells = self._cells.get(src, [])[:n]
        assert len(cells) == n, f"sequence {src} holds {len(cells)} cells, not {n}"
        self._cells[dst] = list(cells)
        for cell in cells:
            self._refs[cell] += 1

    def drop(self, seq: int, start: int = 0) -> int:
        """`seq` lets go of its cells from position `start` on; returns how many were freed."""
        cells = self._cells.get(seq, [])
        gone, kept = cells[start:], cells[:start]
        if kept:
            self._cells[seq] = kept
        else:
            self._cells.pop(seq, None)
        freed = 0
        for cell in gone:
            left = self._refs[cell] - 1
            if left:
                self._refs[cell] = left
            else:
                del self._refs[cell]
                freed += 1
        self.used -= freed
        return freed

    def exclusive(self, seq: int) -> int:
        """Cells only `seq` uses: what dropping it would free."""
        return sum(1 for cell in self._cells.get(seq, ()) if self._refs[cell] == 1)
