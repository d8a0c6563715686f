"""Validity against the General Social Survey: synthetic answer distributions per item,
overall and per subgroup, measured by total variation distance (TVD) against the real
ones, beside two baselines — the same model with no persona, and a uniform answer — and a
calibration fitted on some items and tested on the others.

    report = validate(engine, gss_doc, Population.us_adults(), personas=100, seed=0)

Real distributions: per item the latest year with subgroup breakdowns, weighted where the
file has weights (weighted_exact, else weighted_approx, else unweighted). Subgroups mapped
from persona records: age (GSS 18-29/30-49/50-64/65+ from the exact age), degree and years
of schooling (from education; "some college or associate" is counted as GSS "high school"
plus "associate/junior college" and as 13-15 years, an approximation), party when the
records carry a "party" variable (the US population has none: party rows are skipped).
The synthetic distribution of a group is the mean of its personas' option probabilities.

What it leaves out: GSS items outside the file, and ideology subgroups (no such variable).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from islands.engine import Engine, Generator
from islands.errors import InvalidInput
from islands.people.interview import Answer, Job, interview
from islands.people.notes import enrich
from islands.people.persona import persona_prefix
from islands.people.population import Population
from islands.people.questions import questions_from_gss
from islands.people.stats import calibrate, fit_calibration, mean_distribution, tvd

__all__ = ["DEFAULT_FIT", "real_distributions", "validate"]

DEFAULT_FIT = ("HAPPY", "POLVIEWS", "GRASS")

# GSS subgroup label -> the persona education categories it stands for
_DEGREE = {
    "less than high school": ("less_than_high_school",),
    "high school": ("high_school_graduate", "some_college_or_associate"),
    "associate/junior college": ("some_college_or_associate",),
    "bachelor's": ("bachelors_degree",),
    "graduate": ("graduate_or_professional_degree",),
}
_EDUC = {
    "0-11 years (no HS diploma)": ("less_than_high_school",),
    "12 years": ("high_school_graduate",),
    "13-15 years": ("some_college_or_associate",),
    "16 years": ("bachelors_degree",),
    "17+ years": ("graduate_or_professional_degree",),
}
_PARTY = {
    "Democrat (incl. leaners, partyid 0-2)": ("Democrat",),
    "Independent (partyid 3)": ("Independent",),
    "Republican (incl. leaners, partyid 4-6)": ("Republican",),
}


def _age_group(r: dict[str, Any]) -> str | None:
    a = r.get("age")
    if not isinstance(a, int | float):
        return None
    return "18-29" if a < 30 else "30-49" if a < 50 else "50-64" if a < 65 else "65+"


def _members(by: str, label: str, r: dict[str, Any]) -> bool:
    """Does persona record r belong to GSS subgroup `label` of breakdown `by`?"""
    if by == "by_age_group":
        return _age_group(r) == label
    if by == "by_degree":
        return r.get("education") in _DEGREE.get(label, ())
    if by == "by_years_of_schooling_EDUC":
        return r.get("education") in _EDUC.get(label, ())
    if by == "by_party":
        return r.get("party") in _PARTY.get(label, ())
    return False


def _pct(block: dict[str, Any]) -> dict[str, float]:
    total = math.fsum(block["pct"].values()) or 1.0
    return {k: float(v) / total for k, v in block["pct"].items()}


def real_distributions(item: dict[str, Any]) -> tuple[str, dict[str, float], dict[str, dict[str, dict[str, float]]]]:
    """(source and year, overall distribution, {breakdown: {label: distribution}})."""
    for source in ("weighted_exact", "weighted_approx", "unweighted"):
        years = item.get(source)
        if not isinstance(years, dict) or not years:
            continue
        with_groups = [y for y, b in years.items() if any(k.startswith("by_") for k in b)]
        year = max(with_groups or list(years))
        block = years[year]
        groups = {by: {label: _pct(sub) for label, sub in b.items()} for by, b in block.items() if by.startswith("by_")}
        return f"{source} {year}", _pct(block), groups
    raise InvalidInput("GSS item has no distribution (weighted_exact, weighted_approx or unweighted)")


def validate(
    engine: Generator,
    gss: dict[str, Any],
    population: Population,
    *,
    personas: int = 100,
    seed: int = 0,
    fit_items: Sequence[str] = DEFAULT_FIT,
    wave: int = 32,
    on_answer: Any = None,
    backstory: bool = False,
    notes: bool = False,
    on_written: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Interview `personas` sampled US adults (and a persona-free respondent) on every GSS
    item; the report as a dict (see module doc). `backstory` / `notes`: the personas get
    model-written backstories and interview notes first (local engine only)."""
    questions = questions_from_gss(gss)
    ids = [q.id for q in questions]
    unknown = [f for f in fit_items if f not in ids]
    if unknown:
        raise InvalidInput(f"--fit names {unknown[0]!r}, not an item of the survey ({', '.join(ids)})")
    records = population.sample(personas, seed=seed)
    if backstory or notes:
        if not isinstance(engine, Engine):
            raise InvalidInput("backstories and notes are written on the local engine (--engine local)")
        enrich(engine, records, backstory=backstory, notes=notes, seed=seed, on_done=on_written)
    jobs = [Job(r["id"], persona_prefix(r), questions, {"record": r}) for r in records]
    everyone = jobs + [Job("none", persona_prefix(None), questions)]
    answers: list[Answer]
    if isinstance(engine, Engine):
        answers = interview(engine, everyone, seed=seed, wave=wave, on_answer=on_answer)
    else:  # a remote server: numbered options, the labels' top log-probabilities (people/remote.py)
        from islands.people.remote import remote_interview

        answers = remote_interview(engine, everyone, seed=seed, on_answer=on_answer)
    none = {a.question.id: a for a in answers if a.job.key == "none"}
    by_q: dict[str, list[Answer]] = {q.id: [] for q in questions}
    for a in answers:
        if a.job.key != "none":
            by_q[a.question.id].append(a)
    items: dict[str, Any] = {}
    cal_data = {}
    for q in questions:
        source, real, groups = real_distributions(gss[q.id])
        opts = list(q.options)
        synth = mean_distribution([a.probs or {} for a in by_q[q.id]], opts)
        bare = none[q.id].probs or {}
        uniform = {o: 1 / len(opts) for o in opts}
        rows = []
        for by, labels in groups.items():
            for label, dist in labels.items():
                members = [a for a in by_q[q.id] if _members(by, label, a.job.meta["record"])]
                if not members:
                    continue
                sub = mean_distribution([a.probs or {} for a in members], opts)
                rows.append(
                    {
                        "breakdown": by[3:],
                        "group": label,
                        "n": len(members),
                        "tvd_personas": tvd(sub, dist),
                        "tvd_no_persona": tvd(bare, dist),
                        "tvd_uniform": tvd(uniform, dist),
                    }
                )
        items[q.id] = {
            "real_source": source,
            "real": real,
            "synthetic": synth,
            "no_persona": bare,
            "tvd_personas": tvd(synth, real),
            "tvd_no_persona": tvd(bare, real),
            "tvd_uniform": tvd(uniform, real),
            "subgroups": rows,
        }
        cal_data[q.id] = ([a.logprobs or {} for a in by_q[q.id]], none[q.id].logprobs or {}, real)
    test_items = [i for i in ids if i not in fit_items]
    alpha, temp, fit_tvd = fit_calibration([cal_data[i] for i in fit_items]) if fit_items else (0.0, 1.0, math.nan)
    for i in ids:
        logps, prior, real = cal_data[i]
        items[i]["tvd_calibrated"] = tvd(mean_distribution([calibrate(lp, prior, alpha, temp) for lp in logps], list(real)), real)
        items[i]["calibration_role"] = "fit" if i in fit_items else "test"

    def mean(key: str, which: list[str]) -> float:
        return math.fsum(items[i][key] for i in which) / len(which) if which else math.nan

    return {
        "personas": personas,
        "seed": seed,
        "persona_kind": "record" + (" + backstory" if backstory else "") + (" + notes" if notes else ""),
        "items": items,
        "calibration": {
            "fit_items": list(fit_items),
            "test_items": test_items,
            "alpha": alpha,
            "temperature": temp,
            "fit_mean_tvd": fit_tvd,
            "test_mean_tvd_raw": mean("tvd_personas", test_items),
            "test_mean_tvd_calibrated": mean("tvd_calibrated", test_items),
        },
        "mean_tvd": {k: mean(k, ids) for k in ("tvd_personas", "tvd_no_persona", "tvd_uniform")},
    }
