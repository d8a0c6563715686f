"""CLI faults of the core commands (issue 18): unknown tools list every tool, `--ctx` below
llama.cpp's minimum is refused, and `islands ask` says what backs its answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from islands.cli.ask import how_backed, states_a_number
from islands.engine import Stats
from islands.errors import InvalidInput
from islands.flows import AskResult
from islands.tools import Registry

ISLANDS = str(Path(sys.executable).parent / "islands")
EVERY_TOOL = "CALC, COPY, LOAD, MEMORY, PY, RECALL, SEARCH"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ISLANDS, *args], capture_output=True, text=True, timeout=300)


def one_line_error(p: subprocess.CompletedProcess[str], needle: str) -> None:
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert needle in lines[0], lines[0]


def test_an_unknown_tool_lists_every_tool(islands_home: Path) -> None:
    one_line_error(run("tools", "run", "nosuch", "x"), f"unknown tool 'NOSUCH' (known: {EVERY_TOOL})")
    one_line_error(run("generate", "hi", "--tools", "calc,nosuch"), f"(known: {EVERY_TOOL})")
    one_line_error(run("ask", "What is 2+2?", "--tools", "nosuch"), f"(known: {EVERY_TOOL})")


def test_a_known_tool_that_is_not_set_up_says_what_it_needs() -> None:
    registry = Registry.default()
    assert registry.names == ["CALC", "PY"]
    assert registry.known() == ["CALC", "COPY", "LOAD", "PY", "SEARCH"]
    with pytest.raises(InvalidInput, match=r"^tool SEARCH needs a corpus \(--corpus DIR\)$"):
        registry.subset(["calc", "search"])
    with pytest.raises(InvalidInput, match=r"known: CALC, COPY, LOAD, SEARCH\)$"):
        registry.subset(["CALC"]).get("nosuch")  # a subset still knows the tools that need setting up


@pytest.mark.model
def test_a_context_below_256_is_refused(model_path: Path) -> None:
    one_line_error(run("generate", "hi", "--ctx", "100", "--model", str(model_path)),
                   "invalid context size 100 (--ctx): llama.cpp needs at least 256 tokens")


def _result(question: str, answer: str | None, *, verified: bool = False, computed: bool = True, margin: float = 2.0,
            method: str = "vote") -> AskResult:
    return AskResult(question, answer, verified, computed, margin, method, [], {}, Stats())


def test_ask_says_what_backs_the_answer() -> None:
    q = "What is 3 to the power 40?"
    assert how_backed(_result(q, "12157665459056928801", verified=True)) == "verified: two different programs agree; vote margin 2"
    assert how_backed(_result(q, "12157665459056928801", margin=1.5)) == "computed by one program; vote margin 1.5"
    tie = how_backed(_result(q, "7", margin=0.0))
    assert tie == "computed by one program; uncertain: another answer is as strong"
    free = how_backed(_result(q, "7", computed=False))
    assert free == "written by the model; no program computed it; vote margin 2; uncertain"
    loglik = how_backed(_result(q, "blue", computed=False, margin=0.734, method="choice-loglik"))
    assert loglik == "the likeliest option by the model (margin 0.73 nats); no program computed it; uncertain"
    assert how_backed(_result(q, None, computed=False, method="none")) == "no candidate answered"


def test_ask_warns_when_a_question_without_numbers_gets_a_number() -> None:
    warning = "the question gives no number, yet the answer is one"
    assert warning in how_backed(_result("What is the capital of France?", "42"))
    assert warning in how_backed(_result("Who wrote Hamlet?", "$ 1,600"))
    assert warning not in how_backed(_result("What is the capital of France?", "Paris"))
    assert warning not in how_backed(_result("What is 6 times 7?", "42"))
    assert warning not in how_backed(_result("What is six times seven?", "42"))  # numbers in words count
    assert warning not in how_backed(_result("Which is larger?", "3", method="choice-computed"))  # options give them
    assert states_a_number("Add 2 and 2") and states_a_number("a dozen eggs") and not states_a_number("Who is she?")


def test_one_shot_commands_spin_only_on_an_idle_machine() -> None:
    from islands.cli import spin_policy

    assert spin_policy(["islands", "ask", "What is 2+2?"], load=0.3, cores=2) == "ACTIVE"
    assert spin_policy(["islands", "--version"], load=0.3, cores=2) is None
    assert spin_policy(["islands", "ask", "q"], load=1.8, cores=2) is None  # busy: passive waiting
    assert spin_policy(["islands", "serve"], load=0.0, cores=2) is None  # a server beside its clients
    assert spin_policy(["islands", "bench", "tasks"], load=0.0, cores=2) is None
