"""`islands bench recall --data DIR`: LoCoMo recall (R@1/5/10, all and any evidence, by
category), search latency and ingest rate; optionally the surprise gate and answer F1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from islands.cli.common import CtxOption, ModelOption, die, err, load_engine

__all__ = ["recall"]


def recall(
    data: Annotated[Path, typer.Option("--data", help="A folder of LoCoMo conversation files (*.json).", show_default=False)],
    embedder: Annotated[str, typer.Option("--embedder", help="minilm, minilm-torch, hash or none (BM25 alone).")] = "minilm",
    gate: Annotated[bool, typer.Option("--gate/--no-gate", help="Also import through the surprise gate (remember): slow.")] = False,
    gate_turns: Annotated[int, typer.Option("--gate-turns", help="Gate only each conversation's first N turns (0: all).")] = 0,
    f1_questions: Annotated[int, typer.Option("--f1-questions", help="Answer this many sampled questions with the model; token F1.")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the F1 sample.")] = 0,
    model: ModelOption = None,
    ctx: CtxOption = 4096,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Recall over LoCoMo conversations: does the top k hold the evidence turns?"""
    from rich.progress import Progress, TaskID

    from islands.memory.embed import embedder_from
    from islands.memory.locomo import bench_recall

    if not data.is_dir():
        die(f"--data {data}: not a folder")
    if f1_questions < 0 or gate_turns < 0:
        die(f"invalid --f1-questions {f1_questions} or --gate-turns {gate_turns}: must be >= 0")
    engine = load_engine(model, ctx) if gate or f1_questions else None
    emb = embedder_from(embedder)
    with Progress(console=err, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done)

        result = bench_recall(data, embedder=emb, gate=engine if gate else None, gate_turns=gate_turns,
                              f1_engine=engine if f1_questions else None,
                              f1_questions=f1_questions, seed=seed, progress=progress)
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("category", "questions", "R@1 all", "R@5 all", "R@10 all", "R@1 any", "R@5 any", "R@10 any")
    for cat, row in result["recall"].items():
        table.add_row(cat, str(row["questions"]), *(f"{row[f'r@{k}_{m}']:.3f}" for m in ("all", "any") for k in (1, 5, 10)))
    Console().print(table)
    rest = {k: v for k, v in result.items() if k not in ("recall", "data", "conversations")}
    for key, value in rest.items():
        Console().print(f"{key}: {value}", highlight=False)
