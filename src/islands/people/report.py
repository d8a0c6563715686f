"""Reports over a results file: answer distributions per question, overall and by
subgroup, with the real (GSS) distribution beside the synthetic one where it exists; as
rows (for the terminal table and CSV) and as a matplotlib PNG.

A choice question's synthetic share of an option is the mean of the personas' option
probabilities; numeric questions give mean and median; open ones the number of answers.
What it leaves out: weighting, and charts of numeric or open answers.
"""

from __future__ import annotations

import csv
import math
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from islands.errors import InvalidInput
from islands.people.stats import mean_distribution, subgroup_of

__all__ = ["distribution_rows", "write_csv", "write_png"]

Record = dict[str, Any]


def _real(gss: dict[str, Any] | None, qid: str, by: str | None, group: str | None) -> dict[str, float] | None:
    if gss is None or qid not in gss:
        return None
    from islands.people.validate import real_distributions

    _, overall, groups = real_distributions(gss[qid])
    if by is None:
        return overall
    if by == "age_gss":
        return groups.get("by_age_group", {}).get(group or "")
    return None


def distribution_rows(rows: Sequence[Record], *, by: str | None = None, gss: dict[str, Any] | None = None) -> list[Record]:
    """One row per (question, group, option) for choice questions, per (question, group) for
    the others: {"question", "by", "group", "n", "option", "share", "real"} or mean/median."""
    questions: dict[str, list[Record]] = {}
    for r in rows:
        questions.setdefault(str(r["question"]), []).append(r)
    key = subgroup_of(by) if by else None
    out: list[Record] = []
    for qid, answers in questions.items():
        groups: dict[str | None, list[Record]] = {None: answers}
        if key is not None:
            for a in answers:
                g = key(a.get("record") or {})
                if g is not None:
                    groups.setdefault(g, []).append(a)
        for g in sorted(groups, key=lambda x: (x is not None, str(x))):
            members = groups[g]
            kind = members[0].get("kind")
            base = {"question": qid, "by": by if g is not None else "", "group": g if g is not None else "all", "n": len(members)}
            if kind == "choice":
                options = list((members[0].get("probs") or {}).keys())
                dist = mean_distribution([m.get("probs") or {} for m in members], options)
                real = _real(gss, qid, by if g is not None else None, g)
                for o in options:
                    out.append(base | {"option": o, "share": dist[o], "real": real.get(o) if real else None})
            elif kind == "numeric":
                xs = [float(m["answer"]) for m in members if isinstance(m.get("answer"), int | float)]
                out.append(
                    base
                    | {
                        "option": "",
                        "mean": statistics.fmean(xs) if xs else math.nan,
                        "median": statistics.median(xs) if xs else math.nan,
                        "answered": len(xs),
                    }
                )
            else:
                out.append(base | {"option": "", "answered": sum(1 for m in members if m.get("answer"))})
    return out


def write_csv(path: Path, table: Sequence[Record]) -> None:
    """The rows as CSV, written whole or not at all."""
    fields = ["question", "by", "group", "n", "option", "share", "real", "mean", "median", "answered"]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            for row in table:
                w.writerow(row)
        os.replace(tmp, path)
    except OSError as e:
        raise InvalidInput(f"cannot write {path}: {e.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_png(path: Path, table: Sequence[Record]) -> None:
    """One panel per choice question: bars per option for each group, real ones hatched."""
    try:
        import matplotlib
    except ImportError:
        raise InvalidInput("--png needs matplotlib: pip install 'islands[people]'") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    choice = [r for r in table if "share" in r]
    qids = list(dict.fromkeys(r["question"] for r in choice))
    if not qids:
        raise InvalidInput("nothing to plot: the results have no choice questions")
    fig, axes = plt.subplots(len(qids), 1, figsize=(9, 3.2 * len(qids)), squeeze=False)
    for ax, qid in zip(axes[:, 0], qids):
        rows = [r for r in choice if r["question"] == qid]
        options = list(dict.fromkeys(r["option"] for r in rows))
        series: list[tuple[str, list[float], bool]] = []
        for g in dict.fromkeys(r["group"] for r in rows):
            share = {r["option"]: r["share"] for r in rows if r["group"] == g}
            series.append((f"{g} (synthetic)", [share.get(o, 0.0) for o in options], False))
            real = {r["option"]: r["real"] for r in rows if r["group"] == g and r.get("real") is not None}
            if real:
                series.append((f"{g} (real)", [real.get(o, 0.0) for o in options], True))
        width = 0.8 / len(series)
        for k, (label, ys, hatched) in enumerate(series):
            xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(options))]
            ax.bar(xs, ys, width, label=label, hatch="//" if hatched else None, alpha=0.8)
        ax.set_xticks(range(len(options)), [o[:22] for o in options], fontsize=8)
        ax.set_ylabel("share")
        ax.set_title(qid)
        ax.legend(fontsize=7, ncols=2)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, dpi=90)
        os.replace(tmp, path)
    except OSError as e:
        raise InvalidInput(f"cannot write {path}: {e.strerror}") from None
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
