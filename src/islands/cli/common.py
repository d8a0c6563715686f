"""What every command shares: stderr console, model options, loading with a spinner,
and turning islands errors into one line and exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from islands.engine import Engine

__all__ = ["CtxOption", "LocalOption", "ModelOption", "die", "err", "load_engine"]

err = Console(stderr=True, highlight=False)

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", show_default=False,
        help="An embedded model's name (gemma-3-270m, smollm2-135m-instruct) or a GGUF file (default: gemma-3-270m; "
             "chat: smollm2-135m-instruct).",
    ),
]
CtxOption = Annotated[int, typer.Option("--ctx", help="Context size in tokens (KV cells shared by all branches).")]
LocalOption = Annotated[
    bool,
    typer.Option("--local", help="Load the model in this process even when an `islands serve` on this machine could answer "
                                 "(or set ISLANDS_SERVER=off)."),
]


def die(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def load_engine(model: str | Path | None, n_ctx: int, default: str | None = None) -> Engine:
    """The engine over `model`: an embedded model's name or a GGUF file (None: `default`,
    else the embedded base model, assembled with a progress bar)."""
    from islands.engine.embedded import BASE_MODEL, resolve_model_path

    path = resolve_model_path(model, progress=sys.stderr.isatty(), default=default or BASE_MODEL)
    if sys.stderr.isatty():
        with err.status(f"loading {path.name}"):
            return Engine(path, n_ctx=n_ctx)
    return Engine(path, n_ctx=n_ctx)
