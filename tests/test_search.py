"""MCTS and proposer hooks of `search`, and the puzzle's labelled judges, on the mock engine."""

from __future__ import annotations

import random

import pytest

from islands.engine import Engine, MockModel
from islands.errors import InvalidInput
from islands.flows.puzzle import solve, step_result
from islands.flows.search import search
from islands.params import SamplingParams


def _steps(path: str, k: int, rng: random.Random) -> list[str]:
    """Proposals from a tiny tree: a, b, c at every level; the solution is "b" then "c" then "a"."""
    return ["a\n", "b\n", "c\n"][:k]


def test_mcts_finds_a_path_the_values_do_not_favour(engine: Engine, mock: MockModel) -> None:
    want = "b\nc\na\n"

    def value(path: str) -> float:  # "a" looks best everywhere: the solution needs exploration
        return 0.9 if path.endswith("a\n") else 0.2

    result = search(engine, "x\n", score=value, is_solution=lambda p: p == want, strategy="mcts", expand=3,
                    max_depth=3, max_nodes=60, widen=1, propose=_steps, params=SamplingParams(seed=3))
    assert result.solution is not None and result.solution.path == want
    root = result.nodes[0]
    kids = [n for n in result.nodes if n.parent == 0]
    # every round goes through the root; after the first, through exactly one of its children
    # (a child's first visit is its own evaluation)
    assert root.visits == 1 + sum(k.visits - 1 for k in kids if k.visits > 0)
    assert max(kids, key=lambda k: k.visits).step == "a\n"  # the favoured child was tried most
    assert not engine.live_branches and engine.ledger.used == mock.used_cells


def test_mcts_stops_when_everything_is_dead(engine: Engine) -> None:
    result = search(engine, "x\n", score=lambda p: 0.5, is_solution=lambda p: False, is_dead=lambda p: p.count("\n") >= 2,
                    strategy="mcts", expand=3, max_depth=4, max_nodes=500, widen=2, propose=_steps)
    assert result.solution is None
    assert len(result.nodes) < 500  # it ran out of work, not of budget
    assert result.nodes[0].exhausted and not engine.live_branches


def test_proposer_steps_are_spliced_not_sampled(engine: Engine) -> None:
    result = search(engine, "x\n", score=lambda p: 1.0, is_solution=lambda p: p.endswith("c\n"), expand=3,
                    max_depth=2, propose=_steps)
    assert result.solution is not None and result.stats.sampled_tokens == 0


def test_random_proposer_with_the_oracle_solves_on_the_mock() -> None:
    engine = Engine(MockModel(n_ctx=4096, n_seq_max=64, n_batch=256))
    solved = solve(engine, [1, 7, 9, 11], judge="oracle", proposer="random", seed=1)
    assert solved is not None and solved.steps[-1].endswith("left: 24")
    for step in solved.steps:  # every result spliced in is exact
        a, op, b = step.split(" = ")[0].split()
        assert step_result([__import__("fractions").Fraction(x) for x in (a, b)], f"{a} {op} {b}").startswith(
            " = " + step.split(" = ")[1].split(" |")[0])


def test_without_a_judge_only_finished_wrong_attempts_are_dead() -> None:
    engine = Engine(MockModel(n_ctx=4096, n_seq_max=64, n_batch=256))
    solved = solve(engine, [1, 7, 9, 11], judge="none", proposer="random", seed=2, max_nodes=40)
    assert solved is None or solved.steps[-1].endswith("left: 24")
    many = [solve(engine, [1, 7, 9, 11], judge="none", proposer="random", seed=s, max_nodes=40) for s in range(3, 9)]
    oracle = [solve(engine, [1, 7, 9, 11], judge="oracle", proposer="random", seed=s, max_nodes=40) for s in range(3, 9)]
    assert sum(r is not None for r in oracle) >= sum(r is not None for r in many)  # the oracle does the work


def test_bad_choices_are_refused(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="unknown judge"):
        solve(engine, [1, 2, 3, 4], judge="psychic")
    with pytest.raises(InvalidInput, match="unknown proposer"):
        solve(engine, [1, 2, 3, 4], proposer="oracle")
    with pytest.raises(InvalidInput, match="mcts"):
        search(engine, "x", score=len, is_solution=bool, strategy="dfs")
