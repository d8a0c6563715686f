"""The summarize stage and the weekly show's themes, both as flows on the engine.

A paper's summary: `fanout` a few short drafts from hot to cool, `judge` them (the model
rates each 0–100 under a grammar), `synthesize` the best with the others as hints. The
citation — the paper's title and id — is a hard island: put in by code around what the
model wrote, so every summary names its paper whatever the model says.

A week's themes: k-means over the papers' embeddings (numpy), each cluster named by its most
distinctive title words and summed up by `synthesize(mode="summarize")` over its papers'
summaries — a second summarizer for the second show.

What it leaves out: long contexts. The prompt holds the title and at most `budget` tokens of
the abstract (or the text's start), so the embedded 270M model summarizes a paper in seconds.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from islands.engine.protocol import Brancher
from islands.errors import InvalidInput, PromptTooLong, Unsupported
from islands.flows import Variant, fanout, judge, prune, schedule, score_logprob, synthesize
from islands.params import SamplingParams

__all__ = ["Theme", "cite", "kmeans", "summarize_paper", "themes"]

_STOP = set("""a an the of and or for in on to with by from at as is are be we our this that these those via using use
based towards toward into over under new its it their can not than more less""".split())


def cite(title: str, paper_id: str) -> str:
    """How a show names a paper: '"Title" (arXiv 2401.00001)'."""
    where = f"arXiv {paper_id}" if re.fullmatch(r"\d{4}\.\d{4,5}", paper_id) else f"paper {paper_id}"
    return f'"{title}" ({where})'


def _clip(engine: Brancher, text: str, budget: int) -> str:
    """The start of `text` within `budget` tokens, cut at a word."""
    words = " ".join(text.split()).split(" ")
    lo, hi = 0, len(words)
    while lo < hi:  # the most words that fit
        mid = (lo + hi + 1) // 2
        if len(engine.tokenize(" ".join(words[:mid]), add_bos=False)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


def _clean(text: str) -> str:
    text = "".join(c for c in text if c.isprintable() and c != "\ufffd")
    text = " ".join(text.split()).strip(" -:;,")
    if text and text[-1] not in ".!?":
        cut = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
        text = text[: cut + 1] if cut > 20 else text + "."
    return text


_EXAMPLE = ("Paper: Attention Is All You Need\n"
            "Abstract: We propose the Transformer, a network architecture based solely on attention mechanisms, dispensing "
            "with recurrence and convolutions entirely. It is more parallelizable and needs less time to train.\n"
            "Summary: This paper replaces recurrent networks with attention alone, and the resulting Transformer trains faster.\n\n")


def _first_line(text: str) -> str:
    """The first line with words in it, cleaned: a base model often starts with a line break."""
    return next((_clean(line) for line in text.splitlines() if _clean(line)), "")


def _usable(text: str) -> bool:
    """A summary worth saying: four words or more, mostly letters (not '.' or a list of symbols)."""
    words = re.findall(r"[A-Za-z]{2,}", text)
    return len(words) >= 4 and sum(len(w) for w in words) >= 0.6 * len(text.replace(" ", ""))


def summarize_paper(engine: Brancher, paper_id: str, title: str, source: str, *, drafts: int = 3, tokens: int = 40,
                    budget: int = 160, seed: int = 0) -> dict[str, Any]:
    """Fan out `drafts` summaries, judge them, synthesize one; the result cites the paper."""
    excerpt = _clip(engine, source, budget)
    question = f"{_EXAMPLE}Paper: {title}\nAbstract: {excerpt}\n"
    prompt = f"{question}Summary: This paper"
    params = SamplingParams(max_tokens=tokens, stop=("\n",), seed=seed)
    variants = fanout(engine, prompt, drafts, params, temperatures=schedule(drafts, "linear", hot=1.0, cool=0.3))
    usable = [v for v in variants if _usable(_clean(v.text))] or variants
    try:
        judge(engine, question, usable, criterion="How accurate and clear is this summary of the paper")
        scored_by = "judge"
    except (Unsupported, InvalidInput) as e:  # no grammars (the mock model): the model's own surprisal ranks them
        if isinstance(e, PromptTooLong):
            raise
        score_logprob(engine, prompt, usable)
        scored_by = "logprob"
    ranked = prune(usable, k=len(usable))
    sentences = [Variant(f"This paper {v.text.strip()}", v.temperature, v.seed, score=v.score) for v in ranked]
    merged = _first_line(synthesize(engine, question, sentences, mode="improve",
                                    params=SamplingParams(temperature=0, max_tokens=tokens + 8, stop=("\n\n",))))
    best = next((_clean(v.text) for v in ranked if _usable(_clean(v.text))), "")
    body = merged if _usable(merged) else best
    fallback = not body
    if fallback:  # the model wrote nothing usable: say what the abstract says first
        body = _clean(excerpt.split(". ")[0]) or "is in the station's folder."
    body = body if body.startswith("This paper") else f"This paper {body}" if body[:1].islower() else body
    return {
        "id": paper_id,
        "title": title,
        "summary": f"{cite(title, paper_id)}: {body}",
        "body": body,
        "drafts": [{"text": v.text, "temperature": v.temperature, "score": v.score} for v in variants],
        "synthesized": merged,
        "fallback": fallback,
        "scored_by": scored_by,
    }


def kmeans(x: np.ndarray, k: int, *, iters: int = 50, seed: int = 0) -> np.ndarray:
    """Cluster rows of x (n, d) into k groups (k-means++ start, cosine on unit rows); labels (n,)."""
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centers = [x[int(rng.integers(n))]]
    for _ in range(1, k):
        d = np.min([np.sum((x - c) ** 2, axis=1) for c in centers], axis=0)  # (n,)
        total = float(d.sum())
        centers.append(x[int(rng.choice(n, p=d / total))] if total > 0 else x[int(rng.integers(n))])
    c = np.array(centers)  # (k, d)
    labels = np.zeros(n, dtype=int)
    for step in range(iters):
        new = np.argmin(((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2), axis=1)  # (n,)
        if step and np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            if np.any(labels == j):
                c[j] = x[labels == j].mean(axis=0)
    return labels


@dataclass
class Theme:
    """One cluster of a week's papers: a name, the papers, and what they share."""

    name: str
    paper_ids: list[str]
    summary: str


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z][a-z0-9-]{2,}", text.lower()) if w not in _STOP]


def themes(engine: Brancher, papers: list[dict[str, Any]], vectors: np.ndarray, *, k: int | None = None,
           tokens: int = 40) -> list[Theme]:
    """Themes of a week: `papers` (id, title, summary) with their unit vectors (n, d)."""
    if not papers:
        return []
    k = k or max(1, min(4, round(len(papers) / 2)))
    labels = kmeans(vectors, k)
    everywhere = Counter(w for p in papers for w in set(_words(p["title"])))
    found: list[Theme] = []
    for j in sorted(set(labels.tolist()), key=lambda j: -int((labels == j).sum())):
        members = [p for p, label in zip(papers, labels) if label == j]
        here = Counter(w for p in members for w in set(_words(p["title"])))
        ranked = sorted(here, key=lambda w: (-(here[w] / (1 + everywhere.get(w, 0) - min(everywhere.get(w, 0), here[w]))), w))
        name = " and ".join(ranked[:2]) if ranked else "miscellany"
        drafts = [Variant(p.get("body") or p["summary"], 0.0, 0) for p in members]
        question = f"This week's papers on {name}: " + "; ".join(p["title"] for p in members)
        merged = _first_line(synthesize(engine, question, drafts, mode="summarize",
                                        params=SamplingParams(temperature=0, max_tokens=tokens, stop=("\n\n",))))
        found.append(Theme(name, [p["id"] for p in members], merged))
    return found
