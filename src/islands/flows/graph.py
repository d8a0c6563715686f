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

Each op is one class: an `Op` subclass with its fields, the fields that reference other
nodes (`links`, `templates`) and its own `run`, added to `REGISTRY` by `@register`. The
validator, the JSON Schema and `run_flow` all read the registry, so a new op is one class.
"""

from __future__ import annotations

import functools
import json
import string
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from islands.engine import Delta, Engine, Generation, Stats
from islands.engine import Output as EngineOutput
from islands.engine.stream import Job
from islands.errors import InvalidInput
from islands.flows import scoring
from islands.flows.ask import ask
from islands.flows.events import FlowEvents, OnEvent
from islands.flows.plan import plan_ahead
from islands.flows.variants import Variant, anneal, explore, fanout, schedule, synthesize
from islands.grammar import Grammar
from islands.params import SamplingParams

__all__ = ["REGISTRY", "Context", "Flow", "FlowJob", "FlowRun", "Op", "load_flow", "register", "run_flow", "schema_json"]


class Context:
    """What a node sees while it runs: the engine, the flow's inputs and the values of the
    nodes run before it."""

    def __init__(self, engine: Engine, inputs: dict[str, str]) -> None:
        self.engine, self.inputs = engine, inputs
        self.values: dict[str, Any] = {}
        self.candidates: dict[str, list[dict[str, Any]]] = {}  # node id -> what a text-valued node chose from (for events)

    def fill(self, template: str) -> str:
        """The template with {input} and {node} references filled in (a node: its best text)."""
        return template.format(**({k: _text(v) for k, v in self.values.items()} | self.inputs))

    def take(self, node_id: str) -> Any:
        """A node's value, its variants copied so that scoring them leaves the original as it was."""
        value = self.values[node_id]
        return [Variant(**{**v.__dict__, "meta": dict(v.meta)}) for v in value] if isinstance(value, list) else value


class Op(BaseModel):
    """One node of a flow. A subclass is one op: its `op` literal, its fields, which of them
    reference other nodes (`links`: a node's id; `templates`: {name} references) and `run`.
    `@register` adds it to `REGISTRY`, which the validator, the JSON Schema and `run_flow` read."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Unique name; other nodes refer to it.")
    links: ClassVar[tuple[str, ...]] = ()
    templates: ClassVar[tuple[str, ...]] = ()
    is_output: ClassVar[bool] = False

    def deps(self) -> dict[str, str]:
        """Each input or node this one needs -> the field (as written in a flow) that names it."""
        out: dict[str, str] = {}
        for name in self.links:
            out.setdefault(getattr(self, name), type(self).model_fields[name].alias or name)
        for name in self.templates:
            for ref in _refs(getattr(self, name)):
                out.setdefault(ref, name)
        return out

    def run(self, ctx: Context) -> Any:
        """The node's value: a list of variants, or text."""
        raise NotImplementedError


REGISTRY: dict[str, type[Op]] = {}
OpClass = TypeVar("OpClass", bound=type[Op])


def register(cls: OpClass) -> OpClass:
    """Add an op class to the registry under its `op` literal."""
    op: type[Op] = cls
    (name,) = get_args(op.model_fields["op"].annotation)
    if name in REGISTRY:
        raise ValueError(f"op {name!r} is registered twice")
    REGISTRY[name] = op
    return cls


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schedule: Literal["constant", "linear", "exponential"] = "linear"
    hot: float = Field(1.0, ge=0)
    cool: float = Field(0.2, ge=0)


class _Sampling(Op):
    templates: ClassVar[tuple[str, ...]] = ("prompt",)
    prompt: str = Field(description="Template: {input} and {node} references are filled in.")
    max_tokens: int = Field(64, ge=1, le=4096)
    temperature: float = Field(0.8, ge=0)
    stop: list[str] = Field(default_factory=list)
    seed: int = Field(1, ge=0)

    def params(self) -> SamplingParams:
        return SamplingParams(max_tokens=self.max_tokens, temperature=self.temperature, stop=tuple(self.stop), seed=self.seed)


@register
class Generate(_Sampling):
    """One completion, optionally constrained by a regex, a choice or a JSON Schema."""

    op: Literal["generate"]
    regex: str | None = None
    choice: list[str] | None = None
    json_schema: dict[str, Any] | None = None

    def run(self, ctx: Context) -> list[Variant]:
        grammar = (Grammar.regex(self.regex) if self.regex else Grammar.choice(self.choice) if self.choice
                   else Grammar.json_schema(self.json_schema) if self.json_schema else None)
        out = ctx.engine.generate(ctx.fill(self.prompt), params=self.params(), grammar=grammar).outputs[0]
        return [Variant(out.text, self.temperature, out.seed, out.tokens, out.finish_reason)]


@register
class Fanout(_Sampling):
    """n variants forked from one prefilled prompt, optionally over a temperature schedule."""

    op: Literal["fanout"]
    n: int = Field(4, ge=1, le=64)
    temperatures: Schedule | None = None

    def run(self, ctx: Context) -> list[Variant]:
        t = self.temperatures
        temps = schedule(self.n, t.schedule, hot=t.hot, cool=t.cool) if t else None
        return fanout(ctx.engine, ctx.fill(self.prompt), self.n, self.params(), temperatures=temps)


@register
class Explore(_Sampling):
    """n variants off the beaten path: the likely first tokens penalized, or a hot tail."""

    op: Literal["explore"]
    n: int = Field(4, ge=1, le=64)
    mode: Literal["penalty", "tail"] = "penalty"
    steps: int = Field(3, ge=1)

    def run(self, ctx: Context) -> list[Variant]:
        return explore(ctx.engine, ctx.fill(self.prompt), self.n, self.params(), mode=self.mode, steps=self.steps)


@register
class Anneal(_Sampling):
    """Rounds of fan-out from hot to cool, keeping the pool with the best log-probability."""

    op: Literal["anneal"]
    rounds: int = Field(3, ge=1, le=20)
    n: int = Field(4, ge=1, le=64)
    hot: float = Field(1.4, ge=0)
    cool: float = Field(0.3, gt=0)
    keep: int = Field(4, ge=1)

    def run(self, ctx: Context) -> list[Variant]:
        prompt, engine = ctx.fill(self.prompt), ctx.engine
        params = SamplingParams(max_tokens=self.max_tokens, stop=tuple(self.stop), seed=self.seed)

        def score(vs: list[Variant]) -> None:
            scoring.score_logprob(engine, prompt, vs)

        return anneal(engine, prompt, score, rounds=self.rounds,
                      n=self.n, hot=self.hot, cool=self.cool, keep=self.keep, params=params)


class _From(Op):
    links: ClassVar[tuple[str, ...]] = ("from_",)
    from_: str = Field(alias="from", description="The node whose variants this one takes.")


@register
class ScoreLogprob(_From):
    """Scores each variant by its mean log-probability after the prompt."""

    op: Literal["score_logprob"]
    templates: ClassVar[tuple[str, ...]] = ("prompt",)
    prompt: str

    def run(self, ctx: Context) -> list[Variant]:
        return scoring.score_logprob(ctx.engine, ctx.fill(self.prompt), ctx.take(self.from_))


@register
class Judge(_From):
    """The model rates each variant 0-100 as an answer to the question."""

    op: Literal["judge"]
    templates: ClassVar[tuple[str, ...]] = ("question",)
    question: str

    def run(self, ctx: Context) -> list[Variant]:
        return scoring.judge(ctx.engine, ctx.fill(self.question), ctx.take(self.from_))


@register
class Pairwise(_From):
    """The model compares every ordered pair of variants; a variant's score is its wins."""

    op: Literal["pairwise"]
    templates: ClassVar[tuple[str, ...]] = ("question",)
    question: str

    def run(self, ctx: Context) -> list[Variant]:
        return scoring.pairwise(ctx.engine, ctx.fill(self.question), ctx.take(self.from_))


@register
class Vote(_From):
    """Scores each variant by the share of variants that give its final answer."""

    op: Literal["vote"]

    def run(self, ctx: Context) -> list[Variant]:
        return scoring.vote(ctx.take(self.from_))[1]


@register
class Prune(_From):
    """Keeps the k best variants, or those scoring at least the threshold."""

    op: Literal["prune"]
    k: int | None = Field(None, ge=1)
    threshold: float | None = None

    def run(self, ctx: Context) -> list[Variant]:
        return scoring.prune(ctx.take(self.from_), k=self.k, threshold=self.threshold)


@register
class Synthesize(_From):
    """One greedy text that summarizes the variants or improves on the best of them."""

    op: Literal["synthesize"]
    templates: ClassVar[tuple[str, ...]] = ("question",)
    question: str
    mode: Literal["summarize", "improve"] = "summarize"
    max_tokens: int = Field(96, ge=1, le=4096)

    def run(self, ctx: Context) -> str:
        params = SamplingParams(temperature=0, max_tokens=self.max_tokens, stop=("\n\n",))
        return synthesize(ctx.engine, ctx.fill(self.question), ctx.take(self.from_), mode=self.mode, params=params)


@register
class Ask(Op):
    """`ask`: candidates with hard islands, answers computed and voted on; the answer's text."""

    op: Literal["ask"]
    templates: ClassVar[tuple[str, ...]] = ("question",)
    question: str
    n: int = Field(6, ge=1, le=64)

    def run(self, ctx: Context) -> str:
        result = ask(ctx.engine, ctx.fill(self.question), n=self.n)
        ctx.candidates[self.id] = [{"text": c.text, "temperature": c.temperature, "answer": c.answer, "source": c.source,
                                    "spans": [asdict(s) for s in c.spans]} for c in result.candidates]
        return result.answer or ""


@register
class PlanAhead(Op):
    """A poem on a theme: rhyming line endings chosen first, then lines written to reach them."""

    op: Literal["plan_ahead"]
    templates: ClassVar[tuple[str, ...]] = ("theme",)
    theme: str
    scheme: str = Field("AABB", pattern=r"^[A-Z]{2,12}$")
    seed: int = Field(1, ge=0)

    def run(self, ctx: Context) -> str:
        return plan_ahead(ctx.engine, ctx.fill(self.theme), scheme=self.scheme, seed=self.seed).text


@register
class Output(_From):
    """The flow's result: the best variant's text (a vote's answer) of the node it takes."""

    op: Literal["output"]
    is_output: ClassVar[bool] = True

    def run(self, ctx: Context) -> str:
        return _text(ctx.values[self.from_])


class Group(BaseModel):
    """Nodes shown together in the web editor, under a name; running ignores groups."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    nodes: list[str] = Field(min_length=1, description="The ids of the nodes (or inputs) in the group.")


class Flow(BaseModel):
    """A generation flow: inputs with defaults, and nodes run in dependency order."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    inputs: dict[str, str] = Field(default_factory=dict, description="Input names and default values.")
    nodes: list[Op] = Field(min_length=1)
    groups: list[Group] = Field(default_factory=list, description="Named sets of nodes, for the editor; they do not change a run.")


@functools.cache
def _flow_model(ops: tuple[type[Op], ...]) -> type[Flow]:
    """`Flow` whose nodes are one of `ops`, told apart by their `op` field; built from the
    registry when a flow is loaded or the schema is written, so a registered op is known to both."""
    node: Any = Annotated[Union[ops], Field(discriminator="op")]  # noqa: UP007
    model: type[Flow] = create_model("Flow", __base__=Flow, __doc__=Flow.__doc__, nodes=(list[node], Field(min_length=1)))
    return model


def schema_json() -> str:
    """The JSON Schema of a flow, every registered op in it."""
    schema = _flow_model(tuple(REGISTRY.values())).model_json_schema(by_alias=True)
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def _refs(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


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
        flow = _flow_model(tuple(REGISTRY.values())).model_validate(data)
    except ValidationError as e:
        raise InvalidInput(_explain(e, data)) from None
    ids = [n.id for n in flow.nodes]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise InvalidInput(f"node {min(dupes)!r}: id used twice")
    known = set(flow.inputs) | set(ids)
    for group in flow.groups:
        for member in group.nodes:
            if member not in known:
                raise InvalidInput(f"group {group.name!r}: unknown input or node {member!r}")
    for node in flow.nodes:
        for ref, field in sorted(node.deps().items()):
            if ref not in known:
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
        if isinstance(node, dict) and node.get("op") not in REGISTRY:
            known = ", ".join(REGISTRY)
            raise InvalidInput(f"node {node.get('id', f'#{i}')!r}: field 'op': unknown op {node.get('op')!r} (known: {known})")


def _explain(e: ValidationError, data: dict[str, Any]) -> str:
    first = e.errors()[0]
    loc = list(first["loc"])
    if loc and loc[0] == "nodes" and len(loc) > 1 and isinstance(loc[1], int):
        node = data["nodes"][loc[1]]
        name = node.get("id", f"#{loc[1]}") if isinstance(node, dict) else f"#{loc[1]}"
        field = ".".join(str(p) for p in loc[3:]) or ".".join(str(p) for p in loc[2:])
        return f"node {name!r}: field {field!r}: {first['msg']}"
    return f"field {'.'.join(str(p) for p in loc)!r}: {first['msg']}"


def _order(flow: Flow) -> list[Op]:
    by_id = {n.id: n for n in flow.nodes}
    done: list[Op] = []
    state: dict[str, int] = {}

    def visit(node: Op, chain: list[str]) -> None:
        if state.get(node.id) == 2:
            return
        if state.get(node.id) == 1:
            raise InvalidInput(f"node {node.id!r}: cycle {' -> '.join(chain + [node.id])}")
        state[node.id] = 1
        for dep in sorted(node.deps()):
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


def _op_of(node: Op) -> str:
    return str(getattr(node, "op", type(node).__name__))


def _text(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], Variant):
        best = max(value, key=lambda v: v.score if v.score is not None else float("-inf"))
        return str(best.meta.get("answer") or best.text.strip())  # a vote's answer, else the text
    return str(value)


def run_flow(engine: Engine, flow: Flow, inputs: dict[str, str] | None = None, *, on_event: OnEvent | None = None) -> FlowRun:
    """Run the nodes in dependency order; the last `output` node (or the last node) is the result.
    `on_event` hears the run as it goes: nodes begun, variants made, scored and pruned (islands.flows.events)."""
    given = dict(flow.inputs) | dict(inputs or {})
    unknown = set(inputs or {}) - set(flow.inputs)
    if unknown:
        raise InvalidInput(f"unknown input {min(unknown)!r} (the flow takes: {', '.join(flow.inputs) or 'none'})")
    ctx = Context(engine, given)
    output: Any = None
    order = _order(flow)
    told = FlowEvents(on_event) if on_event is not None else None
    if told is not None:
        told.started(flow.name, given, [(n.id, _op_of(n), sorted(n.deps())) for n in order])
    output_node = flow.nodes[-1].id
    for node in order:
        if told is not None:
            told.node(node.id, _op_of(node), sorted(node.deps()))
        value = ctx.values[node.id] = node.run(ctx)
        if told is not None:
            told.value(node.id, sorted(node.deps()), value, [getattr(node, name) for name in node.links], ctx.candidates.get(node.id))
        if node.is_output:
            output, output_node = value, node.id
    if output is None:
        output = _text(ctx.values[flow.nodes[-1].id])
    if told is not None:
        told.finished(output, output_node)
    plain = {k: ([{"text": v.text, "score": v.score, "temperature": v.temperature, "seed": v.seed, "meta": v.meta} for v in val]
                 if isinstance(val, list) else val) for k, val in ctx.values.items()}
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
