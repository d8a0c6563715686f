"""Numbers over answers: distributions overall and by subgroup, total variation distance,
bootstrap confidence intervals, and a two-parameter calibration of option probabilities.

    tvd({"a": 0.5, "b": 0.5}, {"a": 1.0})                 # 0.5
    diff_ci([1, 1, 0], [0, 0, 1], seed=0)                 # (0.333, lo, hi) B minus A... see below

What it leaves out: survey weights (personas are equally weighted draws already) and
multiple-comparison corrections across subgroups.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["calibrate", "diff_ci", "fit_calibration", "mean_distribution", "subgroup_of", "tvd"]

Dist = dict[str, float]


def tvd(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Total variation distance of two distributions (each normalized): half the L1 gap."""
    sp, sq = sum(p.values()) or 1.0, sum(q.values()) or 1.0
    return 0.5 * math.fsum(abs(p.get(k, 0.0) / sp - q.get(k, 0.0) / sq) for k in set(p) | set(q))


def mean_distribution(dists: Sequence[Mapping[str, float]], options: Sequence[str]) -> Dist:
    """The average of per-persona option probabilities: the synthetic population's answer."""
    if not dists:
        return {o: 0.0 for o in options}
    return {o: math.fsum(d.get(o, 0.0) for d in dists) / len(dists) for o in options}


def calibrate(logp: Mapping[str, float], prior: Mapping[str, float], alpha: float, temperature: float) -> Dist:
    """Option probabilities ∝ exp((log p(o | persona) − alpha · log p(o | no persona)) / T):
    alpha removes the model's persona-free preference (as contextual calibration does),
    T flattens or sharpens what is left."""
    z = {o: (logp[o] - alpha * prior.get(o, 0.0)) / temperature for o in logp}
    top = max(z.values())
    w = {o: math.exp(v - top) for o, v in z.items()}
    s = math.fsum(w.values())
    return {o: v / s for o, v in w.items()}


def fit_calibration(
    items: Sequence[tuple[Sequence[Mapping[str, float]], Mapping[str, float], Mapping[str, float]]],
    alphas: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5),
    temperatures: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 50.0),
) -> tuple[float, float, float]:
    """(alpha, T, mean TVD) minimizing the mean TVD over `items`, each (per-persona option
    log-probabilities, the no-persona log-probabilities, the real distribution)."""
    best = (0.0, 1.0, math.inf)
    for a in alphas:
        for t in temperatures:
            gaps = []
            for logps, prior, real in items:
                dists = [calibrate(lp, prior, a, t) for lp in logps]
                gaps.append(tvd(mean_distribution(dists, list(real)), real))
            score = math.fsum(gaps) / len(gaps)
            if score < best[2] - 1e-12:
                best = (a, t, score)
    return best


def diff_ci(
    a: Sequence[float], b: Sequence[float], *, seed: int = 0, n_boot: int = 2000, level: float = 0.95
) -> tuple[float, float, float]:
    """mean(b) − mean(a) with a percentile bootstrap interval (each arm resampled on its own).

    diff_ci([0, 0, 1, 0], [1, 1, 0, 1]) -> (0.5, lo, hi) with lo < 0.5 < hi."""
    if not a or not b:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ia = rng.integers(0, len(xa), size=(n_boot, len(xa)))
    ib = rng.integers(0, len(xb), size=(n_boot, len(xb)))
    diffs = xb[ib].mean(1) - xa[ia].mean(1)  # (n_boot,)
    lo, hi = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(xb.mean() - xa.mean()), float(lo), float(hi)


def _age_gss(r: Mapping[str, Any]) -> str | None:
    age = r.get("age")
    if not isinstance(age, int | float):
        return None
    return "18-29" if age < 30 else "30-49" if age < 50 else "50-64" if age < 65 else "65+"


def subgroup_of(by: str) -> Callable[[Mapping[str, Any]], str | None]:
    """The subgroup a persona record falls in, for a variable name (age_gss: GSS age groups)."""
    if by == "age_gss":
        return _age_gss
    return lambda r: None if r.get(by) is None else str(r.get(by))
