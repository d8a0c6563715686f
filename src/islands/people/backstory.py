"""Backstories: a few sentences the model writes for a persona, kept only when they do not
contradict the record. Several candidates fork from one prompt per persona (one batch for
all); the first that passes `contradictions` is kept, else none.

    contradictions({"age": 37, "sex": "female", "region": "West"}, "I'm 52 and I live in Ohio.")
    # ['age 52, not 37', 'Ohio is in the Midwest, not the West']

The check is rules, not a model: stated ages, self-described sex, marriage words, work
words, US states against the record's region, and copies of the prompt's example story. What it leaves out: anything subtler
(a 19-year-old "retired surgeon" passes if no rule fires).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from islands.engine import Branch, Engine
from islands.params import SamplingParams
from islands.people.persona import persona_text

__all__ = ["contradictions", "first_fitting", "write_backstories"]

_REGION_STATES = {
    "Northeast": "Connecticut Maine Massachusetts New_Hampshire Rhode_Island Vermont New_Jersey New_York Pennsylvania",
    "Midwest": "Illinois Indiana Michigan Ohio Wisconsin Iowa Kansas Minnesota Missouri Nebraska North_Dakota South_Dakota",
    "South": "Delaware Florida Georgia Maryland North_Carolina South_Carolina Virginia West_Virginia Alabama Kentucky Mississippi "
    "Tennessee Arkansas Louisiana Oklahoma Texas",
    "West": "Arizona Colorado Idaho Montana Nevada New_Mexico Utah Wyoming Alaska California Hawaii Oregon Washington",
}
_STATE_REGION = {s.replace("_", " "): r for r, states in _REGION_STATES.items() for s in states.split()}
_AGE = re.compile(r"\b(?:I am|I'm|I’m)\s+(\d{2})\b|\b(\d{2})[- ]years?[- ]old\b", re.IGNORECASE)
_SEX = re.compile(r"\b(?:I am|I'm|I’m)\s+an?\s+(?:\w+\s+){0,3}?(man|woman|guy|lady|mother|father|mom|dad|husband|wife)\b", re.IGNORECASE)
_FEMALE = {"woman", "lady", "mother", "mom", "wife"}
_EXAMPLE_PHRASES = ("Des Moines", "softball", "factory line for")  # from the few-shot story in _prompt


def contradictions(record: dict[str, Any], text: str) -> list[str]:
    """What in `text` contradicts `record` (empty: nothing found)."""
    found: list[str] = []
    age = record.get("age")
    for m in _AGE.finditer(text):
        stated = int(m.group(1) or m.group(2))
        if isinstance(age, int) and abs(stated - age) > 1:
            found.append(f"age {stated}, not {age}")
    sex = record.get("sex")
    for m in _SEX.finditer(text):
        said = "female" if m.group(1).lower() in _FEMALE else "male"
        if sex in ("male", "female") and said != sex:
            found.append(f"says {m.group(1)}, record is {sex}")
    marital = record.get("marital_status")
    if marital in ("never_married",) and re.search(r"\bmy (husband|wife)\b|\bI(?: am|'m) married\b", text, re.IGNORECASE):
        found.append("married, record never married")
    if marital in ("now_married_except_separated",) and re.search(r"\bI(?: have)? never (been )?married\b", text, re.IGNORECASE):
        found.append("never married, record married")
    employment = record.get("employment")
    if employment == "employed" and re.search(r"\bI(?: am|'m) (unemployed|retired|out of work)\b", text, re.IGNORECASE):
        found.append("not working, record employed")
    if employment in ("unemployed", "not_in_labor_force") and re.search(r"\bI work (as|at|for)\b", text, re.IGNORECASE):
        found.append("working, record not employed")
    if any(phrase in text for phrase in _EXAMPLE_PHRASES):
        found.append("copies the example story")
    region = record.get("region")
    for state, r in _STATE_REGION.items():
        if region in _REGION_STATES and r != region and re.search(rf"\b{state}\b", text):
            if state == "Washington" and re.search(r"Washington,? D\.?C", text):
                continue
            found.append(f"{state} is in the {r}, not the {region}")
    return found


def _prompt(record: dict[str, Any]) -> str:
    return (
        "Short life stories of survey respondents, in their own words.\n\n"
        "Facts: I am a 44-year-old man. I live in the Midwest of the United States. I am married. I work in production.\n"
        "Story: I grew up on a farm outside Des Moines and have worked the same factory line for twenty years. "
        "My wife and I coach our daughter's softball team on weekends.\n\n"
        f"Facts: {persona_text({k: v for k, v in record.items() if k != 'backstory'})}\nStory:"
    )


def write_backstories(
    engine: Engine, records: Sequence[dict[str, Any]], *, tries: int = 4, seed: int = 0, max_tokens: int = 60, wave: int = 16,
    on_done: Callable[[int], None] | None = None,
) -> list[str | None]:
    """A checked backstory for each record (None where every candidate contradicted it)."""
    asks = [(r, _prompt(r)) for r in records]
    return first_fitting(engine, asks, tries=tries, seed=seed, max_tokens=max_tokens, wave=wave, on_done=on_done)


def first_fitting(
    engine: Engine, asks: Sequence[tuple[dict[str, Any], str]], *, tries: int = 4, seed: int = 0, max_tokens: int = 60,
    wave: int = 16, on_done: Callable[[int], None] | None = None,
) -> list[str | None]:
    """For each (record, prompt): `tries` candidate lines forked from the prompt (one batch
    per wave), the first that is not empty and does not contradict the record (None if none).
    `on_done(n)` after each wave, with how many asks it finished (a progress bar)."""
    out: list[str | None] = []
    for start in range(0, len(asks), wave):
        group = asks[start : start + wave]
        roots = [engine.branch(prompt) for _, prompt in group]
        engine.prefill(*roots)
        kids: list[list[Branch]] = []
        try:
            for i, root in enumerate(roots):
                row = root.fork(tries)
                for t, kid in enumerate(row):
                    kid.start(
                        SamplingParams(max_tokens=max_tokens, temperature=0.8, seed=seed * 7919 + (start + i) * tries + t,
                                       stop=("\n", "Interviewer:"))
                    )
                kids.append(row)
            engine.run([k for row in kids for k in row])
            for (r, _), row in zip(group, kids):
                good = [k.text.strip() for k in row if k.text.strip() and not contradictions(r, k.text)]
                out.append(good[0] if good else None)
            if on_done is not None:
                on_done(len(group))
        finally:
            for b in roots + [k for row in kids for k in row]:
                b.release(cache=False)
    return out
