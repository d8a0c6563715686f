"""US adults 18+ as a population file, built from the Census/BLS tables in
`shared/data/us_adults_marginals.json` and `us_joint_tables.json` (sources in SOURCES.md).

    python -m islands.people.us ../shared/data src/islands/people/data/us_adults.json

The package ships the result (data/us_adults.json); a test rebuilds it from the shared data
and checks that it is the same. What it keeps: age (numbers drawn within ACS brackets, 75+
as 75-90), sex, race/ethnicity (Hispanic / non-Hispanic White / non-Hispanic other, the
other split by the all-ages detailed shares), education, marital status, employment,
occupation (10 broad BLS groups, employed only), household income, census region,
urban/rural. Tables: sex by age, race by sex and age, education by sex and age, marital
status by age and by sex, employment by age, occupation given employment. Income, region
and urban/rural have no joint table here and are drawn independently (income is a
household distribution, 2018 dollars).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from islands.people.population import FORMAT

__all__ = ["us_population_doc"]

AGES = ["18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+"]
AGE_GROUPS = {"45-64": ["45-54", "55-64"], "65+": ["65-74", "75+"]}
AGE_RANGES = {
    "18-24": [18, 24],
    "25-34": [25, 34],
    "35-44": [35, 44],
    "45-54": [45, 54],
    "55-64": [55, 64],
    "65-74": [65, 74],
    "75+": [75, 90],
}
ACS_AGE = {
    "18 to 24 years": "18-24",
    "25 to 34 years": "25-34",
    "35 to 44 years": "35-44",
    "45 to 64 years": "45-64",
    "65 years and over": "65+",
}
RACE3 = {
    "Hispanic or Latino (any race)": "Hispanic",
    "Non-Hispanic White alone": "White",
    "Non-Hispanic, all other races (Black, Asian, AIAN, NHPI, Two+)": "other",
    "Non-Hispanic, all other races": "other",
}
DETAILED = {
    "Black or African American alone, not Hispanic": "Black",
    "Asian alone, not Hispanic": "Asian",
    "American Indian and Alaska Native alone, not Hispanic": "American Indian or Alaska Native",
    "Native Hawaiian and Other Pacific Islander alone, not Hispanic": "Native Hawaiian or Pacific Islander",
    "Some other race alone, not Hispanic": "some other race",
    "Two or more races, not Hispanic": "two or more races",
}
NOT_EMPLOYED = "not employed"


def _shares(block: dict[str, Any], key: str = "shares") -> dict[str, float]:
    return {k: float(v) for k, v in block[key].items()}


def _plain(m: dict[str, Any], name: str, key: str) -> dict[str, Any]:
    """A variable read as it stands from marginal `key`: its categories, shares and source."""
    return {"name": name, "categories": list(m[key]["shares"]), "shares": _shares(m[key]), "source": m[key]["source"]}


def us_population_doc(data_dir: str | Path) -> dict[str, Any]:
    """The population file (a dict) for US adults, from the two JSON files in `data_dir`."""
    d = Path(data_dir)
    m = json.loads((d / "us_adults_marginals.json").read_text(encoding="utf-8"))
    j = json.loads((d / "us_joint_tables.json").read_text(encoding="utf-8"))
    race3 = {RACE3[k]: v for k, v in _shares(m["race_ethnicity_3cat"]).items()}
    detail = m["race_ethnicity_detailed_ALL_AGES_reference"]["shares"]
    others = {DETAILED[k]: float(v) for k, v in detail.items() if k in DETAILED}
    occupations = _shares(m["occupation_broad_groups_among_employed_2022"])
    variables: list[dict[str, Any]] = [
        {
            "name": "age",
            "categories": AGES,
            "shares": _shares(m["age"]),
            "groups": AGE_GROUPS,
            "ranges": AGE_RANGES,
            "source": m["age"]["source"],
        },
        {"name": "sex", "categories": ["male", "female"], "shares": _shares(m["sex"]), "source": m["sex"]["source"]},
        {
            "name": "race",
            "categories": ["Hispanic", "White", *others],
            "groups": {"other": list(others)},
            "shares": race3,
            "source": m["race_ethnicity_3cat"]["source"]
            + " Split of non-Hispanic other races: "
            + m["race_ethnicity_detailed_ALL_AGES_reference"]["source"],
        },
        _plain(m, "education", "education"),
        _plain(m, "marital_status", "marital_status"),
        _plain(m, "employment", "employment_status"),
        {
            "name": "occupation",
            "categories": [*occupations, NOT_EMPLOYED],
            "source": m["occupation_broad_groups_among_employed_2022"]["source"],
        },
        _plain(m, "household_income", "household_income"),
        _plain(m, "region", "census_region"),
        {
            "name": "urban_rural",
            "categories": ["urban", "rural"],
            "shares": _shares(m["urban_rural"]),
            "source": m["urban_rural"]["source"],
        },
    ]
    sex_age = j["sex_by_age_2024"]
    race_sa = j["race_ethnicity_3cat_by_sex_and_age_2022"]
    edu_sa = j["education_by_sex_and_age_2018"]
    emp = j["employment_status_by_age_2024"]
    tables: list[dict[str, Any]] = [
        {
            "name": "sex by age",
            "given": ["age"],
            "target": "sex",
            "rows": {a: {s: float(c) for s, c in row.items()} for a, row in sex_age["counts"].items()},
            "source": sex_age["source"],
        },
        {
            "name": "race by sex and age",
            "given": ["sex", "age"],
            "target": "race",
            "rows": {
                f"{k.split(', ')[0]}|{k.split(', ')[1]}": {RACE3[r]: float(s) for r, s in row["shares"].items()}
                for k, row in race_sa["rows"].items()
            },
            "source": race_sa["source"],
        },
        {
            "name": "race within non-Hispanic other",
            "given": [],
            "target": "race",
            "rows": {"": others},
            "source": m["race_ethnicity_detailed_ALL_AGES_reference"]["source"],
        },
        {
            "name": "education by sex and age",
            "given": ["sex", "age"],
            "target": "education",
            "rows": {f"{k.split(', ')[0].lower()}|{ACS_AGE[k.split(', ')[1]]}": _shares(row) for k, row in edu_sa["rows"].items()},
            "source": edu_sa["source"],
        },
        {
            "name": "marital status by age",
            "given": ["age"],
            "target": "marital_status",
            "rows": {a: _shares(row) for a, row in j["marital_status_by_age_2018"]["rows"].items()},
            "source": j["marital_status_by_age_2018"]["source"],
        },
        {
            "name": "marital status by sex",
            "given": ["sex"],
            "target": "marital_status",
            "rows": {s.lower(): _shares(row) for s, row in j["marital_status_by_sex_2018"]["rows"].items()},
            "source": j["marital_status_by_sex_2018"]["source"],
        },
        {
            "name": "employment by age",
            "given": ["age"],
            "target": "employment",
            "rows": {a: _shares(row) for a, row in emp["rows"].items()},
            "source": emp["source"],
        },
        {
            "name": "occupation given employment",
            "given": ["employment"],
            "target": "occupation",
            "rows": {"employed": occupations, "unemployed": {NOT_EMPLOYED: 1.0}, "not_in_labor_force": {NOT_EMPLOYED: 1.0}},
            "source": m["occupation_broad_groups_among_employed_2022"]["source"],
        },
    ]
    return {
        "format": FORMAT,
        "name": "US adults 18+",
        "description": "Census ACS and BLS CPS tables of several years (2018-2024); see each source. Built by islands.people.us.",
        "variables": variables,
        "tables": tables,
    }


def main(argv: list[str]) -> None:
    src, out = argv
    text = json.dumps(us_population_doc(src), indent=1, ensure_ascii=False) + "\n"
    tmp = Path(out).with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)


if __name__ == "__main__":
    main(sys.argv[1:])
