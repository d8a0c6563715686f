"""`islands tools list|run`, and generation with hard islands for `islands generate --tools`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from islands.cli.common import die
from islands.cli.corpus import open_corpus
from islands.engine import Engine
from islands.params import SamplingParams
from islands.tools import IslandGeneration, IslandRunner, Registry, builtin
from islands.tools.track import Island

__all__ = ["app", "generate_with_tools", "pick_tools"]

app = typer.Typer(help="Hard-island tools: list them, run one directly.", no_args_is_help=True)


CORPUS_TOOLS = set(builtin.CORPUS_TOOLS)
MEMORY_TOOLS = ("MEMORY", "RECALL")  # registered over the memory store (islands.memory.tools)
CorpusOption = Annotated[
    Path | None, typer.Option("--corpus", help="Folder for SEARCH, LOAD and COPY (indexed on use).", show_default=False)
]


def pick_tools(spec: str, corpus: Path | None = None) -> Registry:
    """`calc,py` -> a registry with those tools (one-line error for unknown names)."""
    names = [n.strip().upper() for n in spec.split(",") if n.strip()]
    if not names:
        die("--tools needs at least one tool name")
    if CORPUS_TOOLS & set(names) and corpus is None:
        wanted = sorted(CORPUS_TOOLS & set(names))
        die(f"{', '.join(wanted)} need{'s' if len(wanted) == 1 else ''} --corpus DIR")
    registry = Registry.default(open_corpus(corpus, quiet=True) if corpus is not None else None)
    if set(MEMORY_TOOLS) & set(names):
        from islands.memory import MemoryStore
        from islands.memory.tools import register_memory

        register_memory(registry, MemoryStore.open())  # $ISLANDS_HOME/memory.sqlite
    for name in MEMORY_TOOLS:
        registry.needs(name, "the memory store")  # known, so an unknown name's error lists them
    return registry.subset(names)


@app.command("list")
def list_tools(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The tools a model can call, with their signatures (SEARCH, LOAD, COPY need --corpus)."""
    registry = Registry.default()

    class _Shown:  # the corpus tools' signatures, without opening a corpus
        def search(self, *a: object) -> list[object]:
            return []

    builtin.register_corpus(registry, _Shown())  # type: ignore[arg-type]
    tools = list(registry)
    if as_json:
        typer.echo(json.dumps([{"name": t.name, "signature": t.signature(), "description": t.description} for t in tools]))
        return
    table = Table("tool", "call", "what it does")
    for t in tools:
        table.add_row(t.name, t.signature(), t.description)
    Console().print(table)


@app.command("run")
def run_tool(
    name: Annotated[str, typer.Argument(help="Tool name, e.g. CALC.")],
    args: Annotated[str, typer.Argument(help="The text between the parentheses, e.g. '2^100'.")],
    corpus: CorpusOption = None,
) -> None:
    """Run one tool directly: islands tools run CALC '2^100'."""
    registry = pick_tools(name, corpus)
    tool = registry.get(name)
    try:
        value = tool.fn(*tool.parse_args(args))
    except Exception as e:  # the tool's own message, as one line
        die(f"{tool.name}: {e}")
    typer.echo(value.output if isinstance(value, Island) else str(value))


def generate_with_tools(
    engine: Engine, registry: Registry, prompt: str, n: int, params: SamplingParams, as_json: bool
) -> IslandGeneration:
    """Generate with hard islands; stream one branch, print n side by side at the end."""
    runner = IslandRunner(engine, registry)
    out = Console(highlight=False)
    if as_json:
        try:
            return runner.generate(prompt, n=n, params=params)
        finally:
            runner.close()
    try:
        if n == 1:
            def echo(_i: int, text: str) -> None:
                sys.stdout.write(text)
                sys.stdout.flush()

            result = runner.generate(prompt, params=params, on_text=echo)
            sys.stdout.write("\n")
            return result
        result = runner.generate(prompt, n=n, params=params)
        for i, o in enumerate(result.outputs):
            out.print(f"--- branch {i} ---", markup=False)
            for span in o.spans:
                piece = o.text[span.start : span.end]
                out.print(piece, style="bold cyan" if span.kind == "hard" else None, end="", markup=False)
            out.print()
        return result
    finally:
        runner.close()
