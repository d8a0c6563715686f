"""Hard islands: CALC, the call parser, tool registration, and splicing results into
branches while they decode (mock engine; the real model is in test_tools_real.py)."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from islands import SamplingParams
from islands.engine import Engine, MockModel
from islands.tools import CalcError, IslandRunner, Registry, ToolError, calc
from islands.tools.calls import find_call


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("2^100", "1267650600228229401496703205376"),
        ("123456789 * 987654321", "121932631112635269"),
        ("0.1 + 0.2", "0.3"),
        ("1/3 + 1/6", "0.5"),
        ("1/3", "1/3 = 0.33333333333333333333333333333333333333333333333333..."),
        ("-3^2", "-9"),
        ("2^-2", "0.25"),
        ("(8/27)^(1/3)", "2/3 = 0.66666666666666666666666666666666666666666666666667..."),
        ("10!", "3628800"),
        ("sqrt(144)", "12"),
        ("root(1024, 10)", "2"),
        ("gcd(12, 18) + lcm(4, 6)", "18"),
        ("7 // 2 + 7 % 3", "4"),
        ("comb(50, 25)", "126410606437752"),
        ("1e3 * 2", "2000"),
    ],
)
def test_calc_is_exact(expr: str, want: str) -> None:
    assert calc(expr) == want


def test_calc_irrational_to_precision() -> None:
    assert calc("sqrt(2)", 20) == "1.4142135623730950488"
    assert calc("pi", 30) == "3.14159265358979323846264338328"
    assert calc("ln(e)", 20) == "1"


@pytest.mark.parametrize(
    ("expr", "why"),
    [("1/0", "division by zero"), ("9^9^9^9", "too large"), ("sqrt(-1)", "not real"), ("foo(1)", "unknown"),
     ("(1+2", "ends early"), ("", "empty"), ("2 3", "unexpected"), ("5000000!", "too large"), ("2 $ 3", "unexpected")],
)
def test_calc_errors_are_clear(expr: str, why: str) -> None:
    with pytest.raises(CalcError, match=why):
        calc(expr)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-*/^().!, eEsqrtpilnabc", max_size=40))
def test_calc_never_crashes(expr: str) -> None:
    try:
        calc(expr)
    except CalcError:
        pass


def test_find_call() -> None:
    assert find_call("x CALC(2*(3+4)) y", ["CALC"]) == find_call("x CALC(2*(3+4)) y", ["CALC"])
    call = find_call("x CALC(2*(3+4)) y", ["CALC"])
    assert call is not None and (call.name, call.args, call.start, call.end) == ("CALC", "2*(3+4)", 2, 15)
    assert find_call("NOPE(1) CALC(1", ["CALC"]) is not None and find_call("NOPE(1) CALC(1", ["CALC"]).end == -1  # type: ignore[union-attr]
    quoted = find_call("SEARCH('a (b')", ["SEARCH"])
    assert quoted is not None and quoted.args == "'a (b'"
    assert find_call("xCALC(1)", ["CALC"]) is None  # not at a word boundary


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_find_call_never_crashes(text: str) -> None:
    call = find_call("CALC(" + text, ["CALC"])
    assert call is not None and call.start == 0
    if call.end > 0:
        assert ("CALC(" + text)[call.end - 1] == ")"


def test_typed_tools_parse_and_check() -> None:
    reg = Registry()

    @reg.register(name="ADD")
    def add(a: int, b: int = 1) -> int:
        "a + b"
        return a + b

    tool = reg.get("add")
    assert tool.parse_args("2, 3") == [2, 3] and tool.parse_args("5") == [5]
    assert tool.parse_args("2, b=3") == [2, 3] and tool.parse_args("b=4, a=1") == [1, 4]  # keyword forms
    assert set(tool.alphabet) <= set("0123456789+- _,)=ab")  # values, and the names for keyword forms
    for bad in ("'x', 1", "1, 2, 3", "__import__('os')", "", "b=2", "1, c=2", "1, b=__import__('os')", "1, **{}"):
        with pytest.raises(ToolError):
            tool.parse_args(bad)
    assert "CALC" in Registry.default()


def _runner(engine: Engine, **tools: object) -> IslandRunner:
    reg = Registry()
    for name, fn in tools.items():
        reg.register(fn, name=name, alphabet="0123456789", timeout=getattr(fn, "timeout", 5.0))  # type: ignore[arg-type]
    return IslandRunner(engine, reg)


def test_prompt_ending_in_a_call_runs_it(engine: Engine) -> None:
    runner = IslandRunner(engine, Registry.default())
    g = runner.generate("the answer is CALC(6*7)", params=SamplingParams(max_tokens=5, seed=1))
    out = g.outputs[0]
    assert out.text.startswith(" => 42")
    assert out.spans[0].kind == "hard" and out.spans[0].result == "42"
    assert g.injected_tokens == len(" => 42")  # the mock's tokens are bytes
    n_prompt = len(engine.tokenize("the answer is CALC(6*7)"))
    assert g.stats.prefill_tokens == n_prompt + g.injected_tokens


def test_call_mid_generation_is_spliced(engine: Engine, mock: MockModel) -> None:
    def DOUBLE(x: int) -> int:  # noqa: N802
        return 2 * x

    runner = _runner(engine, DOUBLE=DOUBLE)
    g = runner.generate("sea DOUBLE(", params=SamplingParams(max_tokens=40, temperature=1.0, seed=2, ignore_eos=True))
    out = g.outputs[0]
    assert out.calls >= 1
    hard = [s for s in out.spans if s.kind == "hard"]
    first = hard[0]
    assert first.tool == "DOUBLE" and first.args is not None and first.args.isdigit()
    assert first.result == str(2 * int(first.args))
    assert out.text[first.start : first.end] == f" => {first.result}"
    assert out.text.startswith(first.args + ")")  # only the alphabet, then the close
    n_prompt = len(engine.tokenize("sea DOUBLE("))
    assert g.stats.prefill_tokens == n_prompt + g.injected_tokens  # nothing before a call re-decoded
    assert g.stats.sampled_tokens == 40


def test_other_branches_decode_while_a_tool_runs(engine: Engine) -> None:
    lock = threading.Lock()
    progress = {"chars": 0}
    first = {"waited": False, "saw": 0}

    def SLOW(x: int) -> int:  # noqa: N802
        with lock:
            if first["waited"]:
                return x  # only the first call blocks
            first["waited"] = True
            before = progress["chars"]
        deadline = time.monotonic() + 10
        while progress["chars"] < before + 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        first["saw"] = progress["chars"] - before
        return x

    runner = _runner(engine, SLOW=SLOW)

    def on_text(i: int, text: str) -> None:
        progress["chars"] += len(text)

    g = runner.generate("x SLOW(", n=3, params=SamplingParams(max_tokens=30, temperature=1.0, seed=4, ignore_eos=True), on_text=on_text)
    assert first["waited"]
    assert first["saw"] >= 10, "no branch decoded while the first tool call ran"
    assert all(o.calls >= 1 for o in g.outputs)
    assert all(s.result != "error: timed out after 5 s" for o in g.outputs for s in o.spans)


def test_failing_and_hanging_tools_inject_errors(engine: Engine) -> None:
    def BOOM(x: int) -> int:  # noqa: N802
        raise RuntimeError("kaput")

    def HANG(x: int) -> int:  # noqa: N802
        time.sleep(3)
        return x

    HANG.timeout = 0.2  # type: ignore[attr-defined]
    runner = _runner(engine, BOOM=BOOM, HANG=HANG)
    g = runner.generate("a BOOM(1)", params=SamplingParams(max_tokens=4, seed=1))
    assert g.outputs[0].text.startswith(" => error: RuntimeError: kaput")
    t0 = time.monotonic()
    g = runner.generate("a HANG(", params=SamplingParams(max_tokens=20, seed=1, ignore_eos=True))
    hard = [s for s in g.outputs[0].spans if s.kind == "hard"]
    assert hard and hard[0].result == "error: timed out after 0.2 s" and hard[0].error
    assert time.monotonic() - t0 < 3  # the engine did not wait for the hung tool
    assert len(g.outputs[0].text) > len(hard[0].result or "")


def test_calc_floor_division_mixes_exact_and_approximate() -> None:
    assert calc("sqrt(2)//1") == "1"  # was a TypeError: Decimal / Fraction
    assert calc("10//sqrt(2)") == "7"
    assert calc("pi//1") == "3"
    assert calc("7//2") == "3"
