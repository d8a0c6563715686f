"""Tune recall weights on the LoCoMo dev conversations (26, 30, 41) only: import once into
/tmp stores, then search every question under each variant. Prints R@5 all-evidence by category.

    PYTHONPATH=src python scripts/tune_recall.py /work/shared/data/locomo-dev 'hop=0' 'neighbour=0' ...
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from islands.memory.conversation import import_chat, read_chat
from islands.memory.embed import embedder_from
from islands.memory.locomo import _Tally, _turn_ids, load_questions
from islands.memory.recall import RecallParams
from islands.memory.store import MemoryStore


def main() -> None:
    data = Path(sys.argv[1])
    variants = sys.argv[2:] or [""]
    emb = embedder_from("minilm")
    stores = []
    for f in sorted(data.glob("*.json")):
        path = Path(f"/tmp/locomo-tune/{f.stem}.sqlite")
        path.parent.mkdir(exist_ok=True)
        store = MemoryStore.open(path, embedder=emb)
        import_chat(store, read_chat(f))
        stores.append((store, load_questions(f)))
    for v in variants:
        p = RecallParams()
        for kv in filter(None, v.split(",")):
            key, val = kv.split("=")
            p = replace(p, **{key: type(getattr(p, key))(float(val) if val not in ("True", "False") else val == "True")})
        tally, t0, n = _Tally(), time.perf_counter(), 0
        for store, qs in stores:
            for q in qs:
                if q.evidence:
                    tally.add(q, _turn_ids(store, store.search(q.text, k=10, touch=False, params=p)))
                    n += 1
        ms = 1000 * (time.perf_counter() - t0) / n
        t = tally.table()
        cells = " ".join(f"{c[:6]}={t[c]['r@5_all']:.3f}" for c in t)
        print(f"{v or 'default':40s} {cells} any5={t['all']['r@5_any']:.3f} r10={t['all']['r@10_all']:.3f} {ms:.1f}ms", flush=True)


if __name__ == "__main__":
    main()
