"""Conversation logs into memory: `islands memory import-chat FILE`.

Two formats are read:

- LoCoMo JSON: `speaker_a`, `speaker_b`, `session_N` (turns with `speaker`, `dia_id`, `text`,
  sometimes `blip_caption` for a shared photo) and `session_N_date_time`. The dataset's
  LLM-written fields (`session_N_summary`, `session_N_observation`, `events_session_N`) are
  never read.
- Plain JSONL, the general format: one turn a line,
  `{"speaker": "Ann", "time": "2023-05-08T13:56", "text": "..."}` (time: ISO 8601, a Unix
  time, or "1:56 pm on 8 May, 2023"; optional `id`, `session` and `caption`). Without
  `session`, a gap of more than an hour starts a new one.

Each turn becomes one raw episode (the turn as read, source `chat <conversation> s<session>
t<index> <id>`) and one memory linked to it: "<speaker> on <day>: <text>", with relative
dates resolved against the turn's time ("yesterday [7 May 2023]") and a photo's caption
appended. The memory's `created` is the turn's time. Neighbouring turns, sessions and
speakers are read back from the episodes' sources by recall (`islands.memory.recall`).

A re-import adds only turns not yet stored (the conversation is named by a hash of its
first turn, a turn by its position, id and text), so nothing is duplicated; a turn whose
text changed supersedes its old memory; a malformed file is refused before anything is
written.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from islands.errors import InvalidInput
from islands.memory.dates import annotate, day_words, parse_when
from islands.memory.store import MemoryStore

__all__ = ["SOURCE", "Conversation", "Turn", "import_chat", "read_chat", "turn_memory_text", "turn_source"]

SOURCE = re.compile(r"chat (?P<conv>\w+) s(?P<session>\d+) t(?P<index>\d+) (?P<id>\S+)")
SESSION_GAP_S = 3600.0


@dataclass(frozen=True)
class Turn:
    speaker: str
    when: datetime
    text: str
    id: str
    session: int
    index: int  # position in the conversation, from 0
    caption: str = ""


@dataclass
class Conversation:
    name: str  # a hash of the first turn: the same conversation has the same name
    turns: list[Turn]

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.turns})


def _name(turns: list[Turn]) -> str:
    first = turns[0]
    return hashlib.sha1(f"{first.speaker}\n{first.when.isoformat()}\n{first.text}".encode()).hexdigest()[:12]


def _text_of(raw: dict[str, Any], where: str, key: str = "text") -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: a turn needs {key!r} as a string")
    return value


def _read_locomo(doc: dict[str, Any], path: Path) -> list[Turn]:
    sessions = sorted((int(m.group(1)), key) for key in doc if (m := re.fullmatch(r"session_(\d+)", key)))
    if not sessions:
        raise InvalidInput(f"{path}: no session_N lists (expected LoCoMo JSON or JSONL turns)")
    turns: list[Turn] = []
    for number, key in sessions:
        raw_turns = doc[key]
        if not isinstance(raw_turns, list):
            raise InvalidInput(f"{path}: {key} is not a list of turns")
        if not raw_turns:
            continue
        header = doc.get(f"{key}_date_time")
        if not isinstance(header, str):
            raise InvalidInput(f"{path}: {key} has no {key}_date_time")
        when = parse_when(header)
        for i, raw in enumerate(raw_turns):
            where = f"{path}: {key}[{i}]"
            if not isinstance(raw, dict):
                raise InvalidInput(f"{where}: a turn must be an object")
            speaker, text = _text_of(raw, where, "speaker"), _text_of(raw, where)
            caption = raw.get("blip_caption") or ""
            turn_id = str(raw.get("dia_id") or f"D{number}:{i + 1}")
            turns.append(Turn(speaker.strip(), when, text.strip(), turn_id, number, len(turns), str(caption).strip()))
    return turns


def _read_jsonl(lines: list[str], path: Path) -> list[Turn]:
    turns: list[Turn] = []
    session, last = 0, None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"{where}: not JSON ({e.msg})") from None
        if not isinstance(raw, dict):
            raise InvalidInput(f"{where}: a turn must be an object with speaker, time and text")
        speaker, text = _text_of(raw, where, "speaker"), _text_of(raw, where)
        if "time" not in raw or isinstance(raw["time"], bool) or not isinstance(raw["time"], str | int | float):
            raise InvalidInput(f"{where}: a turn needs 'time' (ISO 8601, Unix time or '1:56 pm on 8 May, 2023')")
        try:
            when = parse_when(str(raw["time"]))
        except InvalidInput as e:
            raise InvalidInput(f"{where}: {e}") from None
        if "session" in raw:
            if isinstance(raw["session"], bool) or not isinstance(raw["session"], int):
                raise InvalidInput(f"{where}: session must be a whole number")
            session = raw["session"]
        elif last is not None and (when - last).total_seconds() > SESSION_GAP_S:
            session += 1
        last = when
        turn_id = str(raw.get("id") or f"{len(turns) + 1}")
        if not re.fullmatch(r"\S+", turn_id):
            raise InvalidInput(f"{where}: id must have no spaces")
        turns.append(Turn(speaker.strip(), when, text.strip(), turn_id, session, len(turns), str(raw.get("caption") or "").strip()))
    return turns


def read_chat(path: Path) -> Conversation:
    """A conversation from LoCoMo JSON or JSONL turns; a malformed file is InvalidInput."""
    try:
        raw = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    doc: Any = None
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and not {"speaker", "time", "text"} & doc.keys():  # one JSONL line is an object too
        turns = _read_locomo(doc, path)
    elif isinstance(doc, list):
        raise InvalidInput(f"{path}: a JSON list; write one turn a line (JSONL) or LoCoMo JSON")
    else:
        turns = _read_jsonl(raw.splitlines(), path)
    if not turns:
        raise InvalidInput(f"{path}: no turns")
    for t in turns:
        if not t.speaker or not (t.text or t.caption):
            raise InvalidInput(f"{path}: turn {t.id} has no speaker or no text")
    return Conversation(_name(turns), turns)


def turn_memory_text(turn: Turn) -> str:
    """The memory a turn becomes: speaker, day, text with dates resolved, photo caption."""
    text = annotate(turn.text, turn.when)
    if turn.caption:
        text += f" (shared a photo: {turn.caption})"
    return f"{turn.speaker} on {day_words(turn.when)}: {text}"


def turn_source(conv: Conversation, turn: Turn) -> str:
    return f"chat {conv.name} s{turn.session} t{turn.index} {turn.id}"


def _raw(turn: Turn) -> str:
    doc: dict[str, Any] = {"speaker": turn.speaker, "time": turn.when.isoformat(), "text": turn.text, "id": turn.id,
                           "session": turn.session}
    if turn.caption:
        doc["caption"] = turn.caption
    return json.dumps(doc, ensure_ascii=False)


def import_chat(store: MemoryStore, conv: Conversation, *, batch: int = 128,
                progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Store the turns not stored yet (episode + memory each), in one transaction.
    Returns {"turns": new turns, "skipped": turns already there, "sessions": sessions}."""
    have = {source: (eid, text) for eid, text, source, _ in store.episodes_from(f"chat {conv.name} ")}
    todo = [t for t in conv.turns if have.get(turn_source(conv, t), (0, ""))[1] != _raw(t)]
    changed = {have[turn_source(conv, t)][0]: t.index for t in todo if turn_source(conv, t) in have}
    replaced: dict[int, int] = {}  # turn index -> the memory of its earlier text
    if changed:
        for m in store.memories():
            for e in m.episode_ids:
                if e in changed:
                    replaced[changed[e]] = m.id
    texts = [turn_memory_text(t) for t in todo]
    # the summary (searched by BM25 too) is the turn before: a reply is found by its question's words
    context = {t.index: f"{p.speaker}: {p.text}" for p, t in zip(conv.turns, conv.turns[1:]) if p.session == t.session}
    done = 0
    if progress:
        progress(0, len(todo))
    with store.transaction():
        for lo in range(0, len(todo), batch):
            chunk = todo[lo : lo + batch]
            vectors = store._embed(texts[lo : lo + batch])
            for i, t in enumerate(chunk):
                created = t.when.timestamp()
                episode = store.add_episode(_raw(t), turn_source(conv, t), created)
                new_id = store.add_memory(texts[lo + i], summary=context.get(t.index, ""), episode_ids=[episode], created=created,
                                          vector=None if vectors is None else vectors[i], kind="turn")
                if t.index in replaced:  # the turn was edited since: the old text stops being valid, kept on disk
                    store.supersede(replaced[t.index], new_id)
            done += len(chunk)
            if progress:
                progress(done, len(todo))
    return {"turns": len(todo), "skipped": len(conv.turns) - len(todo), "sessions": len({t.session for t in conv.turns})}
