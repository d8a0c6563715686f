"""Show scripts: the daily show (the new papers) and the weekly show (the week's themes),
written as lines for two or more hosts, filled to a length in minutes.

    hosts = pick_hosts(2, "en")                       # [Host("Ada", "en-us+f3"), Host("Ben", "en-gb+m3")]
    lines = daily_script(papers, hosts, minutes=3, day="2026-12-07")
    words(lines)                                       # about minutes x WORDS_PER_MINUTE

Length control is by words: the speech stage speaks `WORDS_PER_MINUTE` (espeak-ng's -s), so
a script of N words lasts about N / WORDS_PER_MINUTE minutes. Each paper's citation and
summary always go in; what fills the rest, paper by paper in turn, is its abstract's sentences
and then its text's. A show too short for even that overruns (the duration is measured).
The hosts' own words are English; `language` picks voices of that language where espeak-ng
has them (the summaries are whatever language the model wrote).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

from islands.errors import InvalidInput
from islands.radio.summarize import Theme, cite

__all__ = ["WORDS_PER_MINUTE", "Host", "Line", "daily_script", "pick_hosts", "weekly_script", "words"]

WORDS_PER_MINUTE = 165
_NAMES = ["Ada", "Ben", "Cleo", "Dev"]
_VARIANTS = ["+f3", "+m3", "+f4", "+m1"]
_ACCENTS = {"en": ["en-us", "en-gb", "en-gb-scotland", "en-029"]}
_ORDINALS = ["First up", "Next", "Then", "After that", "And now", "Also new today"]


@dataclass(frozen=True)
class Host:
    name: str
    voice: str  # an espeak-ng voice with a variant, e.g. "en-us+f3"


@dataclass
class Line:
    """One spoken line: who says it, what, and the paper it is about (if any)."""

    host: str
    text: str
    paper_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def espeak_languages() -> set[str]:
    """Language codes espeak-ng has voices for (empty when it is not installed)."""
    try:
        out = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {parts[1] for parts in (line.split() for line in out.splitlines()[1:]) if len(parts) > 1}


def pick_hosts(n: int, language: str = "en") -> list[Host]:
    """n hosts (2-4), each a different voice (accent and variant) of `language`."""
    if not 2 <= n <= len(_NAMES):
        raise InvalidInput(f"invalid hosts={n}: a show has 2 to {len(_NAMES)} hosts")
    known = espeak_languages()
    if known and not any(k == language or k.startswith(f"{language}-") for k in known):
        raise InvalidInput(f"espeak-ng has no voice for language {language!r}; it has {', '.join(sorted(known)[:12])}, ...")
    accents = [a for a in _ACCENTS.get(language, [language]) if not known or a in known or a == language] or [language]
    return [Host(_NAMES[i], f"{accents[i % len(accents)]}{_VARIANTS[i]}") for i in range(n)]


def words(lines: list[Line]) -> int:
    return sum(len(line.text.split()) for line in lines)


def sentences(text: str, *, least: int = 5, most: int = 40) -> list[str]:
    """Speakable sentences of a text: whole ones of `least`..`most` words, mostly letters."""
    text = re.sub(r"-\s*\n\s*", "", text)
    found = []
    for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
        n = len(s.split())
        letters = sum(c.isalpha() or c.isspace() for c in s) / max(1, len(s))
        if least <= n <= most and letters > 0.85 and s[-1:] in ".!?":
            found.append(s)
    return found


def _fill(lines: list[Line], extras: list[list[Line]], budget: int) -> None:
    """Insert extra lines paper by paper in turn until the script reaches `budget` words."""
    have = words(lines)
    used = [0] * len(extras)
    while have < budget:
        progressed = False
        for i, pool in enumerate(extras):
            if used[i] < len(pool) and have < budget:
                extra = pool[used[i]]
                used[i] += 1
                if have + len(extra.text.split()) > budget + 8:
                    continue
                anchor = max(j for j, line in enumerate(lines) if line.paper_id == extra.paper_id)
                lines.insert(anchor + 1, extra)
                have += len(extra.text.split())
                progressed = True
        if not progressed:
            break


def _extras(paper: dict[str, Any], hosts: list[Host], start: int) -> list[Line]:
    pool = [("From the abstract: " if i == 0 else "") + s for i, s in enumerate(sentences(paper.get("abstract", "")))]
    body = sentences(paper.get("text", ""))[1:]
    pool += [("Reading on in the paper: " if i == 0 else "") + s for i, s in enumerate(body)]
    return [Line(hosts[(start + i) % len(hosts)].name, s, paper["id"]) for i, s in enumerate(pool)]


def daily_script(papers: list[dict[str, Any]], hosts: list[Host], *, minutes: float, day: str, part: int = 1) -> list[Line]:
    """The daily show: each paper (id, title, authors, body, abstract, text) cited and summed up."""
    a, b = hosts[0].name, hosts[1].name
    also = f" part {part}" if part > 1 else ""
    lines = [Line(a, f"This is Paper Radio, the daily show for {day}{also}. I'm {a}."),
             Line(b, f"And I'm {b}. We have {len(papers)} new paper{'s' if len(papers) != 1 else ''} for you today.")]
    extras = []
    for i, p in enumerate(papers):
        by = f", by {p['authors']}" if p.get("authors") else ""
        lead, second = hosts[i % len(hosts)].name, hosts[(i + 1) % len(hosts)].name
        lines.append(Line(lead, f"{_ORDINALS[min(i, len(_ORDINALS) - 1)]}: {cite(p['title'], p['id'])}{by}.", p["id"]))
        lines.append(Line(second, p["body"], p["id"]))
        extras.append(_extras(p, hosts, i))
    lines.append(Line(a, "That's the daily show. Every paper is in the feed, with its transcript."))
    lines.append(Line(b, "Thanks for listening to Paper Radio."))
    _fill(lines, extras, round(minutes * WORDS_PER_MINUTE))
    return lines


def weekly_script(found: list[Theme], papers: dict[str, dict[str, Any]], hosts: list[Host], *, minutes: float, week: str) -> list[Line]:
    """The weekly show: the week's themes, each summed up, then its papers cited."""
    a, b = hosts[0].name, hosts[1].name
    total = sum(len(t.paper_ids) for t in found)
    lines = [Line(a, f"This is Paper Radio's weekly show for {week}. I'm {a}."),
             Line(b, f"And I'm {b}. This week: {total} papers in {len(found)} theme{'s' if len(found) != 1 else ''}.")]
    extras = []
    for i, theme in enumerate(found):
        lead, second = hosts[i % len(hosts)].name, hosts[(i + 1) % len(hosts)].name
        ids = theme.paper_ids
        lines.append(Line(lead, f"Theme {i + 1}: {theme.name}, with {len(ids)} paper{'s' if len(ids) != 1 else ''}.", ids[0]))
        if theme.summary:
            lines.append(Line(second, f"What they share: {theme.summary}", ids[0]))
        for j, pid in enumerate(ids):
            p = papers[pid]
            lines.append(Line(hosts[(i + j) % len(hosts)].name, f"{cite(p['title'], pid)}. {p['body']}", pid))
            extras.append(_extras(p, hosts, i + j))
    lines.append(Line(a, "That was the week in papers."))
    lines.append(Line(b, "Paper Radio is back with the daily show tomorrow."))
    _fill(lines, extras, round(minutes * WORDS_PER_MINUTE))
    return lines
