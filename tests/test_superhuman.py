"""SuperHuman: checkers accept right answers and reject wrong ones, generators repeat by
seed, tools given bad arguments answer ` => error: …`, the runners and the CLI over the mock
engine, and one short run of the embedded model on a tier-1 task."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from islands.cli.app import app
from islands.engine import Engine, MockModel
from islands.superhuman import KIND_NAMES, Workspace, make_suite, make_task, run_benchmark, superhuman_registry
from islands.superhuman.kinds import held_karp, read_dimacs
from islands.superhuman.limits import measure_limits
from islands.superhuman.runners import choose_tool, data_line, followers, oracle_runner, typed_calls
from islands.superhuman.suite import Task
from islands.superhuman.tools import grep_count, tour_length
from islands.tools import IslandRunner
from islands.tools.track import run_tool

# small sizes: every kind in well under a second
SMALL = {"matmul": 64, "grep": 200_000, "sat": 60, "unsat": 4, "tsp": 8, "smt": 5, "proof": 5, "bigint": 30, "route": 6}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    p = ThreadPoolExecutor(2)
    yield p
    p.shutdown()


def _task(ws: Workspace, kind: str, seed: int = 3) -> Task:
    return make_task(ws, kind, 1, seed, size=SMALL[kind])


def _solve(ws: Workspace, task: Task, pool: ThreadPoolExecutor) -> str:
    """The right answer: the task's own solving calls (a composite task's `then` calls on the
    previous result's handle), run as hard islands."""
    output = ""
    for call in (task.spec.call, *task.spec.then):
        name, args = call.format(output.split(" ")[0]).split("(", 1)
        island = run_tool(superhuman_registry(ws), pool, name, args[:-1])
        assert not island.error, island.context
        output = island.output
    return output


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_every_checker_accepts_the_solving_call_and_rejects_nonsense(ws: Workspace, pool: ThreadPoolExecutor, kind: str) -> None:
    task = _task(ws, kind)
    right = _solve(ws, task, pool)
    verdict = task.check(ws, right)
    assert verdict.ok, verdict.why
    for wrong in ("", "42", "C9", "T9", "M9", "UNSAT", "unsat", "sat: x0=1", "error: no such thing"):
        assert not task.check(ws, wrong).ok, (kind, wrong)


def test_matmul_checker_rejects_a_product_with_one_wrong_entry(ws: Workspace, pool: ThreadPoolExecutor) -> None:
    task = _task(ws, "matmul")
    handle = _solve(ws, task, pool).split()[0]
    c = np.array(ws.array(handle, "matrix"))
    c[5, 7] += 1e-3
    ws.save_array("Cbad", "matrix", c)
    assert not task.check(ws, "Cbad (64x64 matrix)").ok
    assert not task.check(ws, task.spec.expected["a"]).ok  # an input is not the product
    assert task.check(ws, handle).ok


def test_grep_checker_wants_the_exact_count_and_the_tool_finds_it(ws: Workspace) -> None:
    task = _task(ws, "grep")
    count = task.spec.expected["count"]
    needle = task.prompt.split('"')[1]
    path = ws.find(f"log{task.seed}x1", "text")
    assert grep_count(str(path), needle) == count == sum(needle in line for line in path.read_text().splitlines())
    assert task.check(ws, str(count)).ok
    assert not task.check(ws, str(count + 1)).ok


def test_sat_checker_rejects_a_model_that_breaks_a_clause(ws: Workspace, pool: ThreadPoolExecutor) -> None:
    task = _task(ws, "sat")
    handle = _solve(ws, task, pool).split()[0]
    values = np.array(ws.array(handle, "model"))
    _, clauses = read_dimacs(ws.find(task.spec.expected["cnf"], "cnf").read_text())
    first = clauses[0]
    for lit in first:  # make every literal of clause 0 false
        values[abs(lit) - 1] = 0 if lit > 0 else 1
    ws.save_array("Mbad", "model", values)
    assert not task.check(ws, "Mbad (model of 60 variables)").ok
    assert not task.check(ws, "UNSAT (cadical195 and glucose4 agree)").ok  # it is satisfiable


def test_unsat_needs_the_solvers_agreement_not_a_guess(ws: Workspace, pool: ThreadPoolExecutor) -> None:
    task = _task(ws, "unsat")
    assert _solve(ws, task, pool) == "UNSAT (cadical195 and glucose4 agree)"
    assert not task.check(ws, "UNSAT").ok
    assert not task.check(ws, "it is UNSAT, I think").ok


def test_tsp_checker_is_exact_for_small_tours(ws: Workspace, pool: ThreadPoolExecutor) -> None:
    task = _task(ws, "tsp")
    handle = _solve(ws, task, pool).split()[0]
    pts = np.asarray(ws.array(task.spec.expected["points"], "points"))
    best = np.asarray(ws.array(handle, "tour"))
    assert tour_length(pts, best) == pytest.approx(held_karp(pts), abs=1e-5)
    worse = min((np.random.default_rng(i).permutation(len(pts)) for i in range(50)), key=lambda t: -tour_length(pts, t))
    ws.save_array("Tbad", "tour", worse)
    assert tour_length(pts, worse) > held_karp(pts) + 1e-3
    assert not task.check(ws, "Tbad").ok
    ws.save_array("Tdup", "tour", np.array([0, 1, 2, 3, 4, 5, 6, 6]))
    assert "exactly once" in task.check(ws, "Tdup").why


def test_tsp_bound_for_larger_tours_is_the_mst_factor(ws: Workspace, pool: ThreadPoolExecutor) -> None:
    task = make_task(ws, "tsp", 2, 5, size=40)
    assert not task.spec.expected["exact"]
    assert task.check(ws, _solve(ws, task, pool)).ok


def test_smt_checker_evaluates_every_assertion(ws: Workspace, pool: ThreadPoolExecutor) -> None:
    task = _task(ws, "smt")
    right = _solve(ws, task, pool)
    assert right.startswith("sat: ")
    assert task.check(ws, right).ok
    assert not task.check(ws, ", ".join(f"x{i}=1000" for i in range(5))).ok  # outside the bounds
    assert not task.check(ws, "unsat (proved by z3)").ok
    proof = _task(ws, "proof")
    assert _solve(ws, proof, pool) == "unsat (proved by z3)"
    assert not proof.check(ws, right).ok


def test_bigint_checker_wants_every_digit(ws: Workspace, pool: ThreadPoolExecutor) -> None:
    task = make_task(ws, "bigint", 2, 3, size=2000)
    right = _solve(ws, task, pool)
    assert task.check(ws, right).ok
    assert not task.check(ws, right[:-1] + str((int(right[-1]) + 1) % 10)).ok


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_generators_repeat_by_seed(tmp_path: Path, kind: str) -> None:
    def files(folder: Path, seed: int) -> tuple[str, dict[str, str]]:
        ws = Workspace(folder)
        task = make_task(ws, kind, 1, seed, size=SMALL[kind])
        return task.prompt, {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}

    a, b, c = files(tmp_path / "a", 11), files(tmp_path / "b", 11), files(tmp_path / "c", 12)
    assert a == b
    assert a != c


@pytest.mark.parametrize(
    ("name", "args", "says"),
    [
        ("MATMUL", "'nope', 'B3x1'", "no matrix named 'nope'"),
        ("MATMUL", "'A3x1'", "missing b"),
        ("MATMUL", "'A3x1', 'W3x1'", "do not multiply"),
        ("GREP", "'log3x1', ''", "non-empty"),
        ("GREP", "'A3x1', 'x'", "no text named 'A3x1'"),
        ("SAT", "'A3x1'", "no cnf named"),
        ("SAT", "'junk3'", "cannot read"),
        ("TSP", "1, 2", "invalid handle '1, 2'"),
        ("TSP", "'few3'", "need 3 to 5000 points"),
        ("SMT", "'bad3'", "cannot read"),
        ("SMT", "'../etc/passwd'", "invalid handle"),
        ("CALC", "1/0", "division by zero"),
        ("VISIT", "'T9', 'loads3x1'", "no tour named 'T9'"),
        ("VISIT", "'short3', 'loads3x1'", "visits 2 stops, the stack holds 6"),
        ("VISIT", "'A3x1', 'A3x1'", "no tour named 'A3x1'"),
    ],
)
def test_bad_arguments_give_an_error_island(ws: Workspace, pool: ThreadPoolExecutor, name: str, args: str, says: str) -> None:
    _task(ws, "matmul")
    _task(ws, "grep")
    ws.save_array("W3x1", "matrix", np.ones((3, 3)))
    ws.save_text("junk3", "cnf", "p cnf x y\n1 2 zero\n")
    ws.save_array("few3", "points", np.zeros((2, 2)))
    ws.save_text("bad3", "smt", "(assert (= x")
    _task(ws, "route")
    ws.save_array("short3", "tour", np.array([0, 1]))
    island = run_tool(superhuman_registry(ws), pool, name, args)
    assert island.error and island.context.startswith("error:")
    assert says in island.context, island.context


def test_a_bad_call_during_decoding_is_spliced_as_an_error_and_the_branch_goes_on(ws: Workspace) -> None:
    _task(ws, "matmul")
    engine = Engine(MockModel(n_ctx=4096))
    runner = IslandRunner(engine, superhuman_registry(ws))
    try:
        out = runner.generate("Call: MATMUL('A3x1', 'nope')", params=None)
    finally:
        runner.close()
    text = out.outputs[0].text
    assert text.startswith(" => error: no matrix named 'nope'")
    assert len(text) > len(" => error: no matrix named 'nope'")  # the model kept writing


def test_the_argument_grammar_names_only_stored_handles_of_the_right_kind(ws: Workspace) -> None:
    _task(ws, "matmul")
    _task(ws, "sat")
    registry = superhuman_registry(ws, only=["A3x1", "B3x1"])
    assert "'A3x1'" in (registry.get("MATMUL").grammar or "") and "cnf3x1" not in (registry.get("MATMUL").grammar or "")
    assert "'cnf3x1'" in (registry.get("SAT").grammar or "")  # the task names none: every cnf there is


def test_typed_calls_and_the_data_line(ws: Workspace) -> None:
    m, g = _task(ws, "matmul"), _task(ws, "grep")
    assert typed_calls(ws, m.prompt) == ["MATMUL", "CALC"]
    assert typed_calls(ws, g.prompt) == ["GREP", "CALC"]
    assert typed_calls(ws, "What is 2^10?") == ["CALC"]
    assert data_line(ws, m.prompt) == "Data: A3x1 is a matrix, B3x1 is a matrix"
    assert data_line(ws, "What is 2^10?") == "Data: none"
    engine = Engine(MockModel(n_ctx=4096))
    assert choose_tool(engine, "Call:", ["MATMUL", "CALC"]) in ("MATMUL", "CALC")
    assert choose_tool(engine, "Call:", ["CALC"]) == "CALC"


def test_the_oracle_solves_small_tasks_over_the_mock_and_the_bare_mock_does_not(ws: Workspace) -> None:
    tasks = [_task(ws, k) for k in KIND_NAMES]
    engine = Engine(MockModel(n_ctx=8192))
    report = run_benchmark(engine, ws, tasks, ["bare", "oracle", "islands"], measure_limits(gemm_n=128, copy_mb=8, file_mb=8))
    assert report["runners"]["oracle"]["solved"] == 1.0
    assert report["runners"]["bare"]["solved"] == 0.0
    rows = {r["kind"]: r for r in report["tasks"]}
    assert rows["matmul"]["oracle"]["limit_fraction"] > 0 and rows["grep"]["oracle"]["limit_fraction"] > 0
    assert rows["sat"]["oracle"]["limit_fraction"] is None
    assert rows["grep"]["data_bytes"] > 100_000
    for row in report["tasks"]:  # the data never enters the context: a few hundred tokens, not the file
        assert row["oracle"]["context_tokens"] < 3000
        chain = [tasks[KIND_NAMES.index(row["kind"])].spec.call, *tasks[KIND_NAMES.index(row["kind"])].spec.then]
        assert [c.split("(")[0] for c in row["oracle"]["calls"]] == [c.split("(")[0] for c in chain]


def test_the_route_checker_wants_the_shortest_trip_and_the_product_in_its_order(ws: Workspace, pool: ThreadPoolExecutor) -> None:
    task = _task(ws, "route")
    right = _solve(ws, task, pool)
    assert task.spec.then and task.check(ws, right).ok, right
    product, tour = right.split(" ")[0], right.rsplit(" ", 1)[1].rstrip(")")
    order = np.asarray(ws.array(tour, "tour"))
    mats = np.asarray(ws.array(task.spec.expected["stack"], "stack"))
    backwards = np.linalg.multi_dot([mats[i] for i in order[::-1]])  # the right stops, the wrong order
    ws.save_array("Pback", "matrix", backwards)
    assert not task.check(ws, f"Pback (matrix along {tour})").ok
    ws.save_array("Tslow", "tour", np.array([0, 2, 1, 3, 5, 4]))  # every stop, not the shortest trip
    slow = run_tool(superhuman_registry(ws), pool, "VISIT", f"'Tslow', '{task.spec.expected['stack']}'").output
    verdict = task.check(ws, slow)
    assert not verdict.ok and "the route" in verdict.why
    assert not task.check(ws, product).ok  # a product without the tour it followed


def test_only_a_tool_that_can_take_what_a_call_made_follows_it(ws: Workspace, pool: ThreadPoolExecutor) -> None:
    tsp, route = _task(ws, "tsp"), _task(ws, "route")
    tour = _solve(ws, tsp, pool).split(" ")[0]
    assert followers(ws, tour, tsp.prompt) == []  # a tour, but the task names no stack to visit
    assert followers(ws, tour, route.prompt) == ["VISIT"]
    assert followers(ws, "nothing", route.prompt) == []


def test_a_chained_call_runs_on_the_handle_the_first_call_made(ws: Workspace) -> None:
    task = _task(ws, "route")
    attempt = oracle_runner(Engine(MockModel(n_ctx=8192)), ws)(task)
    assert [c[0] for c in attempt.calls] == ["TSP", "VISIT"]
    assert attempt.calls[1][1].startswith(f"'{attempt.calls[0][2].split(' ')[0]}'")  # VISIT('T1', …) after TSP made T1
    assert task.check(ws, attempt.answer).ok and " then VISIT(" in attempt.text
    assert {u.tool for u in attempt.usage} == {"TSP", "VISIT"}


def test_limits_are_positive_rates() -> None:
    limits = measure_limits(gemm_n=128, copy_mb=8, file_mb=8)
    assert limits.gflops > 0 and limits.memory_gbs > 0 and limits.read_gbs > 0


def test_make_suite_rejects_unknown_kinds_and_tiers(ws: Workspace) -> None:
    from islands.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown task kind 'fft'"):
        make_suite(ws, [1], ["fft"])
    with pytest.raises(InvalidInput, match="invalid tier 4"):
        make_task(ws, "sat", 4, 1)


def test_cli_list_and_a_mock_run(tmp_path: Path) -> None:
    cli = CliRunner()
    listed = cli.invoke(app, ["superhuman", "list", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.stdout)["kinds"]["matmul"]["sizes"]["3"] == 4096
    done = cli.invoke(app, ["superhuman", "run", "--engine", "mock", "--runners", "oracle", "--kinds", "sat,tsp,proof",
                            "--no-limits", "--json", "--workdir", str(tmp_path / "w")])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["runners"]["oracle"]["solved"] == 1.0 and [r["kind"] for r in report["tasks"]] == ["sat", "tsp", "proof"]
    assert (tmp_path / "w" / "cnf7x1.cnf.cnf").is_file()  # --workdir keeps the data
    bad = cli.invoke(app, ["superhuman", "run", "--tier", "4", "--engine", "mock"])
    assert bad.exit_code == 2 and "invalid --tier '4'" in bad.output


def test_oracle_runner_counts_context_tokens_not_data(ws: Workspace) -> None:
    task = _task(ws, "grep")
    attempt = oracle_runner(Engine(MockModel(n_ctx=8192)), ws)(task)
    assert attempt.answer == str(task.spec.expected["count"])
    assert 0 < attempt.context_tokens < 3000 and attempt.usage and attempt.usage[0].unit == "byte"


@pytest.mark.model
def test_the_embedded_model_solves_a_tier_1_task_with_a_tool(real: Engine, ws: Workspace) -> None:
    from islands.superhuman.runners import islands_runner

    task = make_task(ws, "tsp", 1, 7)
    make_task(ws, "matmul", 1, 7, size=32)  # another kind of data in the workspace: the model must pick
    attempt = islands_runner(real, ws)(task)
    assert attempt.calls and attempt.calls[0][0] == "TSP", attempt.text
    assert task.check(ws, attempt.answer).ok, attempt.answer
    assert attempt.sampled_tokens < 40


def test_the_runners_work_over_an_openai_compatible_server(ws: Workspace) -> None:
    from islands.engine.remote import RemoteEngine
    from islands.server.app import create_app
    from islands.server.background import serve_in_thread
    from islands.server.schemas import Limits

    app = create_app(Engine(MockModel(n_ctx=16384, n_seq_max=16, n_batch=512)), model_name="mock", limits=Limits(max_tokens=8000))
    with serve_in_thread(app) as url:
        remote = RemoteEngine([url], "mock")
        try:
            tasks = [_task(ws, k) for k in ("sat", "tsp", "grep")]
            report = run_benchmark(remote, ws, tasks, ["bare", "oracle", "islands"])
        finally:
            remote.close()
    assert report["runners"]["oracle"]["solved"] == 1.0
    assert report["runners"]["bare"]["solved"] == 0.0
    assert report["runners"]["oracle"]["context_tokens_per_task"] is None  # the remote driver does not count the prompt
    assert all(row["islands"]["calls"] == [] or row["islands"]["calls"][0].split("(")[0] in ("SAT", "TSP", "GREP", "CALC")
               for row in report["tasks"])


def test_calc_gives_every_digit_past_pythons_4300_digit_limit(ws: Workspace, pool: ThreadPoolExecutor) -> None:
    task = make_task(ws, "bigint", 3, 3, size=9000)  # 3^9000 and up: over 4,300 digits
    answer = _solve(ws, task, pool)
    assert len(answer) > 4300 and task.check(ws, answer).ok
    island = run_tool(superhuman_registry(ws), pool, "CALC", task.spec.call[5:-1])
    assert len(island.context) < 80 and island.output == answer  # the context gets a marker, the output every digit


@pytest.mark.model
def test_calc_among_the_superhuman_tools_must_compute(real: Engine) -> None:
    from islands.grammar import Grammar
    from islands.superhuman.tools import WORK_CALC_GRAMMAR

    cases = [("123)", False), ("-5)", False), ("(7))", False), ("pi)", False),
             ("123*4)", True), ("2^10)", True), ("sqrt(16))", True), ("5!)", True), ("(3+4))", True)]
    for text, computes in cases:
        constraint = real.constraint(Grammar.lark(WORK_CALC_GRAMMAR))
        assert (constraint.feed(text) and constraint.done) == computes, text


@pytest.mark.model
def test_over_a_served_model_the_arguments_follow_the_tools_grammar(model_path: Path, ws: Workspace) -> None:
    """The remote island driver asks for an open call's arguments under the tool's grammar:
    the handle comes back quoted and stored (free, the 270M model wrote `TSP(points7x1)`)."""
    from islands.engine.remote import RemoteEngine
    from islands.server.app import create_app
    from islands.server.background import serve_in_thread
    from islands.superhuman.runners import islands_runner

    served = Engine(model_path, n_ctx=4096)
    try:
        with serve_in_thread(create_app(served, model_name="gemma")) as url:
            remote = RemoteEngine([url], "gemma")
            try:
                task = make_task(ws, "tsp", 1, 7)
                attempt = islands_runner(remote, ws)(task)
            finally:
                remote.close()
    finally:
        served.close()
    assert attempt.calls and attempt.calls[0][:2] == ("TSP", "'pts7x1'"), attempt.text
    assert task.check(ws, attempt.answer).ok, attempt.answer
