"""`islands people ...`: sample personas from demographic tables, survey them, run A/B
tests, report, and validate against the GSS; `islands bench people` (registered in app.py)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from islands.cli.common import CtxOption, ModelOption, die, err, load_engine
from islands.errors import InvalidInput

__all__ = ["app", "bench_people_command"]

app = typer.Typer(help="People of the World: personas from real demographics, surveys, A/B tests, validation.", no_args_is_help=True)

Seed = Annotated[int, typer.Option("--seed", "-s", help="Seed: the same seed gives the same people and answers.")]
Wave = Annotated[int, typer.Option("--wave", help="Personas interviewed together (fewer when the context or sequence slots run out).")]
PopulationSpec = Annotated[
    Path | None,
    typer.Option("--spec", help="A population file (format islands-population/1; default: US adults 18+, Census/BLS).", show_default=False),
]


def _population(spec: Path | None) -> Any:
    from islands.people import Population

    return Population.load(spec) if spec is not None else Population.us_adults()


def _progress() -> Any:
    """A progress display; each task shows its own description."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err,
                    transient=False)


def _writing_bar(bar: Any, personas: int, backstory: bool, notes: bool) -> Callable[[int], None]:
    """A row of `bar` for the backstories and notes about to be written; its advance."""
    if not (backstory or notes):
        return lambda _n: None
    from islands.people.notes import writes

    task = bar.add_task("backstories and notes written", total=writes(personas, backstory, notes))
    return lambda n: bar.advance(task, n)


@app.command("sample")
def sample(
    n: Annotated[int, typer.Argument(help="How many personas.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the personas here, one JSON object a line.")],
    seed: Seed = 0,
    where: Annotated[
        str | None, typer.Option("--where", "-w", help='Filters: "age>=30,region=West,sex!=male,education=a|b".', show_default=False)
    ] = None,
    spec: PopulationSpec = None,
    backstory: Annotated[
        bool, typer.Option("--backstory", help="Have the model write each a short backstory, kept only if it fits the record.")
    ] = False,
    notes: Annotated[
        bool,
        typer.Option("--notes", help="Have the model answer three warm-up interview questions as each, kept only if they fit the record."),
    ] = False,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the fitted marginals and constraint gaps as JSON.")] = False,
) -> None:
    """Draw N personas from the population (IPF fit of marginals and joint tables)."""
    from islands.files import write_jsonl
    from islands.people import parse_where

    if not 1 <= n <= 10_000_000:
        die(f"invalid number of personas {n}: must be between 1 and 10,000,000")
    if not out.parent.is_dir():
        die(f"cannot write {out}: folder {out.parent} does not exist")
    filters = parse_where(where)
    pop = _population(spec)
    records = pop.sample(n, seed=seed, where=filters)
    if backstory or notes:
        from islands.people.notes import WARMUPS, enrich

        engine = _engine(model, 8192)
        with _progress() as bar:
            done = _writing_bar(bar, n, backstory, notes)
            stories, kept = enrich(engine, records, backstory=backstory, notes=notes, seed=seed, on_done=done)
        if backstory:
            err.print(f"{stories} of {n} backstories kept (the others contradicted their record every try)")
        if notes:
            err.print(f"{kept} of {n * len(WARMUPS)} warm-up answers kept (the others contradicted their record every try)")
    write_jsonl(out, records, what="personas")
    if as_json:
        typer.echo(json.dumps({"personas": n, "out": str(out), "residuals": pop.residuals()}))
        return
    table = Table(title=f"{n} personas -> {out}" + (f" (where {where})" if where else ""))
    for col in ("variable", "category", "sampled", "population"):
        table.add_column(col, justify="right" if col in ("sampled", "population") else "left")
    for name, var in pop.variables.items():
        key = f"{name}_group" if var.ranges else name
        fitted = pop.marginal(name)
        for c in var.categories:
            got = sum(1 for r in records if r[key] == c) / n
            table.add_row(name, c[:40], f"{got:.3f}", f"{fitted[c]:.3f}")
        name = ""
    Console().print(table)


def _engine(model: str | None, ctx: int) -> Any:
    return load_engine(model, ctx)


@app.command("survey")
def survey(
    population: Annotated[Path, typer.Option("--population", "-p", help="Personas (JSONL from `islands people sample`).")],
    questions: Annotated[Path, typer.Option("--questions", "-q", help='Questions (JSON/YAML {"questions": [...]}, or a GSS item file).')],
    out: Annotated[Path, typer.Option("--out", "-o", help="Answers, JSONL; an existing file is resumed (nothing asked twice).")],
    seed: Seed = 0,
    wave: Wave = 32,
    model: ModelOption = None,
    ctx: CtxOption = 16384,
) -> None:
    """Interview every persona: its prefix in KV once, each question forked from it."""
    from islands.people import load_questions
    from islands.people.survey import ResultsFile, load_personas, run_survey

    people = load_personas(population)
    qs = load_questions(questions)
    done = ResultsFile(out).done  # a bad results file is an error before the model loads
    todo = sum(1 for p in people for q in qs if (p["id"], q.id) not in done)
    if todo == 0:
        err.print(f"{out}: all {len(people) * len(qs)} answers are there already")
        return
    engine = _engine(model, ctx)
    with _progress() as bar:
        task = bar.add_task("answers", total=todo)
        written, before = run_survey(engine, people, qs, out, seed=seed, wave=wave, on_answer=lambda _a: bar.advance(task))
    err.print(f"{written} answers written to {out}" + (f" ({before} were there already)" if before else ""))


@app.command("ab")
def ab(
    population: Annotated[Path, typer.Option("--population", "-p", help="Personas (JSONL from `islands people sample`).")],
    test: Annotated[Path, typer.Option("--test", "-t", help="The A/B file: variants, question, option values (JSON/YAML).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Answers, JSONL (resumed if it exists).")],
    by: Annotated[str, typer.Option("--by", help="Subgroup variables, comma-separated (age_gss: GSS age groups).")] = "sex,age_gss",
    seed: Seed = 0,
    wave: Wave = 32,
    model: ModelOption = None,
    ctx: CtxOption = 16384,
    as_json: Annotated[bool, typer.Option("--json", help="Print the analysis as JSON.")] = False,
) -> None:
    """Randomize variants over the personas, ask, and compare arms with bootstrap 95% CIs."""
    from islands.people.ab import analyze_ab, assign, load_ab
    from islands.people.interview import Answer
    from islands.people.persona import persona_prefix
    from islands.people.survey import ResultsFile, load_personas, read_results

    people = load_personas(population)
    spec = load_ab(test)
    arms = assign(people, list(spec.variants), seed=seed)
    results = ResultsFile(out)
    todo = [p for p in people if (p["id"], spec.question_for(arms[p["id"]]).id) not in results.done]
    if todo:
        from islands.people.interview import Job, interview

        engine = _engine(model, ctx)
        jobs = [Job(p["id"], persona_prefix(p), [spec.question_for(arms[p["id"]])], {"record": p, "variant": arms[p["id"]]}) for p in todo]
        with _progress() as bar:
            task = bar.add_task("answers", total=len(jobs))

            def write(a: Answer) -> None:
                results.append(a.row())
                bar.advance(task)

            try:
                interview(engine, jobs, seed=seed, wave=wave, on_answer=write)
            finally:
                results.close()
    rows = [r for r in read_results(out) if r.get("persona") in arms]
    report = analyze_ab(spec, rows, by=[b for b in by.split(",") if b], seed=seed)
    if as_json:
        typer.echo(json.dumps(report))
        return
    table = Table(title=f"A/B: {spec.question.id}, difference from {report['baseline']} (95% bootstrap CI)")
    for col in ("subgroup", "n", "means", "difference", "95% CI"):
        table.add_column(col)

    def add(label: str, block: dict[str, Any]) -> None:
        means = ", ".join(f"{k} {v:.3f}" for k, v in block["mean"].items() if not math.isnan(v))
        for name, d in block["diff"].items():
            table.add_row(
                label, "/".join(map(str, block["n"].values())), means, f"{name} {d['diff']:+.3f}", f"[{d['lo']:+.3f}, {d['hi']:+.3f}]"
            )

    add("all", report["overall"])
    for var, groups in report["by"].items():
        for g, block in groups.items():
            add(f"{var}={g}", block)
    Console().print(table)


@app.command("report")
def report(
    results: Annotated[Path, typer.Argument(help="A results file (JSONL from survey or ab).")],
    by: Annotated[
        str | None, typer.Option("--by", help="A subgroup variable (e.g. sex, region, education, age_gss).", show_default=False)
    ] = None,
    survey_file: Annotated[
        Path | None, typer.Option("--survey", help="A GSS item file: real distributions beside synthetic ones.", show_default=False)
    ] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the table as CSV.", show_default=False)] = None,
    png_out: Annotated[
        Path | None, typer.Option("--png", help="Write bar charts of choice answers (matplotlib PNG).", show_default=False)
    ] = None,
) -> None:
    """Answer distributions per question, overall and by subgroup, real beside synthetic."""
    from islands.people.report import distribution_rows, write_csv, write_png
    from islands.people.survey import read_results

    rows = read_results(results)
    gss = _read_json(survey_file, "survey file") if survey_file is not None else None
    for path in (csv_out, png_out):
        if path is not None and not path.parent.is_dir():
            die(f"cannot write {path}: folder {path.parent} does not exist")
    table_rows = distribution_rows(rows, by=by, gss=gss)
    table = Table(title=f"{results}" + (f" by {by}" if by else ""))
    for col in ("question", "group", "n", "option", "synthetic", "real"):
        table.add_column(col, justify="right" if col in ("n", "synthetic", "real") else "left")
    for r in table_rows:
        if "share" in r:
            real = f"{r['real']:.3f}" if r.get("real") is not None else "-"
            table.add_row(r["question"], str(r["group"]), str(r["n"]), r["option"][:30], f"{r['share']:.3f}", real)
        elif "mean" in r:
            table.add_row(r["question"], str(r["group"]), str(r["n"]), "mean / median", f"{r['mean']:.2f} / {r['median']:.2f}", "-")
        else:
            table.add_row(r["question"], str(r["group"]), str(r["n"]), "answered", str(r["answered"]), "-")
    Console().print(table)
    if csv_out is not None:
        write_csv(csv_out, table_rows)
        err.print(f"wrote {csv_out}")
    if png_out is not None:
        write_png(png_out, table_rows)
        err.print(f"wrote {png_out}")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(f"{what} {path} is not JSON: {e}") from None


@app.command("validate")
def validate(
    survey_file: Annotated[Path, typer.Option("--survey", help="GSS items with real distributions (gss_dev.json).")],
    personas: Annotated[int, typer.Option("--personas", "-n", help="US adults sampled and interviewed.")] = 100,
    fit: Annotated[str, typer.Option("--fit", help="Items the calibration is fitted on (the others test it).")] = "HAPPY,POLVIEWS,GRASS",
    seed: Seed = 0,
    wave: Wave = 32,
    spec: PopulationSpec = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the full report as JSON.", show_default=False)] = None,
    model: ModelOption = None,
    ctx: CtxOption = 16384,
    engine_kind: Annotated[
        str,
        typer.Option("--engine", help="local (llama.cpp here) or openai (a remote OpenAI-compatible server; --model is its model name)."),
    ] = "local",
    base_url: Annotated[
        list[str] | None, typer.Option("--base-url", help="With --engine openai: the server's base URL (repeatable).", show_default=False)
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="ISLANDS_REMOTE_API_KEY", help="With --engine openai: the server's API key.", show_default=False),
    ] = None,
    backstory: Annotated[bool, typer.Option("--backstory", help="Personas with model-written backstories (local engine).")] = False,
    notes: Annotated[bool, typer.Option("--notes", help="Personas with model-written interview notes (local engine).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
) -> None:
    """TVD between synthetic and GSS answers per item and subgroup, vs no-persona and uniform baselines."""
    from islands.files import write_jsonl
    from islands.people.validate import validate as run_validate

    if not 1 <= personas <= 100_000:
        die(f"invalid --personas {personas}: must be between 1 and 100,000")
    gss = _read_json(survey_file, "survey file")
    if not isinstance(gss, dict):
        die(f"survey file {survey_file}: expected an object of GSS items")
    from islands.people.questions import questions_from_gss

    items = questions_from_gss(gss)
    fit_items = [f.strip() for f in fit.split(",") if f.strip()]
    if out is not None and not out.parent.is_dir():
        die(f"cannot write {out}: folder {out.parent} does not exist")
    if engine_kind not in ("local", "openai"):
        die(f"invalid --engine {engine_kind!r}: choose local or openai")
    if engine_kind == "openai" and (not base_url or model is None):
        die("--engine openai needs --base-url URL and --model NAME (the server's model name)")
    if engine_kind == "local" and base_url:
        die("--base-url needs --engine openai")
    if engine_kind == "openai" and (backstory or notes):
        die("--backstory and --notes are written on the local engine: leave out --engine openai")
    pop = _population(spec)
    engine: Any
    if engine_kind == "openai":
        from islands.engine.remote import RemoteEngine

        engine = RemoteEngine(base_url or [], str(model), api_key=api_key)
    else:
        engine = _engine(model, ctx)
    total = (personas + 1) * len(items)
    with _progress() as bar:
        written = _writing_bar(bar, personas, backstory, notes)
        task = bar.add_task("answers", total=total)
        result = run_validate(
            engine, gss, pop, personas=personas, seed=seed, fit_items=fit_items, wave=wave, on_answer=lambda _a: bar.advance(task),
            backstory=backstory, notes=notes, on_written=written,
        )
    if out is not None:
        write_jsonl(out, [result], what="report")
    if as_json:
        typer.echo(json.dumps(result))
        return
    _print_validation(result)


def _print_validation(result: dict[str, Any]) -> None:
    c = Console()
    t = Table(title=f"TVD to the GSS, {result['personas']} personas (lower is better)")
    for col in ("item", "real (source)", "personas", "no persona", "uniform", "calibrated", "calibration"):
        t.add_column(col, justify="left" if col in ("item", "real (source)", "calibration") else "right")
    for qid, it in result["items"].items():
        t.add_row(
            qid,
            it["real_source"],
            f"{it['tvd_personas']:.3f}",
            f"{it['tvd_no_persona']:.3f}",
            f"{it['tvd_uniform']:.3f}",
            f"{it['tvd_calibrated']:.3f}",
            it["calibration_role"],
        )
    m = result["mean_tvd"]
    t.add_row("mean", "", f"{m['tvd_personas']:.3f}", f"{m['tvd_no_persona']:.3f}", f"{m['tvd_uniform']:.3f}", "", "")
    c.print(t)
    s = Table(title="per subgroup")
    for col in ("item", "breakdown", "group", "n", "personas", "no persona", "uniform"):
        s.add_column(col, justify="right" if col in ("n", "personas", "no persona", "uniform") else "left")
    for qid, it in result["items"].items():
        for r in it["subgroups"]:
            s.add_row(
                qid,
                r["breakdown"],
                escape(r["group"]),
                str(r["n"]),
                f"{r['tvd_personas']:.3f}",
                f"{r['tvd_no_persona']:.3f}",
                f"{r['tvd_uniform']:.3f}",
            )
    c.print(s)
    cal = result["calibration"]
    c.print(
        f"calibration fitted on {', '.join(cal['fit_items'])} (alpha {cal['alpha']}, T {cal['temperature']}); "
        f"tested on {', '.join(cal['test_items'])}: mean TVD {cal['test_mean_tvd_raw']:.3f} raw -> "
        f"{cal['test_mean_tvd_calibrated']:.3f} calibrated",
        highlight=False,
    )


def bench_people_command(
    personas: Annotated[int, typer.Option("--personas", help="Personas interviewed (1000 for the full-size run).")] = 24,
    questions: Annotated[int, typer.Option("--questions", help="Choice questions each (1-10).")] = 6,
    seed: Seed = 0,
    wave: Wave = 32,
    model: ModelOption = None,
    ctx: CtxOption = 16384,
    backstory: Annotated[
        bool, typer.Option("--backstory", help="Personas with a model-written backstory (written first, timed apart).")
    ] = False,
    notes: Annotated[
        bool, typer.Option("--notes", help="Personas with model-written interview notes (written first, timed apart).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Survey answers/s with each persona's KV shared by its questions vs re-prefilled per question."""
    from islands.people.bench import BENCH_QUESTIONS, bench_people

    if not 1 <= personas <= 100_000:
        die(f"invalid --personas {personas}: must be between 1 and 100,000")
    if not 1 <= questions <= len(BENCH_QUESTIONS):
        die(f"invalid --questions {questions}: must be between 1 and {len(BENCH_QUESTIONS)}")
    engine = _engine(model, ctx)
    with _progress() as bar:
        written = _writing_bar(bar, personas, backstory, notes)
        task = bar.add_task("answers (re-prefill, then KV shared)", total=2 * personas * questions)
        result = bench_people(engine, personas=personas, questions=questions, seed=seed, wave=wave, backstory=backstory,
                              notes=notes, on_answer=lambda _run: bar.advance(task), on_written=written)
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        Console().print(f"{key}: {value}", highlight=False)
