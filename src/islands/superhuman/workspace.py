"""A workspace: the folder that holds a task's data under short names (handles).

The model never sees the data, only the handles: `MATMUL('mat7a', 'mat7b')` names two
matrices that the task generator wrote here; the tool writes the product back under a new
handle (`C1`) and returns that name. Each file is `{handle}.{kind}.{ext}`:

    matrix  .npy  (m, n) float64        points  .npy  (n, 2) float64 in the unit square
    tour    .npy  (n,) int64 visit order  model   .npy  (n,) int8, 1 = true, 0 = false
    text    .txt  lines                    cnf     .cnf  DIMACS
    smt     .smt2 SMT-LIB 2                stack   .npy  (n, k, k) float64: one matrix per stop

Tools record what they did (`Usage`: the work, e.g. FLOPs or bytes, and the seconds it took)
so a benchmark can say what fraction of the machine's limit a call reached.

What it leaves out: deleting handles (a workspace is thrown away with its task run).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from islands.tools.registry import ToolError

__all__ = ["KINDS", "Usage", "Workspace"]

KINDS = {"matrix": "npy", "points": "npy", "tour": "npy", "model": "npy", "stack": "npy", "text": "txt", "cnf": "cnf",
         "smt": "smt2"}
_HANDLE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


@dataclass(frozen=True)
class Usage:
    """One tool call's work: `amount` of `unit` ("flop", "byte", …) done in `seconds`."""

    tool: str
    unit: str
    amount: float
    seconds: float


class Workspace:
    """Handles over files in one folder (created if missing)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.usage: list[Usage] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def path(self, handle: str, kind: str) -> Path:
        """Where `handle` of `kind` lives (it may not exist yet)."""
        if kind not in KINDS:
            raise ToolError(f"unknown data kind {kind!r}")
        if not _HANDLE.fullmatch(handle):
            raise ToolError(f"invalid handle {handle!r}: letters, digits and _ only, starting with a letter")
        return self.root / f"{handle}.{kind}.{KINDS[kind]}"

    def handles(self, kind: str | None = None) -> dict[str, str]:
        """Every stored handle -> its kind (only `kind`'s when given), sorted by name."""
        found: dict[str, str] = {}
        for p in sorted(self.root.iterdir()):
            parts = p.name.split(".")
            if len(parts) == 3 and parts[1] in KINDS and (kind is None or parts[1] == kind):
                found[parts[0]] = parts[1]
        return found

    def find(self, handle: str, kind: str) -> Path:
        """The file of an existing handle; a ToolError that lists the handles there are."""
        handle = handle.strip().strip("'\"")
        p = self.path(handle, kind)
        if not p.is_file():
            there = ", ".join(self.handles(kind)) or "none"
            raise ToolError(f"no {kind} named {handle!r} ({kind} handles: {there})")
        return p

    def array(self, handle: str, kind: str) -> np.ndarray:
        """A stored array, memory-mapped (nothing is read until it is used)."""
        out: np.ndarray = np.load(self.find(handle, kind), mmap_mode="r")
        return out

    def new_handle(self, prefix: str, kind: str) -> str:
        """The first free `{prefix}{i}` (i = 1, 2, …)."""
        with self._lock:
            i = 1
            while self.path(f"{prefix}{i}", kind).exists() or self.path(f"{prefix}{i}", kind).with_suffix(".part").exists():
                i += 1
            self.path(f"{prefix}{i}", kind).with_suffix(".part").touch()  # reserve the name
            return f"{prefix}{i}"

    def save_array(self, handle: str, kind: str, value: np.ndarray) -> str:
        """Write an array under `handle` (all or nothing); returns the handle."""
        target = self.path(handle, kind)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with tmp.open("wb") as f:
                np.save(f, np.ascontiguousarray(value))
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
            target.with_suffix(".part").unlink(missing_ok=True)
        return handle

    def save_text(self, handle: str, kind: str, text: str) -> str:
        target = self.path(handle, kind)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return handle

    def record(self, tool: str, unit: str, amount: float, seconds: float) -> None:
        with self._lock:
            self.usage.append(Usage(tool, unit, amount, seconds))

    def take_usage(self) -> list[Usage]:
        """The calls recorded since the last take (and forget them)."""
        with self._lock:
            out, self.usage = self.usage, []
        return out
