"""`islands memory add|search|show|stats|sleep|export|import|import-chat`, `islands chat` and
`islands values list|set|event|rank`. `--memory` takes a SQLite file or a postgresql:// URL."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from islands.cli.common import CtxOption, ModelOption, die, load_engine
from islands.memory import MemoryStore, ValueStore, remember
from islands.memory import open_store as open_memory

__all__ = ["memory_app", "values_app"]

memory_app = typer.Typer(help="Memory: save what surprised the model, recall it.", no_args_is_help=True)
values_app = typer.Typer(help="Values: what matters, how much, with diminishing returns.", no_args_is_help=True)
MemoryOption = Annotated[
    str | None,
    typer.Option(
        "--memory",
        envvar="ISLANDS_MEMORY",
        show_default=False,
        help="The memory database: a SQLite file (default: $ISLANDS_HOME/memory.sqlite) or a postgresql:// URL.",
    ),
]
EmbedderOption = Annotated[
    str | None,
    typer.Option(
        "--embedder",
        envvar="ISLANDS_EMBEDDER",
        show_default=False,
        help="Vectors for recall: minilm (the embed extra), hash, none (BM25 alone) or auto (default: minilm when installed).",
    ),
]


def open_store(memory: str | None, embedder: str | None = None) -> MemoryStore:
    """The store, with a progress bar while memories get vectors from a new embedder."""
    from rich.progress import Progress, TaskID

    bar: list[Progress] = []
    task: list[TaskID] = []

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(Progress(transient=True, console=Console(stderr=True)))
            bar[0].start()
            task.append(bar[0].add_task("embedding memories", total=total))
        bar[0].update(task[0], completed=done)

    try:
        return open_memory(memory, embedder=embedder or "auto", progress=progress)
    finally:
        if bar:
            bar[0].stop()


@memory_app.command("add")
def add(
    text: Annotated[str, typer.Argument(help="What was observed.", show_default=False)],
    always: Annotated[bool, typer.Option("--always", help="Store it whole, surprising or not.")] = False,
    gamma: Annotated[float, typer.Option("--gamma", help="A spike: surprisal above the running mean + gamma x std.")] = 2.0,
    margin: Annotated[float, typer.Option("--margin", help="Keep a sentence whose mean surprisal is this much above the rest's.")] = 0.2,
    memory: MemoryOption = None,
    embedder: EmbedderOption = None,
    model: ModelOption = None,
    ctx: CtxOption = 4096,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Remember TEXT: the raw episode always, as memories the parts that surprised the model."""
    if gamma <= 0 or margin < 0:
        die("--gamma must be > 0 and --margin >= 0")
    store = open_store(memory, embedder)
    result = remember(load_engine(model, ctx), store, text, always=always, gamma=gamma, margin=margin)
    if as_json:
        doc = asdict(result) | {"memories": [asdict(store.get(i)) for i in result.memory_ids]}
        typer.echo(json.dumps(doc))
        return
    for i in result.memory_ids:
        Console().print(f"[green]+[/] #{i} {store.get(i).text}", highlight=False)
    for i in result.reinforced:
        Console().print(f"[cyan]=[/] #{i} reinforced", highlight=False)
    for i in result.superseded:
        Console().print(f"[yellow]~[/] #{i} superseded", highlight=False)
    if not (result.memory_ids or result.reinforced):
        Console().print("nothing surprising: only the raw episode was kept")


@memory_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="Words to look for.", show_default=False)],
    k: Annotated[int, typer.Option("--limit", "-k", help="How many.")] = 5,
    memory: MemoryOption = None,
    embedder: EmbedderOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Memories matching QUERY (BM25 + vectors by rank, x recency x importance), with ids, scores, how found."""
    found = open_store(memory, embedder).search(query, k)
    if as_json:
        typer.echo(json.dumps([asdict(m) for m in found]))
        return
    table = Table("id", "score", "memory", "importance", "found by")
    for m in found:
        how = [f"bm25 #{m.extra['bm25_rank']}"] if "bm25_rank" in m.extra else []
        how += [f"vector #{m.extra['dense_rank']} (cos {m.extra['similarity']:.2f})"] if "dense_rank" in m.extra else []
        table.add_row(str(m.id), f"{m.score:.3f}", m.text, f"{m.importance:g}", ", ".join(how))
    Console().print(table)


@memory_app.command("show")
def show(memory_id: Annotated[int, typer.Argument(help="A memory id.")], memory: MemoryOption = None) -> None:
    """One memory with its raw episodes."""
    store = open_store(memory, "none")
    m = store.get(memory_id)
    typer.echo(json.dumps(asdict(m) | {"episodes": [store.episode(e) for e in m.episode_ids]}, indent=1))


@memory_app.command("stats")
def stats(memory: MemoryOption = None, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """How many memories, valid memories, episodes and values."""
    store = open_store(memory, "none")
    counts: dict[str, object] = {**store.stats(), "embedder": store.get_meta("embedder") or "none"}
    if as_json:
        typer.echo(json.dumps(counts))
        return
    for key, value in counts.items():
        typer.echo(f"{key}: {value}")


@values_app.command("list")
def list_values(memory: MemoryOption = None) -> None:
    """Every value with its level and marginal value now."""
    table = Table("value", "weight", "curve", "rate", "level", "marginal")
    for v in ValueStore(open_store(memory, "none")).list():
        table.add_row(v.name, f"{v.weight:g}", v.curve, f"{v.rate:g}", f"{v.level:g}", f"{v.marginal:.4f}")
    Console().print(table)


@values_app.command("set")
def set_value(
    name: Annotated[str, typer.Argument(help="The value's name.")],
    weight: Annotated[float, typer.Argument(help="How much it matters.")],
    curve: Annotated[str, typer.Option("--curve", help="log or exp diminishing returns.")] = "log",
    rate: Annotated[float, typer.Option("--rate", help="How fast it satiates.")] = 1.0,
    memory: MemoryOption = None,
) -> None:
    """Add or change a value."""
    v = ValueStore(open_store(memory, "none")).set(name, weight, curve, rate)
    typer.echo(f"{v.name}: weight {v.weight:g}, {v.curve}, rate {v.rate:g}, marginal {v.marginal:.4f}")


@values_app.command("event")
def event(
    name: Annotated[str, typer.Argument(help="The value's name.")],
    amount: Annotated[float, typer.Argument(help="How much of it happened (negative: the need grows back).")] = 1.0,
    memory: MemoryOption = None,
) -> None:
    """Record that some of NAME was had."""
    v = ValueStore(open_store(memory, "none")).event(name, amount)
    typer.echo(f"{v.name}: level {v.level:g}, marginal {v.marginal:.4f}")


@values_app.command("rank")
def rank(names: Annotated[list[str], typer.Argument(help="Options to rank.")], memory: MemoryOption = None) -> None:
    """Options by what one more unit of each is worth now."""
    for name, value in ValueStore(open_store(memory, "none")).rank(names):
        typer.echo(f"{value:.4f}\t{name}")


@memory_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="JSONL file to write.")], memory: MemoryOption = None, embedder: EmbedderOption = None
) -> None:
    """Write episodes, memories and values as model-agnostic JSONL."""
    from islands.memory.portable import export_jsonl

    typer.echo(f"{export_jsonl(open_store(memory, embedder), file)} lines written to {file}")


@memory_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="JSONL file from `islands memory export`.")],
    memory: MemoryOption = None,
    embedder: EmbedderOption = None,
) -> None:
    """Add a JSONL export's episodes, memories and values (all or nothing)."""
    from islands.memory.portable import import_jsonl

    counts = import_jsonl(open_store(memory, embedder), file)
    there = counts.pop("already_there")
    typer.echo(", ".join(f"{v} {k}" for k, v in counts.items()) + f" imported ({there} already there)")


@memory_app.command("import-chat")
def import_chat_command(
    file: Annotated[Path, typer.Argument(help="A conversation: LoCoMo JSON, or JSONL turns {speaker, time, text}.", show_default=False)],
    memory: MemoryOption = None,
    embedder: EmbedderOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Store a conversation log: one memory per turn (speaker, day, relative dates resolved),
    each linked to its raw turn. Importing the same file again adds nothing."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from islands.memory.conversation import import_chat, read_chat

    conv = read_chat(file)  # a malformed file stops here: nothing written
    store = open_store(memory, embedder)
    columns = (TextColumn("importing {task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("turns"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(file.name, total=len(conv.turns))

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, 1))

        counts = import_chat(store, conv, progress=progress)
    counts["speakers"] = len(conv.speakers)
    if as_json:
        typer.echo(json.dumps(counts))
        return
    typer.echo(
        f"{counts['turns']} turns imported, {counts['skipped']} already there "
        f"({counts['sessions']} sessions, speakers {', '.join(conv.speakers)})"
    )


@memory_app.command("sleep")
def sleep_command(
    memory: MemoryOption = None,
    embedder: EmbedderOption = None,
    forget_raw: Annotated[bool, typer.Option("--forget-raw", help="Also delete episodes no valid memory points to.")] = False,
    threshold: Annotated[float, typer.Option("--threshold", help="Prune below this keep-score (recency x importance x use).")] = 0.05,
    ttl_days: Annotated[
        float | None, typer.Option("--ttl-days", help="Prune memories unused for this many days.", show_default=False)
    ] = None,
    no_reflect: Annotated[bool, typer.Option("--no-reflect", help="Skip model-written reflections (no model needed).")] = False,
    model: ModelOption = None,
    ctx: CtxOption = 4096,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Consolidate: merge near-duplicates, write reflections, decay and prune; report."""
    from islands.memory.sleep import sleep

    store = open_store(memory, embedder)
    engine = None if no_reflect else load_engine(model, ctx)
    report = sleep(store, engine, threshold=threshold, ttl_days=ttl_days, reflect=not no_reflect, forget_raw=forget_raw)
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
        return
    typer.echo(
        f"merged {len(report.merged)} near-duplicates, wrote {len(report.reflections)} reflections, "
        f"pruned {len(report.pruned)}, forgot {report.forgotten_episodes} raw episodes in {report.seconds:.2f} s"
    )
    for rid in report.reflections:
        typer.echo(f"  reflection #{rid}: {store.get(rid).text}")
