"""The `islands` command: a typer app whose commands live in one module per subject.

Errors islands raises on purpose become one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from islands import __version__
from islands.cli import (
    ask,
    bench,
    bench_recall,
    chat,
    corpus,
    flow,
    generate,
    learn,
    memory,
    people,
    radio,
    scale,
    serve,
    superhuman,
    tools,
)
from islands.cli.common import err
from islands.errors import IslandsError

__all__ = ["app", "main"]

app = typer.Typer(
    name="islands",
    help="A runtime that makes a language model compute, search and remember.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("ask")(ask.ask_command)
app.command("chat")(chat.chat)
app.command("learn")(learn.learn_command)
app.command("solve")(learn.solve_command)
app.command()(generate.generate)
app.command()(generate.models)
app.command()(serve.serve)
app.add_typer(flow.app, name="flow")
app.add_typer(memory.memory_app, name="memory")
app.add_typer(memory.values_app, name="values")
app.add_typer(tools.app, name="tools")
app.add_typer(corpus.app, name="corpus")
app.add_typer(radio.app, name="radio")
bench.app.command("recall")(bench_recall.recall)
bench.app.command("people")(people.bench_people_command)
app.add_typer(people.app, name="people")
app.add_typer(bench.app, name="bench")
app.add_typer(scale.app, name="scale")
app.add_typer(superhuman.app, name="superhuman")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"islands {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """A runtime that makes a language model compute, search and remember."""


def main() -> None:
    try:
        app()
    except IslandsError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True, markup=True, highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
