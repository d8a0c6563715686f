"""`islands serve`: the OpenAI-compatible HTTP API on 127.0.0.1 (or --host).

By default two embedded models: gemma-3-270m answers completions (and flows), and
smollm2-135m-instruct answers chat, loaded on the first chat request (or at start with
--preload). `--model NAME|PATH` serves one model for everything unless `--chat-model`
names another. The port is bound before anything loads: a busy port is a one-line error.
"""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from islands.cli.common import CtxOption, ModelOption, die, err, load_engine
from islands.cli.resident import register, unregister
from islands.cli.tools import CorpusOption

__all__ = ["serve"]


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a one-line error (exit 2) when it is taken."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        die(f"cannot listen on {host}:{port}: {e.strerror}")
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        die(f"cannot listen on {host}:{port}: {e.strerror or e}")
    sock.set_inheritable(True)
    return sock


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind; 0.0.0.0 opens it to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port.")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", envvar="ISLANDS_API_KEY", help="Require Authorization: Bearer KEY (or set ISLANDS_API_KEY).", show_default=False
        ),
    ] = None,
    model: ModelOption = None,
    chat_model: Annotated[
        str | None,
        typer.Option(
            "--chat-model",
            help="The model for /v1/chat/completions: a name or a GGUF file "
            "(default: smollm2-135m-instruct without --model, else the --model).",
            show_default=False,
        ),
    ] = None,
    preload: Annotated[bool, typer.Option("--preload", help="Load the chat model at start, not on the first chat request.")] = False,
    corpus: CorpusOption = None,
    memory_file: Annotated[
        str | None,
        typer.Option("--memory", help="A memory database (SQLite file or postgresql:// URL) for the memory extension.", show_default=False),
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option(
            "--embedder",
            help="The embedder for /v1/embeddings: minilm, hash or none (default: the memory's, else ISLANDS_EMBEDDER).",
            show_default=False,
        ),
    ] = None,
    flows_dir: Annotated[
        Path | None, typer.Option("--flows", help="Serve the flows in this folder (*.yaml, *.yml, *.json) by name.", show_default=False)
    ] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens-limit", help="Largest max_tokens a request may ask for.")] = 4096,
    max_n: Annotated[int, typer.Option("--max-n", help="Most branches (n) per request.")] = 64,
    metrics_key: Annotated[
        str | None,
        typer.Option(
            "--metrics-key", envvar="ISLANDS_METRICS_KEY", help="Require Authorization: Bearer KEY for /metrics.", show_default=False
        ),
    ] = None,
    private_metrics: Annotated[bool, typer.Option("--private-metrics", help="Require the API key for /metrics too.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No request log on stderr.")] = False,
    ctx: CtxOption = 8192,
) -> None:
    """Serve the models over the OpenAI API: /v1/completions, /v1/chat/completions, /v1/embeddings, /v1/models."""
    if not 1 <= port <= 65535:
        die(f"invalid --port {port}: must be between 1 and 65535")
    if private_metrics and api_key is None:
        die("--private-metrics needs --api-key")
    if max_tokens < 1 or max_n < 1:
        die("--max-tokens-limit and --max-n must be at least 1")
    from islands.engine.embedded import CHAT_MODEL, model_name_of, resolve_model_path
    from islands.flows.graph import load_flow
    from islands.memory import MemoryStore
    from islands.memory.embed import embedder_from

    if embedder is not None:
        embedder_from(embedder if embedder != "minilm" else "none")  # the name is checked now; minilm loads on first use
    flows = {}
    if flows_dir is not None:
        if not flows_dir.is_dir():
            die(f"flows folder not found: {flows_dir}")
        for path in sorted(flows_dir.iterdir()):
            if path.suffix.lower() in (".yaml", ".yml", ".json"):
                flow = load_flow(path)
                flows[flow.name] = flow
    chat_choice = chat_model if chat_model is not None else (CHAT_MODEL if model is None else None)
    for chosen in (model, chat_choice):
        if chosen is not None:
            resolve_model_path(chosen)  # an unknown name or a missing package fails now, not on the first chat
    sock = _bind(host, port)
    import uvicorn

    from islands.cli.corpus import open_corpus
    from islands.server.app import create_app
    from islands.server.schemas import Limits
    from islands.tools import Registry

    engine = load_engine(model, ctx)
    name = model_name_of(model)
    chat = None
    if chat_choice is not None and model_name_of(chat_choice) != name:
        chat_name = model_name_of(chat_choice, CHAT_MODEL)
        chat = (chat_name, load_engine(chat_choice, ctx) if preload else (lambda: load_engine(chat_choice, ctx)))
    registry = Registry.default(open_corpus(corpus, quiet=True) if corpus is not None else None)
    store = MemoryStore.open(memory_file) if memory_file is not None else None
    if store is not None and store.embedder is not None:
        store.embedder.embed(["warm up"])  # the embedder loads now, not during the first request
    app = create_app(
        engine,
        model_name=name,
        chat=chat,
        api_key=api_key,
        metrics_key=api_key if private_metrics else metrics_key,
        limits=Limits(max_tokens=max_tokens, max_n=max_n),
        registry=registry,
        flows=flows,
        memory=store,
        log=None if quiet else _log,
        embedder=embedder,
    )
    names = name + (f" and {chat[0]} (chat)" if chat else "")
    err.print(f"serving {names} on http://{host}:{port}/v1" + (" (API key required)" if api_key else "")
              + f"; the web page is http://{host}:{port}/", soft_wrap=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    record = register(host, port, name, api_key_required=api_key is not None)  # `ask`/`generate` use this server
    # uvicorn stops gracefully on SIGTERM, then raises it again: exit through `finally` then
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        server.run(sockets=[sock])
    finally:
        unregister(record)
