"""`islands chat`: a terminal chat with the instruction-tuned embedded model that recalls
memories before answering and remembers the user's statements (not questions) after.

Commands at the prompt: /clear (forget the conversation), /history (print it), /quit."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from islands.cli.common import CtxOption, ModelOption, die, load_engine
from islands.cli.memory import EmbedderOption, MemoryOption, open_store

__all__ = ["chat"]

COMMANDS = "/clear forgets the conversation, /history prints it, /quit ends the chat"


def _write(_index: int, text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def chat(
    memory: MemoryOption = None,
    embedder: EmbedderOption = None,
    model: ModelOption = None,
    ctx: CtxOption = 4096,
    max_tokens: Annotated[int, typer.Option("--max-tokens", "-n", help="Tokens per reply.")] = 256,
    system: Annotated[str | None, typer.Option("--system", "-s", help="A system message that opens the chat.", show_default=False)] = None,
    temperature: Annotated[float, typer.Option("--temperature", "-t", help="Sampling temperature.")] = 0.7,
    no_memory: Annotated[bool, typer.Option("--no-memory", help="Neither recall nor remember.")] = False,
) -> None:
    """A terminal chat (default model: smollm2-135m-instruct) that recalls before answering and
    remembers what you state. /clear, /history, /quit."""
    from islands.engine.embedded import CHAT_MODEL
    from islands.errors import InvalidInput
    from islands.flows.chat import ChatSession
    from islands.params import SamplingParams

    if not 1 <= max_tokens <= 8192:
        die(f"invalid --max-tokens {max_tokens}: must be between 1 and 8192")
    try:
        params = SamplingParams(temperature=temperature, max_tokens=max_tokens)
    except InvalidInput as e:
        die(str(e))
    store = None if no_memory else open_store(memory, embedder)
    session = ChatSession(load_engine(model, ctx, default=CHAT_MODEL), store, params, system=system)
    console = Console(highlight=False)
    if sys.stdin.isatty():
        console.print(f"[dim]{COMMANDS}[/]")
    while True:
        if sys.stdin.isatty():
            console.print("[bold]you>[/] ", end="")
        line = sys.stdin.readline()
        text = line.strip()
        if not line or text in ("/quit", "/exit"):
            break
        if not text:
            continue
        if text == "/clear":
            session.clear()
            console.print("[dim](conversation cleared)[/]")
            continue
        if text == "/history":
            for role, content in session.history:
                console.print(f"[bold]{'you' if role == 'user' else 'islands'}>[/] {escape(content)}")
            if not session.history:
                console.print("[dim](no conversation yet)[/]")
            continue
        if text.startswith("/"):
            console.print(f"[dim]unknown command {escape(text.split()[0])}: {COMMANDS}[/]")
            continue
        console.print("[bold]islands>[/] ", end="")
        turn = session.turn(text, on_text=_write)
        console.print()
        if store is not None:
            used = ", ".join(f"#{m.id}" for m in turn.recalled) or "none"
            kept = (
                "a question: nothing"
                if turn.remembered is None
                else ", ".join(f"#{i}" for i in turn.remembered.memory_ids) or "nothing new"
            )
            console.print(f"[dim](recalled: {used}; remembered: {kept})[/]")
