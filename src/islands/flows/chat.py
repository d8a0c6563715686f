"""Chat over a memory: recall before answering, remember the user's statements after.

    chat = ChatSession(engine, store, system="Answer briefly.")
    turn = chat.turn("My cat is called Biscuit.")   # turn.reply, turn.recalled, turn.remembered

The pieces are shared with the server's chat endpoint, so a chat behaves the same in both:
- `end_of_turn(model)`: the text that ends an assistant turn in the model's own chat
  template (`<end_of_turn>` for Gemma, `<|im_end|>` for ChatML), used as a stop string;
- `with_memories(store, messages, k)`: the memories recalled for the last user message go
  into that message as "Remembered: [1] …" notes;
- `remember_statements(engine, store, message)`: questions are not memories; the message's
  other sentences go through `remember`'s surprise gate.

What it leaves out: remembering the model's own replies (they would echo back as facts).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from islands.engine import Engine
from islands.engine.model import Model
from islands.errors import InvalidInput
from islands.memory import MemoryStore, Remembered, remember
from islands.memory.store import Memory
from islands.params import SamplingParams

__all__ = ["ChatSession", "Turn", "end_of_turn", "remember_statements", "statements", "with_memories"]

Message = tuple[str, str]  # (role, content)
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")


def end_of_turn(model: Model) -> str:
    """What ends an assistant turn in `model`'s chat template ("" when it cannot be told):
    the text between an assistant message and the next user turn's opener."""
    ask = model.chat_prompt([("user", "U")])
    turns = model.chat_prompt([("user", "U"), ("assistant", "A"), ("user", "V")])
    at = ask.find("U")
    head = turns.find("A", turns.find("U") + 1)
    tail = turns.find("V", head + 1)
    if at < 0 or head < 0 or tail < 0:
        return ""
    between, opener = turns[head + 1: tail], ask[:at]
    for k in range(len(opener), 0, -1):
        if between.endswith(opener[-k:]):
            between = between[:-k]
            break
    return between.strip()


def chat_params(model: Model, params: SamplingParams) -> SamplingParams:
    """`params` that also stop at the end of the assistant's turn."""
    end = end_of_turn(model)
    return params.replace(stop=(*params.stop, end)) if end and end not in params.stop else params


def with_memories(store: MemoryStore, messages: Sequence[Message], k: int = 3) -> tuple[list[Message], list[Memory]]:
    """`messages` with the memories recalled for the last user message written into it."""
    out = list(messages)
    last = next((i for i in range(len(out) - 1, -1, -1) if out[i][0] == "user"), None)
    if last is None or not any(c.isalnum() for c in out[last][1]):
        return out, []
    recalled = store.search(out[last][1], k=k)
    if recalled:
        notes = "".join(f"[{i + 1}] {m.text}\n" for i, m in enumerate(recalled))
        out[last] = ("user", f"Remembered:\n{notes}\n{out[last][1]}")
    return out, recalled


def statements(message: str) -> str:
    """The message without its questions (sentences ending in '?')."""
    kept = [s.strip() for s in _SENTENCE.findall(message.strip()) if s.strip() and not s.strip().endswith("?")]
    return " ".join(kept)


def remember_statements(engine: Engine, store: MemoryStore, message: str, *, source: str = "chat") -> Remembered | None:
    """Remember what the user stated (surprise-gated); None when the message only asks."""
    told = statements(message)
    if not any(c.isalnum() for c in told):
        return None
    return remember(engine, store, told, source=source)


@dataclass
class Turn:
    message: str
    reply: str
    recalled: list[Memory]
    remembered: Remembered | None  # None: the message only asked


@dataclass
class ChatSession:
    engine: Engine
    store: MemoryStore | None
    params: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.7, max_tokens=96))
    recall_k: int = 3
    system: str | None = None
    history: list[Message] = field(default_factory=list)
    keep_turns: int = 6

    def clear(self) -> None:
        """Forget the conversation (the memory store keeps what it stored)."""
        self.history = []

    def turn(self, message: str, on_text: Callable[[int, str], None] | None = None) -> Turn:
        if not message.strip():
            raise InvalidInput("the message is empty")
        messages: list[Message] = [("system", self.system)] if self.system else []
        messages += [*self.history[-2 * self.keep_turns:], ("user", message)]
        recalled: list[Memory] = []
        if self.store is not None:
            messages, recalled = with_memories(self.store, messages, self.recall_k)
        prompt = self.engine.model.chat_prompt(messages)
        reply = self.engine.generate(prompt, params=chat_params(self.engine.model, self.params), on_text=on_text).text.strip()
        remembered = remember_statements(self.engine, self.store, message) if self.store is not None else None
        self.history += [("user", message), ("assistant", reply)]
        return Turn(message, reply, recalled, remembered)
