"""The memory browser's reads: search, one memory with its raw episodes (and what sleep merged
into it or replaced it with), the newest memories, and the values.

    GET /islands/memory?q=WORDS&k=10    {"memories": [...]}: search when q is given, else the newest
    GET /islands/memory/{id}            {"memory": {...}, "episodes": [{"id", "text"}], "replaced_by": {...} | null,
                                         "merged": [{...}]}  (the memories this one superseded)
    GET /islands/values                 {"values": [{"name", "weight", "curve", "rate", "level", "marginal"}]}

A server without --memory answers 400. Reads only: the API's `memory` extension writes.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from islands.errors import InvalidInput
from islands.memory import Memory, MemoryStore, ValueStore
from islands.server.errors import ApiError
from islands.server.state import state_of

__all__ = ["router"]

router = APIRouter()


def _store(request: Request) -> MemoryStore:
    state = state_of(request)
    state.authorize(request)
    if state.memory is None:
        raise ApiError(400, "this server has no memory (start it with --memory FILE or URL)", param="memory")
    return state.memory


def _plain(m: Memory) -> dict[str, Any]:
    return {k: v for k, v in asdict(m).items() if k != "extra"} | {"found_by": {k: str(v) for k, v in m.extra.items()}}


@router.get("/islands/memory")
async def memories(request: Request, q: str = "", k: int = 20) -> dict[str, Any]:
    store = _store(request)
    if not 1 <= k <= 200:
        raise ApiError(400, "k must be from 1 to 200", param="k")
    if q.strip():
        try:
            found = await asyncio.to_thread(store.search, q, k, include_invalid=True, touch=False)
        except InvalidInput as e:
            raise ApiError(400, str(e), param="q") from None
    else:
        found = sorted(await asyncio.to_thread(store.memories, False), key=lambda m: -m.created)[:k]
    return {"memories": [_plain(m) for m in found], "stats": await asyncio.to_thread(store.stats)}


@router.get("/islands/memory/{memory_id}")
async def memory(request: Request, memory_id: int) -> dict[str, Any]:
    store = _store(request)

    def read() -> dict[str, Any]:
        try:
            m = store.get(memory_id)
        except (InvalidInput, KeyError, LookupError):
            raise ApiError(404, f"no memory {memory_id}", "not_found") from None
        episodes = []
        for eid in m.episode_ids:
            try:
                episodes.append({"id": eid, "text": store.episode(eid)})
            except (InvalidInput, KeyError, LookupError):
                episodes.append({"id": eid, "text": None})
        merged = [_plain(o) for o in store.memories(valid_only=False) if o.replaced_by == memory_id]
        replaced = _plain(store.get(m.replaced_by)) if m.replaced_by is not None else None
        return {"memory": _plain(m), "episodes": episodes, "merged": merged, "replaced_by": replaced}

    return await asyncio.to_thread(read)


@router.get("/islands/values")
async def values(request: Request) -> dict[str, Any]:
    store = _store(request)
    listed = await asyncio.to_thread(ValueStore(store).list)
    return {"values": [{"name": v.name, "weight": v.weight, "curve": v.curve, "rate": v.rate, "level": v.level,
                        "marginal": v.marginal} for v in listed]}
