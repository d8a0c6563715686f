"""A persona's words: the record told in the first person, as the opening of an interview
transcript (the prompt prefix every question forks from).

    persona_text({"age": 37, "sex": "female", "region": "West", ...})
    # "I am a 37-year-old woman. I live in a city in the West of the country. ..."

Unknown variables are told as "my NAME: VALUE", so any population file works; the US
variables get sentences of their own; a record's model-written backstory (`backstory.py`)
closes the introduction and its interview notes (`notes.py`) follow as further turns.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HEADER", "persona_prefix", "persona_text"]

HEADER = "The following is a transcript of a survey interview with one respondent.\n"

_EDUCATION = {
    "less_than_high_school": "I did not finish high school.",
    "high_school_graduate": "I finished high school.",
    "some_college_or_associate": "I went to some college.",
    "bachelors_degree": "I have a bachelor's degree.",
    "graduate_or_professional_degree": "I have a graduate degree.",
}
_MARITAL = {
    "never_married": "I have never been married.",
    "now_married_except_separated": "I am married.",
    "separated": "I am separated.",
    "widowed": "I am widowed.",
    "divorced": "I am divorced.",
}
_EMPLOYMENT = {"unemployed": "I am unemployed and looking for work.", "not_in_labor_force": "I am not working."}
_SKIP = {"id", "age_group", "backstory", "notes"}


def _occupation(value: str) -> str:
    words = value.replace(" occupations", "").replace(" and related", "").lower()
    return f"I work in {words}."


def persona_text(record: dict[str, Any]) -> str:
    """The record in the first person, one short sentence per variable."""
    parts: list[str] = []
    age, sex = record.get("age"), record.get("sex")
    noun = {"female": "woman", "male": "man"}.get(str(sex), "person")
    if age is not None:
        parts.append(f"I am a {age}-year-old {noun}.")
    elif sex is not None:
        parts.append(f"I am a {noun}.")
    for key, value in record.items():
        if key in _SKIP or key in ("age", "sex") or value is None:
            continue
        v = str(value)
        if key == "race":
            parts.append(f"I am {v}." if v not in ("some other race", "two or more races") else f"My race: {v}.")
        elif key == "education":
            parts.append(_EDUCATION.get(v, f"My education: {v.replace('_', ' ')}."))
        elif key == "marital_status":
            parts.append(_MARITAL.get(v, f"Marital status: {v.replace('_', ' ')}."))
        elif key == "employment":
            if v in _EMPLOYMENT:
                parts.append(_EMPLOYMENT[v])
        elif key == "occupation":
            if v != "not employed":
                parts.append(_occupation(v))
        elif key == "household_income":
            parts.append(f"My household income is {v.replace(' to ', ' to ')} a year.")
        elif key == "region":
            parts.append(f"I live in the {v} of the United States.")
        elif key == "urban_rural":
            parts.append("I live in a town or city." if v == "urban" else "I live in the countryside.")
        else:
            parts.append(f"My {key.replace('_', ' ')}: {v}.")
    if record.get("backstory"):
        parts.append(str(record["backstory"]).strip())
    return " ".join(parts)


def persona_prefix(record: dict[str, Any] | None, header: str = HEADER) -> str:
    """The prompt prefix of one interview: the header, the persona introducing themselves,
    and their interview notes as further turns (None: the header alone, the no-persona
    baseline)."""
    if record is None:
        return header
    turns = "".join(f"\nInterviewer: {n['q']}\nRespondent: {n['a']}\n" for n in record.get("notes") or ())
    return f"{header}\nInterviewer: Please tell me a little about yourself.\nRespondent: {persona_text(record)}\n{turns}"
