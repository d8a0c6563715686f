"""Recall: what `MemoryStore.search` runs. No model in the query path besides the embedder.

1. candidates: BM25 over every query word (full-text, stemmed; all words first, then any),
   the nearest vectors, and, when the question names a day or a month ("on May 3, 2023"),
   the memories written with that date in the same words (`islands.memory.dates`);
2. fusion by weighted reciprocal rank;
3. structure read from imported conversations (`islands.memory.conversation`): a turn by a
   speaker the question names counts more (when it names none: the speaker of the first
   hit, so "the owner of Biscuit" becomes whoever spoke of Biscuit), and a turn next to a
   strong hit gets part of its score (an answer often sits right after the question that
   holds the words; the turns after the best hits join the candidates);
4. a second round (multi-hop: recall, read, recall again): the words the first hits add to
   the question are searched again and fused in, at a lower weight;
5. one result per exchange: a turn next to one already chosen waits behind the others.

The weights (`RecallParams`) were tuned on the three LoCoMo dev conversations (26, 30, 41)
only; the other seven are held out.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from islands.errors import InvalidInput
from islands.memory.dates import query_dates

if TYPE_CHECKING:
    from islands.memory.store import Memory, Recall, Storage

__all__ = ["ChatIndex", "RecallParams", "recall"]

SOURCE = re.compile(r"chat (?P<conv>\w+) s(?P<session>\d+) t(?P<index>\d+) (?P<id>\S+)")
SAID = re.compile(r"([^:\n]+?) on \d{1,2} [A-Z][a-z]+ \d{4}: (.*)", re.DOTALL)


@dataclass(frozen=True)
class RecallParams:
    pool: int = 40  # candidates per list (at least 4 k)
    rrf_k: float = 10.0  # reciprocal-rank fusion: weight / (rrf_k + rank)
    w_bm25: float = 1.0
    w_dense: float = 0.8
    w_date: float = 1.0
    speaker: float = 2.0  # a turn by a speaker the question names: score x (1 + speaker)
    neighbour: float = 0.25  # a turn gets this share of its best neighbour's score
    reply: float = 0.5  # the turn after a question gets this share of the question's score
    reach: int = 10  # the turns after the best hits join the candidates
    hop: float = 0.5  # weight of the second round's lists
    hop_hits: int = 2  # first hits whose words feed the second round
    hop_words: int = 8
    hop_dense: bool = True  # the second round searches vectors too (the question's and the first hits' mean)
    spread: bool = False  # a turn next to one already chosen waits behind the other hits
    per_session: int = 0  # more turns than this from one session wait behind the other hits (0: no limit)


@dataclass(frozen=True)
class TurnRef:
    conv: str
    session: int
    index: int
    speaker: str
    turn_id: str
    asks: bool  # the turn asks a question


class ChatIndex:
    """Imported conversations' structure: memory id -> turn, turn -> memory id, speakers."""

    def __init__(self, store: Storage) -> None:
        refs: dict[int, TurnRef] = {}
        for eid, text, source, _ in store.episodes_from("chat "):
            m = SOURCE.fullmatch(source)
            if not m:
                continue
            try:
                raw = json.loads(text)
                speaker, said = str(raw.get("speaker", "")), str(raw.get("text", ""))
            except (json.JSONDecodeError, AttributeError):  # a turn `remember`ed as text: "Ann on 8 May 2023: ..."
                said_by = SAID.match(text)
                speaker, said = (said_by[1], said_by[2]) if said_by else ("", text)
            refs[eid] = TurnRef(m["conv"], int(m["session"]), int(m["index"]), speaker, m["id"], "?" in said)
        self.turns: dict[int, TurnRef] = {}
        self.at: dict[tuple[str, int], int] = {}
        if refs:
            for mem in store.memories():
                for e in mem.episode_ids:
                    if e in refs:
                        self.turns[mem.id] = refs[e]
                        self.at[(refs[e].conv, refs[e].index)] = mem.id
                        break
        self.speakers = {r.speaker.lower() for r in self.turns.values() if r.speaker}

    def next(self, memory_id: int) -> int | None:
        ref = self.turns.get(memory_id)
        other = None if ref is None else self.at.get((ref.conv, ref.index + 1))
        return other if other is not None and ref is not None and self.turns[other].session == ref.session else None

    def neighbours(self, memory_id: int) -> list[int]:
        ref = self.turns.get(memory_id)
        if ref is None:
            return []
        out = []
        for d in (-1, 1):
            other = self.at.get((ref.conv, ref.index + d))
            if other is not None and self.turns[other].session == ref.session:
                out.append(other)
        return out


@functools.cache
def _embedding_thread() -> ThreadPoolExecutor:
    """The one thread a question's vector is computed on, beside the full-text search."""
    return ThreadPoolExecutor(1, thread_name_prefix="recall-embed")


def _fuse(lists: list[tuple[float, list[Memory]]], rrf_k: float) -> dict[int, Memory]:
    found: dict[int, Memory] = {}
    for weight, ranked in lists:
        for rank, mem in enumerate(ranked, 1):
            kept = found.setdefault(mem.id, mem)
            if kept is not mem:  # how each list found it: bm25_rank, dense_rank, similarity
                kept.extra.update({k: v for k, v in mem.extra.items() if k not in kept.extra})
            kept.score += weight / (rrf_k + rank)
    return found


def _lexical(store: Storage, words: list[str], pool: int, include_invalid: bool, any_word: bool) -> list[Memory]:
    both = store._match(words, pool, include_invalid, all_words=True) if len(words) > 1 and not any_word else []
    seen = {m.id for m in both}
    rest = [m for m in store._match(words, pool, include_invalid, all_words=False) if m.id not in seen]
    out = both + rest
    for rank, mem in enumerate(out, 1):
        mem.extra["bm25_rank"] = rank
    return out[:pool]


def recall(store: Recall, query: str, words: list[str], k: int, *, include_invalid: bool, any_word: bool, dense: bool,
           params: RecallParams, weigh: Callable[[Memory], float]) -> list[Memory]:
    """The best `k` memories, best first, with `score` set; `weigh(memory)` multiplies
    each fused score (recency and importance)."""
    from islands.memory.store import query_words

    p = params
    pool = max(p.pool, 4 * k)
    index = store.chat_index()
    embedder = store.embedder if dense else None
    # the question's vector is computed beside the full-text search (BLAS and SQLite both let go of the GIL)
    pending = _embedding_thread().submit(embedder.embed, [query]) if embedder is not None else None
    with store._lock:  # one connection: other threads' transactions are not read half-done
        lexical = _lexical(store, words, pool, include_invalid, any_word)
        dated = [m for d in query_dates(query) for m in store._match([d], pool, include_invalid, all_words=False)]
        vector = pending.result()[0] if pending is not None else None
        nearest = [] if vector is None else [
            (m, s) for m, s in store._nearest(vector, pool, include_invalid) if s >= store.min_similarity]
    for rank, (mem, similarity) in enumerate(nearest, 1):
        mem.extra.update(dense_rank=rank, similarity=round(float(similarity), 4))
    lists = [(p.w_bm25, lexical), (p.w_dense, [m for m, _ in nearest]), (p.w_date, dated)]
    found = _fuse(lists, p.rrf_k)
    first_hits: list[Memory] = []
    if p.hop > 0 and found:  # 2. recall again with what the first hits add
        first = first_hits = sorted(found.values(), key=lambda m: -m.score)[: p.hop_hits]
        have = set(words) | index.speakers
        extra: list[str] = []
        for mem in first:
            for w in query_words(mem.text.split(": ", 1)[-1]):
                if w not in have and len(w) > 3 and not w.isdigit() and w not in extra:
                    extra.append(w)
        extra = extra[: p.hop_words]
        if extra:
            with store._lock:
                again = _lexical(store, words + extra, pool, include_invalid, True)
                if vector is not None and p.hop_dense:
                    hit_vectors = [v for v in (store.vector(m.id) for m in first) if v is not None]
                    if hit_vectors:
                        mixed = vector + np.mean(hit_vectors, axis=0)
                        mixed = mixed / (np.linalg.norm(mixed) or 1.0)
                        near2 = [m for m, s in store._nearest(mixed, pool, include_invalid) if s >= store.min_similarity]
                    else:
                        near2 = []
                else:
                    near2 = []
            for mem in [*again, *near2]:
                mem.score = 0.0
            second = _fuse([(p.hop * p.w_bm25, again), (p.hop * p.w_dense, near2)], p.rrf_k)
            for mid, mem in second.items():
                if mid in found:
                    found[mid].score += mem.score
                else:
                    found[mid] = mem
    if index.turns:  # 3. structure of conversations
        named = {w for w in re.findall(r"\w+", query.lower()) if w in index.speakers}
        if not named and p.hop > 0 and first_hits:  # "the owner of Biscuit": whoever spoke of Biscuit
            named = {index.turns[m.id].speaker.lower() for m in first_hits[:1] if m.id in index.turns}
        if p.reach:
            best = sorted(found.values(), key=lambda m: -m.score)[: p.reach]
            for mem in best:
                after = index.next(mem.id)
                if after is not None and after not in found:
                    try:
                        found[after] = store.get(after)
                    except InvalidInput:
                        continue
                    if not include_invalid and found[after].valid_to is not None:
                        del found[after]
        base = {mid: m.score for mid, m in found.items()}
        for mid, mem in found.items():
            ref = index.turns.get(mid)
            if ref is None:
                continue
            before = index.at.get((ref.conv, ref.index - 1))
            after = index.next(mid)
            gain = 0.0
            if before is not None and index.turns[before].session == ref.session:
                gain = (p.reply if index.turns[before].asks else p.neighbour) * base.get(before, 0.0)
            if after is not None:
                gain = max(gain, p.neighbour * base.get(after, 0.0))
            mem.score += gain
            if ref.speaker.lower() in named:
                mem.score *= 1 + p.speaker
    for mem in found.values():
        mem.score *= weigh(mem)
    ranked = sorted(found.values(), key=lambda m: (-m.score, m.id))
    if index.turns and (p.spread or p.per_session):  # 5. spread over exchanges and sessions, while others are left
        chosen: list[Memory] = []
        waiting: list[Memory] = []
        taken: set[int] = set()
        sessions: dict[tuple[str, int], int] = {}
        for mem in ranked:
            if len(chosen) >= k:
                break
            ref = index.turns.get(mem.id)
            where = (ref.conv, ref.session) if ref is not None else ("", -mem.id)
            if (p.spread and taken & set(index.neighbours(mem.id))) or (p.per_session and sessions.get(where, 0) >= p.per_session):
                waiting.append(mem)
            else:
                chosen.append(mem)
                taken.add(mem.id)
                sessions[where] = sessions.get(where, 0) + 1
        ranked = chosen + waiting + ranked[len(chosen) + len(waiting):]
    return ranked[:k]
