"""Sleep: consolidate and prune, offline.

1. near-duplicates merge into the oldest (importance added up; the others superseded);
2. clusters of related memories get a reflection the model writes, linked to its sources;
3. memories whose keep-score (recency x importance x use) falls below a threshold, or whose
   TTL ran out unused, stop being valid (`valid_to`) — kept on disk, out of recall;
4. with `forget_raw`, episodes no valid memory points to are deleted (the only deletion).

    report = sleep(store, engine)   # {"merged": 2, "reflections": 1, "pruned": 3, ...}
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass, field

from islands.engine import Engine
from islands.memory.store import Memory, MemoryStore
from islands.params import SamplingParams

__all__ = ["SleepReport", "sleep"]


@dataclass
class SleepReport:
    merged: list[tuple[int, int]] = field(default_factory=list)  # (kept, merged into it)
    reflections: list[int] = field(default_factory=list)
    pruned: list[int] = field(default_factory=list)
    forgotten_episodes: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 2}


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:[.:]\d+)?", text))


def _valid(store: MemoryStore) -> list[Memory]:
    return store.memories(valid_only=True)


def keep_score(m: Memory, now: float, half_life_days: float = 30.0) -> float:
    """recency x importance x use: a fresh, important or often used memory scores high."""
    age = (now - (m.last_accessed or m.created)) / 86400
    return float(0.5 ** (age / half_life_days) * m.importance * (1 + math.log1p(m.access_count)))


def sleep(store: MemoryStore, engine: Engine | None = None, *, threshold: float = 0.05, ttl_days: float | None = None,
          reflect: bool = True, forget_raw: bool = False, now: float | None = None) -> SleepReport:
    t0 = time.perf_counter()
    now = now if now is not None else time.time()
    report = SleepReport()
    memories = _valid(store)
    by_id = {m.id: m for m in memories}
    gone: set[int] = set()
    with store.transaction():
        for a in memories:  # 1. near-duplicates, among each memory's closest matches (FTS), not all pairs
            if a.id in gone or not _words(a.text):
                continue
            for hit in store.search(a.text, k=4, touch=False, any_word=True, dense=False):
                b = by_id.get(hit.id)
                if b is None or b.id <= a.id or b.id in gone:
                    continue
                wa, wb = _words(a.text), _words(b.text)
                if len(wa & wb) / len(wa | wb) >= 0.8 and _numbers(a.text) == _numbers(b.text):
                    links = sorted(set(a.episode_ids) | set(b.episode_ids))
                    a.importance += b.importance
                    store.update(a.id, importance=a.importance, episode_ids=links)
                    store.update(b.id, valid_to=now, replaced_by=a.id)
                    gone.add(b.id)
                    report.merged.append((a.id, b.id))
    memories = [m for m in _valid(store) if m.id not in gone]
    if reflect and engine is not None:  # 2. reflections over clusters sharing words
        used: set[int] = set()
        for m in memories:
            if m.id in used or m.kind == "reflection":
                continue
            near = {h.id for h in store.search(m.text, k=8, touch=False, any_word=True, dense=False)} if _words(m.text) else set()
            cluster = [o for o in memories if o.id in near and o.id != m.id and o.id not in used
                       and o.kind != "reflection" and len(_words(m.text) & _words(o.text)) >= 2]
            if len(cluster) < 2:
                continue
            group = [m, *cluster[:4]]
            used.update(x.id for x in group)
            notes = "\n".join(f"- {x.text}" for x in group)
            text = engine.generate(f"Notes:\n{notes}\nOne sentence that sums these notes up:",
                                   params=SamplingParams(temperature=0, max_tokens=40, stop=("\n",))).text.strip()
            if text:
                links = sorted({e for x in group for e in x.episode_ids})
                rid = store.add_memory(text, summary="reflection of " + ", ".join(f"#{x.id}" for x in group), episode_ids=links,
                                       importance=max(x.importance for x in group), model=engine.info().name, kind="reflection")
                report.reflections.append(rid)
    with store.transaction():  # 3. decay and prune
        for m in _valid(store):
            expired = ttl_days is not None and (now - (m.last_accessed or m.created)) / 86400 > ttl_days and m.access_count == 0
            if expired or keep_score(m, now) < threshold:
                store.update(m.id, valid_to=now)
                report.pruned.append(m.id)
        if forget_raw:  # 4. the only deletion, and only when asked
            keep = {e for m in _valid(store) for e in m.episode_ids}
            ids = [e[0] for e in store.episodes() if e[0] not in keep]
            store.delete_episodes(ids)
            report.forgotten_episodes = len(ids)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report
