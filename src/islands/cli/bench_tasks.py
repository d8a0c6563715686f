"""`islands bench tasks`: accuracy of the bare model and of islands on task families (the
BIG-bench dev set, or your own JSONL), plus `fetch` and `list` for the dev set.

    islands bench tasks fetch                       # once: 358 MB from PyPI, 17 families
    islands bench tasks --json --n 25               # every family, 3 teach, 25 test
    islands bench tasks --tasks navigate,mine.jsonl --n 10
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from islands.cli.common import CtxOption, ModelOption, die, err, load_engine

__all__ = ["app"]

app = typer.Typer(help="Task families: the bare model vs islands (fetch the dev set first).")

DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="The dev set's folder (default: $ISLANDS_HOME/bigbench).", show_default=False),
]


def _fetch_progress(progress: Progress) -> Any:
    bars: dict[str, Any] = {}
    labels = {"download": "downloading bigbench 1.0.0", "extract": "extracting 17 families", "convert": "writing tasks"}

    def update(what: str, done: int, total: int) -> None:
        if what not in bars:
            bars[what] = progress.add_task(labels.get(what, what), total=total)
        progress.update(bars[what], completed=done, total=total)

    return update


@app.command("fetch")
def fetch_command(
    data: DataOption = None,
    tasks: Annotated[str | None, typer.Option("--tasks", "-t", help="Comma-separated families (default: all 17).",
                                              show_default=False)] = None,
    sdist: Annotated[Path | None, typer.Option("--sdist", help="A local copy of bigbench-1.0.0.tar.gz to use instead "
                                               "of downloading (checked against the pinned hash).",
                                               show_default=False)] = None,
) -> None:
    """Download the bigbench 1.0.0 sdist once (pip, hash-pinned); write the 17 families as JSONL.

    A second run does nothing; a family added later is extracted from the kept archive."""
    from islands.tasks.bigbench import check_families, fetch

    names = check_families([t.strip() for t in tasks.split(",") if t.strip()]) if tasks else None
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        result = fetch(data, names, progress=_fetch_progress(progress), sdist=sdist)
    count = sum(result.families.values())
    state = ("already there" if not result.fetched
             else "downloaded and extracted" if result.downloaded else "extracted")
    err.print(f"{len(result.families)} families, {count:,} examples in {result.folder / 'tasks'} ({state})")


@app.command("list")
def list_command(
    data: DataOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The dev set's families: examples, metric, subtasks."""
    from islands.tasks.bigbench import FAMILIES, default_data_dir

    folder = data if data is not None else default_data_dir()
    rows = []
    for name in FAMILIES:
        meta_path = folder / "tasks" / f"{name}.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        rows.append({"family": name, "examples": meta.get("examples"), "metric": meta.get("metric"),
                     "subtasks": meta.get("subtasks", [])})
    if as_json:
        typer.echo(json.dumps({"folder": str(folder), "families": rows}))
        return
    t = Table(title=f"BIG-bench dev set in {folder}")
    for col in ("family", "examples", "metric", "subtasks"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["family"], "-" if r["examples"] is None else f"{r['examples']:,}", r["metric"] or "not fetched",
                  str(len(r["subtasks"]) or ""))
    Console().print(t)


def _table(result: dict[str, Any]) -> Table:
    names = result["contenders"]
    t = Table(title=f"{result['teach']} teach, up to {result['n']} test per family")
    t.add_column("family")
    t.add_column("metric")
    for name in names:
        t.add_column(name, justify="right")
    t.add_column("s/question", justify="right")

    def cell(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    for family, f in result["families"].items():
        per_q = " / ".join(cell(f["seconds_per_question"][k]) for k in names)
        t.add_row(family, "choice" if f["metric"] == "multiple_choice" else "exact",
                  *(cell(f["accuracy"][k]) for k in names), per_q)
    t.add_row("mean", "", *(cell(result["mean"][k]) for k in names),
              " / ".join(cell(result["seconds_per_question"][k]) for k in names), style="bold")
    return t


@app.callback(invoke_without_command=True)
def tasks_bench(
    ctx: typer.Context,
    tasks: Annotated[str | None, typer.Option("--tasks", "-t", help="Comma-separated families or .jsonl files "
                                              "(default: the 17 dev-set families).", show_default=False)] = None,
    n: Annotated[int, typer.Option("--n", help="Test questions per family (after the 3 that teach).")] = 50,
    data: DataOption = None,
    contenders: Annotated[str, typer.Option("--contenders", help="Which contenders run.")] = "bare,bare_loglik,islands",
    details: Annotated[Path | None, typer.Option("--details", help="Write every answer as JSONL.",
                                                 show_default=False)] = None,
    cold: Annotated[bool, typer.Option("--cold/--no-cold", help="Time `islands ask` in a new process.")] = True,
    model: ModelOption = None,
    ctx_size: CtxOption = 8192,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Per family, the first 3 examples teach and the next N test: the bare model (few-shot,
    greedy; and by log-likelihood for multiple choice) against islands, in one process."""
    if ctx.invoked_subcommand is not None:
        return
    from islands.tasks.bench import CONTENDERS, bench_tasks, cold_ask_seconds, write_details
    from islands.tasks.bigbench import load_tasks

    if not 1 <= n <= 100_000:
        die(f"invalid --n {n}: must be between 1 and 100000")
    chosen = [c.strip() for c in contenders.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CONTENDERS]
    if not chosen or unknown:
        die(f"invalid --contenders {contenders!r}: choose from {', '.join(CONTENDERS)}")
    if details is not None and not details.parent.is_dir():
        die(f"cannot write {details}: folder {details.parent} does not exist")
    loaded = load_tasks(tasks, data)  # bad names and bad files fail here, before the model loads
    too_small = [t for t in loaded if len(t.examples) < 4]
    if too_small:
        die(f"task {too_small[0].name!r} has {len(too_small[0].examples)} examples: 3 teach, so it needs at least 4")
    engine = load_engine(model, ctx_size)
    sink, close = write_details(details) if details is not None else (None, None)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TimeRemainingColumn())
    plain = not err.is_terminal
    with Progress(*columns, console=err, transient=True, disable=plain) as progress:
        bar = progress.add_task("benchmarking", total=None)
        seen: set[str] = set()

        def update(done: int, total: int, what: str) -> None:
            progress.update(bar, completed=done, total=total, description=what)
            if plain and what.endswith(" done") and what not in seen:  # a log line per family off a terminal
                seen.add(what)
                print(f"[{done}/{total}] {what}", file=sys.stderr, flush=True)

        result = bench_tasks(engine, loaded, n=n, contenders={c: CONTENDERS[c] for c in chosen}, progress=update,
                             cold=(lambda: cold_ask_seconds(model=model)) if cold else None, details=sink)
    if close is not None:
        close()
    if as_json:
        typer.echo(json.dumps(result))
        return
    Console().print(_table(result))
    ask = result["ask_wall_s"]
    Console().print(f"islands ask wall: cold {ask['cold']} s (new process), warm {ask['warm']} s (same process)")
