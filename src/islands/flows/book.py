"""The book of learned tasks: what `learn` kept for a task, in the memory store.

A learned task is stored as one raw episode (source `learn:TASK`, the `Learned` as JSON:
structures that reproduced the examples, the model's verified solutions) and, linked to it,
one memory per thought structure and per verified solution (its question and worked
solution), so recall, export and sleep see them like any other memory. The newest episode
of a task is the task's current book; learning again writes a new one and keeps the old.

    save_learned(store, learned)                 # -> the episode id
    load_learned(store, "navigate")              # -> Learned or None
    learned_tasks(store)                         # -> {"navigate": 3, ...} (episode ids)

A verified answer to a new question joins the book when the book did not already predict
it (`add_surprise`): the structures gave no answer and no stored solution was for it.

What it leaves out: merging two books of the same task (the newest wins).
"""

from __future__ import annotations

import json
import re

from islands.errors import InvalidInput
from islands.flows.demos import Demo
from islands.flows.learn import Learned
from islands.memory import MemoryStore

__all__ = ["SOURCE", "add_surprise", "learned_tasks", "load_learned", "save_learned", "valid_task_name"]

SOURCE = "learn:"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def valid_task_name(task: str) -> str:
    """The task's name if it is usable (letters, digits, `_.-`, at most 64), else InvalidInput."""
    if not _NAME.fullmatch(task):
        raise InvalidInput(f"invalid task name {task!r}: use letters, digits, '_', '.' or '-' (at most 64)")
    return task


def _memory_text(demo: Demo) -> str:
    return f"Q: {demo.question}\nA: {demo.solution}"


def save_learned(store: MemoryStore, learned: Learned) -> int:
    """Store `learned` as a new episode with its structures and solutions as memories."""
    valid_task_name(learned.task)
    with store.transaction():
        episode = store.add_episode(json.dumps(learned.to_json(), ensure_ascii=False), source=SOURCE + learned.task)
        for s in learned.structures:
            store.add_memory(f"Task {learned.task}: structure {s.name} reproduced {s.solved} examples.",
                             summary=f"thought structure for {learned.task}: {s.name}", episode_ids=[episode])
        for demo in learned.demos:
            store.add_memory(_memory_text(demo), summary=f"verified solution for {learned.task}", episode_ids=[episode])
    return episode


def learned_tasks(store: MemoryStore) -> dict[str, int]:
    """Each learned task and the id of its newest episode."""
    out: dict[str, int] = {}
    for episode_id, _text, source, _created in store.episodes():
        if source.startswith(SOURCE):
            out[source[len(SOURCE):]] = episode_id  # episodes come oldest first: the newest wins
    return out


def load_learned(store: MemoryStore, task: str) -> Learned | None:
    """The newest book of `task`, or None when it was never learned."""
    episode_id = learned_tasks(store).get(task)
    if episode_id is None:
        return None
    try:
        return Learned.from_json(json.loads(store.episode(episode_id)))
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidInput(f"the stored book of task {task!r} is damaged: {e}") from None


def add_surprise(store: MemoryStore, learned: Learned, demo: Demo) -> Learned:
    """`demo` (a new question's verified solution) joins the task's book, stored as a new
    episode; returns the grown book. Known questions are not added twice."""
    if any(d.question == demo.question for d in learned.demos):
        return learned
    grown = Learned.from_json(learned.to_json())
    grown.demos.append(demo)
    save_learned(store, grown)
    return grown
