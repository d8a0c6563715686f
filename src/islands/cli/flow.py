"""`islands flow run|validate|schema`: flows as YAML/JSON graphs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from islands.cli.common import CtxOption, ModelOption, die, err, load_engine
from islands.flows.graph import load_flow, run_flow, schema_json

__all__ = ["app"]

app = typer.Typer(help="Flows as data: YAML/JSON graphs of generation primitives.", no_args_is_help=True)
FileArg = Annotated[Path, typer.Argument(help="A flow file (.yaml, .yml or .json).", show_default=False)]


def _inputs(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            die(f"invalid --input {pair!r}: use KEY=VALUE")
        out[key] = value
    return out


@app.command("run")
def run(
    file: FileArg,
    inputs: Annotated[list[str] | None, typer.Option("--input", "-i", help="KEY=VALUE (repeatable).", show_default=False)] = None,
    trace: Annotated[Path | None, typer.Option("--trace", help="Write every node's value as JSON.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole run as JSON.")] = False,
    model: ModelOption = None,
    ctx: CtxOption = 4096,
) -> None:
    """Run FILE's nodes in dependency order and print its output."""
    flow = load_flow(file)
    given = _inputs(inputs)
    if trace is not None and not trace.parent.is_dir():
        die(f"cannot write trace {trace}: folder {trace.parent} does not exist")
    engine = load_engine(model, ctx)
    with err.status(f"running {flow.name}"):
        result = run_flow(engine, flow, given)
    doc = result.model_dump()
    if trace is not None:
        trace.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str))
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, default=str))
        return
    table = Table("node", "value", title=flow.name, show_lines=True)
    for node_id, value in result.values.items():
        if isinstance(value, list):
            shown = "\n".join(f"{v['score'] if v['score'] is not None else '·'}  {v['text'].strip()}" for v in value)
        else:
            shown = str(value)
        table.add_row(node_id, shown)
    Console().print(table)
    Console().print(f"[bold]Output:[/] {result.output}")


@app.command("validate")
def validate(file: FileArg) -> None:
    """Check FILE; errors name the node and the field."""
    flow = load_flow(file)
    typer.echo(f"{file}: ok ({len(flow.nodes)} nodes)")


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the flow format."""
    typer.echo(schema_json(), nl=False)
