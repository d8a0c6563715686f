"""`islands generate` and `islands models`."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from islands.cli.common import CtxOption, LocalOption, ModelOption, die, err, load_engine
from islands.cli.corpus import open_corpus
from islands.cli.resident import find_resident
from islands.cli.tools import CorpusOption, generate_with_tools, pick_tools
from islands.engine import Generation, Stats
from islands.engine.embedded import model_name_of
from islands.engine.grammar import check_grammar
from islands.grammar import Grammar
from islands.params import SamplingParams
from islands.tools import IslandGeneration
from islands.tools.soft import SoftSpan, with_sources
from islands.tools.soft import retrieve as retrieve_sources
from islands.tools.trace import write_trace

__all__ = ["generate", "models"]

MAX_BRANCHES = 255  # llama.cpp's 256 sequences, one kept for the shared prompt


def generate(
    prompt: Annotated[str, typer.Argument(help="The text to continue.", show_default=False)],
    model: ModelOption = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", "-n", help="Tokens to sample per branch.")] = 64,
    temperature: Annotated[float, typer.Option("--temperature", "-t", help="0 is greedy.")] = 0.8,
    top_k: Annotated[int, typer.Option("--top-k", help="0 disables.")] = 40,
    top_p: Annotated[float, typer.Option("--top-p", help="1.0 disables.")] = 0.95,
    min_p: Annotated[float, typer.Option("--min-p", help="0 disables.")] = 0.05,
    repeat_penalty: Annotated[float, typer.Option("--repeat-penalty", help="1.0 disables.")] = 1.0,
    seed: Annotated[int | None, typer.Option("--seed", "-s", help="Seed of branch 0; branch i uses seed+i.", show_default="random")] = None,
    stop: Annotated[list[str] | None, typer.Option("--stop", help="Stop at this string (repeatable).", show_default=False)] = None,
    branches: Annotated[int, typer.Option("--branches", "-b", help=f"Variants decoded together in one batch (1..{MAX_BRANCHES}).")] = 1,
    logprobs: Annotated[
        int | None,
        typer.Option("--logprobs", help="With --json: log-probabilities of sampled tokens and the top K.", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: outputs and stats.")] = False,
    tools: Annotated[
        str | None,
        typer.Option("--tools", help="Hard-island tools the model may call: calc, py, search, load, copy.", show_default=False),
    ] = None,
    corpus: CorpusOption = None,
    grammar_file: Annotated[
        Path | None,
        typer.Option("--grammar", help="Constrain the output: a GBNF (or Lark) grammar file.", show_default=False),
    ] = None,
    json_schema: Annotated[
        Path | None,
        typer.Option("--json-schema", help="Constrain the output: a JSON Schema file.", show_default=False),
    ] = None,
    regex: Annotated[str | None, typer.Option("--regex", help="Constrain the output: a regular expression.", show_default=False)] = None,
    choice: Annotated[
        str | None,
        typer.Option("--choice", help="Constrain the output: one of these comma-separated options.", show_default=False),
    ] = None,
    grammar_from: Annotated[
        str | None,
        typer.Option(
            "--grammar-from",
            help="Let the model write a GBNF grammar for this description first, then use it.",
            show_default=False,
        ),
    ] = None,
    retrieve: Annotated[
        int,
        typer.Option("--retrieve", help="With --corpus: put the top K documents for the prompt in the input (soft islands)."),
    ] = 0,
    engine_kind: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local (llama.cpp in this process) or openai (a remote OpenAI-compatible server; --model is then its model name).",
        ),
    ] = "local",
    base_url: Annotated[
        list[str] | None,
        typer.Option(
            "--base-url",
            help="With --engine openai: a server's base URL (repeatable: least-loaded first, retried on connection errors).",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="ISLANDS_REMOTE_API_KEY", help="With --engine openai: the server's API key.", show_default=False),
    ] = None,
    trace: Annotated[
        Path | None,
        typer.Option("--trace", help="Write the run as JSONL: prompt, soft and hard spans, timings, logprobs.", show_default=False),
    ] = None,
    local: LocalOption = False,
    ctx: CtxOption = 4096,
) -> None:
    """Continue PROMPT, streaming the text; --branches N samples N variants in one batch."""
    if not prompt:
        die("prompt is empty")
    if not 1 <= branches <= MAX_BRANCHES:
        die(f"invalid --branches {branches}: must be between 1 and {MAX_BRANCHES}")
    if not 0 <= retrieve <= 20:
        die(f"invalid --retrieve {retrieve}: must be between 0 and 20")
    params = SamplingParams(
        max_tokens=max_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        min_p=min_p,
        repeat_penalty=repeat_penalty,
        seed=seed,
        stop=tuple(stop or ()),
        logprobs=logprobs,
    ).seeded()
    registry = pick_tools(tools, corpus) if tools is not None else None
    grammar = _pick_grammar(grammar_file, json_schema, regex, choice)
    if grammar_from is not None and grammar is not None:
        die("give at most one of --grammar, --json-schema, --regex, --choice, --grammar-from")
    if (grammar is not None or grammar_from is not None) and registry is not None:
        die("--tools cannot be combined with a grammar yet")
    if grammar is not None:
        check_grammar(grammar)  # syntax errors before the model loads
    if retrieve and corpus is None:
        die("--retrieve needs --corpus DIR")
    if trace is not None and not trace.parent.is_dir():
        die(f"cannot write trace {trace}: folder {trace.parent} does not exist")
    if engine_kind not in ("local", "openai"):
        die(f"invalid --engine {engine_kind!r}: choose local or openai")
    if engine_kind == "openai":
        _generate_remote(
            prompt, model, base_url or [], api_key, branches, params, registry, grammar, grammar_from, as_json, trace, corpus, retrieve
        )
        return
    if base_url:
        die("--base-url needs --engine openai")
    resident = None if local or grammar_from is not None else find_resident(model_name_of(model))
    if resident is not None:
        if not as_json:
            err.print(f"[dim]using islands serve at {resident.url} (--local to load the model here)[/]")
        _generate_remote(prompt, resident.model, [resident.url], resident.api_key, branches, params, registry, grammar, None, as_json,
                         trace, corpus, retrieve)
        return
    engine = load_engine(model, ctx)
    if grammar_from is not None:
        from islands.tools.grammar_writer import write_grammar

        grammar = write_grammar(engine, grammar_from)
        err.print(f"[dim]grammar the model wrote:[/] {escape(grammar.source)}", soft_wrap=True)
    soft: list[SoftSpan] = []
    if retrieve:
        assert corpus is not None
        sources = retrieve_sources(open_corpus(corpus, quiet=True), prompt, k=retrieve)
        prompt, soft = with_sources(prompt, sources)
        err.print(f"[dim]sources: {', '.join(f'[{s.n}] {s.ref}' for s in soft) or 'none found'}[/]")
    result: Generation | IslandGeneration
    if registry is not None:
        result = generate_with_tools(engine, registry, prompt, branches, params, as_json)
    elif as_json:
        result = engine.generate(prompt, n=branches, params=params, grammar=grammar)
    elif branches == 1:
        result = engine.generate(prompt, params=params, on_text=_write_stdout, grammar=grammar)
        sys.stdout.write("\n")
    else:
        result = _generate_live(engine, prompt, branches, params, grammar)
    if trace is not None:
        write_trace(trace, prompt, result, soft)
    if as_json:
        typer.echo(json.dumps(_json_doc(result, soft), ensure_ascii=False))
    else:
        _print_stats(result.stats)


def _generate_remote(
    prompt: str,
    model: str | None,
    base_urls: list[str],
    api_key: str | None,
    n: int,
    params: SamplingParams,
    registry: object,
    grammar: Grammar | None,
    grammar_from: str | None,
    as_json: bool,
    trace: Path | None,
    corpus: Path | None,
    retrieve: int,
) -> None:
    """The same generation against a remote OpenAI-compatible server."""
    from islands.engine.remote import RemoteEngine
    from islands.tools import IslandRunner, Registry

    if not base_urls:
        die("--engine openai needs --base-url URL")
    if model is None:
        die("--engine openai needs --model NAME (the server's model name)")
    if grammar_from is not None:
        die("--grammar-from needs the local engine (the grammar is compiled here)")
    remote = RemoteEngine(base_urls, str(model), api_key=api_key)
    soft: list[SoftSpan] = []
    if retrieve:
        assert corpus is not None
        prompt, soft = with_sources(prompt, retrieve_sources(open_corpus(corpus, quiet=True), prompt, k=retrieve))
    stream = None if as_json or n > 1 else _write_stdout
    result: Generation | IslandGeneration
    if isinstance(registry, Registry):
        runner = IslandRunner(remote, registry)
        try:
            result = runner.generate(prompt, n=n, params=params, on_text=stream)
        finally:
            runner.close()
    else:
        result = remote.generate(prompt, n=n, params=params, on_text=stream, grammar=grammar)
    remote.close()
    if trace is not None:
        write_trace(trace, prompt, result, soft)
    if as_json:
        typer.echo(json.dumps(_json_doc(result, soft), ensure_ascii=False))
        return
    if n == 1:
        sys.stdout.write("\n")
    else:
        for i, text in enumerate(result.texts):
            typer.echo(f"--- branch {i} ---\n{text}")
    _print_stats(result.stats)


def _json_doc(result: Generation | IslandGeneration, soft: list[SoftSpan]) -> dict[str, object]:
    doc: dict[str, object] = {"outputs": result.texts, "stats": result.stats.to_dict()}
    doc["seeds"] = [o.seed for o in result.outputs]
    doc["finish_reasons"] = [o.finish_reason for o in result.outputs]
    if isinstance(result, IslandGeneration):
        doc["stats"] = result.stats.to_dict() | {"injected_tokens": result.injected_tokens}
        doc["spans"] = [[asdict(s) for s in o.spans] for o in result.outputs]
    elif any(o.logprobs is not None for o in result.outputs):
        doc["logprobs"] = [[asdict(lp) for lp in o.logprobs or []] for o in result.outputs]
    if soft:
        doc["soft"] = [asdict(s) for s in soft]
    return doc


def _write_stdout(_index: int, text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _pick_grammar(grammar_file: Path | None, json_schema: Path | None, regex: str | None, choice: str | None) -> Grammar | None:
    given = [g for g in (grammar_file, json_schema, regex, choice) if g is not None]
    if len(given) > 1:
        die("give at most one of --grammar, --json-schema, --regex, --choice")
    if grammar_file is not None or json_schema is not None:
        path = grammar_file or json_schema
        assert path is not None
        try:
            text = path.read_text()
        except OSError as e:
            die(f"cannot read {path}: {e.strerror}")
        return Grammar.gbnf(text) if grammar_file is not None else Grammar.json_schema(text)
    if regex is not None:
        return Grammar.regex(regex)
    if choice is not None:
        return Grammar.choice([c for c in choice.split(",")])
    return None


def _generate_live(engine, prompt: str, n: int, params: SamplingParams, grammar: Grammar | None = None) -> Generation:  # type: ignore[no-untyped-def]
    """Branches side by side, updated as they grow (plain blocks when not a terminal)."""
    out = Console()
    texts = [""] * n
    stream = engine.stream(prompt, n=n, params=params, grammar=grammar)

    def table() -> Table:
        t = Table(show_header=True, header_style="bold", expand=True, show_lines=True)
        t.add_column("#", justify="right", width=3)
        t.add_column(prompt if len(prompt) < 60 else prompt[:57] + "...", overflow="fold")
        for i, text in enumerate(texts):
            t.add_row(str(i), text)
        return t

    if out.is_terminal:
        with Live(table(), console=out, refresh_per_second=8) as live:
            for delta in stream:
                texts[delta.index] += delta.text
                live.update(table())
    else:
        for delta in stream:
            texts[delta.index] += delta.text
        for i, text in enumerate(texts):
            out.print(f"--- branch {i} ---", markup=False)
            out.print(text, markup=False, highlight=False)
    result: Generation | None = stream.result
    assert result is not None
    return result


def _print_stats(s: Stats) -> None:
    rate = s.sampled_tokens / s.seconds if s.seconds else 0.0
    err.print(
        f"[dim]{s.sampled_tokens} tokens in {s.seconds:.2f} s ({rate:.1f} tok/s) · "
        f"prompt {s.prompt_tokens} · prefilled {s.prefill_tokens} · reused {s.reused_tokens} · "
        f"{s.decode_steps} decode steps[/]"
    )


def models(
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ctx: CtxOption = 4096,
) -> None:
    """Show the model (path, size, vocabulary, context length) and the embedded models by name."""
    from islands.engine.embedded import EMBEDDED

    engine = load_engine(model, ctx)
    info = engine.info()
    if as_json:
        typer.echo(json.dumps(info.__dict__ | {"embedded": EMBEDDED}))
        return
    t = Table(show_header=False, box=None)
    for name, role in EMBEDDED.items():
        t.add_row("embedded", f"{name}: {role}")
    t.add_row("name", info.name)
    t.add_row("path", info.path)
    t.add_row("size", f"{info.size_bytes / 1e6:.1f} MB")
    t.add_row("parameters", f"{info.n_params / 1e6:.0f} M")
    t.add_row("vocabulary", f"{info.n_vocab:,} tokens")
    t.add_row("context (trained)", f"{info.n_ctx_train:,} tokens")
    t.add_row("context (this run)", f"{info.n_ctx:,} tokens")
    t.add_row("description", info.description)
    Console().print(t)
