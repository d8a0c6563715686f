"""Flows on the deterministic mock engine: schedules, fan-out, exploration, scoring,
pruning, voting and search bookkeeping (duplicates, dead ends, backtracking, no leaks)."""

from __future__ import annotations

import importlib
import itertools
from typing import Any

import pytest

from islands import InvalidInput, SamplingParams
from islands.engine import Engine, MockModel
from islands.flows import Variant, anneal, explore, fanout, prune, schedule, score_fn, score_logprob, search, vote
from islands.flows.scoring import last_number


def test_schedules() -> None:
    assert schedule(3, "linear", hot=1.0, cool=0.0) == [1.0, 0.5, 0.0]
    assert schedule(3, "exponential", hot=1.0, cool=0.25) == [1.0, 0.5, 0.25]
    assert schedule(2, "constant", hot=0.7) == [0.7, 0.7]
    assert schedule(3, lambda t: 2 * t) == [0.0, 1.0, 2.0]
    assert schedule(1, "linear", hot=0.9, cool=0.1) == [0.9]
    with pytest.raises(InvalidInput):
        schedule(3, "zigzag")


def test_fanout_prefills_once_and_applies_temperatures(engine: Engine, mock: MockModel) -> None:
    before = len(mock.batches)
    vs = fanout(engine, "the sea is", 4, SamplingParams(max_tokens=6, seed=3, ignore_eos=True), temperatures=[0.0, 0.0, 1.0, 1.5])
    assert [v.temperature for v in vs] == [0.0, 0.0, 1.0, 1.5]
    assert vs[0].text == vs[1].text  # greedy twice: the same
    assert all(len(v.tokens) == 6 for v in vs)
    prompt_rows = len(engine.tokenize("the sea is"))
    assert len(mock.batches[before]) == prompt_rows and all(len(b) == 4 for b in mock.batches[before + 1 :])
    assert not engine.live_branches


def test_explore_leaves_the_beaten_path(engine: Engine) -> None:
    greedy = engine.generate("the sea", params=SamplingParams(temperature=0, max_tokens=1)).outputs[0].tokens[0]
    vs = explore(engine, "the sea", 3, SamplingParams(max_tokens=4, temperature=0, seed=1), mode="penalty", steps=1)
    assert all(v.tokens[0] != greedy for v in vs)
    assert all("mean_logprob" in v.meta for v in vs)
    tail = explore(engine, "the sea", 3, SamplingParams(max_tokens=4, seed=1), mode="tail")
    assert all(v.temperature >= 1.3 for v in tail)


def test_scoring_pruning_and_voting(engine: Engine) -> None:
    vs = [Variant(t, 0.0, 0) for t in ("so 12", "it is 12", "maybe 13", "no idea")]
    winner, vs = vote(vs)
    assert winner == "12" and vs[0].score == 0.5 and vs[3].score == 0.0
    assert [v.text for v in prune(vs, k=2)] == ["so 12", "it is 12"]
    assert [v.text for v in prune(vs, threshold=0.25)] == ["so 12", "it is 12", "maybe 13"]
    score_fn(vs, len)
    assert prune(vs, k=1)[0].text == "it is 12"
    likely = score_logprob(engine, "the sea is", [Variant(" wide", 0, 0), Variant(" qqqq", 0, 0)])
    assert likely[0].score > likely[1].score  # type: ignore[operator]
    assert last_number("costs 1,234 or 5.5 total") == "5.5"


def test_anneal_keeps_the_best_pool(engine: Engine) -> None:
    def count_e(vs: list[Variant]) -> None:
        score_fn(vs, lambda t: t.count("e"))

    pool = anneal(engine, "the", count_e, rounds=3, n=3, keep=2,
                  params=SamplingParams(max_tokens=8, seed=2, ignore_eos=True))
    assert len(pool) == 2 and pool[0].score >= pool[1].score  # type: ignore[operator]
    assert {v.meta["round"] for v in pool} <= {0, 1, 2}


def test_search_bookkeeping(engine: Engine, mock: MockModel) -> None:
    seen_paths: list[str] = []

    def score(path: str) -> float:
        seen_paths.append(path)
        return float(path.count("a"))

    result = search(
        engine, "sea\n", score=score, is_solution=lambda p: p.count("\n") >= 3 and "e" in p,
        is_dead=lambda p: "q" in p, expand=3, max_depth=4, max_nodes=40,
        params=SamplingParams(temperature=1.0, max_tokens=5, stop=("\n",), seed=4),
    )
    statuses = {n.status for n in result.nodes}
    assert statuses <= {"open", "expanded", "dead", "duplicate", "pruned", "solution"}
    explored_paths = [n.path for n in result.nodes if n.status not in ("duplicate",)]
    assert len(explored_paths) == len({" ".join(p.split()).lower() for p in explored_paths})  # no state twice
    assert not any(n.status == "expanded" and "q" in n.path for n in result.nodes)  # dead ends never expanded
    assert result.prefill_per_node == 0  # children sample; nothing is decoded twice
    assert not engine.live_branches and engine.ledger.used == mock.used_cells
    assert result.solution is None  # no four-line path with an "e" within these limits
    found = search(engine, "sea\n", score=score, is_solution=lambda p: "ll" in p, is_dead=lambda p: "q" in p, expand=3, max_depth=4,
                   max_nodes=40, params=SamplingParams(temperature=1.0, max_tokens=5, stop=("\n",), seed=4))
    assert found.solution is not None and found.solution.status == "solution" and "ll" in found.solution.path
    path = found.path(found.solution)
    assert path[0].parent is None and path[-1] is found.solution and len(path) == found.solution.depth + 1
    for parent, child in itertools.pairwise(path):  # each step extends its parent's path, one level deeper
        assert child.parent == parent.id and child.depth == parent.depth + 1 and child.path == parent.path + child.step
        assert parent.status == "expanded" and "ll" not in parent.path
    assert not engine.live_branches


def test_best_first_backtracks_when_a_subtree_dies(engine: Engine) -> None:
    # deeper looks better, but every grandchild is a dead end: the search must go back
    result = search(engine, "x", score=len, is_solution=lambda p: False, is_dead=lambda p: len(p) >= 6,
                    expand=2, max_depth=5, max_nodes=20, widen=1,
                    params=SamplingParams(temperature=1.0, max_tokens=3, seed=9, ignore_eos=True))
    depth1 = [n for n in result.nodes if n.depth == 1 and n.status != "duplicate"]
    depth2 = [n for n in result.nodes if n.depth == 2 and n.status != "duplicate"]
    assert len(depth1) == 2 and all(n.status == "expanded" for n in depth1)  # both tried: it backtracked
    assert depth2 and all(n.status == "dead" for n in depth2)
    assert result.solution is None and not engine.live_branches
    with pytest.raises(InvalidInput):
        search(engine, "x", score=len, is_solution=bool, strategy="dfs")


def test_widening_samples_more_children_when_all_die(engine: Engine) -> None:
    result = search(engine, "x", score=len, is_solution=lambda p: False, is_dead=lambda p: True,
                    expand=2, widen=3, max_nodes=50, params=SamplingParams(temperature=1.0, max_tokens=3, seed=9, ignore_eos=True))
    root = result.nodes[0]
    assert root.expansions == 3  # tried three times before giving up
    assert sum(1 for n in result.nodes if n.parent == 0) == 6
    assert not engine.live_branches


def test_optimize_keeps_the_best_and_respects_budgets(engine: Engine) -> None:
    from islands.flows.optimize import optimize

    result = optimize(engine, "Write many e's.", "x", lambda t: float(t.count("e")), iterations=3, n=3, max_tokens=12)
    assert result.score >= 0 and result.best.count("e") == result.score
    scores = [s for _, s, _ in result.history]
    assert scores == sorted(scores)  # never gets worse
    assert result.tried > 0
    short = optimize(engine, "t", "x", lambda t: 0.0, iterations=10, n=2, max_tokens=4, token_budget=1)
    assert len(short.history) == 2  # stopped after one iteration: the budget was spent
    rejected = optimize(engine, "t", "x", lambda t: 1.0, iterations=2, n=2, validate=lambda t: False)
    assert rejected.best == "x" and rejected.tried == 0
    with pytest.raises(InvalidInput):
        optimize(engine, "t", "x", len, improver="no placeholder")


def test_rhymes_and_arrangement() -> None:
    from islands.flows.plan import arrange, rhymes

    assert rhymes("night", "light") and rhymes("spoken", "taken") and not rhymes("sea", "sea") and not rhymes("sea", "moon")
    groups = {"A": ["a1", "a2"], "B": ["b1", "b2"]}
    assert arrange(groups, "AABB") == ["a1", "a2", "b1", "b2"]
    assert arrange(groups, "ABAB") == ["a1", "b1", "a2", "b2"]
    assert arrange(groups, "ABBA") == ["a1", "b1", "b2", "a2"]
    with pytest.raises(InvalidInput):
        arrange(groups, "AAAB")


def test_score_options_sums_engine_score(engine: Engine) -> None:
    from islands.flows.choices import score_options

    options = [" salty", " wide and deep", " we", "!"]  # "!": one token, scored from the prefix's row alone
    totals = score_options(engine, "the sea is", options)
    singles = [sum(engine.score("the sea is", o).logprobs) for o in options]
    assert totals == pytest.approx(singles, abs=1e-4)
    assert not engine.live_branches  # every option's branch released
    again = score_options(engine, "the sea is", options)  # the prefix now comes whole from the cache
    assert again == pytest.approx(totals, abs=1e-4) and not engine.live_branches


def test_self_optimize_keeps_only_a_rewrite_that_wins_on_repeated_trials(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    opt = importlib.import_module("islands.flows.optimize")  # the module: islands.flows.optimize is also the function
    plain = opt.optimize
    lucky_seeds: list[int] = []
    seeds_by_line: dict[str, list[int]] = {}

    def rigged(*args: Any, **kw: Any) -> Any:
        """A real optimizer step on the mock, then a bonus that stands for what a rewrite is worth:
        "Lucky." finds a better instruction on the first seed it ever sees, "Better." on every seed."""
        result = plain(*args, **kw)
        line = kw["improver"].split(" ", 1)[0]
        seeds_by_line.setdefault(line, []).append(kw["seed"])
        if line == "Lucky." and not lucky_seeds:
            lucky_seeds.append(kw["seed"])
            result.score += 1.0
        elif line == "Better.":
            result.score += 0.5
        return result

    monkeypatch.setattr(opt, "optimize", rigged)
    def propose(line: str, r: int) -> list[str]:
        return ["Lucky.", "Better."]

    once = opt.self_optimize(engine, "t", "x", lambda t: 0.0, rounds=1, n=2, trials=1, margin=0.0, propose=propose)
    assert once.improver.startswith("Lucky.")  # one step on one seed: luck is credited
    lucky_seeds.clear()
    seeds_by_line.clear()
    result = opt.self_optimize(engine, "t", "x", lambda t: 0.0, rounds=1, n=2, trials=4, margin=0.25, propose=propose)
    lucky, better = result.improver_trials
    assert (lucky.rewrite, lucky.kept, lucky.gain) == ("Lucky.", False, 0.25)  # won once in four: not more than the margin
    assert (better.rewrite, better.kept, better.gain) == ("Better.", True, 0.5)
    assert result.improver.startswith("Better.") and "{best}" in result.improver
    assert result.trials == 4 and result.margin == 0.25
    incumbent_seeds = seeds_by_line["Improve"][1:]  # the first step is the initial one
    assert len(incumbent_seeds) == 4 and seeds_by_line["Lucky."] == seeds_by_line["Better."] == incumbent_seeds
    with pytest.raises(InvalidInput):
        opt.self_optimize(engine, "t", "x", lambda t: 0.0, trials=0)


def test_self_optimize_on_the_mock_keeps_no_rewrite_that_does_not_help(engine: Engine) -> None:
    from islands.flows.optimize import IMPROVE, self_optimize

    result = self_optimize(engine, "t", "x", lambda t: float(len(t) % 3 == 0), rounds=1, n=2, trials=2, margin=0.5)
    assert result.improver_trials and all(len(t.candidate) == len(t.incumbent) == 2 for t in result.improver_trials)
    assert all(t.kept == (t.gain > 0.5) for t in result.improver_trials)
    kept = [t.rewrite for t in result.improver_trials if t.kept]
    assert result.improver == (kept[-1] + IMPROVE.split(".", 1)[1] if kept else IMPROVE)
    assert result.score == float(len(result.best) % 3 == 0) and not engine.live_branches
