"""plan_batch: which rows the next decode step holds.

Every branch with one token to decode (a freshly sampled one) gets its row first, so
decoding never stalls behind a long prompt; then prompt and extension text of the other
branches fills the rest of the batch in chunks. Rows that carry logits for scoring are
limited per step (each logits row is n_vocab floats: 1 MB for a 262k vocabulary).

    plan_batch([decoding, prefilling], n_batch=512, max_logit_rows=64)
    -> [(decoding, 1), (prefilling, 511)]

What it leaves out: whether the KV cache has room (the engine fits the plan after).
"""

from __future__ import annotations

from collections.abc import Iterable

from islands.engine.branch import Branch

__all__ = ["plan_batch"]


def plan_batch(live: Iterable[Branch], n_batch: int, max_logit_rows: int) -> list[tuple[Branch, int]]:
    """(branch, rows) for the next batch: every decode row first, then prefill chunks."""
    budget = n_batch
    logit_budget = max_logit_rows
    plan: list[tuple[Branch, int]] = []
    waiting = []
    for b in live:
        if not b.wants_decode:
            continue
        if b.pending == 1 and b.score_from is None:
            plan.append((b, 1))
        else:
            waiting.append(b)
    budget -= len(plan)
    for b in waiting:
        if budget <= 0:
            break
        count = min(b.pending, budget)
        if b.score_from is not None:  # rows from score_from - 1 on carry logits
            first = max(b.n_past, b.score_from - 1)
            count = min(count, max(1, first + logit_budget - b.n_past))
            logit_budget -= max(0, b.n_past + count - first)
        plan.append((b, count))
        budget -= count
    return plan
