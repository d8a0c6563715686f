"""`islands corpus index|search`: the folder SEARCH, LOAD and COPY read from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from islands.cli.common import err
from islands.tools.corpus import Corpus

__all__ = ["app", "open_corpus"]

app = typer.Typer(help="A folder of text, Markdown and PDF files for SEARCH, LOAD and COPY.", no_args_is_help=True)

DirArg = Annotated[Path, typer.Argument(help="The corpus folder.", show_default=False)]


def open_corpus(folder: Path, *, quiet: bool = False) -> Corpus:
    """Open the folder's index and bring it up to date (new and changed files only)."""
    corpus = Corpus.open(folder)
    if quiet:
        corpus.index()
        return corpus
    with Progress(TextColumn("indexing {task.description}"), BarColumn(), MofNCompleteColumn(), console=err, transient=True) as bar:
        task = bar.add_task(str(folder), total=None)
        counts = corpus.index(lambda done, total: bar.update(task, completed=done, total=total))
    err.print(f"[dim]{len(corpus)} documents · " + " · ".join(f"{k} {v}" for k, v in counts.items() if v) + "[/]")
    for problem in corpus.problems:
        err.print(f"[yellow]skipped:[/] {problem}", markup=True, highlight=False)
    return corpus


@app.command("index")
def index(folder: DirArg, as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON.")] = False) -> None:
    """Index FOLDER (again): adds new files, refreshes changed ones, drops deleted ones."""
    corpus = Corpus.open(folder)
    if as_json:
        counts = corpus.index()
        typer.echo(json.dumps(counts | {"documents": len(corpus), "index": str(corpus.db_path), "problems": corpus.problems}))
        return
    open_corpus(folder)
    Console().print(f"index: {corpus.db_path}")


@app.command("search")
def search(
    folder: DirArg,
    query: Annotated[str, typer.Argument(help="Words to look for.", show_default=False)],
    limit: Annotated[int, typer.Option("--limit", "-k", help="How many results.")] = 5,
) -> None:
    """Search FOLDER's index as SEARCH(query) would."""
    corpus = open_corpus(folder, quiet=True)
    table = Table("id", "title", "snippet", "bm25")
    for hit in corpus.search(query, limit):
        table.add_row(str(hit.id), hit.title, hit.snippet, f"{hit.score:.2f}")
    Console().print(table)
