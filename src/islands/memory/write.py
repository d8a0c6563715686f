"""The write path: keep what surprised the model.

The observation is scored token by token under the current model. A token whose surprisal
exceeds the running mean + γ·std of the tokens before it starts a segment; a sentence
where such a spike starts, and whose mean surprisal is above the rest of the episode's by
a margin, is kept as a memory (the sentence as text, the spiky segment as summary, linked
to the raw episode, which is always kept). Predictable text is not stored
twice. A memory that repeats an old one reinforces it instead; one that says the same
thing with different numbers supersedes it (`valid_to`, `replaced_by`) — nothing deleted.

    r = remember(engine, store, "The 09:00 ferry now leaves at 10:15 on Sundays.")
    r.memory_ids, r.reinforced, r.superseded, r.surprise
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.memory.store import MemoryStore

__all__ = ["Remembered", "keep", "remember", "segments"]


@dataclass
class Remembered:
    episode_id: int
    memory_ids: list[int] = field(default_factory=list)
    reinforced: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    surprise: list[float] = field(default_factory=list)  # per token, nats
    kept_chars: int = 0


def segments(surprisal: list[float], gamma: float = 1.0, prior: tuple[float, float, int] = (2.5, 2.0, 4)) -> list[tuple[int, int, bool]]:
    """(start, end, surprising) token ranges; a token above mean + γ·std of what came
    before starts a new, surprising segment. The running statistics start from a prior
    (mean, std, weight in tokens) of typical surprisal, so a surprise in the first words
    counts too.

    segments([1, 1, 1, 1, 9, 1, 1], gamma=1.0) -> [(0, 4, False), (4, 7, True)]
    """
    out: list[tuple[int, int, bool]] = []
    start, spiky = 0, False
    mean, std, n = prior
    m2 = std * std * n
    for i, s in enumerate(surprisal):
        if s > mean + gamma * math.sqrt(m2 / n):
            if i > start:
                out.append((start, i, spiky))
                start = i
            spiky = True
        n += 1
        delta = s - mean
        mean += delta / n
        m2 += delta * (s - mean)
    if start < len(surprisal):
        out.append((start, len(surprisal), spiky))
    return out


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:[.:]\d+)?", text))


# a sentence ends at . ! ? followed by a space or the end ("4.91" and "e.g.x" do not end one),
# and not at the stop of an abbreviation ("Dr. Lee", "at 9 a.m. on", "pears etc. and")
ABBREVIATIONS = ("Mrs", "Mr", "Ms", "Dr", "St", "Prof", "Jr", "Sr", "vs", "etc", "e.g", "i.e", "a.m", "p.m", "approx")
_ABBREVIATION = r"\b(?:" + "|".join(re.escape(a) for a in ABBREVIATIONS) + r")\."
SENTENCE = re.compile(rf"(?:{_ABBREVIATION}|[^.!?\n]|[.!?](?=[^\s.!?]))+[.!?]*", re.IGNORECASE)


def _surprising_sentences(engine: Engine, observation: str, gamma: float, margin: float,
                          result: Remembered) -> list[tuple[str, str, float]]:
    """Sentences that hold a surprise spike and whose mean surprisal is above the rest of
    the episode's by `margin` (0.2: a fifth): (sentence, the spiky segment, its mean)."""
    scored = engine.score("", observation)
    result.surprise = surprise = scored.surprisal
    starts, at = [], 0
    for piece in scored.pieces:
        starts.append(at)
        at += len(piece)
    shift = len(observation) - at  # the tokenizer may drop a leading space
    total = sum(surprise)
    spans = [(m.start(), m.end()) for m in SENTENCE.finditer(observation) if m.group().strip()]
    out = []
    for lo, hi, spiky in segments(surprise, gamma):
        if not spiky:
            continue
        char = starts[lo] + shift
        for s0, s1 in spans:
            if s0 <= char < s1:
                inside = [x for i, x in enumerate(surprise) if s0 <= starts[i] + shift < s1]
                mean = sum(inside) / len(inside) if inside else 0.0
                rest = (total - sum(inside)) / max(1, len(surprise) - len(inside))
                if len(spans) == 1 or mean > (1 + margin) * rest:  # one sentence: its spike is enough
                    segment = observation[char : min(s1, (starts[hi - 1] + shift + len(scored.pieces[hi - 1])))].strip()
                    out.append((observation[s0:s1].strip(), segment, mean))
                break
    return out


def remember(engine: Engine, store: MemoryStore, observation: str, *, always: bool = False, gamma: float = 2.0,
             margin: float = 0.2, source: str = "") -> Remembered:
    """Store the raw episode, and as memories the parts that surprised the model."""
    if not observation.strip():
        raise InvalidInput("nothing to remember: the text is empty")
    result = Remembered(store.add_episode(observation, source))
    model = engine.info().name
    if always:
        candidates = [(observation.strip(), observation.strip(), 0.0)]
    else:
        candidates = _surprising_sentences(engine, observation, gamma, margin, result)
    seen: set[str] = set()
    for text, summary, surprise in candidates:
        if not text or text in seen:
            continue
        seen.add(text)
        keep(store, text, result, summary=summary, surprise=surprise, model=model)
    return result


def keep(store: MemoryStore, text: str, result: Remembered, *, summary: str | None = None, surprise: float = 0.0,
         model: str = "") -> None:
    """Store one kept sentence, linked to `result.episode_id`: a repeat of an old memory
    reinforces it, the same thing with other numbers supersedes it, anything else is new."""
    result.kept_chars += len(text)
    summary = text if summary is None else summary
    similar = store.search(text, k=1, touch=False) if _words(text) else []
    if similar:
        old = similar[0]
        overlap = len(_words(old.text) & _words(text)) / max(1, len(_words(old.text) | _words(text)))
        if overlap >= 0.8 and _numbers(old.text) == _numbers(text):
            store.reinforce(old.id)
            result.reinforced.append(old.id)
            return
        if overlap >= 0.4 and _numbers(old.text) != _numbers(text) and _numbers(text):
            with store.transaction():  # the new fact and the old one's end land together
                new_id = store.add_memory(text, summary=summary, episode_ids=[result.episode_id], surprise=surprise, model=model)
                store.supersede(old.id, new_id)
            result.memory_ids.append(new_id)
            result.superseded.append(old.id)
            return
    result.memory_ids.append(store.add_memory(text, summary=summary, episode_ids=[result.episode_id], surprise=surprise, model=model))
