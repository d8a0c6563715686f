"""Flows as data: a YAML or JSON graph of nodes, each one primitive, run in dependency order.

    name: best-of-n
    inputs: {question: "What is 17 squared?"}
    nodes:
      - {id: drafts, op: fanout, prompt: "Q: {question}\\nA:", n: 4, max_tokens: 32, stop: ["\\n"],
         temperatures: {schedule: linear, hot: 1.0, cool: 0.2}}
      - {id: scored, op: score_logprob, from: drafts, prompt: "Q: {question}\\nA:"}
      - {id: best, op: prune, from: scored, k: 1}
      - {id: answer, op: output, from: best}

Edges are the `from` fields and `{name}` references in templates (an input, or an earlier
node: its best variant's text). A validation error names the node and the field. The
JSON Schema of this format is `flow.schema.json` beside this file (`islands flow schema`),
which is what a node-based editor edits.
"""

from __future__ import annotations

import json
import string
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from islands.engine import Delta, Engine, Generation, Stats
from islands.engine import Output as EngineOutput
from islands.grammar import Grammar
from islands.engine.stream import Job
from islands.errors import InvalidInput
from islands.flows import scoring
from islands.flows.ask import ask
from islands.flows.plan import plan_ahead
from islands.flows.variants import Variant, anneal, explore, fanout, schedule, synthesize
from islands.params import SamplingParams

__all__ = ["Flow", "FlowJob", "FlowRun", "load_flow", "run_flow", "schema_json"]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Unique name; other nodes refer to it.")


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schedule: Literal["constant", "linear", "exponential"] = "linear"
    hot: float = Field(1.0, ge=0)
    cool: float = Field(0.2, ge=0)


class _Sampling(_Node):
    prompt: str = Field(description="Template: {input} and {node} references are filled in.")
    max_tokens: int = Field(64, ge=1, le=4096)
    temperature: float = Field(0.8, ge=0)
    stop: list[str] = Field(default_factory=list)
    seed: int = Field(1, ge=0)


class Generate(_Sampling):
    op: Literal["generate"]
    regex: str | None = None
    choice: list[str] | None = None
    json_schema: dict[str, Any] | None = None


class Fanout(_Sampling):
    op: Literal["fanout"]
    n: int = Field(4, ge=1, le=64)
    temperatures: Schedule | None = None


class Explore(_Sampling):
    op: Literal["explore"]
    n: int = Field(4, ge=1, le=64)
    mode: Literal["penalty", "tail"] = "penalty"
    steps: int = Field(3, ge=1)


class _From(_Node):
    from_: str = Field(alias="from", description="The node whose variants this one takes.")


class ScoreLogprob(_From):
    op: Literal["score_logprob"]
    prompt: str


class Judge(_From):
    op: Literal["judge"]
    question: str


class Pairwise(_From):
    op: Literal["pairwise"]
    question: str


class Vote(_From):
    op: Literal["vote"]


class Prune(_From):
    op: Literal["prune"]
    k: int | None = Field(None, ge=1)
    threshold: float | None = None


class Synthesize(_From):
    op: Literal["synthesize"]
    question: str
    mode: Literal["summarize", "improve"] = "summarize"
    max_tokens: int = Field(96, ge=1, le=4096)


class Anneal(_Sampling):
    op: Literal["anneal"]
    rounds: int = Field(3, ge=1, le=20)
    n: int = Field(4, ge=1, le=64)
    hot: float = Field(1.4, ge=0)
    cool: float = Field(0.3, gt=0)
    keep: int = Field(4, ge=1)


class PlanAhead(_Node):
    op: Literal["plan_ahead"]
    theme: str
    scheme: str = Field("AABB", pattern=r"^[A-Z]{2,12}$")
    seed: int = Field(1, ge=0)


class Ask(_Node):
    op: Literal["ask"]
    question: str
    n: int = Field(6, ge=1, le=64)


class Output(_From):
    op: Literal["output"]


AnyNode = Annotated[
    Generate | Fanout | Explore | Anneal | ScoreLogprob | Judge | Pairwise | Vote | Prune | Synthesize | Ask | PlanAhead | Output,
    Field(discriminator="op"),
]
OPS = ["generate", "fanout", "explore", "anneal", "score_logprob", "judge", "pairwise", "vote", "prune", "synthesize", "ask",
       "plan_ahead", "output"]


class Flow(BaseModel):
    """A generation flow: inputs with defaults, and nodes run in dependency order."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    inputs: dict[str, str] = Field(default_factory=dict, description="Input names and default values.")
    nodes: list[AnyNode] = Field(min_length=1)


def schema_json() -> str:
    return json.dumps(Flow.model_json_schema(by_alias=True), indent=2, sort_keys=True) + "\n"


def _refs(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _deps(node: Any) -> set[str]:
    deps = {node.from_} if hasattr(node, "from_") else set()
    for field_name in ("prompt", "question", "theme"):
        if hasattr(node, field_name):
            deps |= _refs(getattr(node, field_name))
    return deps


def load_flow(source: str | Path | dict[str, Any]) -> Flow:
    """Parse and check a flow (YAML or JSON file, or a dict); InvalidInput names the node and field."""
    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        try:
            text = path.read_text()
        except OSError as e:
            raise InvalidInput(f"cannot read flow {path}: {e.strerror}") from None
        data = _parse(text, path)
    if not isinstance(data, dict):
        raise InvalidInput("a flow is a mapping with name, inputs and nodes")
    _check_ops(data)
    try:
        flow = Flow.model_validate(data)
    except ValidationError as e:
        raise InvalidInput(_explain(e, data)) from None
    ids = [n.id for n in flow.nodes]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise InvalidInput(f"node {sorted(dupes)[0]!r}: id used twice")
    known = set(flow.inputs) | set(ids)
    for node in flow.nodes:
        for ref in sorted(_deps(node)):
            if ref not in known:
                fields = [f for f in ("prompt", "question", "theme") if ref in _refs(getattr(node, f, "") or "")]
                field = "from" if getattr(node, "from_", None) == ref else fields[0]
                raise InvalidInput(f"node {node.id!r}: field {field!r}: unknown input or node {ref!r}")
    _order(flow)  # cycles
    return flow


def _parse(text: str, path: Path) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise InvalidInput(f"{path}: invalid YAML{where}: {getattr(e, 'problem', e)}") from None


def _check_ops(data: dict[str, Any]) -> None:
    for i, node in enumerate(data.get("nodes") or []):
        if isinstance(node, dict) and node.get("op") not in OPS:
            raise InvalidInput(f"node {node.get('id', f'#{i}')!r}: field 'op': unknown op {node.get('op')!r} (known: {', '.join(OPS)})")


def _explain(e: ValidationError, data: dict[str, Any]) -> str:
    first = e.errors()[0]
    loc = list(first["loc"])
    if loc and loc[0] == "nodes" and len(loc) > 1 and isinstance(loc[1], int):
        node = data["nodes"][loc[1]]
        name = node.get("id", f"#{loc[1]}") if isinstance(node, dict) else f"#{loc[1]}"
        field = ".".join(str(p) for p in loc[3:]) or ".".join(str(p) for p in loc[2:])
        return f"node {name!r}: field {field!r}: {first['msg']}"
    return f"field {'.'.join(str(p) for p in loc)!r}: {first['msg']}"


def _order(flow: Flow) -> list[Any]:
    by_id = {n.id: n for n in flow.nodes}
    done: list[Any] = []
    state: dict[str, int] = {}

    def visit(node: Any, chain: list[str]) -> None:
        if state.get(node.id) == 2:
            return
        if state.get(node.id) == 1:
            raise InvalidInput(f"node {node.id!r}: cycle {' -> '.join(chain + [node.id])}")
        state[node.id] = 1
        for dep in sorted(_deps(node)):
            if dep in by_id:
                visit(by_id[dep], chain + [node.id])
        state[node.id] = 2
        done.append(node)

    for node in flow.nodes:
        visit(node, [])
    return done


class FlowRun(BaseModel):
    """What a run produced: each node's value (variants as dicts, or text) and the output."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    name: str
    values: dict[str, Any]
    output: Any


def _text(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], Variant):
        best = max(value, key=lambda v: v.score if v.score is not None else float("-inf"))
        return str(best.meta.get("answer") or best.text.strip())  # a vote's answer, else the text
    return str(value)


def run_flow(engine: Engine, flow: Flow, inputs: dict[str, str] | None = None) -> FlowRun:
    """Run the nodes in dependency order; the last `output` node (or the last node) is the result."""
    given = dict(flow.inputs) | dict(inputs or {})
    unknown = set(inputs or {}) - set(flow.inputs)
    if unknown:
        raise InvalidInput(f"unknown input {sorted(unknown)[0]!r} (the flow takes: {', '.join(flow.inputs) or 'none'})")
    values: dict[str, Any] = {}
    output: Any = None

    def fill(template: str) -> str:
        context = {k: _text(v) for k, v in values.items()} | given
        return template.format(**context)

    for node in _order(flow):
        if isinstance(node, Anneal):
            prompt = fill(node.prompt)
            params = SamplingParams(max_tokens=node.max_tokens, stop=tuple(node.stop), seed=node.seed)
            values[node.id] = anneal(engine, prompt, lambda vs, p=prompt: scoring.score_logprob(engine, p, vs), rounds=node.rounds,
                                     n=node.n, hot=node.hot, cool=node.cool, keep=node.keep, params=params)
        elif isinstance(node, PlanAhead):
            values[node.id] = plan_ahead(engine, fill(node.theme), scheme=node.scheme, seed=node.seed).text
        elif isinstance(node, Generate | Fanout | Explore):
            params = SamplingParams(max_tokens=node.max_tokens, temperature=node.temperature, stop=tuple(node.stop), seed=node.seed)
            prompt = fill(node.prompt)
            if isinstance(node, Generate):
                grammar = (Grammar.regex(node.regex) if node.regex else Grammar.choice(node.choice) if node.choice
                           else Grammar.json_schema(node.json_schema) if node.json_schema else None)
                out = engine.generate(prompt, params=params, grammar=grammar).outputs[0]
                values[node.id] = [Variant(out.text, node.temperature, out.seed, out.tokens, out.finish_reason)]
            elif isinstance(node, Fanout):
                temps = schedule(node.n, node.temperatures.schedule, hot=node.temperatures.hot, cool=node.temperatures.cool) if node.temperatures else None
                values[node.id] = fanout(engine, prompt, node.n, params, temperatures=temps)
            else:
                values[node.id] = explore(engine, prompt, node.n, params, mode=node.mode, steps=node.steps)
        elif isinstance(node, Ask):
            result = ask(engine, fill(node.question), n=node.n)
            values[node.id] = result.answer or ""
        else:
            source = values[node.from_]
            variants = [Variant(**{**v.__dict__, "meta": dict(v.meta)}) for v in source] if isinstance(source, list) else source
            if isinstance(node, ScoreLogprob):
                values[node.id] = scoring.score_logprob(engine, fill(node.prompt), variants)
            elif isinstance(node, Judge):
                values[node.id] = scoring.judge(engine, fill(node.question), variants)
            elif isinstance(node, Pairwise):
                values[node.id] = scoring.pairwise(engine, fill(node.question), variants)
            elif isinstance(node, Vote):
                values[node.id] = scoring.vote(variants)[1]
            elif isinstance(node, Prune):
                values[node.id] = scoring.prune(variants, k=node.k, threshold=node.threshold)
            elif isinstance(node, Synthesize):
                values[node.id] = synthesize(engine, fill(node.question), variants, mode=node.mode,
                                             params=SamplingParams(temperature=0, max_tokens=node.max_tokens, stop=("\n\n",)))
            elif isinstance(node, Output):
                output = values[node.id] = _text(source)
    if output is None:
        output = _text(values[flow.nodes[-1].id])
    plain = {k: ([{"text": v.text, "score": v.score, "temperature": v.temperature, "seed": v.seed, "meta": v.meta} for v in val]
                 if isinstance(val, list) else val) for k, val in values.items()}
    return FlowRun(name=flow.name, values=plain, output=output)




class FlowJob(Job):
    """A whole flow as one job for an engine loop. It runs at `begin` — the flow's own steps
    batch their branches, but other requests wait while it runs."""

    def __init__(self, engine: Engine, flow: Flow, inputs: dict[str, str]) -> None:
        self.engine, self.flow, self.inputs = engine, flow, inputs
        self.run: FlowRun | None = None
        self.result: Generation | None = None
        self._sent = False

    def begin(self) -> None:
        t0 = time.perf_counter()
        self.run = run_flow(self.engine, self.flow, self.inputs)
        self.result = Generation([EngineOutput(str(self.run.output), [], "stop", 0)], Stats(seconds=time.perf_counter() - t0))
        self.result.flow = self.run  # type: ignore[attr-defined]
        self.done = True

    def advance(self) -> list[Delta]:
        if self._sent or self.run is None:
            return []
        self._sent = True
        return [Delta(0, str(self.run.output))]

    def close(self) -> None:
        return None
