"""Task files, scoring, the BIG-bench dev set's fetch (on a tiny fake sdist, never the
download) and `islands bench tasks` (on the mock engine, and its CLI's bad input)."""

from __future__ import annotations

import errno
import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from islands.engine import Engine
from islands.errors import InvalidInput
from islands.tasks import (
    Example,
    FetchError,
    Format,
    Task,
    bench_tasks,
    bigbench,
    exact_match,
    extract,
    fetch,
    load_task,
    load_tasks,
    matching_choice,
    normalize,
    read_examples,
)
from islands.tasks.bench import CONTENDERS, Answer, Contender, score_choices
from islands.tasks.data import CHOICE, EXACT
from islands.tasks.generators import boolean_expressions, multistep_arithmetic

DATA = Path(__file__).parent / "data"
TASKS = DATA / "tasks"
ISLANDS = str(Path(sys.executable).parent / "islands")


# -- task files ----------------------------------------------------------------------------

def test_jsonl_examples_in_order_with_every_accepted_answer() -> None:
    examples = read_examples(TASKS / "sums.jsonl")
    assert [e.question for e in examples][:2] == ["What is 2 plus 3?", "What is 7 plus 8?"]
    assert len(examples) == 6  # the blank line is skipped
    assert examples[4].answers == ("10", "ten") and examples[4].choices is None
    task = load_task(TASKS / "sums.jsonl")
    assert task.name == "sums" and task.metric == EXACT and task.format == Format()


def test_a_sidecar_json_formats_the_prompt() -> None:
    task = load_task(TASKS / "islands.jsonl")
    assert task.metric == CHOICE
    shots, query = task.examples[:2], task.examples[2]
    assert task.prompt(query, shots) == (
        "Answer about the sea.\n"
        "Q: Which is wet, the sea or an island?\nA: the sea\n\n"
        "Q: Which is land, the sea or an island?\nA: an island\n\n"
        "Q: Which writes the sea?\nA: "
    )
    assert "Options:\n- the model\n- a tool\n- memory" in task.standalone(query)


def test_appended_choices_list_every_option_once() -> None:
    task = Task("t", (Example("Pick one", ("b",), ("a", "b", "c")),), CHOICE,
                Format(input_prefix="", output_prefix=" =", choice_prefix="\n- "))
    text = task.render(task.examples[0])
    lines = text.removesuffix(" =").splitlines()
    assert text.endswith(" =") and lines[0] == "Pick one" and sorted(lines[1:]) == ["- a", "- b", "- c"]


@pytest.mark.parametrize(("name", "needle"), [
    ("malformed.jsonl", "line 2: not JSON"),
    ("empty.jsonl", "holds no examples"),
    ("mixed.jsonl", "example 2 lacks 'choices'"),
    ("not_a_choice.jsonl", "answer 'maybe' is not one of the choices"),
    ("no_answer.jsonl", "line 1: missing 'answer'"),
    ("not_an_object.jsonl", "line 1: expected a JSON object"),
    ("missing.jsonl", "no such task file"),
])
def test_a_bad_task_file_is_one_line(name: str, needle: str) -> None:
    with pytest.raises(InvalidInput) as e:
        load_task(TASKS / name)
    assert needle in str(e.value) and "\n" not in str(e.value)
    assert name in str(e.value)


def test_a_bad_sidecar_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text((TASKS / "sums.jsonl").read_text())
    (tmp_path / "t.json").write_text(json.dumps({"format": {"output_regex": "(unclosed"}}))
    with pytest.raises(InvalidInput, match="invalid output_regex"):
        load_task(tmp_path / "t.jsonl")
    (tmp_path / "t.json").write_text(json.dumps({"format": {"prefix": "Q"}}))
    with pytest.raises(InvalidInput, match="unknown format field 'prefix'"):
        load_task(tmp_path / "t.jsonl")
    (tmp_path / "t.json").write_text(json.dumps({"metric": "multiple_choice"}))
    with pytest.raises(InvalidInput, match="does not fit the examples"):
        load_task(tmp_path / "t.jsonl")


# -- scoring -------------------------------------------------------------------------------

def test_normalize_ignores_case_spacing_and_a_final_period() -> None:
    assert normalize(" The Answer  is (4, 3). ") == "the answer is(4,3)"
    assert normalize("] }") == normalize("]}") == "]}"
    assert normalize("240 %") == "240%"
    assert normalize("12") != normalize("1 2")  # digits apart stay apart


def test_extract_follows_big_bench() -> None:
    assert extract("= 42. 7*7 = 49", Format(output_regex=r"[-+]?\d+")) == "42"
    assert extract("no number", Format(output_regex=r"[-+]?\d+")) == ""
    assert extract("17\nop 3 = 3", Format(output_regex=r"([-+]?\d+)[.]{0,1}$", stop_string="\n")) == "17"
    assert extract("penguins. And more", Format(output_regex=bigbench.DEFAULT_REGEX)) == "penguins"


def test_exact_match_and_choices() -> None:
    assert exact_match("The answer is 42.", ["42"], Format(output_regex=r"[-+]?\d+"))
    assert not exact_match("The answer is 43.", ["42"], Format(output_regex=r"[-+]?\d+"))
    assert exact_match("Ten", ["10", "ten"])
    assert matching_choice("blue ball", ["orange ball.", "blue ball."]) == 1
    assert matching_choice("green ball", ["orange ball.", "blue ball."]) is None
    task = load_task(TASKS / "islands.jsonl")
    query = task.examples[3]
    assert task.is_correct("Tools.", query)
    assert not task.is_correct("the model", query)
    assert not task.is_correct("tools and more", query)


# -- the generated families ----------------------------------------------------------------

def test_multistep_arithmetic_matches_big_bench_task_py() -> None:
    examples = multistep_arithmetic()
    assert len(examples) == 1200 and len({e.subtask for e in examples}) == 12
    # the first problems BIG-bench's own task.py generates (seed 42), read from running it once
    assert [(e.question, e.answers[0]) for e in examples[:2]] == [("(-3 + 5)", "2"), ("(1 + -3)", "-2")]
    assert examples == multistep_arithmetic()  # deterministic
    deep = [e for e in examples if e.subtask == "[2, 2, 2] depth, 4 numbers"]
    assert len(deep) == 100 and deep[0].question.count("(") == 15


def test_boolean_expressions_matches_big_bench_task_py() -> None:
    examples = boolean_expressions()
    assert len(examples) == 428
    assert examples[200].question == "not False and False or True" and examples[200].answers == ("True",)
    assert {e.question for e in examples[:2]} == {"True", "False"}  # the two expressions of length 1
    assert all(e.choices == ("True", "False") for e in examples)


# -- fetch on a fake sdist -----------------------------------------------------------------

FOUR = ["navigate", "word_unscrambling", "cs_algorithms", "boolean_expressions"]


def fake_sdist(folder: Path) -> Path:
    """A tiny bigbench-1.0.0.tar.gz with tests/data/bigbench as its benchmark_tasks."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / bigbench.SDIST
    with tarfile.open(path, "w:gz") as tar:
        tar.add(DATA / "bigbench", arcname=bigbench.ROOT.rstrip("/"))
        info = tarfile.TarInfo(f"bigbench-{bigbench.VERSION}/setup.py")
        body = b"# not read\n"
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return path


def test_fetch_extracts_only_the_chosen_families_and_converts_them(tmp_path: Path) -> None:
    fake_sdist(tmp_path)
    seen: set[str] = set()
    result = fetch(tmp_path, FOUR, progress=lambda what, _d, _t: seen.add(what))
    assert result.fetched and not result.downloaded
    assert result.families == {"navigate": 5, "word_unscrambling": 4, "cs_algorithms": 5, "boolean_expressions": 428}
    assert seen == {"extract", "convert"}
    raw = sorted(str(p.relative_to(tmp_path / "raw")) for p in (tmp_path / "raw").rglob("*") if p.is_file())
    assert raw == ["boolean_expressions/task.py", "cs_algorithms/lcs/task.json", "cs_algorithms/task.json",
                   "cs_algorithms/valid_parentheses/task.json", "navigate/task.json", "word_unscrambling/task.json"]
    every_byte = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".gz")
    assert b"SECRET HELD-OUT" not in every_byte and b"held_out_family" not in every_byte
    assert not list(tmp_path.glob(".staging-*")) and not list(tmp_path.glob(".download-*"))

    cs = load_tasks("cs_algorithms", tmp_path)[0]
    assert [e.subtask for e in cs.examples] == ["lcs", "valid_parentheses", "lcs", "valid_parentheses", "lcs"]
    assert cs.examples[1].answers == ("Valid",) and cs.examples[1].choices == ("Valid", "Invalid")
    # each subtask keeps its own format: a mixed prompt carries each one's task prefix
    prompt = cs.prompt(cs.examples[2], cs.examples[:2])
    assert prompt.count("Given two strings") == 2 and prompt.count("Determine whether") == 1
    assert prompt.endswith("\nStrings: ABC AXC\nLength of longest common subsequence: ")
    words = load_tasks("word_unscrambling", tmp_path)[0]
    assert words.metric == EXACT and words.examples[2].answers == ("lots", "slot")
    assert words.is_correct("slot", words.examples[2]) and not words.is_correct("lost", words.examples[2])
    nav = load_tasks(["navigate"], tmp_path)[0]
    assert nav.metric == CHOICE and nav.prompt(nav.examples[1], nav.examples[:1]) == (
        "If you follow these instructions, do you return to the starting point?"
        "\nQ: Take 2 steps. Turn around. Take 2 steps.\nA: True\n\nQ: Take 3 steps. Take 1 step.\nA: ")


def test_a_second_fetch_does_nothing(tmp_path: Path) -> None:
    sdist = fake_sdist(tmp_path)
    fetch(tmp_path, FOUR)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "tasks").iterdir()}
    sdist.unlink()  # were the archive read again, this would fail
    again = fetch(tmp_path, FOUR[:2])
    assert not again.fetched and again.families == {"navigate": 5, "word_unscrambling": 4}
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "tasks").iterdir()} == before


def test_a_new_family_rebuilds_from_the_kept_archive(tmp_path: Path) -> None:
    fake_sdist(tmp_path)
    fetch(tmp_path, ["navigate"])
    result = fetch(tmp_path, ["word_unscrambling"])
    assert result.fetched and set(result.families) == {"navigate", "word_unscrambling"}
    assert json.loads((tmp_path / "tasks" / "manifest.json").read_text())["families"] == result.families


def test_a_corrupt_archive_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    sdist = fake_sdist(tmp_path)
    sdist.write_bytes(sdist.read_bytes()[: sdist.stat().st_size // 2])
    with pytest.raises(FetchError) as e:
        fetch(tmp_path, FOUR)
    assert "corrupt archive" in str(e.value) and "\n" not in str(e.value)
    assert not sdist.exists()  # removed, so the next fetch downloads it anew
    assert not (tmp_path / "tasks").exists() and not list(tmp_path.glob(".staging-*"))


def test_an_archive_without_a_family_says_which(tmp_path: Path) -> None:
    fake_sdist(tmp_path)
    with pytest.raises(FetchError, match="no dyck_languages/task.json"):
        fetch(tmp_path, ["navigate", "dyck_languages"])
    assert not (tmp_path / "tasks").exists()


def test_a_full_disk_keeps_the_previous_dev_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_sdist(tmp_path)
    fetch(tmp_path, ["navigate"])
    before = (tmp_path / "tasks" / "navigate.jsonl").read_bytes()

    def full(*_a: object, **_k: object) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bigbench, "write_task", full)
    with pytest.raises(FetchError, match="disk full"):
        fetch(tmp_path, ["navigate", "word_unscrambling"])
    assert (tmp_path / "tasks" / "navigate.jsonl").read_bytes() == before
    assert set(json.loads((tmp_path / "tasks" / "manifest.json").read_text())["families"]) == {"navigate"}
    assert not list(tmp_path.glob(".staging-*"))


def test_no_network_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"PIP_CONFIG_FILE": "/dev/null", "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
                       "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": "", "PIP_RETRIES": "1",
                       "PIP_DEFAULT_TIMEOUT": "2"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(FetchError) as e:
        fetch(tmp_path / "cache", ["navigate"])
    assert "PyPI is unreachable" in str(e.value) and "\n" not in str(e.value)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == []


def test_unknown_and_unfetched_names(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown family 'nope'"):
        fetch(tmp_path, ["nope"])
    with pytest.raises(InvalidInput, match="unknown task 'nope'"):
        load_tasks("navigate,nope", tmp_path)
    with pytest.raises(InvalidInput, match="run `islands bench tasks fetch` first"):
        load_tasks("navigate", tmp_path)
    assert [t.name for t in load_tasks(str(TASKS / "sums.jsonl"), tmp_path)] == ["sums"]


def test_generated_families_need_no_fetch(tmp_path: Path) -> None:
    """multistep_arithmetic and boolean_expressions are made by their generators on the spot."""
    steps, logic = load_tasks("multistep_arithmetic,boolean_expressions", tmp_path)
    first = steps.examples[0]
    assert len(steps.examples) == 1200 and first.answers == (str(eval(first.question)),)  # noqa: S307 - digits and + - * only
    assert steps.examples[1].subtask != first.subtask  # the configurations take turns
    assert logic.examples and set(logic.examples[0].choices) == {"True", "False"}
    assert not any(tmp_path.iterdir())  # nothing written, nothing downloaded
    with pytest.raises(InvalidInput, match="fetch` first"):
        load_tasks("multistep_arithmetic,navigate", tmp_path)


# -- the bench on the mock engine ----------------------------------------------------------

def _always(text: str | None) -> Contender:
    def make(_engine: Engine, _task: Task, _teach: Sequence[Example]) -> Answer:
        return lambda _example: text
    return make


def _oracle(_engine: Engine, _task: Task, _teach: Sequence[Example]) -> Answer:
    return lambda example: example.answers[-1]


def test_bench_scores_each_contender_on_the_next_n(engine: Engine) -> None:
    tasks = [load_task(TASKS / "sums.jsonl"), load_task(TASKS / "islands.jsonl")]
    seen: list[tuple[str, list[str], str]] = []

    def spy(_engine: Engine, task: Task, teach: Sequence[Example]) -> Answer:
        def answer(example: Example) -> str:
            seen.append((task.name, [e.question for e in teach], example.question))
            return "wrong"
        return answer

    rows: list[dict[str, object]] = []
    steps: list[tuple[int, int]] = []
    result = bench_tasks(engine, tasks, n=2, contenders={"oracle": _oracle, "islands": _always(None), "spy": spy},
                         details=rows.append, progress=lambda d, t, _w: steps.append((d, t)))
    fam = result["families"]
    assert fam["sums"]["accuracy"] == {"oracle": 1.0, "islands": 0.0, "spy": 0.0}
    assert fam["islands"]["accuracy"] == {"oracle": 1.0, "islands": 0.0, "spy": 0.0}
    assert fam["sums"]["questions"] == 2 and fam["islands"]["questions"] == 2
    assert result["mean"] == {"oracle": 1.0, "islands": 0.0, "spy": 0.0}
    assert seen[0] == ("sums", ["What is 2 plus 3?", "What is 7 plus 8?", "What is 10 plus 32?"], "What is 6 plus 6?")
    assert [q for t, _, q in seen] == ["What is 6 plus 6?", "What is 9 plus 1?",
                                        "Which builds hard islands?", "Which makes memory smaller?"]
    assert len(rows) == 12 and steps[-1] == (12, 12)
    assert result["ask_wall_s"]["cold"] is None and result["ask_wall_s"]["warm"] > 0


def test_the_warm_ask_time_leaves_the_cold_run_out(engine: Engine) -> None:
    import time

    def slow_cold() -> float:
        time.sleep(1.0)
        return 1.0

    result = bench_tasks(engine, [load_task(TASKS / "sums.jsonl")], n=1, contenders={"oracle": _oracle}, cold=slow_cold)
    assert result["ask_wall_s"]["cold"] == 1.0 and result["ask_wall_s"]["warm"] < 1.0


def test_bench_runs_the_default_contenders_on_the_mock(engine: Engine) -> None:
    tasks = [load_task(TASKS / "sums.jsonl"), load_task(TASKS / "islands.jsonl")]
    rows: list[dict[str, object]] = []
    result = bench_tasks(engine, tasks, n=2, details=rows.append)
    assert result["contenders"] == list(CONTENDERS)
    assert result["families"]["sums"]["accuracy"]["bare_loglik"] is None  # exact match: no options to score
    assert result["families"]["sums"]["seconds_per_question"]["bare_loglik"] is None
    choices = load_task(TASKS / "islands.jsonl").examples
    picked = [r["output"] for r in rows if r["task"] == "islands" and r["contender"] == "bare_loglik"]
    assert picked and all(p in choices[i + 3].choices for i, p in enumerate(picked))  # type: ignore[operator]
    for f in result["families"].values():
        assert all(v is None or 0.0 <= v <= 1.0 for v in f["accuracy"].values())
    assert not engine.live_branches


def test_bench_refuses_a_task_too_small_to_test(engine: Engine) -> None:
    tiny = Task("tiny", (Example("a", ("b",)),) * 3)
    with pytest.raises(InvalidInput, match="'tiny' has 3 examples"):
        bench_tasks(engine, [tiny], n=5)


def test_batched_scores_equal_one_at_a_time(engine: Engine) -> None:
    prefix = "the sea is wide and the"
    options = [" islands", " sea", " model writes", " tools build the islands"] * 5
    one = [-engine.score(prefix, o).total for o in options]
    engine.clear_cache()
    assert score_choices(engine, prefix, options, group=6) == pytest.approx(one, abs=1e-6)
    assert not engine.live_branches


@pytest.mark.model
def test_batched_scores_on_the_real_model(real: Engine) -> None:
    prefix = "The capital of France is"
    one = [-real.score(prefix, o).total for o in (" Paris", " London")]
    real.clear_cache()
    both = score_choices(real, prefix, [" Paris", " London"])
    assert both == pytest.approx(one, abs=0.1) and both[0] > both[1]


def test_the_tasks_package_stays_at_the_flows_layer() -> None:
    src = Path(bigbench.__file__).parent
    for path in src.glob("*.py"):
        for line in path.read_text().splitlines():
            words = line.strip().split()
            if words[:1] in (["import"], ["from"]):
                assert not words[1].startswith(("islands.cli", "islands.server")), f"{path.name}: {line}"


# -- the CLI's bad input -------------------------------------------------------------------

def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ISLANDS, *args], capture_output=True, text=True, timeout=120)


def one_line_error(p: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert p.returncode == 2, p.stderr
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    data = str(tmp_path)
    one_line_error(run("bench", "tasks", "--tasks", "nope", "--data", data), "unknown task 'nope'")
    one_line_error(run("bench", "tasks", "--tasks", "navigate", "--data", data), "islands bench tasks fetch")
    one_line_error(run("bench", "tasks", "--tasks", str(TASKS / "empty.jsonl"), "--data", data), "holds no examples")
    one_line_error(run("bench", "tasks", "--tasks", str(TASKS / "malformed.jsonl"), "--data", data), "line 2: not JSON")
    one_line_error(run("bench", "tasks", "--tasks", str(TASKS / "sums.jsonl"), "--n", "0"), "--n 0")
    one_line_error(run("bench", "tasks", "--tasks", str(TASKS / "sums.jsonl"), "--contenders", "bare,oracle"),
                   "--contenders")
    one_line_error(run("bench", "tasks", "fetch", "--tasks", "nope", "--data", data), "unknown family 'nope'")
    assert not list(tmp_path.iterdir())  # bad input wrote nothing


def test_cli_fetch_and_list(tmp_path: Path) -> None:
    fake_sdist(tmp_path)
    p = run("bench", "tasks", "fetch", "--tasks", "navigate,word_unscrambling", "--data", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert "2 families, 9 examples" in p.stderr and "extracted" in p.stderr
    p = run("bench", "tasks", "fetch", "--tasks", "navigate", "--data", str(tmp_path))
    assert p.returncode == 0 and "already there" in p.stderr
    listed = json.loads(run("bench", "tasks", "list", "--json", "--data", str(tmp_path)).stdout)
    counts = {row["family"]: row["examples"] for row in listed["families"]}
    assert counts["navigate"] == 5 and counts["word_unscrambling"] == 4 and counts["arithmetic"] is None


def test_fetch_takes_a_local_sdist_checked_against_the_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = fake_sdist(tmp_path / "elsewhere")
    cache = tmp_path / "cache"
    with pytest.raises(bigbench.FetchError, match="not the bigbench"):  # the fake is not the pinned file
        fetch(cache, ["navigate"], sdist=local)
    assert not (cache / bigbench.SDIST).exists() and not list(cache.glob(".*"))
    import hashlib

    monkeypatch.setattr(bigbench, "SDIST_BYTES", local.stat().st_size)
    monkeypatch.setattr(bigbench, "SDIST_SHA256", hashlib.sha256(local.read_bytes()).hexdigest())
    result = fetch(cache, ["navigate"], sdist=local)
    assert result.fetched and not result.downloaded and result.families == {"navigate": 5}
    assert (cache / bigbench.SDIST).read_bytes() == local.read_bytes()
    with pytest.raises(bigbench.FetchError, match="no such file"):
        fetch(tmp_path / "other", ["navigate"], sdist=tmp_path / "missing.tar.gz")


def test_islands_uses_the_method_its_teaching_examples_favour(engine: Engine, tmp_path: Path) -> None:
    rows = [("(3 + 4) * 2 =", "14"), ("(-5 + 7 - -7) =", "9"), ("8 * 9 + 1 =", "73"), ("(12 - 3) * 5 =", "45"),
            ("2 ^ 10 =", "1024")]
    expr = tmp_path / "expr.jsonl"
    expr.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in rows))
    found: list[dict[str, object]] = []
    result = bench_tasks(engine, [load_task(expr), load_task(TASKS / "islands.jsonl")], n=2, details=found.append)
    assert result["families"]["expr"]["methods"]["islands"] == "structures"
    assert result["families"]["expr"]["accuracy"]["islands"] == 1.0  # a program reproduces every example
    method = result["families"]["islands"]["methods"]["islands"]
    assert method in ("ask", "loglik", "bare")
    if method != "ask":  # nothing better was shown: islands answers exactly as that baseline does
        ours = [r["output"] for r in found if r["task"] == "islands" and r["contender"] == "islands"]
        base = "bare_loglik" if method == "loglik" else "bare"
        theirs = [r["output"] for r in found if r["task"] == "islands" and r["contender"] == base]
        assert ours == theirs
