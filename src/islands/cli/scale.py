"""`islands scale`: batch work over a pool of engines (Ray actors, or remote servers).

    islands scale ask questions.jsonl --workers 4 --out answers.jsonl
    islands scale ask questions.jsonl --remote http://gpu1:8080 --remote http://gpu2:8080 --workers 8
    islands scale ask questions.jsonl --address ray://head:10001 --workers 32
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from islands.cli.common import die, err
from islands.errors import InvalidInput

__all__ = ["app"]

app = typer.Typer(help="Batch work over a pool of engines (Ray actors or remote servers).", no_args_is_help=True)


def _items(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"{path}:{n}: not JSON ({e.msg})") from None
        item = {"question": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or not isinstance(item.get("question"), str) or not item["question"].strip():
            raise InvalidInput(f"{path}:{n}: each line is a question, or an object with a non-empty \"question\"")
        items.append(item)
    if not items:
        raise InvalidInput(f"{path}: no questions")
    return items


@app.command("ask")
def ask_batch(
    file: Annotated[Path, typer.Argument(help="JSONL: one question per line (a string, or {\"question\": ..., \"choices\": [...]}).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the answers here as JSONL (default: stdout).")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Ray actors, each with its own engine (0: this process).")] = 2,
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster: auto, HOST:PORT or ray://HOST:10001 "
                                                "(default: $RAY_ADDRESS, else a local one).")] = None,
    remote: Annotated[list[str] | None, typer.Option("--remote", help="An OpenAI-compatible server's base URL (repeatable); "
                                                     "the actors' engines are RemoteEngines over them.", show_default=False)] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Local: an embedded model or GGUF path; remote: the served "
                                              "model's name.")] = None,
    n: Annotated[int, typer.Option("--n", help="Candidates per question.")] = 4,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Tokens per candidate.")] = 64,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every question's candidates.")] = 1,
    retries: Annotated[int, typer.Option("--retries", help="Attempts again for an item that failed.")] = 2,
) -> None:
    """Answer every question with `ask`, over a pool of engines, with a progress bar."""
    import functools

    from islands.scale import EngineSpec, run_batch
    from islands.scale.jobs import ask_item

    if not 0 <= workers <= 1024:
        die(f"invalid --workers {workers}: between 0 and 1024")
    if not 1 <= n <= 64 or not 1 <= max_tokens <= 4096:
        die("invalid --n or --max-tokens: n 1..64, max-tokens 1..4096")
    items = _items(file)
    spec = EngineSpec.remote(remote, model or "default") if remote else EngineSpec.local(model)
    work = functools.partial(ask_item, n=n, max_tokens=max_tokens, seed=seed)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(f"asking ({spec.describe()})", total=len(items))
        result = run_batch(items, work, spec, workers=workers, address=address or os.environ.get("RAY_ADDRESS"), retries=retries,
                           progress=lambda done, _total: bar.update(task, completed=done))
    lines = [json.dumps(r if r is not None else {"question": items[i]["question"], "error": result.failed.get(i)})
             for i, r in enumerate(result.results)]
    text = "".join(line + "\n" for line in lines)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, out)
    err.print(f"{len(items) - len(result.failed)} of {len(items)} answered in {result.seconds:.1f} s on {result.workers or 1} "
              f"worker(s) ({result.where}); {result.retried} retried, {len(result.failed)} failed")
    if result.failed:
        raise typer.Exit(1)
