"""The shipped demonstrations: every call in them gives the result written after it, and the
answer copies a result (or says no tool was needed); nearest-demo retrieval."""

from __future__ import annotations

import re

import pytest

from islands.flows.demos import Demo, load_demos, nearest_demos
from islands.tools import Registry
from islands.tools.builtin import with_bindings
from islands.tools.calls import find_call
from islands.tools.track import call_tool

DEMOS = load_demos()


@pytest.mark.parametrize("demo", DEMOS, ids=lambda d: d.question[:40])
def test_every_call_gives_the_result_written(demo: Demo) -> None:
    tools = with_bindings(Registry.default().subset(["CALC", "PY"]), question=demo.question, choices=None)
    text, at, results = demo.solution, 0, []
    while (call := find_call(text, tools.names, at)) is not None:
        assert call.end > 0, f"unclosed call in {text!r}"
        written = re.match(r" => (.*?)(?:\.(?: |$)|,)", text[call.end :])
        assert written is not None, f"no result after {call}"
        got = str(call_tool(tools, call.name, call.args))
        assert got == written.group(1), (call, got)
        results.append(got)
        at = call.end
    answer = demo.solution.rsplit("Answer:", 1)[1].strip()
    assert results == [] or answer in results or not re.match(r"-?\d", answer), "a numeric answer copies a result"


def test_the_nearest_demo_comes_last() -> None:
    got = nearest_demos("What is 13 to the power 7?", None, 3)
    assert len(got) == 3 and "power" in got[-1].question
    assert nearest_demos("anything", [], 3) == [] and nearest_demos("x", None, 0) == []
    own = [Demo("Spell it backwards", "PY(...)"), Demo("What is 2 plus 2?", "CALC(2+2) => 4. Answer: 4")]
    assert nearest_demos("What is 5 plus 7?", own, 1) == [own[1]]
