"""LoCoMo recall benchmark: `islands bench recall --data DIR`.

Each conversation file of DIR (LoCoMo JSON) is imported with `import_chat` into its own
temporary SQLite store; every question of categories 1-4 (1 multi-hop, 2 temporal,
3 open-domain, 4 single-hop; 5, adversarial, has no evidence and is skipped) is searched
with `MemoryStore.search(question, k=10)`. A question counts at k when the top k hold
all of its evidence turns (all-evidence) or at least one (any-evidence). Questions with
no evidence listed are left out (and counted).

With an engine: the surprise gate (`remember`, what `islands chat` uses) over the same
turns on another store (the share of turns it keeps, recall over what it kept), and
end-to-end answers from the top 5 memories scored with LoCoMo's token F1 on a sample.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import string
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.memory.conversation import Conversation, import_chat, read_chat, turn_memory_text, turn_source
from islands.memory.embed import Embedder
from islands.memory.recall import RecallParams
from islands.memory.store import MemoryStore
from islands.memory.write import remember
from islands.params import SamplingParams

__all__ = ["Question", "bench_recall", "load_questions", "token_f1"]

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (1, 5, 10)


@dataclass(frozen=True)
class Question:
    text: str
    answer: str
    evidence: tuple[str, ...]
    category: int


def load_questions(path: Path) -> list[Question]:
    """Categories 1-4 of a LoCoMo file's `qa` (evidence ids split where the data joins them)."""
    doc = json.loads(path.read_text())
    out = []
    for qa in doc.get("qa", []):
        if qa.get("category") not in CATEGORIES:
            continue
        evidence = tuple(e for raw in qa.get("evidence", []) for e in re.findall(r"D\d+:\d+", str(raw)))
        out.append(Question(str(qa["question"]), str(qa.get("answer", "")), evidence, int(qa["category"])))
    return out


def _normalize(text: str) -> list[str]:
    text = text.lower().replace(",", " ")
    text = "".join(c for c in text if c not in string.punctuation)
    return [w for w in text.split() if w not in ("a", "an", "the", "and")]


def token_f1(prediction: str, answer: str) -> float:
    """LoCoMo's token F1 (lower case, punctuation and articles dropped; no stemming)."""
    p, a = _normalize(prediction), _normalize(answer)
    common = sum((Counter(p) & Counter(a)).values())
    if not p or not a or not common:
        return 0.0
    precision, recall = common / len(p), common / len(a)
    return 2 * precision * recall / (precision + recall)


class _Tally:
    def __init__(self) -> None:
        self.hits: dict[str, list[int]] = {}

    def add(self, q: Question, found: list[str]) -> None:
        want = set(q.evidence)
        for k in KS:
            top = set(found[:k])
            for cat in ("all", CATEGORIES[q.category]):
                self.hits.setdefault(f"{cat}/all/{k}", []).append(int(want <= top))
                self.hits.setdefault(f"{cat}/any/{k}", []).append(int(bool(want & top)))

    def table(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for cat in ("all", *CATEGORIES.values()):
            if f"{cat}/all/1" not in self.hits:
                continue
            row: dict[str, Any] = {"questions": len(self.hits[f"{cat}/all/1"])}
            for mode in ("all", "any"):
                for k in KS:
                    xs = self.hits[f"{cat}/{mode}/{k}"]
                    row[f"r@{k}_{mode}"] = round(sum(xs) / len(xs), 3)
            out[cat] = row
        return out


def _turn_ids(store: MemoryStore, found: list[Any]) -> list[str]:
    index = store.chat_index()
    out: list[str] = []
    for m in found:
        ref = index.turns.get(m.id)
        if ref is not None and ref.turn_id not in out:
            out.append(ref.turn_id)
    return out


def _answer(engine: Engine, question: str, memories: list[str]) -> str:
    notes = "\n".join(f"- {m}" for m in memories)
    prompt = f"Notes from a conversation:\n{notes}\n\nQuestion: {question}\nShort answer (a few words):"
    return engine.generate(prompt, params=SamplingParams(temperature=0, max_tokens=24, stop=("\n",))).text.strip()


def _told(progress: Callable[[str, int, int], None] | None, what: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    report = progress
    return lambda done, total: report(what, done, total)


def bench_recall(data: Path, *, embedder: Embedder | None, params: RecallParams | None = None, gate: Engine | None = None,
                 gate_turns: int = 0, f1_engine: Engine | None = None, f1_questions: int = 0, seed: int = 0,
                 progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """R@1/5/10 (all and any evidence) by category, p50/p95 search ms, ingest turns/s; with
    `gate`, the same over what `remember` kept (with `gate_turns`, over each conversation's
    first `gate_turns` turns only, and the questions whose evidence lies among them); with
    `f1_engine`, token F1 on a sample."""
    files = sorted(data.glob("*.json"))
    if not files:
        raise InvalidInput(f"{data}: no LoCoMo .json files")
    convs: list[tuple[str, Conversation, list[Question]]] = []
    for f in files:
        try:
            convs.append((f.stem, read_chat(f), load_questions(f)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise InvalidInput(f"{f}: not LoCoMo JSON ({e})") from None
    if embedder is not None:
        embedder.embed(["warm up"])  # loading the model is not ingest time
    tally, latencies, no_evidence = _Tally(), [], 0
    turns = ingest_s = 0.0
    answered: list[tuple[Question, list[str]]] = []
    gated, ungated = _Tally(), _Tally()  # the gate's questions, over what it kept and over every turn
    full: dict[tuple[str, int], list[str]] = {}
    kept = total = 0
    gate_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, conv, questions in convs:
            store = MemoryStore.open(Path(tmp) / f"{name}.sqlite", embedder=embedder)
            t0 = time.perf_counter()
            import_chat(store, conv, progress=_told(progress, f"import {name}"))
            ingest_s += time.perf_counter() - t0
            turns += len(conv.turns)
            for i, q in enumerate(questions):
                if not q.evidence:
                    no_evidence += 1
                    continue
                q0 = time.perf_counter()
                found = store.search(q.text, k=10, touch=False, params=params)
                latencies.append(time.perf_counter() - q0)
                full[(name, i)] = _turn_ids(store, found)
                tally.add(q, full[(name, i)])
                answered.append((q, [m.text for m in found[:5]]))
                if progress:
                    progress(f"search {name}", i + 1, len(questions))
            store.close()
            if gate is not None:
                gstore = MemoryStore.open(Path(tmp) / f"{name}-gated.sqlite", embedder=embedder)
                t0 = time.perf_counter()
                gated_turns = conv.turns[:gate_turns] if gate_turns > 0 else conv.turns
                for i, turn in enumerate(gated_turns):
                    r = remember(gate, gstore, turn_memory_text(turn), source=turn_source(conv, turn))
                    kept += bool(r.memory_ids or r.reinforced)
                    if progress:
                        progress(f"remember {name}", i + 1, len(gated_turns))
                gate_s += time.perf_counter() - t0
                total += len(gated_turns)
                inside = {t.id for t in gated_turns}
                for i, q in enumerate(questions):
                    if q.evidence and set(q.evidence) <= inside:
                        gated.add(q, _turn_ids(gstore, gstore.search(q.text, k=10, touch=False, params=params)))
                        ungated.add(q, full[(name, i)])
                gstore.close()
    ms = sorted(1000 * x for x in latencies)
    out: dict[str, Any] = {
        "data": str(data),
        "conversations": [name for name, _, _ in convs],
        "embedder": embedder.name if embedder is not None else "none",
        "turns": int(turns),
        "questions": len(latencies),
        "left_out_without_evidence": no_evidence,
        "recall": tally.table(),
        "search_ms": {"p50": round(statistics.median(ms), 2), "p95": round(ms[int(0.95 * (len(ms) - 1))], 2)},
        "ingest_turns_per_s": round(turns / ingest_s, 1),
    }
    if gate is not None:
        out["gate"] = {"turns": total, "kept_share": round(kept / max(1, total), 3),
                       "turns_per_s": round(total / max(gate_s, 1e-9), 2), "recall_over_kept": gated.table(),
                       "recall_same_questions_every_turn": ungated.table()}
    if f1_engine is not None and f1_questions > 0:
        sample = random.Random(seed).sample(answered, min(f1_questions, len(answered)))
        scores: dict[str, list[float]] = {}
        t0 = time.perf_counter()
        for i, (q, memories) in enumerate(sample):
            f1 = token_f1(_answer(f1_engine, q.text, memories), q.answer)
            scores.setdefault("all", []).append(f1)
            scores.setdefault(CATEGORIES[q.category], []).append(f1)
            if progress:
                progress("answer", i + 1, len(sample))
        out["f1"] = {"questions": len(sample), "model": f1_engine.info().name,
                     "seconds_per_answer": round((time.perf_counter() - t0) / len(sample), 2),
                     **{cat: round(sum(xs) / len(xs), 3) for cat, xs in scores.items()}}
    return out
