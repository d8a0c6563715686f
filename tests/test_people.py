"""People of the World: the population sampler (IPF, filters, the US tables from
../shared/data), surveys on the mock engine (KV forks, resumable files, probabilities),
A/B statistics, reports, validation plumbing, and the CLI's one-line errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chisquare
from typer.testing import CliRunner

from islands.cli.app import app
from islands.engine import Engine, MockModel
from islands.errors import InvalidInput
from islands.people import (
    Job,
    Population,
    Question,
    interview,
    load_questions,
    parse_where,
    persona_prefix,
    persona_text,
    questions_from_gss,
)
from islands.people.ab import ABTest, analyze_ab, assign
from islands.people.report import distribution_rows, write_csv, write_png
from islands.people.stats import diff_ci, fit_calibration, tvd
from islands.people.survey import load_personas, read_results, run_survey
from islands.people.us import us_population_doc
from islands.people.validate import validate

REPO = Path(__file__).resolve().parents[1]
# the shared data sit beside the clone (../shared/data); a worktree nested deeper looks further up
SHARED = next((d / "shared" / "data" for d in REPO.parents if (d / "shared" / "data").is_dir()), REPO.parent / "shared" / "data")
TINY = REPO / "tests" / "data" / "people" / "tiny_population.json"
runner = CliRunner()


@pytest.fixture(scope="module")
def us() -> Population:
    return Population.us_adults()


@pytest.fixture
def big() -> Engine:
    return Engine(MockModel(n_ctx=16384, n_seq_max=64, n_batch=256))


def _qs() -> list[Question]:
    return [
        Question("MOOD", "choice", "How is the sea today?", ("calm", "rough", "wild")),
        Question("FISH", "numeric", "How many fish?", low=0, high=10_000),
        Question("WHY", "open", "Why?", max_tokens=6),
    ]


# -- population ------------------------------------------------------------------------


def test_the_shipped_us_population_is_built_from_the_shared_census_tables() -> None:
    if not SHARED.is_dir():
        pytest.fail(f"the shared data folder is missing: {SHARED}")
    shipped = json.loads((REPO / "src" / "islands" / "people" / "data" / "us_adults.json").read_text())
    assert shipped == json.loads(json.dumps(us_population_doc(SHARED)))


def test_the_sample_reproduces_every_us_marginal_within_sampling_error(us: Population) -> None:
    n = 20_000
    people = us.sample(n, seed=7)
    marginals = json.loads((SHARED / "us_adults_marginals.json").read_text())
    checked = {"age": "age", "sex": "sex", "education": "education", "census_region": "region", "household_income": "household_income"}
    for source, name in checked.items():
        stated = marginals[source]["shares"]
        key = f"{name}_group" if us.variables[name].ranges else name
        observed = [sum(1 for p in people if p[key] == c) for c in stated]
        expected = np.array(list(stated.values())) / sum(stated.values()) * n
        assert chisquare(observed, expected).pvalue > 0.001, name
    # the fit itself keeps the stated marginals (sources of other years pull at most a little)
    assert max(abs(us.marginal("age")[c] - s) for c, s in marginals["age"]["shares"].items()) < 0.003


def test_the_sample_honours_the_joint_tables(us: Population) -> None:
    people = us.sample(20_000, seed=3)
    joint = json.loads((SHARED / "us_joint_tables.json").read_text())
    rows = joint["marital_status_by_age_2018"]["rows"]
    for age in ("18-24", "75+"):
        group = [p for p in people if p["age_group"] == age]
        stated = rows[age]["shares"]
        observed = [sum(1 for p in group if p["marital_status"] == c) for c in stated]
        expected = np.array(list(stated.values())) / sum(stated.values()) * len(group)
        keep = expected >= 5  # chi-square needs enough expected counts per cell
        observed_k, expected_k = np.array(observed)[keep], expected[keep]
        assert chisquare(observed_k, expected_k * observed_k.sum() / expected_k.sum()).pvalue > 0.001, age

    def never(age: str) -> float:
        group = [p for p in people if p["age_group"] == age]
        return sum(p["marital_status"] == "never_married" for p in group) / len(group)

    assert never("18-24") > 0.85 and never("75+") < 0.1
    assert all(p["occupation"] == "not employed" for p in people if p["employment"] != "employed")


def test_ipf_fits_a_conditional_table_and_the_marginals_together() -> None:
    pop = Population.load(TINY)
    cond = pop.conditional("job", "age")
    assert cond["young"]["fisher"] == pytest.approx(0.6, abs=1e-6)
    assert cond["old"]["none"] == pytest.approx(0.6, abs=1e-6)
    assert pop.marginal("age")["old"] == pytest.approx(0.6, abs=1e-6)
    # the job marginal the table implies (0.4*0.6 + 0.6*0.1 = 0.3 fishers) is met as well
    assert pop.marginal("job")["fisher"] == pytest.approx(0.3, abs=1e-6)
    assert max(pop.residuals().values()) < 1e-6


def test_samples_are_reproducible_by_seed_and_filters_hold(us: Population) -> None:
    assert us.sample(50, seed=5) == us.sample(50, seed=5)
    assert us.sample(50, seed=5) != us.sample(50, seed=6)
    people = us.sample(500, seed=1, where=parse_where("age>=30,region=West|South,sex!=male"))
    assert all(p["age"] >= 30 and p["region"] in ("West", "South") and p["sex"] == "female" for p in people)
    assert {p["age_group"] for p in people} >= {"25-34", "75+"}  # 30-34 still drawn from the 25-34 bracket
    assert min(p["age"] for p in people) == 30


@pytest.mark.parametrize(
    "where, message",
    [
        ("age>=x", "not a number"),
        ("planet=Mars", "no variable"),
        ("region=Mars", "has no 'Mars'"),
        ("sex>=3", "needs a variable"),
        ("age", "NAME=VALUE"),
        ("age>=200", "no one in the population"),
    ],
)
def test_bad_filters_are_one_line_errors(us: Population, where: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        us.sample(5, where=parse_where(where))


# -- surveys ---------------------------------------------------------------------------


def test_choice_probabilities_sum_to_one_and_match_scoring_each_option(big: Engine, us: Population) -> None:
    people = us.sample(3, seed=2)
    answers = interview(big, [Job(p["id"], persona_prefix(p), _qs()) for p in people], seed=1)
    assert len(answers) == 9
    for a in answers:
        if a.question.kind == "choice":
            assert a.probs is not None and a.logprobs is not None
            assert math.fsum(a.probs.values()) == pytest.approx(1.0, abs=1e-12)
            assert a.answer in a.question.options
    # the option log-probabilities are those of scoring the whole text once per option
    a = next(a for a in answers if a.question.kind == "choice")
    for option, lp in (a.logprobs or {}).items():
        alone = big.score(a.job.prefix + a.question.prompt(), " " + option)
        assert lp == pytest.approx(-alone.total, abs=1e-3)  # total: surprisal, in nats
    assert big.live_count == 0 and big.ledger.used == big.model.used_cells  # type: ignore[attr-defined]


def test_the_persona_prefix_is_prefilled_once_and_every_question_forks_from_it(big: Engine, us: Population) -> None:
    from islands.people.interview import _Counters

    people = us.sample(4, seed=2)
    qs = [Question(f"Q{i}", "choice", f"Question number {i}?", ("yes", "no")) for i in range(5)]
    jobs = [Job(p["id"], persona_prefix(p), qs) for p in people]
    shared, again = _Counters(), _Counters()
    a = interview(big, jobs, share_kv=True, counters=shared)
    big.clear_cache()
    b = interview(big, jobs, share_kv=False, counters=again)
    prefix = sum(len(big.tokenize(j.prefix)) for j in jobs)
    assert [x.logprobs for x in a] == [x.logprobs for x in b]  # the same answers either way (the mock's logits ignore batching)
    # the baseline prefills every prefix once per question; sharing, once per persona
    assert again.stats.reused_tokens == 0  # the baseline takes nothing from the prefix cache either
    assert again.stats.prefill_tokens - shared.stats.prefill_tokens >= (len(qs) - 1) * prefix - 10 * len(jobs)


def test_a_killed_survey_resumes_without_asking_anything_twice(big: Engine, us: Population, tmp_path: Path) -> None:
    people = us.sample(6, seed=4)
    out = tmp_path / "answers.jsonl"

    class Killed(Exception):
        pass

    seen = 0

    def kill_after_7(_a: object) -> None:
        nonlocal seen
        seen += 1
        if seen == 7:
            raise Killed

    with pytest.raises(Killed):
        run_survey(big, people, _qs(), out, seed=1, on_answer=kill_after_7)
    assert len(read_results(out)) == 7
    with out.open("a") as f:
        f.write('{"persona": "p0000')  # the kill cut the last line in half
    written, before = run_survey(big, people, _qs(), out, seed=1)
    rows = read_results(out)
    assert (before, written) == (7, 18 - 7)
    pairs = [(r["persona"], r["question"]) for r in rows]
    assert len(pairs) == len(set(pairs)) == 18
    assert run_survey(big, people, _qs(), out, seed=1) == (0, 18)  # nothing left to ask


def test_a_persona_file_round_trips_and_bad_files_say_what_is_wrong(tmp_path: Path) -> None:
    good = tmp_path / "p.jsonl"
    good.write_text('{"id": "a", "age": 30}\n{"id": "b"}\n')
    assert [p["id"] for p in load_personas(good)] == ["a", "b"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\nnot json\n')
    with pytest.raises(InvalidInput, match="line 2 is not JSON"):
        load_personas(bad)
    for text, message in (
        ('{"id": "a"}\n{"id": "a"}\n', "repeats"),
        ('{"id": "a", "notes": "likes tea"}\n', 'line 1: "notes" must be a list'),
        ('{"id": "a", "notes": [{"q": "Why?"}]}\n', '"notes" must be a list'),
    ):
        bad.write_text(text)
        with pytest.raises(InvalidInput, match=message):
            load_personas(bad)


# -- statistics, A/B, reports ------------------------------------------------------------


def test_tvd_and_bootstrap_intervals() -> None:
    assert tvd({"a": 0.5, "b": 0.5}, {"a": 1.0}) == pytest.approx(0.5)
    assert tvd({"a": 2, "b": 2}, {"a": 0.5, "b": 0.5}) == 0.0
    rng = np.random.default_rng(0)
    a = list(rng.normal(0.0, 1.0, 400))
    b = list(rng.normal(0.5, 1.0, 400))
    d, lo, hi = diff_ci(a, b, seed=1)
    assert lo < d < hi and lo > 0.2 and hi < 0.8
    d0, lo0, hi0 = diff_ci(a, list(rng.normal(0.0, 1.0, 400)), seed=1)
    assert lo0 < 0 < hi0


def test_calibration_fitted_on_some_items_finds_the_temperature_that_was_applied() -> None:
    # personas whose log-probabilities are the real distribution's, doubled (too sharp): T=2 undoes it
    real = {"x": 0.2, "y": 0.5, "z": 0.3}
    sharp = {k: 2 * math.log(v) for k, v in real.items()}
    alpha, temp, gap = fit_calibration([([sharp] * 3, {k: 0.0 for k in real}, real)])
    assert temp == 2.0 and gap < 1e-9


def test_ab_assignment_is_balanced_and_the_difference_is_found(us: Population) -> None:
    people = us.sample(301, seed=1)
    arms = assign(people, ["A", "B"], seed=3)
    counts = [list(arms.values()).count(v) for v in "AB"]
    assert abs(counts[0] - counts[1]) <= 1 and assign(people, ["A", "B"], seed=3) == arms
    test = ABTest({"A": "plain", "B": "on sale"}, Question("BUY", "choice", "Buy?", ("yes", "no")), None)
    rows = []
    for p in people:
        yes = 0.7 if arms[p["id"]] == "B" and p["sex"] == "female" else 0.3
        rows.append({"persona": p["id"], "question": "BUY", "variant": arms[p["id"]], "probs": {"yes": yes, "no": 1 - yes}, "record": p})
    report = analyze_ab(test, rows, by=["sex"], seed=0)
    women = report["by"]["sex"]["female"]["diff"]["B-A"]
    men = report["by"]["sex"]["male"]["diff"]["B-A"]
    assert women["diff"] == pytest.approx(0.4) and women["lo"] > 0.3
    assert men["diff"] == pytest.approx(0.0) and men["lo"] <= 0 <= men["hi"]
    assert 0.1 < report["overall"]["diff"]["B-A"]["diff"] < 0.3


def test_reports_write_csv_and_png_with_real_beside_synthetic(tmp_path: Path, us: Population) -> None:
    people = us.sample(40, seed=1)
    rows = [
        {
            "persona": p["id"],
            "question": "HAPPY",
            "kind": "choice",
            "answer": "pretty happy",
            "probs": {"very happy": 0.2, "pretty happy": 0.7, "not too happy": 0.1},
            "record": p,
        }
        for p in people
    ]
    gss = json.loads((SHARED / "gss_dev.json").read_text())
    table = distribution_rows(rows, by="age_gss", gss=gss)
    overall = [r for r in table if r["group"] == "all"]
    assert [round(r["share"], 3) for r in overall] == [0.2, 0.7, 0.1] and all(r["real"] is not None for r in overall)
    assert any(r["group"] == "65+" and r["real"] is not None for r in table)
    write_csv(tmp_path / "t.csv", table)
    assert (tmp_path / "t.csv").read_text().splitlines()[0].startswith("question,by,group,n,option,share,real")
    write_png(tmp_path / "t.png", table)
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_validation_reports_tvd_per_item_and_subgroup_with_both_baselines(big: Engine, us: Population) -> None:
    gss = json.loads((SHARED / "gss_dev.json").read_text())
    report = validate(big, gss, us, personas=12, seed=0, fit_items=("HAPPY", "GRASS"))
    assert set(report["items"]) == {"HAPPY", "POLVIEWS", "GRASS", "GUNLAW", "HEALTH"}
    happy = report["items"]["HAPPY"]
    assert 0 <= happy["tvd_personas"] <= 1 and happy["tvd_uniform"] == pytest.approx(tvd({o: 1 / 3 for o in happy["real"]}, happy["real"]))
    assert {r["breakdown"] for r in happy["subgroups"]} >= {"age_group", "degree"}
    assert report["calibration"]["test_items"] == ["POLVIEWS", "GUNLAW", "HEALTH"]
    assert {report["items"][i]["calibration_role"] for i in ("HAPPY", "GRASS")} == {"fit"}


def test_questions_load_from_a_gss_file_and_bad_ones_are_named(tmp_path: Path) -> None:
    qs = load_questions(SHARED / "gss_dev.json")
    assert [q.id for q in qs] == ["HAPPY", "POLVIEWS", "GRASS", "GUNLAW", "HEALTH"] and qs[1].options[0] == "extremely liberal"
    assert questions_from_gss({"X": {"question_wording": "?", "response_categories": ["a", "b"]}})[0].options == ("a", "b")
    bad = tmp_path / "q.yaml"
    bad.write_text("questions:\n  - {id: A, type: choice, text: 'Why not', options: [only]}\n")
    with pytest.raises(InvalidInput, match="at least two"):
        load_questions(bad)


# -- CLI -------------------------------------------------------------------------------


def test_cli_sample_writes_personas_and_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "people.jsonl"
    r = runner.invoke(app, ["people", "sample", "30", "--out", str(out), "--seed", "2", "--where", "age<40", "--json"])
    assert r.exit_code == 0, r.output
    people = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(people) == 30 and all(p["age"] < 40 for p in people)
    r = runner.invoke(app, ["people", "sample", "5", "--out", str(tmp_path / "t.jsonl"), "--spec", str(TINY)])
    assert r.exit_code == 0 and "fisher" in r.output
    for args in (["--where", "age>=x"], ["--spec", str(out)]):
        target = tmp_path / "never.jsonl"
        r = runner.invoke(app, ["people", "sample", "5", "--out", str(target), *args])
        assert isinstance(r.exception, InvalidInput) and not target.exists()  # main() makes it one line and exit 2


@pytest.mark.parametrize(
    "population, questions, message",
    [
        ('{"id": "a"}\n{broken\n', '{"questions": [{"id": "Q", "type": "open", "text": "Why?"}]}', "line 2 is not JSON"),
        ('{"id": "a"}\n', '{"questions": [{"id": "Q", "type": "poem", "text": "Why?"}]}', "type 'poem'"),
        ('{"id": "a"}\n', "[1, 2", "not valid JSON"),
    ],
)
def test_cli_survey_rejects_bad_files_in_one_line_and_writes_nothing(tmp_path: Path, population: str, questions: str, message: str) -> None:
    pop, qs, out = tmp_path / "p.jsonl", tmp_path / "q.json", tmp_path / "out.jsonl"
    pop.write_text(population)
    qs.write_text(questions)
    proc = subprocess.run(
        [sys.executable, "-m", "islands", "people", "survey", "-p", str(pop), "-q", str(qs), "-o", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_validation_runs_against_a_remote_server_from_the_labels_top_logprobs() -> None:
    import httpx

    from islands.engine.remote import RemoteEngine
    from islands.people.remote import numbered_prompt

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body["prompt"])
        assert body["max_tokens"] == 1 and body["logprobs"] >= 5
        # the server likes option 2 three times as much as option 1, and knows no other label
        top = {" 2": math.log(0.6), " 1": math.log(0.2), " the": math.log(0.1)}
        chunk = {
            "choices": [
                {
                    "index": 0,
                    "text": " 2",
                    "finish_reason": "length",
                    "logprobs": {"tokens": [" 2"], "token_logprobs": [math.log(0.6)], "top_logprobs": [top]},
                }
            ]
        }
        return httpx.Response(200, text=f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n", headers={"content-type": "text/event-stream"})

    remote = RemoteEngine("http://gss.test", "big", backoff=0.0, transport=httpx.MockTransport(handler))
    gss = json.loads((SHARED / "gss_dev.json").read_text())
    report = validate(remote, gss, Population.us_adults(), personas=3, seed=0)
    grass = report["items"]["GRASS"]["synthetic"]
    assert grass == pytest.approx({"should be legal": 0.25, "should not be legal": 0.75})
    polviews = report["items"]["POLVIEWS"]["synthetic"]
    assert polviews["liberal"] == pytest.approx(0.75) and polviews["moderate, middle of the road"] == 0.0
    assert len(seen) == 4 * 5 and "1. should be legal\n2. should not be legal" in numbered_prompt(questions_from_gss(gss)[2])
    with pytest.raises(InvalidInput, match="local engine"):
        validate(remote, gss, Population.us_adults(), personas=3, seed=0, notes=True)


def test_validation_can_interview_personas_with_backstories_and_notes(big: Engine, us: Population) -> None:
    from islands.people.notes import writes

    gss = json.loads((SHARED / "gss_dev.json").read_text())
    asked: list[str] = []
    done: list[int] = []
    report = validate(big, gss, us, personas=3, seed=0, backstory=True, notes=True, on_answer=lambda a: asked.append(a.job.prefix),
                      on_written=done.append)
    assert report["persona_kind"] == "record + backstory + notes" and sum(done) == writes(3, True, True) == 12
    assert any("Interviewer: What matters most to you in life?" in prefix for prefix in asked)
    r = runner.invoke(app, ["people", "validate", "--survey", str(SHARED / "gss_dev.json"), "--engine", "openai", "--base-url",
                            "http://gss.test", "--model", "big", "--notes"])
    assert r.exit_code == 2 and "local engine" in r.output and "Traceback" not in r.output


def test_backstories_that_contradict_the_record_are_caught() -> None:
    from islands.people.backstory import contradictions

    record = {"age": 37, "sex": "female", "region": "West", "marital_status": "never_married", "employment": "employed"}
    assert contradictions(record, "I grew up in Oregon and teach school. I'm 37.") == []
    found = contradictions(record, "I'm 52 and I live in Ohio with my husband. I am a retired man. I'm retired.")
    assert "age 52, not 37" in found and "Ohio is in the Midwest, not the West" in found
    assert "married, record never married" in found and "not working, record employed" in found
    assert any(f.startswith("says man") for f in found)
    assert contradictions(record, "We moved to Washington, D.C. when I was 20.") == []
    assert contradictions(record, "I coach softball on weekends.") == ["copies the example story"]


def test_backstories_are_written_for_every_persona_in_one_batch(big: Engine, us: Population) -> None:
    from islands.people.backstory import write_backstories

    people = us.sample(5, seed=1)
    stories = write_backstories(big, people, tries=3, seed=2, max_tokens=12)
    again = write_backstories(big, people, tries=3, seed=2, max_tokens=12)
    assert len(stories) == 5 and stories == again  # seeded
    assert big.live_count == 0
    from islands.people.backstory import contradictions

    assert all(s is None or not contradictions(p, s) for p, s in zip(people, stories))


def test_interview_notes_are_checked_tidied_and_become_turns_of_the_interview(big: Engine, us: Population) -> None:
    from islands.people.backstory import contradictions
    from islands.people.notes import WARMUPS, tidy, write_notes

    people = us.sample(4, seed=1)
    notes = write_notes(big, people, tries=2, seed=3, max_tokens=10)
    assert notes == write_notes(big, people, tries=2, seed=3, max_tokens=10) and big.live_count == 0  # seeded
    assert len(notes) == 4 and all(n["q"] in WARMUPS and n["a"] for kept in notes for n in kept)
    assert all(not contradictions(p, n["a"]) for p, kept in zip(people, notes) for n in kept)
    person = dict(people[0], notes=[{"q": "What matters most to you?", "a": "My garden."}])
    prefix = persona_prefix(person)
    assert prefix.startswith(persona_prefix(people[0]))  # the introduction, then the notes as more turns
    assert prefix.endswith("\nInterviewer: What matters most to you?\nRespondent: My garden.\n")
    assert "notes" not in persona_text(person) and "garden" not in persona_text(person)
    assert tidy("I work. I work. I am the") == "I work." and tidy("I work nights") == "I work nights"


def test_the_bench_with_notes_interviews_longer_personas(big: Engine) -> None:
    from islands.people.bench import bench_people

    plain = bench_people(big, personas=4, questions=2, seed=2, wave=4)
    noted = bench_people(big, personas=4, questions=2, seed=2, wave=4, notes=True)
    assert noted["notes"] > 0 and plain["notes"] == 0
    assert noted["mean_prefix_tokens"] > plain["mean_prefix_tokens"]
    assert noted["kv_shared"]["answers"] == noted["re_prefill"]["answers"] == 8


def test_the_example_files_load() -> None:
    from islands.people.ab import load_ab

    test = load_ab(REPO / "examples" / "people" / "ad.yaml")
    assert list(test.variants) == ["A", "B"] and test.values["somewhat likely"] == 0.66
    assert "half price" in test.question_for("B").text and test.question_for("B").id == "BUY@B"
    assert [q.kind for q in load_questions(REPO / "examples" / "people" / "questions.yaml")] == ["choice", "numeric", "open"]


def test_cli_report_prints_and_writes_csv_and_png(tmp_path: Path, us: Population) -> None:
    people = us.sample(10, seed=1)
    res = tmp_path / "answers.jsonl"
    lines = [
        {
            "persona": p["id"],
            "question": "GRASS",
            "kind": "choice",
            "answer": "should be legal",
            "probs": {"should be legal": 0.8, "should not be legal": 0.2},
            "record": p,
        }
        for p in people
    ]
    lines += [{"persona": p["id"], "question": "AGE", "kind": "numeric", "answer": float(p["age"]), "record": p} for p in people]
    res.write_text("".join(json.dumps(x) + "\n" for x in lines))
    r = runner.invoke(
        app,
        [
            "people",
            "report",
            str(res),
            "--by",
            "sex",
            "--survey",
            str(SHARED / "gss_dev.json"),
            "--csv",
            str(tmp_path / "t.csv"),
            "--png",
            str(tmp_path / "t.png"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "0.800" in r.output and "0.721" in r.output  # synthetic beside the GSS 2022 weighted share
    assert (tmp_path / "t.csv").exists() and (tmp_path / "t.png").exists()
    res.write_text('{"persona": "a"}\n')
    r = runner.invoke(app, ["people", "report", str(res)])
    assert isinstance(r.exception, InvalidInput) and "not an answer" in str(r.exception)


def test_cli_survey_and_ab_run_end_to_end_on_the_mock_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import islands.cli.people as cli

    monkeypatch.setattr(cli, "_engine", lambda model, ctx: Engine(MockModel(n_ctx=16384, n_seq_max=64, n_batch=256)))
    pop = tmp_path / "people.jsonl"
    assert runner.invoke(app, ["people", "sample", "12", "--out", str(pop), "--seed", "4"]).exit_code == 0
    out = tmp_path / "answers.jsonl"
    questions = REPO / "examples" / "people" / "questions.yaml"
    r = runner.invoke(app, ["people", "survey", "-p", str(pop), "-q", str(questions), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert len(read_results(out)) == 36
    r = runner.invoke(app, ["people", "survey", "-p", str(pop), "-q", str(questions), "-o", str(out)])
    assert r.exit_code == 0 and "already" in r.output and len(read_results(out)) == 36
    ab_out = tmp_path / "ab.jsonl"
    r = runner.invoke(
        app, ["people", "ab", "-p", str(pop), "--test", str(REPO / "examples" / "people" / "ad.yaml"), "-o", str(ab_out), "--json"]
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.output.strip().splitlines()[-1])
    assert report["overall"]["n"] == {"A": 6, "B": 6} and "B-A" in report["overall"]["diff"]
    assert {row["variant"] for row in read_results(ab_out)} == {"A", "B"}


def test_the_bench_asks_the_same_questions_both_ways_and_shares_prefill(big: Engine) -> None:
    from islands.people.bench import bench_people

    ticks: list[str] = []
    result = bench_people(big, personas=5, questions=3, seed=2, wave=4, on_answer=ticks.append)
    assert result["kv_shared"]["answers"] == result["re_prefill"]["answers"] == 15
    assert ticks.count("kv_shared") == ticks.count("re_prefill") == 15
    # the header once per wave, each persona once, each question once per persona: far fewer tokens
    assert result["kv_shared"]["prefill_tokens"] < 0.6 * result["re_prefill"]["prefill_tokens"]
    assert result["same_answers"] == 1.0  # the mock's logits do not depend on batching
