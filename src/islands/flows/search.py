"""Search over steps with backtracking: best-first, beam or MCTS, on live branches.

Each node is a branch that holds the path so far in KV. Expanding a node prefills its
last token once, then forks `expand` children that sample one step each (until the step
stop string) — in one batch. Children that repeat an explored state are duplicates and
are dropped; children `is_dead` rejects are recorded as dead ends and never expanded;
the rest are scored and wait in the frontier with their KV. Best-first always expands
the best open node anywhere in the tree (backtracking costs nothing: the node's KV is
still there); beam keeps the best `beam` children of each depth. When every open node is
gone, the best expanded node is widened: more children from its KV, up to `widen` times.

MCTS (`strategy="mcts"`) reads `score` as a value estimate in [0, 1] (other scores are
squashed by a logistic): each round descends from the root by UCT (mean value plus an
exploration bonus) to an unexpanded node, expands it, and backs the children's mean value up
the path. A subtree with nothing left to expand is marked exhausted and never chosen again.

A `propose(path, k, rng)` hook replaces the model as the proposer (it returns k step texts,
which are spliced in instead of sampled): the same search rules with another proposer, e.g.
a uniform random one, for an honest baseline.

    result = search(engine, "Make 24 from 3 3 8 8.\\n", score=..., is_solution=..., is_dead=...)
    result.solution, result.nodes, result.prefill_per_node

What it leaves out: value estimates learned across searches.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from islands.engine import Stats
from islands.engine.protocol import Brancher, BranchLike, require
from islands.errors import InvalidInput
from islands.grammar import Grammar
from islands.params import SamplingParams

__all__ = ["STRATEGIES", "Node", "SearchResult", "search"]

STRATEGIES = ("best_first", "beam", "mcts")
Propose = Callable[[str, int, random.Random], list[str]]  # (path, k, rng) -> k steps


@dataclass
class Node:
    id: int
    parent: int | None
    step: str  # the text this node added
    path: str  # all steps so far
    depth: int
    score: float = -math.inf
    status: str = "open"  # open, expanded, dead, duplicate, pruned, solution
    branch: BranchLike | None = field(default=None, repr=False)
    expansions: int = 0
    visits: int = 0  # MCTS: rounds that went through this node
    value: float = 0.0  # MCTS: sum of the values backed up through it
    exhausted: bool = False  # MCTS: nothing under it can be expanded any more


@dataclass
class SearchResult:
    solution: Node | None
    nodes: list[Node]
    stats: Stats
    prompt_tokens: int

    @property
    def explored(self) -> int:
        return sum(1 for n in self.nodes if n.status != "duplicate" and n.parent is not None)

    @property
    def prefill_per_node(self) -> float:
        """Tokens prefilled per explored node beyond the prompt: only what `after_step`
        spliced in (0 without it) — a node's sampled tokens are never decoded again."""
        return (self.stats.prefill_tokens - self.prompt_tokens) / max(1, self.explored)

    def path(self, node: Node) -> list[Node]:
        by_id = {n.id: n for n in self.nodes}
        out = [node]
        while out[-1].parent is not None:
            out.append(by_id[out[-1].parent])
        return out[::-1]


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def search(
    engine: Brancher,
    prompt: str,
    *,
    score: Callable[[str], float],
    is_solution: Callable[[str], bool],
    is_dead: Callable[[str], bool] | None = None,
    strategy: str = "best_first",
    expand: int = 3,
    beam: int = 3,
    max_depth: int = 6,
    max_nodes: int = 60,
    max_frontier: int = 24,
    widen: int = 3,
    explore: float = 1.4,
    params: SamplingParams | None = None,
    step_grammar: Callable[[str], Grammar | None] | None = None,
    after_step: Callable[[str, str], str] | None = None,
    state_key: Callable[[str], str] | None = None,
    propose: Propose | None = None,
) -> SearchResult:
    """Search for a path of steps (each ending at `params.stop`, default a newline) for
    which `is_solution(path)` holds. `score(path)` orders the frontier (higher first; MCTS:
    a value in [0, 1]).

    `step_grammar(path)` constrains the next step (e.g. to the numbers still available);
    `after_step(path, step)` returns text spliced in after the model's step — a hard island
    such as the exact result of the step's arithmetic. `state_key(path)` says when two paths
    reach the same state (default: the same text), so a state is explored once. `propose`
    replaces the model as the proposer (see the module). `explore` is MCTS's UCT constant."""
    if strategy not in STRATEGIES:
        raise InvalidInput(f"unknown strategy {strategy!r}: choose {', '.join(STRATEGIES)}")
    if expand < 1 or beam < 1 or max_depth < 1:
        raise InvalidInput("expand, beam and max_depth must be at least 1")
    require(engine, "branches")
    params = (params or SamplingParams(temperature=0.9, max_tokens=24, stop=("\n",))).seeded()
    assert params.seed is not None
    rng = random.Random(params.seed)
    stats = Stats()
    root_branch = engine.branch(prompt, stats=stats)
    prompt_tokens = stats.prompt_tokens - stats.reused_tokens  # what this search prefills for the prompt
    root = Node(0, None, "", "", 0, 0.0, "open", root_branch)
    nodes, frontier, seen = [root], [root], {""}
    solution: Node | None = None
    children_of: dict[int, list[Node]] = {}

    def drop(n: Node) -> None:
        if n.branch is not None:
            n.branch.release()
            n.branch = None

    def grow(batch: list[Node]) -> list[Node]:
        """Expand `batch`; classify the children (duplicate, solution, dead, pruned, open)."""
        nonlocal solution
        children = _expand(engine, batch, expand, params, len(nodes), step_grammar, after_step, propose, rng)
        fresh = []
        for child in children:
            nodes.append(child)
            children_of.setdefault(child.parent or 0, []).append(child)
            key = state_key(child.path) if state_key else _norm(child.path)
            if not child.step.strip() or key in seen:
                child.status = "duplicate"
            elif is_solution(child.path):
                child.status, child.score = "solution", score(child.path)
                solution = solution or child
            elif is_dead is not None and is_dead(child.path):
                child.status = "dead"
            elif child.depth >= max_depth:
                child.status = "pruned"
            else:
                child.score = score(child.path)
                fresh.append(child)
            seen.add(key)
            if child.status != "open":
                drop(child)
        return fresh

    try:
        if strategy == "mcts":
            _mcts(root, grow, children_of, drop, lambda: solution is None and len(nodes) < max_nodes, widen, explore)
        while strategy != "mcts" and solution is None and len(nodes) < max_nodes:
            if not frontier:  # every child died: sample more children of the best expanded node
                again = [n for n in nodes if n.branch is not None and n.status == "expanded" and n.expansions < widen]
                if not again:
                    break
                frontier = [max(again, key=lambda n: n.score)]
            if strategy == "best_first":
                frontier.sort(key=lambda n: -n.score)
                batch = [frontier.pop(0)]
            else:
                batch, frontier = frontier, []
            fresh = grow(batch)
            if strategy == "beam":
                fresh.sort(key=lambda n: -n.score)
                for n in fresh[beam:]:
                    n.status = "pruned"
                    drop(n)
                fresh = fresh[:beam]
            for n in batch:
                if n.expansions >= widen:
                    drop(n)
            frontier.extend(fresh)
            frontier.sort(key=lambda n: -n.score)
            for n in frontier[max_frontier:]:
                n.status = "pruned"
                drop(n)
            frontier = frontier[:max_frontier]
    finally:
        for n in nodes:
            drop(n)
    return SearchResult(solution, nodes, stats, prompt_tokens)


def _value(score: float) -> float:
    """A score as a value in [0, 1]: kept when it already is one, else squashed."""
    if 0.0 <= score <= 1.0:
        return score
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, score))))


def _mcts(
    root: Node,
    grow: Callable[[list[Node]], list[Node]],
    children_of: dict[int, list[Node]],
    drop: Callable[[Node], None],
    going: Callable[[], bool],
    widen: int,
    c: float,
) -> None:
    """Rounds of select (UCT) → expand → back up, while `going()`."""
    while going() and not root.exhausted:
        path, node = [root], root
        while node.status == "expanded":
            live = [k for k in children_of.get(node.id, []) if k.status in ("open", "expanded") and not k.exhausted]
            if live:
                parent = node
                node = max(live, key=lambda k: k.value / max(1, k.visits)
                           + c * math.sqrt(math.log(parent.visits + 1) / max(1, k.visits)))
                path.append(node)
                continue
            if node.branch is None or node.expansions >= widen:
                node.exhausted = True  # nothing below it is left; its parent stops choosing it
                drop(node)
            break  # else: widen this node (more children from its KV)
        if node.exhausted or node.branch is None:
            node.exhausted = True
            continue
        fresh = grow([node])
        if node.expansions >= widen:
            drop(node)
        values = [_value(k.score) for k in fresh]
        for k, v in zip(fresh, values):
            k.visits, k.value = 1, v
        backed = sum(values) / len(values) if values else 0.0
        for n in path:
            n.visits += 1
            n.value += backed


def _expand(
    engine: Brancher,
    batch: list[Node],
    k: int,
    params: SamplingParams,
    next_id: int,
    step_grammar: Callable[[str], Grammar | None] | None,
    after_step: Callable[[str, str], str] | None,
    propose: Propose | None = None,
    rng: random.Random | None = None,
) -> list[Node]:
    """Fork each node k ways and sample one step for all of them in shared batches (or
    splice the steps `propose` gives)."""
    engine.prefill(*[n.branch for n in batch if n.branch is not None])
    kids: list[tuple[Node, BranchLike]] = []
    for node in batch:
        assert node.branch is not None
        for kid in node.branch.fork(k):
            kids.append((node, kid))
        node.status = "expanded"
        node.expansions += 1  # its branch stays for more children, until `widen` runs out
    steps: list[str] = []
    if propose is not None:
        rng = rng or random.Random(0)
        for node in batch:
            steps.extend((propose(node.path, k, rng) + [""] * k)[:k])
        for (_, kid), step in zip(kids, steps):
            if step:
                kid.extend(step)
    else:
        assert params.seed is not None
        grammars = {node.id: step_grammar(node.path) for node in batch} if step_grammar else {}
        for i, (node, kid) in enumerate(kids):
            grammar = grammars.get(node.id)
            seed = (params.seed + 7919 * node.id + 104729 * node.expansions + i) % 2**32
            kid.start(params.replace(seed=seed), grammar)
        engine.run([kid for _, kid in kids])
        stop = params.stop[0] if params.stop else ""
        for kid in (kid for _, kid in kids):
            steps.append(kid.text + (stop if kid.finish_reason == "stop" else ""))
            kid.constrain(None)
    children = []
    for i, ((node, kid), step) in enumerate(zip(kids, steps)):
        if after_step is not None and step.strip():
            extra = after_step(node.path, step)
            if extra:
                kid.extend(extra)  # a hard island: only these tokens are prefilled, later
                step += extra
        children.append(Node(next_id + i, node.id, step, node.path + step, node.depth + 1, branch=kid))
    return children
