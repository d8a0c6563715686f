"""The `islands` command as a user runs it: a real process, real exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import islands

ISLANDS = str(Path(sys.executable).parent / "islands")
EXAMPLE_FLOW = Path(__file__).parent.parent / "examples" / "flows" / "best_of_n.yaml"


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ISLANDS, *args], capture_output=True, text=True, timeout=timeout)


def one_line_error(p: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert p.returncode == 2, p.stderr
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_version() -> None:
    p = run("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"islands {islands.__version__}"


def test_help_lists_commands() -> None:
    p = run("--help")
    assert p.returncode == 0
    for command in ("generate", "models", "bench"):
        assert command in p.stdout


def test_bad_input_is_one_line(tmp_path: Path, islands_home: Path) -> None:
    one_line_error(run("generate", ""), "prompt is empty")
    one_line_error(run("generate", "hi", "--branches", "0"), "--branches 0")
    one_line_error(run("generate", "hi", "--branches", "999"), "--branches 999")
    one_line_error(run("generate", "hi", "--temperature", "-1"), "temperature")
    missing = tmp_path / "nope.gguf"
    one_line_error(run("generate", "hi", "--model", str(missing)), str(missing))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"this is not a model" * 100)
    one_line_error(run("generate", "hi", "--model", str(junk)), str(junk))
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    one_line_error(run("generate", "hi", "--model", str(corrupt)), str(corrupt))
    one_line_error(run("bench", "tree", "--branches", "0"), "--branches 0")


@pytest.mark.model
def test_prompt_longer_than_context(model_path: Path) -> None:
    p = run("generate", "word " * 400, "--ctx", "256", "--model", str(model_path))
    one_line_error(p, "tokens but the context holds only 256")


@pytest.mark.model
def test_generate_json(model_path: Path) -> None:
    p = run("generate", "The sea is", "--branches", "3", "--max-tokens", "6", "--seed", "1", "--json", "--model", str(model_path))
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert len(doc["outputs"]) == 3 and all(o.strip() for o in doc["outputs"])  # three non-empty continuations
    assert len(set(doc["outputs"])) > 1  # sampled with seeds 1, 2, 3: not one text three times
    assert set(doc["stats"]) == {"prompt_tokens", "prefill_tokens", "reused_tokens", "decode_steps", "sampled_tokens", "seconds"}
    assert doc["stats"]["sampled_tokens"] <= 18 and doc["seeds"] == [1, 2, 3]


@pytest.mark.model
def test_generate_streams_text(model_path: Path) -> None:
    p = run("generate", "The capital of France is", "-t", "0", "-n", "8", "--model", str(model_path))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip()
    assert "tokens in" in p.stderr


@pytest.mark.model
def test_models_json(islands_home: Path, model_path: Path) -> None:
    p = run("models", "--json")  # the embedded model, from the test ISLANDS_HOME
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["n_vocab"] == 262144 and info["n_ctx_train"] == 32768
    assert Path(info["path"]) == model_path
    assert info["size_bytes"] == model_path.stat().st_size
    assert set(info["embedded"]) == {"gemma-3-270m", "smollm2-135m-instruct"}  # both names --model accepts


@pytest.mark.model
def test_bench_tree_runs_a_tiny_workload(model_path: Path) -> None:
    p = run(
        "bench",
        "tree",
        "--prompt-tokens",
        "32",
        "--branches",
        "2",
        "--tokens",
        "4",
        "--repeat",
        "1",
        "--skip",
        "sequential",
        "--skip",
        "server",
        "--json",
        "--model",
        str(model_path),
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["islands_stats"]["prefill_tokens"] == 32  # the prompt, once, for both branches
    assert doc["islands_stats"]["sampled_tokens"] == 8
    assert doc["islands_s"] > 0 and doc["bare_s"] > 0
    assert len(doc["islands_runs"]) == len(doc["bare_runs"]) == doc["repeat"] == 1  # same runs for each way
    assert doc["sequential_s"] is None and doc["ratio_vs_sequential"] is None


def test_tools_list_and_run() -> None:
    p = run("tools", "list", "--json")
    assert p.returncode == 0 and any(t["name"] == "CALC" for t in json.loads(p.stdout))
    p = run("tools", "run", "CALC", "2^100")
    assert p.returncode == 0 and p.stdout.strip() == str(2**100)
    one_line_error(run("tools", "run", "CALC", "1/0"), "division by zero")
    one_line_error(run("tools", "run", "NOPE", "1"), "unknown tool")
    one_line_error(run("generate", "hi", "--tools", "nope"), "unknown tool")


@pytest.mark.model
def test_generate_with_tools_json(model_path: Path) -> None:
    prompt = "Q: What is 12 * 34?\nA: CALC(12*34) => 408\nQ: What is 7^21?\nA: CALC(7^21)"
    p = run("generate", prompt, "--tools", "calc", "-n", "4", "-t", "0", "--json", "--model", str(model_path))
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["outputs"][0].startswith(f" => {7**21}")
    assert doc["spans"][0][0]["kind"] == "hard" and doc["spans"][0][0]["result"] == str(7**21)
    assert doc["stats"]["injected_tokens"] > 0


@pytest.mark.model
def test_generate_with_a_json_schema(tmp_path: Path, model_path: Path) -> None:
    schema = tmp_path / "schema.json"
    doc = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": False}
    schema.write_text(json.dumps(doc))
    p = run(
        "generate", "Answer as JSON:", "--json-schema", str(schema), "--branches", "2", "--seed", "1", "--json", "--model", str(model_path)
    )
    assert p.returncode == 0, p.stderr
    assert all(isinstance(json.loads(o)["ok"], bool) for o in json.loads(p.stdout)["outputs"])


def test_bad_grammar_options() -> None:
    one_line_error(run("generate", "x", "--regex", "a("), "invalid regex", "position 1")
    one_line_error(run("generate", "x", "--json-schema", "/no/such.json"), "cannot read /no/such.json")
    one_line_error(run("generate", "x", "--regex", "a", "--choice", "b"), "at most one")


def test_corpus_commands(tmp_path: Path, islands_home: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "a.md").write_text("# Harbour\nThe harbour bell rings at noon.\n")
    p = run("corpus", "index", str(folder), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["documents"] == 1
    p = run("tools", "run", "SEARCH", "bell", "--corpus", str(folder))
    assert p.returncode == 0 and "[1] Harbour" in p.stdout
    p = run("tools", "run", "COPY", "1, 2, 7", "--corpus", str(folder))
    assert p.returncode == 0 and p.stdout == "Harbour\n"
    one_line_error(run("tools", "run", "SEARCH", "bell"), "SEARCH needs --corpus DIR")
    one_line_error(run("corpus", "index", str(tmp_path / "missing")), "corpus folder not found")
    one_line_error(run("tools", "run", "LOAD", "99", "--corpus", str(folder)), "no document with id 99")


@pytest.mark.model
def test_retrieve_and_trace(tmp_path: Path, model_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "tides.md").write_text("# Tide tables\nThe tide at Kirkwall rises 3.2 metres at spring tides.\n")
    trace = tmp_path / "run.jsonl"
    p = run(
        "generate",
        "Q: How high does the tide rise at Kirkwall?\nA:",
        "--corpus",
        str(folder),
        "--retrieve",
        "1",
        "-t",
        "0",
        "-n",
        "12",
        "--trace",
        str(trace),
        "--json",
        "--model",
        str(model_path),
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["soft"][0]["ref"] == "tides.md"
    first = json.loads(trace.read_text().splitlines()[0])
    assert "3.2 metres" in first["text"][first["soft"][0]["start"] : first["soft"][0]["end"]]
    one_line_error(run("generate", "x", "--retrieve", "2"), "--retrieve needs --corpus")


@pytest.mark.model
def test_ask_json_and_trace(tmp_path: Path, model_path: Path) -> None:
    trace = tmp_path / "tree.json"
    p = run(
        "ask",
        "What is 3 to the power 40?",
        "--branches",
        "3",
        "--max-tokens",
        "40",
        "--json",
        "--trace",
        str(trace),
        "--model",
        str(model_path),
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["answer"] == str(3**40) and len(doc["candidates"]) == 3
    assert json.loads(trace.read_text())["answer"] == str(3**40)
    one_line_error(run("ask", "  "), "question is empty")
    one_line_error(run("ask", "x", "--branches", "0"), "--branches 0")


def test_flow_commands(tmp_path: Path) -> None:
    p = run("flow", "schema")
    assert p.returncode == 0 and json.loads(p.stdout)["title"] == "Flow"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnodes:\n  - {id: a, op: fanout, prompt: hi, n: -3}\n")
    one_line_error(run("flow", "validate", str(bad)), "node 'a': field 'n'")
    one_line_error(run("flow", "run", str(bad)), "node 'a': field 'n'")
    p = run("flow", "validate", str(EXAMPLE_FLOW))
    assert p.returncode == 0 and "ok (4 nodes)" in p.stdout


@pytest.mark.model
def test_flow_run_example(model_path: Path) -> None:
    p = run("flow", "run", str(EXAMPLE_FLOW), "--input", "question=What is the capital of Italy?", "--json", "--model", str(model_path))
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert len(doc["values"]["drafts"]) == 4 and doc["output"] == doc["values"]["best"][0]["text"].strip()
    one_line_error(run("flow", "run", str(EXAMPLE_FLOW), "--input", "nokey"), "KEY=VALUE")


@pytest.mark.model
def test_memory_and_values_commands(tmp_path: Path, model_path: Path) -> None:
    db = str(tmp_path / "m.sqlite")
    p = run("memory", "add", "The harbour bell rings at noon.", "--always", "--memory", db, "--model", str(model_path))
    assert p.returncode == 0 and "#1" in p.stdout
    p = run("memory", "search", "harbour bell", "--json", "--memory", db)
    assert p.returncode == 0 and json.loads(p.stdout)[0]["id"] == 1
    assert json.loads(run("memory", "stats", "--json", "--memory", db).stdout)["memories"] == 1
    one_line_error(run("memory", "show", "42", "--memory", db), "no memory with id 42")
    assert run("values", "set", "tea", "2", "--memory", db).returncode == 0
    p = run("values", "event", "tea", "1", "--memory", db)
    assert p.returncode == 0 and "marginal 1.0000" in p.stdout
    one_line_error(run("values", "set", "tea", "1", "--curve", "cubic", "--memory", db), "unknown curve")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("hello")
    one_line_error(run("memory", "stats", "--memory", str(junk)), "not an islands memory database")


@pytest.mark.model
def test_chat_remembers_across_turns(tmp_path: Path, model_path: Path) -> None:
    db = tmp_path / "chat.sqlite"
    p = subprocess.run(
        [ISLANDS, "chat", "--memory", str(db), "--model", str(model_path), "-n", "12"],
        capture_output=True,
        text=True,
        input="The ferry to Hoy now leaves Stromness at 07:42 on Tuesdays.\nWhen does the ferry to Hoy leave?\n/quit\n",
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    notes = [line for line in p.stdout.splitlines() if line.startswith("(recalled:")]
    assert len(notes) == 2 and "remembered: #1" in notes[0] and "recalled: #1" in notes[1]
