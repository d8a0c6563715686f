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

__all__ = ["CtxOption", "ModelOption", "die", "err", "load_engine"]

err = Console(stderr=True, highlight=False)

ModelOption = Annotated[
    Path | None,
    typer.Option("--model", "-m", help="A GGUF model file (default: the embedded gemma-3-270m).", show_default=False),
]
CtxOption = Annotated[int, typer.Option("--ctx", help="Context size in tokens (KV cells shared by all branches).")]


def die(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def load_engine(model: Path | None, n_ctx: int) -> Engine:
    """The engine over `model` (or the embedded one, assembled with a progress bar)."""
    from islands.engine.embedded import resolve_model_path

    path = resolve_model_path(model, progress=sys.stderr.isatty())
    if sys.stderr.isatty():
        with err.status(f"loading {path.name}"):
            return Engine(path, n_ctx=n_ctx)
    return Engine(path, n_ctx=n_ctx)
