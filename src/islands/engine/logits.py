"""Reading a logits row: log-softmax of one token, and a sampled token with its top
alternatives. Rows are (n_vocab,) float32 views into the model's output; nothing here
writes them.

    logprob_of(np.array([0.0, 0.0]), 1) -> -0.6931...   (log 1/2)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from islands.engine.results import TokenLogprob

__all__ = ["logprob_of", "logsumexp", "token_logprob"]


def logsumexp(row: np.ndarray) -> float:
    """log(sum(exp(row))) over the finite entries (masked tokens are -inf)."""
    finite = row[np.isfinite(row)]
    m = float(finite.max())
    return m + float(np.log(np.exp(finite - m, dtype=np.float64).sum()))


def logprob_of(row: np.ndarray, token: int) -> float:
    """The log-probability (nats) of `token` under the row's softmax."""
    return float(row[token]) - logsumexp(row)


def token_logprob(row: np.ndarray, token: int, top: int, text_of: Callable[[int], str]) -> TokenLogprob:
    """`token`'s log-probability and the `top` most likely tokens of the row."""
    lse = logsumexp(row)
    alts: tuple[tuple[str, float], ...] = ()
    if top:
        ids = np.argpartition(row, -top)[-top:]
        ids = ids[np.argsort(row[ids])[::-1]]
        alts = tuple((text_of(int(i)), float(row[i] - lse)) for i in ids)
    return TokenLogprob(token, text_of(token), float(row[token] - lse), alts)
