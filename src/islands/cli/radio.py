"""`islands radio ...`: Paper Radio — add papers, run the pipeline, see its status and
shows, serve the station; and `islands bench radio` (registered on the bench app)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from islands.cli.common import ModelOption, die, err, load_engine
from islands.engine import Engine, MockModel
from islands.home import islands_home

__all__ = ["app", "bench_radio"]

app = typer.Typer(help="Paper Radio: papers become summaries, daily and weekly shows, and an endless audio stream.",
                  no_args_is_help=True)

StationOption = Annotated[Path | None, typer.Option("--station", "-s", help="The station folder (default: $ISLANDS_HOME/radio).",
                                                    show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _folder(station: Path | None) -> Path:
    return station if station is not None else islands_home() / "radio"


def engine_for(model: str | None, ctx: int) -> Engine:
    """`mock`: the deterministic mock model (tests, dry runs); else a model name or GGUF file."""
    if model == "mock":
        return Engine(MockModel(n_ctx=ctx, n_seq_max=16))
    return load_engine(model, ctx)


@app.command("add")
def add(
    paths: Annotated[list[Path], typer.Argument(help="PDFs, folders to watch for PDFs, and arXiv-style feeds (.atom, .xml, .rss).")],
    station: StationOption = None,
    as_json: JsonOption = False,
) -> None:
    """Queue papers: PDFs now, folders' PDFs now and as they appear, feeds' metadata and the PDFs they link."""
    from islands.radio import Station
    from islands.radio.station import check_paths

    check_paths(paths)  # bad input opens (and so creates) no station
    with Station(_folder(station)) as s:
        result = s.add(paths)
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"queued {len(result['papers'])} paper(s): {' '.join(result['papers']) or '-'}")
    if result["feed_entries"]:
        typer.echo(f"feed entries read: {result['feed_entries']}")
    if result["watched"]:
        typer.echo(f"watched folders: {' '.join(result['watched'])}")


@app.command("run")
def run(
    station: StationOption = None,
    model: ModelOption = None,
    ctx: Annotated[int, typer.Option("--ctx", help="Context size in tokens.")] = 4096,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Threads: one model worker plus media workers (>= 2).")] = 2,
    minutes: Annotated[float | None, typer.Option("--minutes", help="Stop after this many minutes (default: when drained).",
                                                  show_default=False)] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Keep watching the folders for new PDFs (until --minutes, or Ctrl-C).")] = False,
    weekly: Annotated[bool, typer.Option("--weekly", help="Make this week's weekly show now (else once the week is over).")] = False,
    daily_minutes: Annotated[float | None, typer.Option("--daily-minutes", help="Length of a daily show (saved; default 3).",
                                                        show_default=False)] = None,
    weekly_minutes: Annotated[float | None, typer.Option("--weekly-minutes", help="Length of a weekly show (saved; default 6).",
                                                         show_default=False)] = None,
    hosts: Annotated[int | None, typer.Option("--hosts", help="Hosts per show, 2-4, each its own voice (saved; default 2).",
                                              show_default=False)] = None,
    language: Annotated[str | None, typer.Option("--language", help="espeak-ng language of the voices (saved; default en).",
                                                 show_default=False)] = None,
    papers_per_show: Annotated[int | None, typer.Option("--papers-per-show", help="Papers in one daily show (saved; default 5).",
                                                        show_default=False)] = None,
    drafts: Annotated[int | None, typer.Option("--drafts", help="Summary drafts fanned out per paper (saved; default 3).",
                                               show_default=False)] = None,
    embedder: Annotated[str, typer.Option("--embedder", help="Embedder for the memory store: minilm, hash, none or default.")] = "default",
    memory: Annotated[str | None, typer.Option("--memory", help="Memory store to embed into (default: the station's memory.sqlite).",
                                               show_default=False)] = None,
    attempts: Annotated[int, typer.Option("--attempts", help="Tries per stage before a job is parked.")] = 3,
    backoff: Annotated[float, typer.Option("--backoff", help="Seconds before the first retry (doubling after).")] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Work the pipeline: extract -> summarize -> embed -> write shows -> speak -> encode; resumable."""
    from islands.radio import Station, run_station
    from islands.radio.queue import Job

    folder = _folder(station)
    with Station(folder) as s:
        s.configure(daily_minutes=daily_minutes, weekly_minutes=weekly_minutes, hosts=hosts, language=language,
                    papers_per_show=papers_per_show, drafts=drafts)
    if attempts < 1 or backoff < 0:
        die(f"invalid --attempts {attempts} / --backoff {backoff}: at least 1 attempt, backoff >= 0")
    if model != "mock":
        from islands.engine.embedded import resolve_model_path

        resolve_model_path(model)  # an unknown model is one line now, not a parked job per paper
    with Station(folder) as s, Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                        console=err, disable=as_json or not err.is_terminal) as bar:
        task = bar.add_task("radio", total=None)

        def tell(worker: str, job: Job, state: str) -> None:
            counts = s.q.counts()
            total = sum(sum(v.values()) for v in counts.values())
            finished = sum(v.get("done", 0) + v.get("parked", 0) for v in counts.values())
            bar.update(task, total=total, completed=finished, description=f"{job.stage} {job.key} {state}")

        s.q.db.execute("PRAGMA query_only = 1")  # this connection only reads: the workers write
        report = run_station(folder, lambda: engine_for(model, ctx), workers=workers, minutes=minutes, watch=watch,
                             weekly_now=weekly, memory=memory, embedder=embedder, attempts=attempts, backoff=backoff,
                             tell=None if as_json else tell)
    result = report.to_dict()
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"done: {result['done']}  failed attempts: {result['failed']}  in {result['seconds']:.1f} s ({result['stopped_by']})")
    for line in result["parked"]:
        typer.echo(f"parked: {line}")


@app.command("status")
def status(station: StationOption = None, as_json: JsonOption = False) -> None:
    """The queue: jobs by stage and state, stage times, and parked jobs with their reasons."""
    from islands.radio import Station

    with Station(_folder(station)) as s:
        result = s.status()
    if as_json:
        typer.echo(json.dumps(result))
        return
    out = Console()
    out.print(f"{result['station']}: {result['papers']} papers ({result['papers_done']} embedded), "
              f"{result['shows']} shows ({result['shows_done']} encoded), {result['unfinished_jobs']} jobs to do")
    t = Table()
    states = ["pending", "running", "done", "parked"]
    for col in ["stage", *states, "mean s"]:
        t.add_column(col, justify="left" if col == "stage" else "right")
    for stage in ("extract", "summarize", "embed", "write", "speak", "encode"):
        row = result["stages"].get(stage, {})
        mean = result["stage_seconds"].get(stage, {}).get("mean_s")
        t.add_row(stage, *(str(row.get(x, 0)) for x in states), "-" if mean is None else f"{mean:.2f}")
    out.print(t)
    for p in result["parked"]:
        out.print(f"parked {p['subject']} {p['stage']} after {p['attempts']} tries: {p['reason']}", markup=False)


@app.command("shows")
def shows(station: StationOption = None, as_json: JsonOption = False) -> None:
    """The shows, newest first: kind, papers, length, stage states and the MP3."""
    from islands.radio import Station

    with Station(_folder(station)) as s:
        found = s.shows()
    if as_json:
        typer.echo(json.dumps(found))
        return
    t = Table()
    for col in ("show", "papers", "minutes", "stages", "mp3"):
        t.add_column(col)
    for show in found:
        length = f"{show['duration'] / 60:.1f}" if show["duration"] else "-"
        t.add_row(show["id"], str(len(show["papers"])), length, " ".join(f"{k}:{v}" for k, v in show["stages"].items()), show["mp3"] or "-")
    Console().print(t)


@app.command("serve")
def serve(
    station: StationOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8020,
    pace: Annotated[float, typer.Option("--pace", help="Play the stream this many times faster than real time (tests).")] = 1.0,
) -> None:
    """Serve the station: /stream.mp3 (endless), /feed.xml (RSS podcast), / (player page)."""
    import uvicorn

    from islands.radio.serve import radio_app

    if not 0.1 <= pace <= 100:
        die(f"invalid --pace {pace}: must be between 0.1 and 100")
    folder = _folder(station)
    if not (folder / "station.sqlite").exists():
        die(f"no station at {folder}: `islands radio add` some papers first")
    err.print(f"Paper Radio on http://{host}:{port}/  (stream: /stream.mp3, feed: /feed.xml)")
    uvicorn.run(radio_app(folder, pace=pace), host=host, port=port, log_level="warning")


def bench_radio(
    papers: Annotated[int, typer.Option("--papers", help="Generated papers to put through the pipeline.")] = 6,
    minutes: Annotated[float, typer.Option("--minutes", help="Bound on the whole soak, in minutes.")] = 10.0,
    kill_worker: Annotated[bool, typer.Option("--kill-worker", help="SIGKILL the pipeline process midway, then resume it.")] = False,
    model: ModelOption = None,
    daily_minutes: Annotated[float, typer.Option("--daily-minutes", help="Length of each daily show.")] = 1.0,
    keep: Annotated[Path | None, typer.Option("--keep", help="Keep the station in this folder (default: a temporary one).",
                                              show_default=False)] = None,
    as_json: JsonOption = False,
) -> None:
    """Papers/hour through the whole pipeline, seconds of audio per second of compute, stage times;
    with --kill-worker, a soak that checks nothing was lost or done twice and memory stayed flat."""
    from islands.radio.bench import bench_radio as run_bench

    if not 1 <= papers <= 1000 or not 0 < minutes <= 600:
        die(f"invalid --papers {papers} / --minutes {minutes}: 1-1000 papers, 0-600 minutes")
    with err.status("benchmarking radio") as spin:
        result: dict[str, Any] = run_bench(papers=papers, minutes=minutes, kill_worker=kill_worker, model=model or "gemma-3-270m",
                                           daily_minutes=daily_minutes, keep=keep, say=lambda m: spin.update(m))
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        Console().print(f"{key}: {value}")
