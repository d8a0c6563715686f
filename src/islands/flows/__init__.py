"""Flows: tree-shaped generation on engine branches — fan out, score, prune, synthesize,
anneal, explore, search with backtracking — and `ask`, the default flow with hard islands.

Shared prefixes are never recomputed: variants are forks of one prefilled branch, and
search keeps its frontier as live branches that fork again.
"""

from islands.flows.ask import AskResult, ask
from islands.flows.optimize import OptimizeResult, optimize, self_optimize
from islands.flows.plan import Poem, plan_ahead
from islands.flows.scoring import judge, pairwise, prune, score_fn, score_logprob, vote
from islands.flows.search import SearchResult, search
from islands.flows.variants import (
    Variant,
    anneal,
    explore,
    fanout,
    schedule,
    synthesize,
)

__all__ = [
    "AskResult",
    "OptimizeResult",
    "Poem",
    "SearchResult",
    "Variant",
    "anneal",
    "ask",
    "explore",
    "fanout",
    "judge",
    "optimize",
    "pairwise",
    "plan_ahead",
    "prune",
    "schedule",
    "score_fn",
    "score_logprob",
    "search",
    "self_optimize",
    "synthesize",
    "vote",
]
