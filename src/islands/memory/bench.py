"""Memory benchmarks: retrieval over planted facts among distractors (recall@5, latency,
ingest rate, sleep time), and surprise gating (planted facts kept, predictable prose not).

Data are generated from a seed: facts "The <attribute> of <entity> is <value>." with
unique entity names, distractors about other entities, and a fifth of the planted facts
updated later through the write path's own check (`write.keep`, what `remember` runs): the
old fact is superseded only when that check notices the change (`updates_detected`), and
the question must find the new value, not the old one.

Surprise gating is reported on held-out texts (`split="report"`): the defaults γ = 2.0 and
margin = 0.2 were chosen on the texts now in the tuning split, not on these.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.memory.embed import Embedder, embedder_from
from islands.memory.sleep import sleep
from islands.memory.store import MemoryStore
from islands.memory.write import Remembered, keep, remember

__all__ = ["bench_retrieval", "bench_surprise"]

ATTRS = ["colour", "height", "owner", "age", "price", "home port", "captain", "cargo", "flag", "engine"]
SYL = ["ka", "lo", "mi", "ren", "sta", "vo", "quin", "dre", "hal", "zu", "pe", "tor", "ny", "bra", "fel"]


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(SYL) for _ in range(3)).capitalize()


def bench_retrieval(sizes: tuple[int, ...] = (1000, 10_000, 100_000), *, queries: int = 100, seed: int = 0,
                    embedder: Embedder | str | None = None, sleep_at: int = 10_000,
                    progress: Callable[[str], None] | None = None,
                    open_store: Callable[[Embedder | None], MemoryStore] | None = None) -> dict[str, Any]:
    """Per size: recall@5 of planted (and later updated) facts, p50/p95 query latency,
    ingest rate (embedding included), and sleep time at `sleep_at`. `embedder` None: BM25
    alone; else hybrid (the query's embedding is part of its latency). `open_store` gives
    another (empty) store per size, e.g. on PostgreSQL; default: a temporary SQLite file."""
    out: dict[str, Any] = {}
    if isinstance(embedder, str):
        embedder = embedder_from(embedder)
    if embedder is not None:
        embedder.embed(["warm up"])  # loading the model is not ingest time
    for size in sizes:
        rng = random.Random(seed + size)
        if progress:
            progress(f"{size:,} memories")
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(embedder) if open_store else MemoryStore.open(Path(tmp) / "m.sqlite", embedder=embedder)
            if store.stats()["memories"]:
                store.close()
                raise InvalidInput(f"the benchmark needs an empty store, and {store.location} has memories")
            names: set[str] = set()
            while len(names) < size:
                names.add(_name(rng) + _name(rng))
            entities = sorted(names)
            planted = entities[:queries]
            facts = [f"The {rng.choice(ATTRS)} of {e} is {rng.randint(1, 999)}." for e in entities]
            t0 = time.perf_counter()
            for start in range(0, size, 1000):
                store.add_memories(facts[start : start + 1000])
            ingest = size / (time.perf_counter() - t0)
            updated, detected = {}, 0
            for e in planted[: queries // 5]:  # later updates, written as `remember` writes: it must notice the change
                idx = entities.index(e)
                new_text = facts[idx].rsplit(" is ", 1)[0] + f" is {rng.randint(1000, 1999)}."
                result = Remembered(store.add_episode(new_text))
                keep(store, new_text, result)
                detected += any(store.get(old).text == facts[idx] for old in result.superseded)
                updated[e] = new_text
            hits, latencies = 0, []
            for i, e in enumerate(planted):
                attr = facts[i].split(" of ")[0].removeprefix("The ")
                q0 = time.perf_counter()
                found = store.search(f"What is the {attr} of {e}?", k=5, touch=False)
                latencies.append(time.perf_counter() - q0)
                want = updated.get(e, facts[i])
                stale = e in updated and any(m.text == facts[i] for m in found)  # the old value must stop answering
                hits += any(m.text == want for m in found) and not stale
            row: dict[str, Any] = {
                "recall_at_5": round(hits / len(planted), 3),
                "p50_ms": round(1000 * statistics.median(latencies), 2),
                "p95_ms": round(1000 * sorted(latencies)[int(0.95 * len(latencies))], 2),
                "ingest_per_s": round(ingest),
                "updates_detected": round(detected / max(1, len(updated)), 3),
            }
            if size == sleep_at:
                t0 = time.perf_counter()
                sleep(store, None, reflect=False)
                row["sleep_s"] = round(time.perf_counter() - t0, 2)
            store.close()
            out[str(size)] = row
    return out


# tuning split: the texts gamma and margin were chosen on; report split: held out, for the numbers
PROSE = {
    "tune": [
        "The sun rises in the morning and sets in the evening.",
        "People usually eat breakfast before they go to work.",
        "Children go to school during the week and play at the weekend.",
        "Water boils when it is heated for long enough.",
        "In winter the days are shorter and the nights are longer.",
        "Many people like to drink a cup of tea in the afternoon.",
    ],
    "report": [
        "Most shops open in the morning and close in the evening.",
        "It is usually colder at night than during the day.",
        "Many families have dinner together in the evening.",
        "Trees lose their leaves in the autumn.",
        "People often take an umbrella when it looks like rain.",
        "A good night of sleep helps people feel rested.",
    ],
}
PLANTED = {
    "tune": [
        "The ferry to Hoy now leaves Stromness at 07:42 on Tuesdays.",
        "Captain Ravelstoke keeps a tortoise named Quill on the bridge.",
        "The lighthouse at Noup Head was repainted violet in 2031.",
        "Orkney's tide gauge recorded 4.91 metres on the ninth of March.",
        "The island bakery sells kelp croissants for 3.75 pounds each.",
    ],
    "report": [
        "The harbourmaster of Kettletoft breeds albino ferrets called Pim and Zog.",
        "Bus 57 to Birsay now runs only on the third Thursday at 16:05.",
        "The chapel on Eynhallow stores 212 jars of rhubarb chutney.",
        "Mrs Quarrie paid 8.40 pounds for a blue lobster in 2029.",
        "The Sanday windmill was moved 33 metres north after the gale.",
    ],
}


def bench_surprise(engine: Engine, *, texts: int = 10, seed: int = 0, gamma: float = 2.0, margin: float = 0.2,
                   split: str = "report") -> dict[str, Any]:
    """Share of planted facts stored, and share of predictable sentences not stored, on the
    held-out texts (`split="report"`) or those γ and margin are tuned on (`"tune"`)."""
    if split not in PROSE:
        raise InvalidInput(f"unknown split {split!r}: tune or report")
    prose, planted = PROSE[split], PLANTED[split]
    rng = random.Random(seed + (1000 if split == "report" else 0))
    kept_planted = planted_total = kept_prose = prose_total = 0
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore.open(Path(tmp) / "m.sqlite")
        for _ in range(texts):
            fact = rng.choice(planted)
            sentences = rng.sample(prose, 4)
            sentences.insert(rng.randrange(1, 4), fact)
            result = remember(engine, store, " ".join(sentences), gamma=gamma, margin=margin)
            stored = " ".join(store.get(i).text for i in result.memory_ids + result.reinforced)
            planted_total += 1
            kept_planted += fact in stored
            for s in sentences:
                if s != fact:
                    prose_total += 1
                    kept_prose += s in stored
        store.close()
    return {
        "split": split,
        "texts": texts,
        "planted_stored": round(kept_planted / planted_total, 3),
        "predictable_not_stored": round(1 - kept_prose / prose_total, 3),
    }
