"""Each example runs with one command on the embedded model (small settings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

EXAMPLES = Path(__file__).parent.parent / "examples"


def run(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=600)


def test_numbers_puzzle(islands_home: Path) -> None:
    p = run("numbers_puzzle.py", "1", "7", "9", "11", "--judge", "oracle", "--tries", "4")
    assert p.returncode == 0, p.stderr
    steps = p.stdout.strip().splitlines()
    assert len(steps) == 3 and steps[-1].endswith("left: 24")
    assert run("numbers_puzzle.py", "1", "1", "1", "1").returncode == 2  # unsolvable: refused


def test_rhyming_poem(islands_home: Path) -> None:
    p = run("rhyming_poem.py", "the sea at night", "--scheme", "ABAB")
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.strip().splitlines()) == 4


def test_prompt_optimizer(islands_home: Path) -> None:
    p = run("prompt_optimizer.py", "--iterations", "1")
    assert p.returncode == 0, p.stderr
    assert "best:" in p.stdout and "accuracy" in p.stdout


def test_self_consistency(islands_home: Path) -> None:
    p = run("self_consistency.py", "--n", "3", "--problems", "2")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1].endswith("/2 right")
