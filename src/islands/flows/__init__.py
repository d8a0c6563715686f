"""Flows: tree-shaped generation on engine branches — fan out, score, prune, synthesize,
anneal, explore, search with backtracking — and `ask`, the default flow with hard islands.

Shared prefixes are never recomputed: variants are forks of one prefilled branch, and
search keeps its frontier as live branches that fork again.
"""

from islands.flows.ask import AskResult, ask
from islands.flows.scoring import judge, pairwise, prune, score_fn, score_logprob, vote
from islands.flows.search import Node, SearchResult, search
from islands.flows.variants import Variant, anneal, explore, fanout, schedule, synthesize

__all__ = [
    "AskResult",
    "Node",
    "SearchResult",
    "Variant",
    "anneal",
    "ask",
    "explore",
    "fanout",
    "judge",
    "pairwise",
    "prune",
    "schedule",
    "score_fn",
    "score_logprob",
    "search",
    "synthesize",
    "vote",
]
