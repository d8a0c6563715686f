"""`islands bench ...`: speed measured against baselines in the same process, as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from islands.cli.common import ModelOption, die, err, load_engine
from islands.engine import Engine

__all__ = ["app"]

app = typer.Typer(help="Benchmarks: islands against baselines on the same workload.", no_args_is_help=True)


def _measure(model: str | Path | None, n_ctx: int, run: Callable[[Engine], dict[str, Any]]) -> dict[str, Any]:
    """Load the engine, then run one benchmark under a spinner."""
    engine = load_engine(model, n_ctx)
    with err.status("benchmarking"):
        return run(engine)


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        Console().print(f"{key}: {value}")


@app.command("tree")
def tree(
    prompt_tokens: Annotated[int, typer.Option("--prompt-tokens", help="Length of the shared prompt.")] = 1024,
    branches: Annotated[int, typer.Option("--branches", "-b", help="Continuations of the prompt.")] = 16,
    tokens: Annotated[int, typer.Option("--tokens", "-n", help="Tokens sampled per continuation.")] = 64,
    repeat: Annotated[int, typer.Option("--repeat", "-r", help="Runs of islands and bare (interleaved); the best counts.")] = 3,
    skip: Annotated[list[str] | None, typer.Option(
        "--skip", help="Leave out a baseline: sequential, server or bare (repeatable).", show_default=False)] = None,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """One prompt, N continuations: islands vs llama-cpp-python, llama-server and a bare decode loop."""
    if not 16 <= prompt_tokens <= 16384:
        die(f"invalid --prompt-tokens {prompt_tokens}: must be between 16 and 16384")
    if not 1 <= branches <= 128:
        die(f"invalid --branches {branches}: must be between 1 and 128")
    if not 2 <= tokens <= 1024:
        die(f"invalid --tokens {tokens}: must be between 2 and 1024")
    if not 1 <= repeat <= 20:
        die(f"invalid --repeat {repeat}: must be between 1 and 20")
    left_out = set(skip or ())
    unknown = left_out - {"sequential", "server", "bare"}
    if unknown:
        die(f"invalid --skip {sorted(unknown)[0]!r}: choose sequential, server or bare")
    from islands.engine.bench import bench_tree
    from islands.engine.embedded import resolve_model_path

    path = resolve_model_path(model, progress=True)
    ways = tuple(w for w in ("islands", "bare", "sequential", "server") if w not in left_out)
    with err.status("benchmarking") as status:
        result = bench_tree(
            path, prompt_tokens=prompt_tokens, branches=branches, tokens=tokens, ways=ways,
            repeat=repeat, say=lambda msg: status.update(msg),
        )
    if as_json:
        typer.echo(json.dumps(result))
        return
    t = Table(title=f"{branches} branches x {tokens} tokens, {prompt_tokens}-token shared prompt")
    t.add_column("way")
    t.add_column("seconds", justify="right")
    t.add_column("tokens/s", justify="right")
    for way in ("islands", "bare", "sequential", "server"):
        s = result.get(f"{way}_s")
        t.add_row(way, "-" if s is None else f"{s:.2f}", "-" if not s else f"{branches * tokens / s:.1f}")
    Console().print(t)
    for key in ("efficiency_vs_bare", "ratio_vs_sequential", "ratio_vs_server"):
        Console().print(f"{key}: {result.get(key)}")
    for note in result["notes"]:
        err.print(f"[yellow]note:[/] {note}")


@app.command("islands")
def islands_bench(
    calls: Annotated[int, typer.Option("--calls", "-k", help="Tool calls in the response.")] = 8,
    tokens: Annotated[int, typer.Option("--tokens", "-n", help="Tokens sampled between calls.")] = 32,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """A response with K CALC calls: splice into the same KV vs resend the whole text."""
    if not 1 <= calls <= 64:
        die(f"invalid --calls {calls}: must be between 1 and 64")
    if not 1 <= tokens <= 256:
        die(f"invalid --tokens {tokens}: must be between 1 and 256")
    from islands.tools.bench import bench_islands

    _report(_measure(model, 8192, lambda engine: bench_islands(engine, calls=calls, tokens=tokens)), as_json)


@app.command("grammar")
def grammar_bench(
    tokens: Annotated[int, typer.Option("--tokens", "-n", help="Tokens sampled each way.")] = 64,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Cost of constrained decoding: ms/token with a JSON-schema grammar vs free sampling."""
    if not 8 <= tokens <= 1024:
        die(f"invalid --tokens {tokens}: must be between 8 and 1024")
    from islands.engine.bench import bench_grammar

    _report(_measure(model, 4096, lambda engine: bench_grammar(engine, tokens=tokens)), as_json)


@app.command("copy")
def copy_bench(
    megabytes: Annotated[int, typer.Option("--megabytes", help="Size of the copied span.")] = 8,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Output bytes/s of a response made mostly of a COPY island vs generated text."""
    if not 1 <= megabytes <= 16:
        die(f"invalid --megabytes {megabytes}: must be between 1 and 16")
    from islands.tools.bench import bench_copy

    _report(_measure(model, 4096, lambda engine: bench_copy(engine, megabytes=megabytes)), as_json)


@app.command("serve")
def serve_bench(
    requests: Annotated[int, typer.Option("--requests", help="Concurrent streaming clients (one request each).")] = 64,
    tokens: Annotated[int, typer.Option("--tokens", "-n", help="Tokens per request.")] = 32,
    sequential: Annotated[bool, typer.Option("--sequential/--no-sequential", help="Also send the requests one at a time.")] = True,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The server under N concurrent streaming clients vs the engine's own batched decode of the
    same N requests (fraction_of_engine), and vs the requests one at a time."""
    if not 1 <= requests <= 128:
        die(f"invalid --requests {requests}: must be between 1 and 128")
    if not 1 <= tokens <= 512:
        die(f"invalid --tokens {tokens}: must be between 1 and 512")
    import httpx

    from islands.server.bench import bench_serve

    try:
        result = _measure(model, 8192, lambda engine: bench_serve(engine, requests=requests, tokens=tokens, sequential=sequential))
    except (RuntimeError, httpx.HTTPError) as e:
        die(f"server benchmark failed: {e}")
    _report(result, as_json)


@app.command("puzzle")
def puzzle_bench(
    puzzles: Annotated[int, typer.Option("--puzzles", help="Puzzles to generate (solvable, from the seed).")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the puzzle set.")] = 0,
    judges: Annotated[str, typer.Option("--judges", help="Who judges dead ends: model, oracle, none.")] = "model,oracle",
    strategies: Annotated[str, typer.Option("--strategies", help="best_first, beam, mcts.")] = "best_first,mcts",
    max_nodes: Annotated[int, typer.Option("--max-nodes", help="Node budget per search.")] = 160,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Make 24: search (the model proposes, CALC computes) under each judge and strategy, beside
    a random proposer under the same rules, one greedy answer and brute force."""
    from islands.flows.puzzle import JUDGES
    from islands.flows.search import STRATEGIES

    if not 1 <= puzzles <= 1000:
        die(f"invalid --puzzles {puzzles}: must be between 1 and 1000")
    if not 4 <= max_nodes <= 10_000:
        die(f"invalid --max-nodes {max_nodes}: must be between 4 and 10000")
    judge_list = [j.strip() for j in judges.split(",") if j.strip()]
    strategy_list = [s.strip() for s in strategies.split(",") if s.strip()]
    for name, known, what in [(j, JUDGES, "judge") for j in judge_list] + [(s, STRATEGIES, "strategy") for s in strategy_list]:
        if name not in known:
            die(f"unknown {what} {name!r}: choose from {', '.join(known)}")
    if not judge_list or not strategy_list:
        die("give at least one judge and one strategy")
    from islands.flows.bench import bench_puzzle

    engine = load_engine(model, 4096)
    with err.status("benchmarking") as status:
        result = bench_puzzle(engine, puzzles=puzzles, seed=seed, judges=judge_list, strategies=strategy_list,
                              max_nodes=max_nodes, say=status.update)
    _report(result, as_json)


@app.command("consistency")
def consistency_bench(
    problems: Annotated[int, typer.Option("--problems", help="Arithmetic word problems (generated from the seed).")] = 24,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the problem set.")] = 0,
    tools: Annotated[bool, typer.Option("--tools/--no-tools", help="Let samples call CALC (hard islands).")] = True,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Self-consistency: accuracy against N = 1, 2, 4, 8, 16 samples per problem."""
    if not 1 <= problems <= 500:
        die(f"invalid --problems {problems}: must be between 1 and 500")
    from islands.flows.bench import bench_consistency

    engine = load_engine(model, 4096)
    with err.status("benchmarking") as status:
        result = bench_consistency(engine, problems=problems, seed=seed, tools=tools, say=status.update)
    _report(result, as_json)


def _sizes(text: str, option: str) -> tuple[int, ...]:
    try:
        chosen = tuple(int(x) for x in text.split(","))
    except ValueError:
        die(f"invalid {option} {text!r}: comma-separated whole numbers")
    if not chosen or any(not 200 <= n <= 1_000_000 for n in chosen):
        die(f"{option}: each size must be between 200 and 1,000,000")
    return chosen


@app.command("memory")
def memory_bench(
    sizes: Annotated[str, typer.Option("--sizes", help="Comma-separated store sizes for BM25 alone.")] = "1000,10000,100000",
    dense_sizes: Annotated[str, typer.Option(
        "--dense-sizes", help="Sizes for hybrid recall (BM25 + vectors); '' for none.")] = "1000,10000",
    embedder: Annotated[str, typer.Option("--embedder", help="The embedder for hybrid recall (minilm, hash).")] = "minilm",
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Recall@5, latency and ingest rate over planted facts among distractors, with BM25
    alone and hybrid; sleep time at 10k; surprise gating on prose with planted facts."""
    chosen, dense = _sizes(sizes, "--sizes"), _sizes(dense_sizes, "--dense-sizes") if dense_sizes.strip() else ()
    from islands.memory.bench import bench_retrieval, bench_surprise
    from islands.memory.embed import embedder_from

    emb = embedder_from(embedder) if dense else None
    if dense and emb is None:
        die("--embedder none: choose minilm or hash (or --dense-sizes '')")
    with err.status("benchmarking retrieval") as status:
        result: dict[str, Any] = {"retrieval": {"bm25": bench_retrieval(chosen, progress=lambda s: status.update(f"BM25: {s}"))}}
        if emb is not None:
            result["retrieval"][f"hybrid-{emb.name}"] = bench_retrieval(
                dense, embedder=emb, progress=lambda s: status.update(f"hybrid: {s}"))
    engine = load_engine(model, 4096)
    with err.status("benchmarking surprise gating"):
        result["surprise"] = bench_surprise(engine)
    _report(result, as_json)


from islands.cli import bench_tasks  # noqa: E402  (islands bench tasks [fetch|list])

app.add_typer(bench_tasks.app, name="tasks")


@app.command("remote")
def remote_bench(
    branches: Annotated[int, typer.Option("--branches", "-b", help="Variants in the tree workload.")] = 8,
    tokens: Annotated[int, typer.Option("--tokens", "-n", help="Tokens per variant.")] = 24,
    items: Annotated[int, typer.Option("--items", help="Questions in the Ray batch run (0: no batch run).")] = 0,
    workers: Annotated[int, typer.Option("--workers", help="Ray actors in the batch run.")] = 2,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Flows through islands -> llama-server (127.0.0.1, same GGUF) vs islands alone; a Ray batch vs one process."""
    if not 1 <= branches <= 64:
        die(f"invalid --branches {branches}: must be between 1 and 64")
    if not 1 <= tokens <= 512:
        die(f"invalid --tokens {tokens}: must be between 1 and 512")
    if not 0 <= items <= 10_000 or not 1 <= workers <= 256:
        die("invalid --items or --workers: items 0..10000, workers 1..256")
    from islands.engine.embedded import resolve_model_path
    from islands.scale.bench import bench_remote

    path = resolve_model_path(model, progress=True)
    with err.status("benchmarking") as status:
        result = bench_remote(path, branches=branches, tokens=tokens, items=items, workers=workers,
                              say=lambda msg: status.update(msg))
    _report(result, as_json)
app.command("radio")(__import__("islands.cli.radio", fromlist=["bench_radio"]).bench_radio)  # islands bench radio
