"""`islands serve`: the OpenAI-compatible HTTP API on 127.0.0.1 (or --host)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from islands.cli.common import CtxOption, ModelOption, die, err, load_engine
from islands.cli.tools import CorpusOption

__all__ = ["serve"]


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind; 0.0.0.0 opens it to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port.")] = 8000,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="ISLANDS_API_KEY", help="Require Authorization: Bearer KEY (or set ISLANDS_API_KEY).", show_default=False)] = None,
    model: ModelOption = None,
    corpus: CorpusOption = None,
    memory_file: Annotated[str | None, typer.Option("--memory", help="A memory database (SQLite file or postgresql:// URL) for the memory extension.", show_default=False)] = None,
    flows_dir: Annotated[Path | None, typer.Option("--flows", help="Serve the flows in this folder (*.yaml, *.yml, *.json) by name.", show_default=False)] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens-limit", help="Largest max_tokens a request may ask for.")] = 4096,
    max_n: Annotated[int, typer.Option("--max-n", help="Most branches (n) per request.")] = 64,
    ctx: CtxOption = 8192,
) -> None:
    """Serve the engine over the OpenAI API: /v1/completions, /v1/chat/completions, /v1/models."""
    if not 1 <= port <= 65535:
        die(f"invalid --port {port}: must be between 1 and 65535")
    import uvicorn

    from islands.cli.corpus import open_corpus
    from islands.server.app import create_app
    from islands.server.schemas import Limits
    from islands.tools import Registry

    from islands.flows.graph import load_flow
    from islands.memory import MemoryStore

    flows = {}
    if flows_dir is not None:
        if not flows_dir.is_dir():
            die(f"flows folder not found: {flows_dir}")
        for path in sorted(flows_dir.iterdir()):
            if path.suffix.lower() in (".yaml", ".yml", ".json"):
                flow = load_flow(path)
                flows[flow.name] = flow
    engine = load_engine(model, ctx)
    registry = Registry.default(open_corpus(corpus, quiet=True) if corpus is not None else None)
    name = os.path.splitext(engine.info().name)[0]
    store = MemoryStore.open(memory_file) if memory_file is not None else None
    if store is not None and store.embedder is not None:
        store.embedder.embed(["warm up"])  # the embedder loads now, not during the first request
    app = create_app(engine, model_name=name, api_key=api_key, limits=Limits(max_tokens=max_tokens, max_n=max_n), registry=registry, flows=flows,
                     memory=store)
    err.print(f"serving {name} on http://{host}:{port}/v1" + (" (API key required)" if api_key else ""))
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    except OSError as e:
        die(f"cannot listen on {host}:{port}: {e.strerror}")
