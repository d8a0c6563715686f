"""`islands ask QUESTION`: the default flow, with a live tree of the candidates."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from islands.cli.common import CtxOption, LocalOption, ModelOption, die, err, load_engine
from islands.cli.resident import find_resident
from islands.cli.tools import CorpusOption, pick_tools
from islands.engine.embedded import model_name_of
from islands.engine.protocol import Generator
from islands.flows import AskResult, ask
from islands.flows.ask import Candidate

__all__ = ["ask_command", "how_backed", "states_a_number"]


def _tree(question: str, texts: list[str], temps: list[float], result: AskResult | None) -> Tree:
    tree = Tree(Text(question, style="bold"))
    for i, text in enumerate(texts):
        label = Text(f"#{i} t={temps[i]:.2f} ", style="dim")
        if result is not None:
            c: Candidate = result.candidates[i]
            mark = "•" if c.computed else "·"  # computed by a call that counts / written by the model
            style = "bold green" if c.answer == result.answer and c.answer is not None else ("green" if c.computed else "")
            label.append(f"{mark} {c.answer if c.answer is not None else '(no answer)'}", style=style)
            label.append(f"  {c.calls} call{'s' if c.calls != 1 else ''}", style="dim")
            if c.evidence:
                label.append(f"  (its call does not count: {c.evidence})", style="dim")
        else:
            tail = " ".join(text.split())[-70:]
            label.append(tail or "…")
        tree.add(label)
    return tree


def ask_command(
    question: Annotated[str, typer.Argument(help="The question.", show_default=False)],
    branches: Annotated[int, typer.Option("--branches", "-b", help="Candidate answers (greedy first, then hotter).")] = 6,
    tools: Annotated[str, typer.Option("--tools", help="Tools the candidates may call.")] = "calc,py",
    corpus: CorpusOption = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", "-n", help="Tokens per candidate.")] = 96,
    choices: Annotated[str | None, typer.Option("--choices", help="Options, comma-separated: the answer is one of them.",
                                                  show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Seed of candidate 0.")] = 1,
    trace: Annotated[Path | None, typer.Option("--trace", help="Write the whole tree as JSON.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    model: ModelOption = None,
    local: LocalOption = False,
    ctx: CtxOption = 4096,
) -> None:
    """Answer QUESTION: candidates fan out with hard islands (CALC, PY; SEARCH/LOAD with
    --corpus), are verified against the tools' results, and vote."""
    if not question.strip():
        die("question is empty")
    if not 1 <= branches <= 64:
        die(f"invalid --branches {branches}: must be between 1 and 64")
    if not 1 <= max_tokens <= 1024:
        die(f"invalid --max-tokens {max_tokens}: must be between 1 and 1024")
    options = [c.strip() for c in choices.split(",")] if choices is not None else None
    if options is not None and (len(options) < 2 or not all(options)):
        die("--choices needs at least two non-empty options, comma-separated")
    if trace is not None and not trace.parent.is_dir():
        die(f"cannot write trace {trace}: folder {trace.parent} does not exist")
    spec = tools + (",search,load" if corpus is not None and "search" not in tools.lower() else "")
    registry = pick_tools(spec, corpus)
    resident = None if local or options is not None else find_resident(model_name_of(model))
    engine: Generator
    if resident is not None:
        from islands.engine.remote import RemoteEngine

        engine = RemoteEngine(resident.url, resident.model, api_key=resident.api_key)
        if not as_json:
            err.print(f"[dim]using islands serve at {resident.url} (--local to load the model here)[/]")
    else:
        engine = load_engine(model, ctx)
    texts = [""] * branches
    temps = [0.0] * branches
    console = Console()
    if as_json or not console.is_terminal:
        result = ask(engine, question, n=branches, registry=registry, max_tokens=max_tokens, seed=seed, choices=options)
    else:
        with Live(_tree(question, texts, temps, None), console=console, refresh_per_second=8, transient=True) as live:
            def on_text(i: int, text: str) -> None:
                texts[i] += text
                live.update(_tree(question, texts, temps, None))

            result = ask(engine, question, n=branches, registry=registry, max_tokens=max_tokens, seed=seed,
                         choices=options, on_text=on_text)
    doc = {
        "question": result.question,
        "answer": result.answer,
        "verified": result.verified,
        "computed": result.computed,
        "uncertain": result.uncertain,
        "margin": result.margin,
        "method": result.method,
        "how": how_backed(result),
        "votes": result.votes,
        "choice_scores": result.choice_scores,
        "candidates": [asdict(c) for c in result.candidates],
        "stats": result.stats.to_dict(),
    }
    if trace is not None:
        trace.write_text(json.dumps(doc, ensure_ascii=False, indent=1))
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False))
        return
    texts = [c.text for c in result.candidates]
    temps = [c.temperature for c in result.candidates]
    console.print(Group(_tree(question, texts, temps, result)))
    console.print(f"[bold]Answer:[/] {escape(result.answer) if result.answer is not None else '(none)'}  "
                  f"[dim]{escape(how_backed(result))}[/]")


_NUMBER = re.compile(r"[-+]?[$€£]?\s*\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?\s*%?")
_NUMBER_WORDS = set(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million "
    "billion trillion dozen half third quarter twice double triple once".split()
)


def states_a_number(question: str) -> bool:
    """Does the question give any number, in digits or in words?"""
    return bool(re.search(r"\d", question)) or bool(_NUMBER_WORDS & set(re.findall(r"[a-z]+", question.lower())))


def how_backed(result: AskResult) -> str:
    """What backs the answer, in words (flows/verify.py defines the terms); "uncertain"
    whenever `result.uncertain`, and a warning when a question that gives no number got a
    bare number as its answer (a program computed something the question did not ask)."""
    if result.answer is None:
        return "no candidate answered"
    if result.method == "choice-loglik":
        parts = [f"the likeliest option by the model (margin {result.margin:.2f} nats)", "no program computed it"]
    else:
        parts = ["verified: two different programs agree" if result.verified else (
            "computed by one program" if result.computed else "written by the model; no program computed it")]
        parts.append("uncertain: another answer is as strong" if result.margin <= 0 else f"vote margin {result.margin:g}")
    if result.uncertain and not any(p.startswith("uncertain") for p in parts):
        parts.append("uncertain")
    if result.method == "vote" and _NUMBER.fullmatch(result.answer.strip()) and not states_a_number(result.question):
        parts.append("the question gives no number, yet the answer is one: check that it answers the question")
    return "; ".join(parts)
