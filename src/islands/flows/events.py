"""A flow run told as events, for drawing its tree of variants as it grows.

    run_flow(engine, flow, inputs, on_event=print)
    # {"event": "started", "flow": "best-of-n", "inputs": {...}, "nodes": [{"id": "drafts", "op": "fanout", "deps": []}, ...]}
    # {"event": "node", "id": "drafts", "op": "fanout", "parent": "root"}           a node begins
    # {"event": "variant", "id": "drafts/0", "node": "drafts", "text": ..., "temperature": 1.0, "seed": 7, "score": null}
    # {"event": "scored", "id": "drafts/0", "score": -0.81, "by": "scored"}
    # {"event": "pruned", "id": "drafts/2", "by": "best"}
    # {"event": "value", "id": "answer", "text": "289", "parent": "drafts/1"}        a node whose value is text
    # {"event": "finished", "output": "289", "winner": ["root", "drafts", "drafts/1", "answer"], "seconds": 1.2}

The tree: "root" (the inputs) -> each node that makes variants -> its variants; a node whose
value is text hangs under the best variant (or node) it read. Nodes that pass variants on
(score, prune, vote) add no tree nodes: they score or prune the variants they were given,
which are recognised by their text, seed and temperature.

What it leaves out: token-by-token growth inside a node (a node's variants appear when it ends).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from islands.flows.variants import Variant

__all__ = ["FlowEvents", "OnEvent"]

OnEvent = Callable[[dict[str, Any]], None]
ROOT = "root"


def _key(v: Variant) -> tuple[str, int, float]:
    return (v.text, v.seed, round(v.temperature, 6))


class FlowEvents:
    """Turns each node's value into events (see the module docstring) for `on_event`."""

    def __init__(self, on_event: OnEvent) -> None:
        self.emit = on_event
        self.ids: dict[tuple[str, int, float], str] = {}  # a variant's key -> its tree id
        self.scores: dict[str, float | None] = {}
        self.best: dict[str, str] = {}  # flow node -> the tree id that stands for its value (its best variant)
        self.parent: dict[str, str] = {}  # tree id -> parent tree id
        self.held: dict[str, list[tuple[str, int, float]]] = {}  # flow node -> the keys of the variants it holds
        self.t0 = time.perf_counter()

    def started(self, name: str, inputs: dict[str, str], nodes: list[tuple[str, str, list[str]]]) -> None:
        self.emit({"event": "started", "flow": name, "inputs": inputs,
                   "nodes": [{"id": i, "op": op, "deps": deps} for i, op, deps in nodes]})

    def _anchor(self, deps: list[str]) -> str:
        """The tree node a new node hangs under: the best of what it read, else the root."""
        for dep in deps:
            if dep in self.best:
                return self.best[dep]
        return ROOT

    def node(self, node_id: str, op: str, deps: list[str]) -> None:
        self.emit({"event": "node", "id": node_id, "op": op, "parent": self._anchor(deps)})

    def value(self, node_id: str, deps: list[str], value: Any, takes: list[str] | None = None,
              candidates: list[dict[str, Any]] | None = None) -> None:
        """A node ended with `value`: variants (new, scored or pruned) or text. `takes`: the
        nodes whose variants it was given (its `from`); those it did not keep are pruned.
        `candidates`: what a text-valued node chose from (`ask`'s candidates, with their spans)."""
        if not isinstance(value, list):
            if candidates:
                self._candidates(node_id, deps, str(value), candidates)
                return
            parent = self._anchor(deps)
            self.parent[node_id] = parent
            self.best[node_id] = node_id
            self.emit({"event": "value", "id": node_id, "text": str(value), "parent": parent})
            return
        given = {self.ids[k] for d in takes or [] for k in self.held.get(d, [])}
        kept: list[tuple[str, Variant]] = []
        for i, v in enumerate(value):
            key = _key(v)
            vid = self.ids.get(key)
            if vid is None:
                vid = self.ids[key] = f"{node_id}/{i}"
                self.parent[vid] = node_id
                self.scores[vid] = v.score
                self.emit({"event": "variant", "id": vid, "node": node_id, "text": v.text, "temperature": v.temperature,
                           "seed": v.seed, "score": v.score, "finish_reason": v.finish_reason})
            elif v.score != self.scores.get(vid):
                self.scores[vid] = v.score
                self.emit({"event": "scored", "id": vid, "score": v.score, "by": node_id, **_answer(v)})
            kept.append((vid, v))
        self.held[node_id] = [_key(v) for _, v in kept]
        for vid in sorted(given - {vid for vid, _ in kept}):
            self.emit({"event": "pruned", "id": vid, "by": node_id})
        if kept:
            best = max(kept, key=lambda p: p[1].score if p[1].score is not None else float("-inf"))
            self.best[node_id] = best[0]

    def _candidates(self, node_id: str, deps: list[str], value: str, candidates: list[dict[str, Any]]) -> None:
        """Candidates as variants under the node; the value hangs under the first that gave it."""
        self.parent[node_id] = self._anchor(deps)
        chosen = None
        for i, c in enumerate(candidates):
            vid = f"{node_id}/{i}"
            self.parent[vid] = node_id
            self.emit({"event": "variant", "id": vid, "node": node_id, "text": c["text"], "temperature": c["temperature"], "seed": i,
                       "score": None, "answer": c.get("answer"), "source": c.get("source"), "spans": c.get("spans", [])})
            if chosen is None and value and c.get("answer") == value:
                chosen = vid
        for i, c in enumerate(candidates):
            if c.get("answer") != value:
                self.emit({"event": "pruned", "id": f"{node_id}/{i}", "by": node_id})
        answer = f"{node_id}/answer"
        self.parent[answer] = chosen or node_id
        self.best[node_id] = answer
        self.emit({"event": "value", "id": answer, "text": value, "parent": chosen or node_id})

    def finished(self, output: Any, output_node: str | None) -> None:
        path: list[str] = []
        at = self.best.get(output_node or "", output_node or "")
        while at and at != ROOT:
            path.append(at)
            at = self.parent.get(at, ROOT)
        path.append(ROOT)
        self.emit({"event": "finished", "output": str(output), "winner": path[::-1],
                   "seconds": round(time.perf_counter() - self.t0, 3)})


def _answer(v: Variant) -> dict[str, Any]:
    return {"answer": v.meta["answer"]} if v.meta.get("answer") is not None else {}
