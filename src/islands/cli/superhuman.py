"""`islands superhuman`: tasks only a model that uses a computer can do, scored against the
machine's limits.

    islands superhuman list                               # the task kinds and their sizes per tier
    islands superhuman limits --json                      # peak GFLOP/s, memory GB/s, file read GB/s
    islands superhuman run --tier 1 --json                # bare model vs islands, embedded model
    islands superhuman run --tier 1,2 --runners islands,oracle --kinds matmul,grep
    islands superhuman run --engine openai --base-url http://127.0.0.1:8080 --model NAME
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from islands.cli.common import CtxOption, ModelOption, die, err, load_engine
from islands.engine.protocol import Generator
from islands.superhuman import (
    BUDGET_S,
    KIND_NAMES,
    RUNNERS,
    SIZES,
    Workspace,
    make_suite,
    measure_limits,
    run_benchmark,
)

__all__ = ["app"]

app = typer.Typer(help="SuperHuman: tasks that need a computer (matmul, grep, SAT, TSP, SMT, big integers), scored against "
                       "the machine's limits.", no_args_is_help=True)


def _csv(text: str, what: str, known: tuple[str, ...] | list[str]) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in known]
    if not items or bad:
        die(f"invalid {what} {(bad or [text])[0]!r}: choose from {', '.join(known)}")
    return items


@app.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """The task kinds, the tool that solves each, and their sizes per tier."""
    doc = {"kinds": {k: {"sizes": SIZES[k]} for k in KIND_NAMES}, "budget_s": BUDGET_S, "runners": list(RUNNERS)}
    if as_json:
        typer.echo(json.dumps(doc))
        return
    table = Table("kind", "tier 1", "tier 2", "tier 3", title="SuperHuman tasks (size per tier)")
    for k in KIND_NAMES:
        table.add_row(k, *(f"{SIZES[k][t]:,}" for t in (1, 2, 3)))
    Console().print(table)
    Console().print(f"budget per task (s): {BUDGET_S}; runners: {', '.join(RUNNERS)}")


@app.command("limits")
def limits_command(
    gemm_n: Annotated[int, typer.Option("--gemm-n", help="Matrix size of the gemm that measures GFLOP/s.")] = 2048,
    copy_mb: Annotated[int, typer.Option("--copy-mb", help="MB copied to measure memory bandwidth.")] = 256,
    file_mb: Annotated[int, typer.Option("--file-mb", help="MB of the file read to measure read speed.")] = 256,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Measure this machine's limits: peak GFLOP/s, memory bandwidth, cached file read GB/s."""
    if not 64 <= gemm_n <= 16384 or not 1 <= copy_mb <= 16384 or not 1 <= file_mb <= 65536:
        die("invalid size: --gemm-n 64..16384, --copy-mb 1..16384, --file-mb 1..65536")
    limits = measure_limits(gemm_n=gemm_n, copy_mb=copy_mb, file_mb=file_mb)
    if as_json:
        typer.echo(json.dumps(limits.to_dict()))
        return
    typer.echo(f"peak {limits.gflops:.1f} GFLOP/s (float64 gemm n={gemm_n}), memory {limits.memory_gbs:.1f} GB/s (copy), "
               f"file read {limits.read_gbs:.1f} GB/s (cached)")


def _engine(kind: str, model: str | None, base_url: list[str] | None, api_key: str | None, ctx: int) -> Generator:
    if kind == "local":
        if base_url:
            die("--base-url needs --engine openai")
        return load_engine(model, ctx)
    if kind == "mock":  # the deterministic stand-in: for trying the pipeline, not for scores
        from islands.engine import Engine, MockModel

        return Engine(MockModel(n_ctx=max(ctx, 8192)))
    if not base_url:
        die("--engine openai needs --base-url URL")
    if model is None:
        die("--engine openai needs --model NAME (the server's model name)")
    from islands.engine.remote import RemoteEngine

    return RemoteEngine(base_url, model, api_key=api_key)


def _print(report: dict[str, Any], runners: list[str]) -> None:
    console = Console()
    table = Table("task", "tool", "data", *runners, title="SuperHuman")
    for row in report["tasks"]:
        cells = []
        for r in runners:
            x = row[r]
            mark = "[green]solved[/]" if x["solved"] else ("[yellow]late[/]" if x["correct"] else "[red]no[/]")
            frac = f" {x['limit_fraction']:.2f}×limit" if x["limit_fraction"] is not None else ""
            tokens = f" {x['context_tokens']}tok" if x["context_tokens"] is not None else ""
            cells.append(f"{mark} {x['seconds']:.1f}s{frac}{tokens}")
        table.add_row(row["id"], row["tool"], f"{row['data_bytes'] / 1e6:.1f} MB", *cells)
    console.print(table)
    for r in runners:
        s = report["runners"][r]
        console.print(f"[bold]{r}[/]: solved {s['solved']:.0%} {s['solved_by_tier']}, {s['seconds']:.1f} s, "
                      f"{s['context_tokens_per_task'] or '?'} context tokens per task")


@app.command("run")
def run_command(
    tier: Annotated[str, typer.Option("--tier", "-t", help="Tiers, comma-separated: 1 small, 2 medium, 3 large (GBs).")] = "1",
    kinds: Annotated[str, typer.Option("--kinds", "-k", help=f"Task kinds, comma-separated ({', '.join(KIND_NAMES)}).")] = ",".join(
        KIND_NAMES),
    runners: Annotated[str, typer.Option("--runners", "-r", help=f"Who answers, comma-separated ({', '.join(RUNNERS)}).")] = "bare,islands",
    seed: Annotated[int, typer.Option("--seed", "-s", help="Seed of the generated tasks.")] = 7,
    engine_kind: Annotated[str, typer.Option("--engine", help="local (the embedded model or --model GGUF), openai (a remote "
                                             "OpenAI-compatible server), or mock (the deterministic stand-in).")] = "local",
    base_url: Annotated[list[str] | None, typer.Option("--base-url", help="With --engine openai: the server's base URL.",
                                                        show_default=False)] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="ISLANDS_REMOTE_API_KEY", help="With --engine openai: "
                                                "the server's API key.", show_default=False)] = None,
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Where the task data goes (kept); default: a temporary "
                                                 "folder, removed at the end.", show_default=False)] = None,
    no_limits: Annotated[bool, typer.Option("--no-limits", help="Skip measuring the machine's limits.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    model: ModelOption = None,
    ctx: CtxOption = 4096,
) -> None:
    """Generate the tasks, let each runner answer, check every answer, and report solved
    within budget, wall time, fraction of the machine's limit and context tokens."""
    tiers = [int(t) for t in _csv(tier, "--tier", ["1", "2", "3"])]
    chosen_kinds = _csv(kinds, "--kinds", KIND_NAMES)
    chosen_runners = _csv(runners, "--runners", list(RUNNERS))
    if engine_kind not in ("local", "openai", "mock"):
        die(f"invalid --engine {engine_kind!r}: choose local, openai or mock")
    if workdir is not None and workdir.exists() and any(workdir.iterdir()):
        die(f"--workdir {workdir} is not empty")
    folder = workdir or Path(tempfile.mkdtemp(prefix="islands-superhuman-"))
    try:
        ws = Workspace(folder)
        with err.status("generating tasks"):
            tasks = make_suite(ws, tiers, chosen_kinds, seed)
        limits = None
        if not no_limits:
            with err.status("measuring the machine's limits"):
                limits = measure_limits(folder=folder)
        engine = _engine(engine_kind, model, base_url, api_key, ctx)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True, disable=not err.is_terminal) as progress:
            bar = progress.add_task("tasks", total=len(tasks) * len(chosen_runners))

            def on_progress(done: int, total: int, what: str) -> None:
                progress.update(bar, completed=done, description=what)

            report = run_benchmark(engine, ws, tasks, chosen_runners, limits, on_progress)
        report.update({"tiers": tiers, "seed": seed, "engine": engine_kind})
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    if as_json:
        typer.echo(json.dumps(report))
        return
    _print(report, chosen_runners)
