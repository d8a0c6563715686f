"""A chat that recalls before answering and remembers after (surprise-gated).

    chat = ChatSession(engine, store)
    turn = chat.turn("When does the ferry leave?")   # turn.reply, turn.recalled, turn.remembered

Each turn: memories recalled for the message go into the prompt as soft islands
("Remembered: [1] …"), the model answers in its chat format, and the user's message goes
through `remember` (only what surprises the model is stored).

What it leaves out: remembering the model's own replies (they would echo back as facts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.memory import MemoryStore, Remembered, remember
from islands.memory.store import Memory
from islands.params import SamplingParams

__all__ = ["ChatSession", "Turn"]


@dataclass
class Turn:
    message: str
    reply: str
    recalled: list[Memory]
    remembered: Remembered


@dataclass
class ChatSession:
    engine: Engine
    store: MemoryStore
    params: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.7, max_tokens=96))
    recall_k: int = 3
    history: list[tuple[str, str]] = field(default_factory=list)

    def turn(self, message: str, on_text: Callable[[int, str], None] | None = None) -> Turn:
        if not message.strip():
            raise InvalidInput("the message is empty")
        recalled = self.store.search(message, k=self.recall_k) if any(c.isalnum() for c in message) else []
        notes = "".join(f"[{i + 1}] {m.text}\n" for i, m in enumerate(recalled))
        content = (f"Remembered:\n{notes}\n{message}" if notes else message)
        prompt = self.engine.model.chat_prompt([*self.history[-6:], ("user", content)])
        params = self.params.replace(stop=tuple(self.params.stop) + ("<end_of_turn>",))
        reply = self.engine.generate(prompt, params=params, on_text=on_text).text.strip()
        remembered = remember(self.engine, self.store, message, gamma=1.0, source="chat")  # short messages: a lower bar
        self.history += [("user", message), ("assistant", reply)]
        return Turn(message, reply, recalled, remembered)
