"""The task kinds: for each, a generator (seeded: the same seed writes the same bytes) and a
checker that decides an answer without trusting whoever gave it.

    kind     data (by handle)          the checker
    matmul   two n×n matrices          Freivalds: C·r == A·(B·r) for random r (no recomputing)
    grep     a text file of log lines  the count of lines with the planted text, known by construction
    sat      planted 3-SAT CNF         every clause holds under the model
    unsat    pigeonhole CNF (h+1 → h)  UNSAT, with two solvers agreeing (unsatisfiable by construction)
    tsp      points in the unit square exact optimum (Held-Karp) up to 12 stops, else ≤ 1.25 × MST
    smt      integer constraints       the model satisfies every assertion (z3 evaluates them)
    proof    the same, with a parity contradiction: "unsat (proved by z3)"
    bigint   a product or a power      the exact integer
    route    sites + a matrix per site  composite: the tour the answer names is a shortest round trip
                                       (exact up to 12 stops, else ≤ 1.25 × MST) and the product is the
                                       sites' matrices in that tour's order (Freivalds along the chain)

An answer is the text a runner hands over: for islands, the last tool result (`M1 (model of
…)`, `1234`, `sat: x0=3, …`); for the bare model, its first line.

What it leaves out: DRAT proof checking for UNSAT (two solvers stand in for it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from islands.errors import InvalidInput
from islands.superhuman.tools import EXACT_TSP, tour_length, visit_order
from islands.superhuman.workspace import Workspace
from islands.tools.calc import int_text

__all__ = ["KIND_NAMES", "SIZES", "Spec", "Verdict", "check_answer", "held_karp", "make_spec", "mst_length", "read_dimacs",
           "route_side"]

# per kind and tier: the size that kind grows by
SIZES: dict[str, dict[int, int]] = {
    "matmul": {1: 256, 2: 1024, 3: 4096},  # n
    "grep": {1: 50_000_000, 2: 500_000_000, 3: 4_000_000_000},  # bytes
    "sat": {1: 200, 2: 2_000, 3: 5_000},  # variables (4 clauses each; 20,000 is beyond CaDiCaL in minutes)
    "unsat": {1: 6, 2: 8, 3: 10},  # holes
    "tsp": {1: 10, 2: 200, 3: 2_000},  # stops
    "smt": {1: 6, 2: 30, 3: 100},  # variables
    "proof": {1: 6, 2: 30, 3: 100},
    "bigint": {1: 40, 2: 3_000, 3: 60_000},  # digits of a factor / the exponent
    "route": {1: 8, 2: 12, 3: 200},  # stops (each with a matrix; see ROUTE_SIDE)
}
KIND_NAMES = tuple(SIZES)
MST_FACTOR = 1.25  # a random uniform tour's optimum is about 1.1-1.15 × its MST


@dataclass(frozen=True)
class Spec:
    """What a generator made: the prompt (handles, never data), the tool that solves it, and
    what the checker needs."""

    prompt: str
    call: str  # the call that solves it: `MATMUL('A7', 'B7')` (what the oracle runner writes)
    expected: dict[str, Any]
    size: int
    then: tuple[str, ...] = ()  # composite tasks: the calls after `call`, `{}` = the previous result's handle

    @property
    def tool(self) -> str:
        return self.call.split("(")[0]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    why: str


def _first_word(answer: str) -> str:
    m = re.match(r"\s*'?([A-Za-z][A-Za-z0-9_]*)", answer)
    return m.group(1) if m else ""


# ---- matmul ---------------------------------------------------------------------------------

def _gen_matmul(ws: Workspace, rng: np.random.Generator, n: int, tag: str) -> Spec:
    a, b = f"A{tag}", f"B{tag}"
    ws.save_array(a, "matrix", rng.standard_normal((n, n)))
    ws.save_array(b, "matrix", rng.standard_normal((n, n)))
    return Spec(f"Multiply matrix {a} by matrix {b} ({n}x{n} each) and give the product.", f"MATMUL('{a}', '{b}')", {"a": a, "b": b}, n)


def _check_matmul(ws: Workspace, spec: Spec, answer: str) -> Verdict:
    handle = _first_word(answer)
    if handle not in ws.handles("matrix") or handle in (spec.expected["a"], spec.expected["b"]):
        return Verdict(False, f"no product matrix named in {answer[:60]!r}")
    a, b, c = (np.asarray(ws.array(h, "matrix")) for h in (spec.expected["a"], spec.expected["b"], handle))
    if c.shape != (a.shape[0], b.shape[1]):
        return Verdict(False, f"product has shape {c.shape}, not {(a.shape[0], b.shape[1])}")
    r = np.random.default_rng(12345).standard_normal((b.shape[1], 2))  # (n, 2) the random projection
    want = a @ (b @ r)
    err = float(np.max(np.abs(c @ r - want)))
    ok = err <= 1e-9 * max(1.0, float(np.max(np.abs(want))))
    return Verdict(ok, f"Freivalds: max |C·r - A·(B·r)| = {err:.3g}")


# ---- grep -----------------------------------------------------------------------------------

_WORDS = ("disk net cache user queue shard retry write read open close sync flush alpha beta gamma delta "
          "node page block commit merge index token batch worker timer lease socket frame").split()


def _gen_grep(ws: Workspace, rng: np.random.Generator, size: int, tag: str) -> Spec:
    needle = "ERR-" + "".join(rng.choice(list("0123456789abcdef"), 6))
    decoys = ["ERR-" + "".join(rng.choice(list("0123456789abcdef"), 6)) for _ in range(3)]
    decoys = [d for d in decoys if d != needle]
    pool = np.array([(f"2026-12-{rng.integers(1, 29):02d} {rng.integers(0, 24):02d}:{rng.integers(0, 60):02d} "
                      + " ".join(rng.choice(_WORDS, rng.integers(4, 12)))).encode() for _ in range(4096)], dtype=object)
    n_lines = max(1, int(size / (np.mean([len(p) for p in pool]) + 1)))
    planted = int(rng.integers(50, 500))
    spots = rng.choice(n_lines, size=min(n_lines, planted + 3 * planted), replace=False)
    hits, near = set(spots[:planted].tolist()), spots[planted:].tolist()
    marks: dict[int, bytes] = {}
    for i in sorted(hits):
        marks[i] = f"worker {rng.integers(0, 99)} failed {needle} " .encode() + pool[rng.integers(0, 4096)]
    for i in near:
        marks[i] = f"worker {rng.integers(0, 99)} failed {decoys[i % len(decoys)]} ".encode() + pool[rng.integers(0, 4096)]
    path = ws.path(f"log{tag}", "text")
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        for start in range(0, n_lines, 200_000):
            stop = min(n_lines, start + 200_000)
            lines = pool[rng.integers(0, 4096, stop - start)]
            for i in [i for i in marks if start <= i < stop]:
                lines[i - start] = marks[i]
            f.write(b"\n".join(lines) + b"\n")
    tmp.replace(path)
    prompt = f'How many lines of file log{tag} contain "{needle}"?'
    return Spec(prompt, f"GREP('log{tag}', '{needle}')", {"count": len(hits)}, size)


def _check_grep(ws: Workspace, spec: Spec, answer: str) -> Verdict:
    m = re.search(r"-?\d+", answer)
    if m is None:
        return Verdict(False, "no count in the answer")
    got, want = int(m.group()), spec.expected["count"]
    return Verdict(got == want, f"count {got}, planted {want}")


# ---- sat and unsat --------------------------------------------------------------------------

def _write_dimacs(ws: Workspace, handle: str, n_vars: int, clauses: list[list[int]]) -> None:
    body = "".join(" ".join(map(str, c)) + " 0\n" for c in clauses)
    ws.save_text(handle, "cnf", f"p cnf {n_vars} {len(clauses)}\n{body}")


def read_dimacs(text: str) -> tuple[int, list[list[int]]]:
    """(variables, clauses) of DIMACS text: "p cnf 2 1\\n1 -2 0\\n" -> (2, [[1, -2]])."""
    n_vars = 0
    clauses: list[list[int]] = []
    current: list[int] = []
    for line in text.splitlines():
        if line.startswith("p"):
            n_vars = int(line.split()[2])
        elif line and not line.startswith("c"):
            for lit in map(int, line.split()):
                if lit == 0:
                    clauses.append(current)
                    current = []
                else:
                    current.append(lit)
    return n_vars, clauses


def _gen_sat(ws: Workspace, rng: np.random.Generator, n: int, tag: str) -> Spec:
    hidden = rng.integers(0, 2, n)  # the planted assignment: (n,) 0/1
    m = 4 * n
    var = np.array([rng.choice(n, 3, replace=False) for _ in range(m)])  # (m, 3)
    sign = rng.integers(0, 2, (m, 3))  # 1: positive literal
    dead = ~np.any(sign == hidden[var], axis=1)  # clauses the planted assignment breaks
    flip = rng.integers(0, 3, m)
    sign[dead, flip[dead]] ^= 1
    lits = np.where(sign == 1, var + 1, -(var + 1))
    _write_dimacs(ws, f"cnf{tag}", n, lits.tolist())
    prompt = f"Is the CNF formula cnf{tag} ({n} variables, {m} clauses) satisfiable? Give a model, or show it is UNSAT."
    return Spec(prompt, f"SAT('cnf{tag}')", {"status": "SAT", "cnf": f"cnf{tag}"}, n)


def _gen_unsat(ws: Workspace, rng: np.random.Generator, holes: int, tag: str) -> Spec:
    pigeons = holes + 1
    names = rng.permutation(pigeons * holes) + 1  # hide the structure behind shuffled names

    def v(i: int, j: int) -> int:  # pigeon i sits in hole j
        return int(names[i * holes + j])

    clauses = [[v(i, j) for j in range(holes)] for i in range(pigeons)]
    clauses += [[-v(i, j), -v(k, j)] for j in range(holes) for i, k in combinations(range(pigeons), 2)]
    order = rng.permutation(len(clauses))
    _write_dimacs(ws, f"formula{tag}", pigeons * holes, [clauses[i] for i in order])
    prompt = (f"Is the CNF formula formula{tag} ({pigeons * holes} variables, {len(clauses)} clauses) satisfiable? "
              "Give a model, or show it is UNSAT.")
    return Spec(prompt, f"SAT('formula{tag}')", {"status": "UNSAT", "cnf": f"formula{tag}"}, holes)


def _check_sat(ws: Workspace, spec: Spec, answer: str) -> Verdict:
    if spec.expected["status"] == "UNSAT":
        ok = re.search(r"\bUNSAT\b.*\bagree\b", answer) is not None
        return Verdict(ok, "UNSAT with two solvers agreeing" if ok else f"not a confirmed UNSAT: {answer[:60]!r}")
    handle = _first_word(answer)
    if handle not in ws.handles("model"):
        return Verdict(False, f"no model named in {answer[:60]!r}")
    values = np.asarray(ws.array(handle, "model"))
    n_vars, clauses = read_dimacs(ws.find(spec.expected["cnf"], "cnf").read_text())
    if values.shape != (n_vars,):
        return Verdict(False, f"model has {values.size} values for {n_vars} variables")
    lits = np.array(clauses)  # (m, 3)
    holds = np.where(lits > 0, values[np.abs(lits) - 1] == 1, values[np.abs(lits) - 1] == 0).any(axis=1)
    broken = int((~holds).sum())
    return Verdict(broken == 0, f"{broken} of {len(clauses)} clauses broken")


# ---- tsp ------------------------------------------------------------------------------------

def held_karp(points: np.ndarray) -> float:
    """The optimal closed tour's length by dynamic programming over subsets (n ≤ 15)."""
    n = len(points)
    d = np.linalg.norm(points[:, None] - points[None], axis=2)  # (n, n)
    full = 1 << (n - 1)  # subsets of stops 1..n-1
    best = np.full((full, n), np.inf)  # best[S, j]: from 0 through S, ending at j ∈ S
    for j in range(1, n):
        best[1 << (j - 1), j] = d[0, j]
    for s in range(1, full):
        for j in range(1, n):
            if not s & (1 << (j - 1)) or best[s, j] == np.inf:
                continue
            for k in range(1, n):
                if not s & (1 << (k - 1)):
                    t = s | (1 << (k - 1))
                    best[t, k] = min(best[t, k], best[s, j] + d[j, k])
    return float(np.min(best[full - 1, 1:] + d[1:, 0]))


def mst_length(points: np.ndarray) -> float:
    """The Euclidean minimum spanning tree's length (a tour is never shorter)."""
    from scipy.sparse.csgraph import minimum_spanning_tree

    d = np.linalg.norm(points[:, None] - points[None], axis=2)
    return float(minimum_spanning_tree(d).sum())


def _gen_tsp(ws: Workspace, rng: np.random.Generator, n: int, tag: str) -> Spec:
    pts = rng.random((n, 2))
    ws.save_array(f"pts{tag}", "points", pts)
    bound = held_karp(pts) if n <= EXACT_TSP else MST_FACTOR * mst_length(pts)
    prompt = f"Find the shortest round trip through the {n} points pts{tag}."
    return Spec(prompt, f"TSP('pts{tag}')", {"points": f"pts{tag}", "bound": bound, "exact": n <= EXACT_TSP}, n)


def _check_tsp(ws: Workspace, spec: Spec, answer: str) -> Verdict:
    handle = _first_word(answer)
    if handle not in ws.handles("tour"):
        return Verdict(False, f"no tour named in {answer[:60]!r}")
    pts = np.asarray(ws.array(spec.expected["points"], "points"))
    tour = np.asarray(ws.array(handle, "tour"))
    if sorted(tour.tolist()) != list(range(len(pts))):
        return Verdict(False, "the tour does not visit every point exactly once")
    length, bound = tour_length(pts, tour), spec.expected["bound"]
    what = "the optimum" if spec.expected["exact"] else f"{MST_FACTOR} × MST"
    return Verdict(length <= bound + 1e-5, f"length {length:.6f} vs {what} {bound:.6f}")


# ---- smt and proof --------------------------------------------------------------------------

def _term(coef: int, name: str) -> str:
    return name if coef == 1 else f"(* {coef if coef >= 0 else f'(- {-coef})'} {name})"


def _int(value: int) -> str:
    return str(value) if value >= 0 else f"(- {-value})"


def _gen_smt(ws: Workspace, rng: np.random.Generator, n: int, tag: str, contradiction: bool) -> Spec:
    name = f"eqs{tag}" if contradiction else f"smt{tag}"  # distinct handles: both kinds share a seed
    xs = [f"x{i}" for i in range(n)]
    hidden = rng.integers(-50, 51, n)
    lines = [f"(declare-const {x} Int)" for x in xs]
    lines += [f"(assert (and (<= (- 100) {x}) (<= {x} 100)))" for x in xs]
    for _ in range(n + 2):
        idx = rng.choice(n, 3, replace=False)
        coef = [int(c) or 1 for c in rng.integers(-9, 10, 3)]
        value = int(sum(c * hidden[i] for c, i in zip(coef, idx)))
        op, rhs = ("=", value) if rng.random() < 0.3 else ("<=", value + int(rng.integers(0, 5)))
        lines.append(f"(assert ({op} (+ {' '.join(_term(c, xs[i]) for c, i in zip(coef, idx))}) {_int(rhs)}))")
    for _ in range(max(1, n // 5)):
        i, j = rng.choice(n, 2, replace=False)
        lines.append(f"(assert (= (* {xs[i]} {xs[j]}) {_int(int(hidden[i] * hidden[j]))}))")
    if contradiction:  # 2a + 4b = 2c + 1 has no integer solution: even = odd
        i, j, k = rng.choice(n, 3, replace=False)
        lines.append(f"(assert (= (+ (* 2 {xs[i]}) (* 4 {xs[j]})) (+ (* 2 {xs[k]}) 1)))")
    ws.save_text(name, "smt", "\n".join(lines) + "\n")
    if contradiction:
        prompt = f"Prove that the integer constraints {name} have no solution, or find one."
    else:
        prompt = f"Find integers that satisfy every constraint in {name} ({n} variables)."
    status = "unsat" if contradiction else "sat"
    return Spec(prompt, f"SMT('{name}')", {"status": status, "smt": name}, n)


def _check_smt(ws: Workspace, spec: Spec, answer: str) -> Verdict:
    if spec.expected["status"] == "unsat":
        ok = re.search(r"\bunsat\b.*\bproved\b", answer) is not None
        return Verdict(ok, "unsat, proved" if ok else f"no proof of unsat: {answer[:60]!r}")
    import z3

    values = {k: int(v) for k, v in re.findall(r"\b(x\d+)\s*=\s*(-?\d+)", answer)}
    assertions = z3.parse_smt2_file(str(ws.find(spec.expected["smt"], "smt")))
    names = {str(c) for a in assertions for c in _consts(a)}
    if not names <= set(values):
        return Verdict(False, f"no value for {sorted(names - set(values))[:3]}")
    subst = [(z3.Int(k), z3.IntVal(v)) for k, v in values.items() if k in names]
    broken = sum(1 for a in assertions if not z3.is_true(z3.simplify(z3.substitute(a, *subst))))
    return Verdict(broken == 0, f"{broken} of {len(assertions)} assertions broken")


def _consts(expr: Any) -> list[Any]:
    import z3

    if z3.is_const(expr) and expr.decl().kind() == z3.Z3_OP_UNINTERPRETED:
        return [expr]
    return [c for child in expr.children() for c in _consts(child)]


# ---- bigint ---------------------------------------------------------------------------------

def _gen_bigint(ws: Workspace, rng: np.random.Generator, size: int, tag: str) -> Spec:
    if size <= 100:  # a product of two size-digit numbers
        a, b = (int("".join(map(str, [rng.integers(1, 10), *rng.integers(0, 10, size - 1)]))) for _ in range(2))
        return Spec(f"What is {a} * {b} exactly?", f"CALC({a}*{b})", {"value": str(a * b)}, size)
    base, exp = int(rng.integers(3, 10)), size + int(rng.integers(0, 100))
    return Spec(f"What is {base}^{exp} exactly? Give every digit.", f"CALC({base}^{exp})", {"value": int_text(base**exp)}, size)


def _check_bigint(ws: Workspace, spec: Spec, answer: str) -> Verdict:
    runs = re.findall(r"\d+", answer.replace(",", ""))
    got = max(runs, key=len) if runs else ""
    want = spec.expected["value"]
    return Verdict(got == want, f"{len(got)} digits, {'equal' if got == want else 'not equal'} to the {len(want)}-digit value")


# ---- route (composite) ----------------------------------------------------------------------

def route_side(stops: int) -> int:
    """The side of each site's matrix: the work per stop grows with the tier."""
    return 128 if stops <= 8 else 384 if stops <= 12 else 768


def _gen_route(ws: Workspace, rng: np.random.Generator, n: int, tag: str) -> Spec:
    k = route_side(n)
    pts = rng.random((n, 2))  # (n, 2)
    ws.save_array(f"sites{tag}", "points", pts)
    # orthogonal matrices: their product stays well-conditioned however long the route
    stack = np.stack([np.linalg.qr(rng.standard_normal((k, k)))[0] for _ in range(n)])  # (n, k, k)
    ws.save_array(f"loads{tag}", "stack", stack)
    bound = held_karp(pts) if n <= EXACT_TSP else MST_FACTOR * mst_length(pts)
    prompt = (f"Take the shortest round trip through the {n} sites of sites{tag}, starting at site 0, and multiply "
              f"the matrices of loads{tag} in the order the trip visits them; give the product.")
    return Spec(prompt, f"TSP('sites{tag}')", {"points": f"sites{tag}", "stack": f"loads{tag}", "bound": bound,
                                               "exact": n <= EXACT_TSP}, n, then=(f"VISIT('{{}}', 'loads{tag}')",))


def _check_route(ws: Workspace, spec: Spec, answer: str) -> Verdict:
    handle = _first_word(answer)
    if handle not in ws.handles("matrix"):
        return Verdict(False, f"no product matrix named in {answer[:60]!r}")
    named = re.search(r"\balong ([A-Za-z][A-Za-z0-9_]*)", answer)
    if named is None or named.group(1) not in ws.handles("tour"):
        return Verdict(False, f"no tour named in {answer[:60]!r}")
    tour = np.asarray(ws.array(named.group(1), "tour"))
    trip = _check_tsp(ws, spec, named.group(1))
    if not trip.ok:
        return Verdict(False, f"the route: {trip.why}")
    mats = ws.array(spec.expected["stack"], "stack")  # (n, k, k)
    c = np.asarray(ws.array(handle, "matrix"))
    if c.shape != mats.shape[1:]:
        return Verdict(False, f"product has shape {c.shape}, not {mats.shape[1:]}")
    r = np.random.default_rng(12345).standard_normal((mats.shape[2], 2))  # (k, 2)
    want = r
    for stop in visit_order(tour)[::-1]:  # M0·(M1·(…·(Mn·r))): n matrix-vector products
        want = mats[stop] @ want
    err = float(np.max(np.abs(c @ r - want)))
    ok = err <= 1e-8 * max(1.0, float(np.max(np.abs(want))))
    return Verdict(ok, f"{trip.why}; Freivalds along the route: {err:.3g}")


# ---- dispatch -------------------------------------------------------------------------------

_GEN: dict[str, Callable[[Workspace, np.random.Generator, int, str], Spec]] = {
    "matmul": _gen_matmul,
    "grep": _gen_grep,
    "sat": _gen_sat,
    "unsat": _gen_unsat,
    "tsp": _gen_tsp,
    "smt": lambda ws, rng, n, tag: _gen_smt(ws, rng, n, tag, False),
    "proof": lambda ws, rng, n, tag: _gen_smt(ws, rng, n, tag, True),
    "bigint": _gen_bigint,
    "route": _gen_route,
}
_CHECK: dict[str, Callable[[Workspace, Spec, str], Verdict]] = {
    "matmul": _check_matmul,
    "grep": _check_grep,
    "sat": _check_sat,
    "unsat": _check_sat,
    "tsp": _check_tsp,
    "smt": _check_smt,
    "proof": _check_smt,
    "bigint": _check_bigint,
    "route": _check_route,
}


def make_spec(kind: str, ws: Workspace, seed: int, size: int, tag: str) -> Spec:
    """Generate one task's data into `ws` (handles end in `tag`) and describe it."""
    if kind not in _GEN:
        raise InvalidInput(f"unknown task kind {kind!r} (kinds: {', '.join(KIND_NAMES)})")
    return _GEN[kind](ws, np.random.default_rng([seed, KIND_NAMES.index(kind)]), size, tag)


def check_answer(kind: str, ws: Workspace, spec: Spec, answer: str) -> Verdict:
    """Decide `answer`; a checker never raises on a malformed answer, it rejects it."""
    try:
        return _CHECK[kind](ws, spec, answer)
    except (ValueError, OSError, IndexError, KeyError) as e:
        return Verdict(False, f"unreadable answer: {e}")
