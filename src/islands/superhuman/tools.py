"""The SuperHuman tools: hard islands that take their data by handle, each a library made
for the job.

    MATMUL('a', 'b')        numpy (BLAS) product of two stored matrices -> 'C1 (256x256 matrix)'
    GREP('file', 'text')    lines of a stored file containing the text (ripgrep; mmap without it) -> '1234'
    SAT('cnf')              CaDiCaL (python-sat); UNSAT is confirmed by Glucose -> 'M1 (model of 200 variables)' | 'UNSAT (…)'
    TSP('points')           OR-Tools: exact (CP-SAT circuit) up to 12 stops, else guided local search
                            -> 'T1 (tour of 200 stops, length 10.3, …)'
    SMT('problem')          z3 on an SMT-LIB 2 file -> 'sat: x0=3, x1=-2' | 'unsat (proved by z3)'
    VISIT('tour', 'stack')  numpy: the stack's matrices multiplied in the tour's order from stop 0, one
                            product per stop -> 'P1 (128x128 matrix, product of 8 stops along T1)'

With CALC (exact big-integer arithmetic, tools/calc.py) these make `superhuman_registry`.
Arguments are grammar-constrained: a quoted handle of the right kind among those stored when
the tools are registered (GREP's text a quoted string); a handle that does not exist, a file
of the wrong kind or a failing library gives ` => error: …`.

What it leaves out: parallel grep over many files, distributed solvers.
"""

from __future__ import annotations

import mmap
import shutil
import subprocess
import sys
import time
from collections.abc import Collection, Sequence

import numpy as np

from islands.superhuman.workspace import Workspace
from islands.tools.calc import calc
from islands.tools.registry import CALC_ALPHABET, CALC_GRAMMAR, Registry, ToolError
from islands.tools.track import Island

__all__ = [
    "EXACT_TSP",
    "LONG_RESULT",
    "SUPERHUMAN_TOOLS",
    "TOOL_KINDS",
    "TOOL_READS",
    "WORK_CALC_GRAMMAR",
    "grep_count",
    "handle_grammar",
    "register_superhuman",
    "superhuman_registry",
    "tour_length",
    "tsp_seconds",
    "visit_order",
]

SUPERHUMAN_TOOLS = ("GREP", "MATMUL", "SAT", "SMT", "TSP", "VISIT")
TOOL_READS = {"MATMUL": ("matrix",), "GREP": ("text",), "SAT": ("cnf",), "TSP": ("points",), "SMT": ("smt",),
              "VISIT": ("tour", "stack")}  # every kind of data each tool reads
# the data a task must name for a tool to be offered: its last kind (VISIT's tour is made by a TSP call)
TOOL_KINDS = {tool: reads[-1] for tool, reads in TOOL_READS.items()}
EXACT_TSP = 12  # up to this many stops TSP is solved exactly
LONG_RESULT = 200  # CALC results longer than this reach the context as a marker
TSP_SCALE = 1_000_000  # coordinates in [0, 1) become integers for OR-Tools
# CALC among the SuperHuman tools must compute something: a lone number (`CALC(123)`, an
# identity whose result is its argument) does not parse; an operation, a function or a `!` must.
WORK_CALC_GRAMMAR = CALC_GRAMMAR.replace('start: sum ")"', (
    'start: work ")"\n'
    'work: product (ADD product)+ | power (MUL power)+ | unary POW unary'
    ' | SIGN* NAME "(" sum ("," sum)* ")" BANG* | SIGN* atom BANG+ | "(" work ")"'
))
_HANDLE = r"/'[A-Za-z][A-Za-z0-9_]{0,31}'/"
_TEXT = r"""/'[^'\\\n]{1,200}'/"""


def handle_grammar(ws: Workspace, kind: str, only: Collection[str] | None = None) -> str:
    """Lark for one quoted handle: one of `kind`'s handles in `ws` now (those in `only`, when
    given and any is there), else any name.

    handle_grammar(ws with matrices A1 and B1, "matrix") -> '("\'A1\'" | "\'B1\'")'
    """
    names = list(ws.handles(kind))
    if only is not None and set(names) & set(only):
        names = [n for n in names if n in only]
    return "(" + " | ".join(f'"\'{n}\'"' for n in names) + ")" if names else _HANDLE


def _name(text: str) -> str:
    return text.strip().strip("'\"").strip()


def tour_length(points: np.ndarray, tour: np.ndarray) -> float:
    """The closed tour's Euclidean length: tour_length(unit square corners, [0, 1, 2, 3]) -> 4.0."""
    p = np.asarray(points, dtype=np.float64)[np.asarray(tour)]
    return float(np.linalg.norm(p - np.roll(p, -1, axis=0), axis=1).sum())


def grep_count(path: str, pattern: str) -> int:
    """Lines of the file that contain `pattern` (a fixed string): ripgrep, else mmap."""
    if not pattern or "\n" in pattern:
        raise ToolError("GREP: the text must be one non-empty line")
    rg = shutil.which("rg")
    if rg is not None:
        done = subprocess.run([rg, "--no-config", "--count", "--fixed-strings", "-e", pattern, "--", path],
                              capture_output=True, text=True, timeout=600)
        if done.returncode == 1:
            return 0
        if done.returncode != 0:
            raise ToolError(f"GREP: ripgrep failed: {done.stderr.strip()[:200]}")
        return int(done.stdout.strip() or 0)
    needle = pattern.encode()
    count = 0
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        at = m.find(needle)
        while at >= 0:
            count += 1
            end = m.find(b"\n", at)
            if end < 0:
                break
            at = m.find(needle, end)
    return count


def _matmul(ws: Workspace, a: str, b: str) -> str:
    x = np.ascontiguousarray(ws.array(_name(a), "matrix"))  # (m, k)
    y = np.ascontiguousarray(ws.array(_name(b), "matrix"))  # (k, n)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[0]:
        raise ToolError(f"MATMUL: shapes {x.shape} and {y.shape} do not multiply")
    t0 = time.perf_counter()
    product = x @ y  # (m, n)
    seconds = time.perf_counter() - t0
    ws.record("MATMUL", "flop", 2.0 * x.shape[0] * x.shape[1] * y.shape[1], seconds)
    handle = ws.save_array(ws.new_handle("C", "matrix"), "matrix", product)
    return f"{handle} ({product.shape[0]}x{product.shape[1]} matrix)"


def _grep(ws: Workspace, file: str, text: str) -> str:
    path = ws.find(_name(file), "text")
    t0 = time.perf_counter()
    count = grep_count(str(path), text)
    ws.record("GREP", "byte", float(path.stat().st_size), time.perf_counter() - t0)
    return str(count)


# One solver run in a child process: python-sat's CaDiCaL ignores interrupts, so a time
# limit must be able to kill it. Prints SAT or UNSAT, then the model's literals.
_SOLVE = """import sys
from pysat.formula import CNF
from pysat.solvers import Solver
with Solver(name=sys.argv[1], bootstrap_with=CNF(from_file=sys.argv[2]).clauses) as s:
    ok = s.solve()
    print("SAT" if ok else "UNSAT")
    print(" ".join(map(str, s.get_model() or [])) if ok else "")
"""


def _solve_cnf(name: str, path: str, seconds: float) -> tuple[bool, list[int]]:
    """(satisfiable, model) by one python-sat solver, killed after `seconds`."""
    try:
        done = subprocess.run([sys.executable, "-c", _SOLVE, name, path], capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        raise ToolError(f"SAT: {name} found no answer within {seconds:g} s") from None
    lines = done.stdout.split("\n")
    if done.returncode != 0 or lines[0] not in ("SAT", "UNSAT"):
        raise ToolError(f"SAT: {name} failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
    return lines[0] == "SAT", [int(x) for x in lines[1].split()] if lines[0] == "SAT" else []


def _sat(ws: Workspace, cnf: str, seconds: float) -> str:
    from pysat.formula import CNF

    path = ws.find(_name(cnf), "cnf")
    try:
        formula = CNF(from_file=str(path))
    except (ValueError, IndexError) as e:
        raise ToolError(f"SAT: cannot read {path.name}: {e}") from None
    t0 = time.perf_counter()
    sat, model = _solve_cnf("cadical195", str(path), seconds)
    if not sat:
        again, _ = _solve_cnf("glucose4", str(path), seconds)  # a second, different solver
        ws.record("SAT", "clause", float(len(formula.clauses)), time.perf_counter() - t0)
        if again:
            raise ToolError("SAT: the solvers disagree (cadical195 UNSAT, glucose4 SAT)")
        return "UNSAT (cadical195 and glucose4 agree)"
    values = np.zeros(formula.nv, dtype=np.int8)  # (n_vars,) 1 = true
    for lit in model:
        if 0 < abs(lit) <= formula.nv:
            values[abs(lit) - 1] = 1 if lit > 0 else 0
    ws.record("SAT", "clause", float(len(formula.clauses)), time.perf_counter() - t0)
    handle = ws.save_array(ws.new_handle("M", "model"), "model", values)
    return f"{handle} (model of {formula.nv} variables)"


def _exact_tour(dist: np.ndarray) -> list[int]:
    """The optimal closed tour by CP-SAT's circuit constraint (small n)."""
    from ortools.sat.python import cp_model

    n = len(dist)
    m = cp_model.CpModel()
    arcs = []
    cost = []
    arc_vars = {}
    for i in range(n):
        for j in range(n):
            if i != j:
                v = m.new_bool_var(f"a{i}_{j}")
                arcs.append((i, j, v))
                arc_vars[i, j] = v
                cost.append(int(dist[i, j]) * v)
    m.add_circuit(arcs)
    m.minimize(sum(cost))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 60.0
    if solver.solve(m) != cp_model.OPTIMAL:
        raise ToolError("TSP: CP-SAT did not prove a tour optimal in 60 s")
    tour, at = [0], 0
    for _ in range(n - 1):
        at = next(j for j in range(n) if j != at and solver.value(arc_vars[at, j]))
        tour.append(at)
    return tour


def _heuristic_tour(dist: np.ndarray, seconds: float) -> list[int]:
    """A short closed tour by OR-Tools routing: cheapest arc, then guided local search."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = len(dist)
    manager = pywrapcp.RoutingIndexManager(n, 1, 0)
    routing = pywrapcp.RoutingModel(manager)
    transit = routing.RegisterTransitMatrix(dist.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(transit)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        raise ToolError("TSP: OR-Tools found no tour")
    tour, index = [], routing.Start(0)
    while not routing.IsEnd(index):
        tour.append(manager.IndexToNode(index))
        index = solution.Value(routing.NextVar(index))
    return tour


def tsp_seconds(n: int) -> float:
    """The search time OR-Tools gets for n stops: 1 s per 100, between 1 and 30."""
    return float(min(30.0, max(1.0, n / 100)))


def _tsp(ws: Workspace, points: str) -> str:
    pts = np.asarray(ws.array(_name(points), "points"), dtype=np.float64)  # (n, 2)
    if pts.ndim != 2 or pts.shape[1] != 2 or not 3 <= len(pts) <= 5000:
        raise ToolError(f"TSP: need 3 to 5000 points of 2 coordinates, got shape {pts.shape}")
    t0 = time.perf_counter()
    dist = np.rint(np.linalg.norm(pts[:, None, :] - pts[None, :, :], axis=2) * TSP_SCALE).astype(np.int64)  # (n, n)
    exact = len(pts) <= EXACT_TSP
    tour = _exact_tour(dist) if exact else _heuristic_tour(dist, tsp_seconds(len(pts)))
    ws.record("TSP", "stop", float(len(pts)), time.perf_counter() - t0)
    handle = ws.save_array(ws.new_handle("T", "tour"), "tour", np.array(tour, dtype=np.int64))
    how = "optimal" if exact else "by guided local search"
    return f"{handle} (tour of {len(tour)} stops, length {tour_length(pts, np.array(tour)):.6f}, {how})"


def visit_order(tour: np.ndarray) -> np.ndarray:
    """A closed tour's stops from stop 0 on, in its direction: [2, 0, 1] -> [0, 1, 2]."""
    start = int(np.flatnonzero(tour == 0)[0])
    return np.roll(tour, -start)


def _visit(ws: Workspace, tour: str, stack: str) -> str:
    name = _name(tour)
    order = np.asarray(ws.array(name, "tour"), dtype=np.int64)  # (n,)
    mats = ws.array(_name(stack), "stack")  # (n, k, k), memory-mapped
    if mats.ndim != 3 or mats.shape[1] != mats.shape[2]:
        raise ToolError(f"VISIT: a stack of square matrices is (n, k, k), got shape {mats.shape}")
    if sorted(order.tolist()) != list(range(len(mats))):
        raise ToolError(f"VISIT: tour {name} visits {len(order)} stops, the stack holds {len(mats)} matrices")
    t0 = time.perf_counter()
    order = visit_order(order)
    product = np.array(mats[order[0]])  # (k, k)
    for stop in order[1:]:
        product = product @ mats[stop]  # the work done at each stop
    k = mats.shape[1]
    ws.record("VISIT", "flop", 2.0 * k**3 * (len(order) - 1), time.perf_counter() - t0)
    handle = ws.save_array(ws.new_handle("P", "matrix"), "matrix", product)
    return f"{handle} ({k}x{k} matrix, product of {len(order)} stops along {name})"


def _smt(ws: Workspace, problem: str, seconds: float) -> str:
    import z3

    path = ws.find(_name(problem), "smt")
    solver = z3.Solver()
    solver.set("timeout", int(seconds * 1000))
    t0 = time.perf_counter()
    try:
        solver.from_file(str(path))
    except z3.Z3Exception as e:
        raise ToolError(f"SMT: cannot read {path.name}: {e}") from None
    verdict = solver.check()
    ws.record("SMT", "assertion", float(len(solver.assertions())), time.perf_counter() - t0)
    if verdict == z3.unsat:
        return "unsat (proved by z3)"
    if verdict != z3.sat:
        raise ToolError(f"SMT: z3 gave no answer within {seconds:g} s ({solver.reason_unknown()})")
    model = solver.model()
    pairs = sorted((d.name(), model[d]) for d in model.decls())
    return "sat: " + ", ".join(f"{k}={v}" for k, v in pairs)


def register_superhuman(
    registry: Registry, ws: Workspace, *, seconds: float = 60.0, only: Collection[str] | None = None, quotes: Sequence[str] = ()
) -> None:
    """Add MATMUL, GREP, SAT, TSP, SMT and VISIT over the handles of `ws` to `registry`;
    `seconds` bounds each solver's search; `only` narrows the argument grammars to these
    handles and `quotes` GREP's text to these strings (what a task names and quotes)."""

    def MATMUL(a: str, b: str) -> str:  # noqa: N802 - the model writes tool names in capitals
        """Multiply two stored matrices (by handle); gives the product's handle."""
        return _matmul(ws, a, b)

    def GREP(file: str, text: str) -> str:  # noqa: N802
        """How many lines of a stored file contain the text."""
        return _grep(ws, file, text)

    def SAT(cnf: str) -> str:  # noqa: N802
        """Solve a stored CNF formula: a model's handle, or UNSAT confirmed by a second solver."""
        return _sat(ws, cnf, seconds)

    def TSP(points: str) -> str:  # noqa: N802
        """A shortest round trip through stored points: the tour's handle and its length."""
        return _tsp(ws, points)

    def SMT(problem: str) -> str:  # noqa: N802
        """Solve stored SMT-LIB constraints with z3: a model, or unsat (a proof that none exists)."""
        return _smt(ws, problem, seconds)

    def VISIT(tour: str, stack: str) -> str:  # noqa: N802
        """Multiply a stack's matrices in a tour's order (from stop 0): the product's handle."""
        return _visit(ws, tour, stack)

    def h(kind: str) -> str:  # the arguments may only name stored data of the right kind
        return handle_grammar(ws, kind, only)

    registry.register(MATMUL, timeout=600.0, grammar=f'start: {h("matrix")} "," " "? {h("matrix")} ")"')
    quoted = [q for q in quotes or [] if "'" not in q and "\\" not in q and '"' not in q and q]
    text = "(" + " | ".join(f'"\'{q}\'"' for q in quoted) + ")" if quoted else _TEXT
    registry.register(GREP, timeout=600.0, grammar=f'start: {h("text")} "," " "? {text} ")"')
    registry.register(SAT, timeout=2 * seconds + 30, grammar=f'start: {h("cnf")} ")"')
    registry.register(TSP, timeout=120.0, grammar=f'start: {h("points")} ")"')
    registry.register(SMT, timeout=seconds + 30, grammar=f'start: {h("smt")} ")"')
    registry.register(VISIT, timeout=600.0, grammar=f'start: {h("tour")} "," " "? {h("stack")} ")"')


def superhuman_registry(
    ws: Workspace, *, seconds: float = 60.0, only: Collection[str] | None = None, quotes: Sequence[str] = ()
) -> Registry:
    """CALC (exact arithmetic) and the SuperHuman tools over `ws`. A CALC result longer than
    `LONG_RESULT` characters goes whole into the output, and into the model's context only
    as a short marker (like COPY): a 50,000-digit power costs the context a few tokens."""
    registry = Registry()

    def CALC(expression: str) -> Island:  # noqa: N802
        """Exact arithmetic: big integers, fractions, decimals, powers, roots, functions."""
        value = calc(expression)
        if len(value) <= LONG_RESULT:
            return Island.both(value)
        return Island(value, f"({len(value)} characters: {value[:12]}…{value[-12:]})")

    registry.register(CALC, alphabet=CALC_ALPHABET, timeout=30.0, grammar=WORK_CALC_GRAMMAR)
    register_superhuman(registry, ws, seconds=seconds, only=only, quotes=quotes)
    return registry
