"""`islands ask QUESTION`: the default flow, with a live tree of the candidates."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from islands.cli.common import CtxOption, ModelOption, die, load_engine
from islands.cli.tools import CorpusOption, pick_tools
from islands.flows import AskResult, ask
from islands.flows.ask import Candidate

__all__ = ["ask_command"]


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
                  f"[dim]{_how(result)}[/]")


def _how(result: AskResult) -> str:
    """What backs the answer, in words (flows/verify.py defines the terms)."""
    if result.answer is None:
        return "no candidate answered"
    if result.method == "choice-loglik":
        return f"the likeliest option by the model (margin {result.margin:.2f} nats); no program computed it"
    strength = "verified: two different programs agree" if result.verified else (
        "computed by one program" if result.computed else "written by the model; no program computed it")
    tie = "; uncertain: another answer is as strong" if result.margin <= 0 else f"; vote margin {result.margin:g}"
    return strength + tie
