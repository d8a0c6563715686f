"""`islands learn TASK --examples FILE` and `islands solve TASK QUESTION`: learn a task from a
few examples (thought structures and verified solutions, kept in the memory store), then
answer new questions of it with what was learned.

What it leaves out: the search itself (flows/learn.py) and the book's format (flows/book.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from islands.cli.common import CtxOption, ModelOption, die, err, load_engine
from islands.cli.memory import EmbedderOption, MemoryOption, open_store

__all__ = ["learn_command", "solve_command"]


def learn_command(
    task: Annotated[str | None, typer.Argument(help="The task's name (letters, digits, _ . -).", show_default=False)] = None,
    examples: Annotated[Path | None, typer.Option("--examples", "-e", help="JSONL of {question, answer[, choices]}.",
                                                  show_default=False)] = None,
    propose: Annotated[int, typer.Option("--propose", help="Candidate solutions the model proposes per example.")] = 4,
    list_tasks: Annotated[bool, typer.Option("--list", help="List the learned tasks and stop.")] = False,
    memory: MemoryOption = None,
    embedder: EmbedderOption = None,
    model: ModelOption = None,
    ctx: CtxOption = 4096,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Learn TASK from the examples in FILE: library structures whose programs reproduce every
    example, and the model's solutions whose executed result equals the known answer, stored as
    thought structures in the memory store."""
    from islands.flows.book import learned_tasks, save_learned, valid_task_name
    from islands.flows.learn import Lesson, learn
    from islands.flows.library import load_library, model_vocabulary
    from islands.tasks.data import load_task

    if list_tasks:
        store = open_store(memory, embedder or "none")
        tasks = learned_tasks(store)
        store.close()
        typer.echo(json.dumps(tasks) if as_json else "\n".join(f"{name}\tepisode #{ep}" for name, ep in sorted(tasks.items())))
        return
    if task is None or examples is None:
        die("give a TASK name and --examples FILE (or --list)")
    valid_task_name(task)
    if not 0 <= propose <= 16:
        die(f"invalid --propose {propose}: must be between 0 and 16")
    loaded = load_task(examples, task)  # one-line errors for a missing, empty or malformed file
    lessons = [Lesson(e.question, e.answers, e.choices, loaded.format_of(e).task_prefix) for e in loaded.examples]
    if len(lessons) > 64:
        die(f"{examples} has {len(lessons)} examples: learn from at most 64 (a few are enough)")
    store = open_store(memory, embedder)
    engine = load_engine(model, ctx)
    library = load_library()
    vocabulary = model_vocabulary(engine) if any("vocabulary" in s.inputs for s in library) else None
    with err.status("learning") as status:
        learned = learn(engine, task, lessons, library=library, propose=propose, vocabulary=vocabulary, say=status.update)
    episode = save_learned(store, learned)
    store.close()
    doc = learned.to_json() | {"episode": episode}
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False))
        return
    solved = len({d.question for d in learned.demos})
    typer.echo(f"learned {task} from {len(lessons)} examples in {learned.seconds:.1f} s (episode #{episode})")
    for name, count in sorted(learned.tried.items()):
        mark = "kept" if any(s.name == name for s in learned.structures) else "not kept"
        typer.echo(f"  structure {name}: reproduced {count}/{len(lessons)}, {mark}")
    typer.echo(f"  the model's verified solutions: {solved}/{len(lessons)} examples")


def solve_command(
    task: Annotated[str, typer.Argument(help="A learned task (islands learn --list).", show_default=False)],
    question: Annotated[str, typer.Argument(help="The question.", show_default=False)],
    choices: Annotated[str | None, typer.Option("--choices", help="Options, comma-separated: the answer is one of them.",
                                                  show_default=False)] = None,
    branches: Annotated[int, typer.Option("--branches", "-b", help="Candidate answers when no structure answers.")] = 6,
    grow: Annotated[bool, typer.Option("--grow/--no-grow", help="A verified answer the book did not predict joins it.")] = True,
    memory: MemoryOption = None,
    embedder: EmbedderOption = None,
    model: ModelOption = None,
    ctx: CtxOption = 4096,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Answer QUESTION with what `islands learn` kept for TASK: its structures first, else
    candidates shown its verified solutions as the nearest demonstrations."""
    from islands.flows.book import add_surprise, load_learned, valid_task_name
    from islands.flows.demos import Demo
    from islands.flows.learn import solve

    valid_task_name(task)
    if not question.strip():
        die("question is empty")
    if not 1 <= branches <= 64:
        die(f"invalid --branches {branches}: must be between 1 and 64")
    options = [c.strip() for c in choices.split(",")] if choices is not None else None
    if options is not None and (len(options) < 2 or not all(options)):
        die("--choices needs at least two non-empty options, comma-separated")
    store = open_store(memory, embedder)
    learned = load_learned(store, task)
    if learned is None:
        store.close()
        die(f"task {task!r} was never learned: islands learn {task} --examples FILE")
    engine = load_engine(model, ctx)
    result = solve(engine, question, learned=learned, choices=options, n=branches)
    joined = False
    if grow and result.verified and result.structure is None and result.answer is not None:
        winner = next((c for c in result.candidates if c.computed and c.answer == result.answer), None)
        if winner is not None:
            slot = next(s for s in winner.spans if s.answer)
            before = len(learned.demos)
            learned = add_surprise(store, learned, Demo(question.strip(), winner.text[: slot.end].strip()))
            joined = len(learned.demos) > before
    store.close()
    doc = {"task": task, "question": question, "answer": result.answer, "verified": result.verified,
           "computed": result.computed, "method": result.method, "structure": result.structure,
           "margin": result.margin, "joined_book": joined}
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False))
        return
    how = f"structure {result.structure}" if result.structure else result.method
    Console().print(f"[bold]Answer:[/] {result.answer if result.answer is not None else '(none)'}  "
                    f"[dim]({how}{'; verified' if result.verified else ''}{'; joined the book' if joined else ''})[/]")
