"""Flows as data: validation names the node and the field; the committed JSON Schema is
the generated one; graphs run in dependency order on the mock engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from islands import InvalidInput
from islands.engine import Engine
from islands.flows.graph import REGISTRY, Context, Op, load_flow, register, run_flow, schema_json

EXAMPLES = Path(__file__).parent.parent / "examples" / "flows"


def flow(*nodes: dict[str, object], inputs: dict[str, str] | None = None) -> dict[str, object]:
    return {"name": "t", "inputs": inputs or {"q": "the sea"}, "nodes": list(nodes)}


FAN = {"id": "drafts", "op": "fanout", "prompt": "{q}", "n": 3, "max_tokens": 6}


def test_the_committed_schema_is_current() -> None:
    import islands.flows

    committed = Path(islands.flows.__file__).parent / "flow.schema.json"
    assert committed.read_text() == schema_json()
    assert "fanout" in json.loads(schema_json())["$defs"]["Fanout"]["properties"]["op"]["const"]


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([{"id": "a", "op": "summon", "prompt": "x"}], "node 'a': field 'op': unknown op 'summon'"),
        ([{**FAN, "n": "many"}], "node 'drafts': field 'n'"),
        ([{**FAN, "n": 0}], "node 'drafts': field 'n'"),
        ([FAN, {"id": "v", "op": "vote", "from": "draftz"}], "node 'v': field 'from': unknown input or node 'draftz'"),
        ([FAN, {**FAN}], "node 'drafts': id used twice"),
        ([{**FAN, "prompt": "{nothing}"}], "node 'drafts': field 'prompt': unknown input or node 'nothing'"),
        ([{"id": "p", "op": "plan_ahead", "theme": "{gone}"}], "node 'p': field 'theme': unknown input or node 'gone'"),
        ([{"id": "p", "op": "plan_ahead", "theme": "x", "scheme": "abab"}], "node 'p': field 'scheme'"),
        ([{**FAN, "colour": "red"}], "node 'drafts': field 'colour'"),
        ([{"id": "a", "op": "vote", "from": "b"}, {"id": "b", "op": "vote", "from": "a"}], "cycle"),
    ],
)
def test_validation_names_node_and_field(nodes: list[dict[str, object]], message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        load_flow(flow(*nodes))


def test_files_parse_with_positions(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "f.yaml"
    bad_yaml.write_text("name: x\nnodes: [\n")
    with pytest.raises(InvalidInput, match="invalid YAML at line"):
        load_flow(bad_yaml)
    bad_json = tmp_path / "f.json"
    bad_json.write_text('{"name": ')
    with pytest.raises(InvalidInput, match="invalid JSON at line 1"):
        load_flow(bad_json)
    with pytest.raises(InvalidInput, match="cannot read flow"):
        load_flow(tmp_path / "missing.yaml")
    for example in sorted(EXAMPLES.glob("*")):
        assert load_flow(example).nodes  # the shipped examples are valid


def test_runs_in_dependency_order(engine: Engine) -> None:
    spec = flow(
        {"id": "out", "op": "output", "from": "best"},  # listed first, runs last
        {"id": "best", "op": "prune", "from": "scored", "k": 1},
        {"id": "scored", "op": "score_logprob", "from": "drafts", "prompt": "{q}"},
        FAN,
        {"id": "again", "op": "generate", "prompt": "{q} and {best}", "max_tokens": 4},
    )
    result = run_flow(engine, load_flow(spec), {"q": "the islands"})
    assert len(result.values["drafts"]) == 3 and len(result.values["best"]) == 1
    assert result.output == result.values["best"][0]["text"].strip()
    scores = [v["score"] for v in result.values["scored"]]
    assert result.values["best"][0]["score"] == max(scores)
    with pytest.raises(InvalidInput, match="unknown input 'zz'"):
        run_flow(engine, load_flow(spec), {"zz": "1"})
    assert not engine.live_branches


class Shout(Op):
    """Upper-cases the text of the node or input it takes."""

    op: Literal["shout"]
    links: ClassVar[tuple[str, ...]] = ("source",)
    source: str

    def run(self, ctx: Context) -> str:
        return ctx.fill("{" + self.source + "}").upper()


def test_a_new_op_is_one_registered_class(engine: Engine) -> None:
    spec = flow({"id": "loud", "op": "shout", "source": "q"}, {"id": "out", "op": "output", "from": "loud"})
    with pytest.raises(InvalidInput, match="unknown op 'shout'"):
        load_flow(spec)
    register(Shout)
    try:
        with pytest.raises(ValueError, match="registered twice"):
            register(Shout)
        assert json.loads(schema_json())["$defs"]["Shout"]["properties"]["op"]["const"] == "shout"
        with pytest.raises(InvalidInput, match="node 'loud': field 'source': unknown input or node 'nope'"):
            load_flow(flow({"id": "loud", "op": "shout", "source": "nope"}))
        with pytest.raises(InvalidInput, match="cycle"):
            load_flow(flow({"id": "a", "op": "shout", "source": "b"}, {"id": "b", "op": "shout", "source": "a"}))
        result = run_flow(engine, load_flow(spec), {"q": "the islands"})
        assert result.values["loud"] == "THE ISLANDS" and result.output == "THE ISLANDS"
    finally:
        REGISTRY.pop("shout")
    assert "Shout" not in schema_json()
