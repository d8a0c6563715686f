"""The `islands` command line. Entry point: `islands.cli.app:main`.

Importing the package picks llama.cpp's thread waiting for the command about to run, before
llama.cpp loads (engine/llama.py sets passive waiting otherwise): a one-shot command (`ask`,
`solve`, `generate`) on a machine whose cores are idle lets OpenMP's threads spin, about 20%
faster decoding; servers, benchmarks, tests and a busy machine keep passive waiting, which is
4-7x faster when more threads than cores are busy. `OMP_WAIT_POLICY` set by the user wins.
"""

from __future__ import annotations

import os
import sys

ONE_SHOT = frozenset({"ask", "solve", "generate"})


def spin_policy(argv: list[str], load: float, cores: int) -> str | None:
    """"ACTIVE" for a one-shot command on an idle machine, else None (keep the default)."""
    command = next((a for a in argv[1:] if not a.startswith("-")), None)
    if command in ONE_SHOT and load < cores - 0.5:
        return "ACTIVE"
    return None


if os.path.basename(sys.argv[0] if sys.argv else "") == "islands" and "OMP_WAIT_POLICY" not in os.environ:
    _policy = spin_policy(sys.argv, os.getloadavg()[0], os.cpu_count() or 1)
    if _policy is not None:
        os.environ["OMP_WAIT_POLICY"] = _policy
