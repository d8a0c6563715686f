"""Chat: the end of turn read from the model's template, questions not remembered, memories
recalled into the last user message (one function for `islands chat` and the server), the
session's system message, /clear and /history; the real chat model ends its turn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from islands.engine import Engine, MockModel
from islands.flows.chat import ChatSession, end_of_turn, statements, with_memories
from islands.memory import MemoryStore
from islands.params import SamplingParams


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    return MemoryStore.open(tmp_path / "m.sqlite", embedder="none")


def test_end_of_turn_comes_from_the_template() -> None:
    class ChatML(MockModel):
        def chat_prompt(self, messages):  # type: ignore[no-untyped-def]
            return "".join(f"<|im_start|>{r}\n{c}<|im_end|>\n" for r, c in messages) + "<|im_start|>assistant\n"

    assert end_of_turn(MockModel()) == "<end_of_turn>"  # the default template is Gemma's
    assert end_of_turn(ChatML()) == "<|im_end|>"


def test_questions_are_not_statements() -> None:
    assert statements("My cat is called Biscuit. What does she eat? She likes fish!") == "My cat is called Biscuit. She likes fish!"
    assert statements("What is my cat called?") == ""
    assert statements("Dr. Reed is our dentist.") == "Dr. Reed is our dentist."


def test_memories_go_into_the_last_user_message(store: MemoryStore) -> None:
    store.add_memory("The harbour bell rings at noon.")
    messages, recalled = with_memories(store, [("system", "Be brief."), ("user", "hello"), ("user", "When does the harbour bell ring?")])
    assert [m.text for m in recalled] == ["The harbour bell rings at noon."]
    assert messages[:2] == [("system", "Be brief."), ("user", "hello")]
    assert messages[2] == ("user", "Remembered:\n[1] The harbour bell rings at noon.\n\nWhen does the harbour bell ring?")
    assert with_memories(store, [("user", "?!")]) == ([("user", "?!")], [])


def test_a_session_keeps_its_system_message_and_clears(store: MemoryStore) -> None:
    engine = Engine(MockModel())
    chat = ChatSession(engine, store, SamplingParams(max_tokens=4, seed=1), system="Answer in one word.")
    asked = chat.turn("When does the ferry leave?")
    assert asked.remembered is None and store.stats()["episodes"] == 0
    told = chat.turn("The ferry leaves at nine.")
    assert told.remembered is not None and store.stats()["episodes"] == 1
    assert [r for r, _ in chat.history] == ["user", "assistant", "user", "assistant"]
    chat.clear()
    assert chat.history == []
    no_memory = ChatSession(engine, None, SamplingParams(max_tokens=2))
    assert no_memory.turn("hi").remembered is None


@pytest.mark.model
def test_islands_chat_with_the_chat_model(islands_home: Path, tmp_path: Path) -> None:
    script = "My cat is called Biscuit.\nWhat is the capital of France?\n/history\n/clear\n/history\n/quit\n"
    p = subprocess.run([sys.executable, "-m", "islands", "chat", "--memory", str(tmp_path / "m.sqlite"), "--embedder", "none",
                        "-t", "0", "-n", "30", "--system", "Answer briefly."], input=script, capture_output=True, text=True,
                       timeout=300, check=False)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "Paris" in out
    assert "remembered: a question: nothing" in out  # the question was not stored
    assert out.count("you> What is the capital of France?") == 1  # /history printed the turn once
    assert "(conversation cleared)" in out and out.rstrip().endswith("(no conversation yet)")
