"""People of the World on the embedded model (short): choice probabilities over every
option, the same with the persona's KV shared as with every prompt prefilled whole;
`people sample --notes` writing checked warm-up answers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from islands.engine import Engine
from islands.people import Job, Population, Question, interview, persona_prefix

pytestmark = pytest.mark.model


def test_a_survey_on_the_real_model_gives_probabilities_over_every_option(real: Engine) -> None:
    people = Population.us_adults().sample(2, seed=1)
    qs = [
        Question(
            "GRASS", "choice", "Do you think the use of marijuana should be made legal or not?", ("should be legal", "should not be legal")
        ),
        Question(
            "HEALTH", "choice", "Would you say your own health is excellent, good, fair, or poor?", ("excellent", "good", "fair", "poor")
        ),
        Question("AGE", "numeric", "How old are you?", low=0, high=120),
    ]
    jobs = [Job(p["id"], persona_prefix(p), qs) for p in people]
    shared = interview(real, jobs, seed=0)
    real.clear_cache()
    whole = interview(real, jobs, seed=0, share_kv=False)
    assert len(shared) == len(whole) == 6
    for a, b in zip(shared, whole):
        if a.question.kind == "choice":
            assert a.probs is not None and b.probs is not None
            assert math.fsum(a.probs.values()) == pytest.approx(1.0) and set(a.probs) == set(a.question.options)
            # batching splits the prompt differently: logits differ a little, not the answer distribution
            assert max(abs(a.probs[o] - b.probs[o]) for o in a.probs) < 0.1
        else:
            assert a.answer is None or 0 <= float(a.answer) <= 120


def test_sample_with_notes_writes_checked_warm_up_answers(tmp_path: Path, model_path: Path) -> None:
    from typer.testing import CliRunner

    from islands.cli.app import app
    from islands.people.backstory import contradictions
    from islands.people.notes import WARMUPS
    from islands.people.survey import load_personas

    out = tmp_path / "noted.jsonl"
    r = CliRunner().invoke(app, ["people", "sample", "2", "--out", str(out), "--seed", "5", "--notes"])
    assert r.exit_code == 0, r.output
    people = load_personas(out)
    assert len(people) == 2 and any(p["notes"] for p in people)
    for p in people:
        for note in p["notes"]:
            assert note["q"] in WARMUPS and note["a"].strip() and not contradictions(p, note["a"])
            assert f"Interviewer: {note['q']}\nRespondent: {note['a']}\n" in persona_prefix(p)
