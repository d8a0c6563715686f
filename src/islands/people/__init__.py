"""People of the World: personas sampled from real demographic tables, interviewed and
surveyed by the model (each persona's prefix in KV once, every question forked from it),
A/B tests with bootstrap intervals, reports, and validation against the GSS.

    from islands.people import Population, persona_prefix, load_questions, interview, Job
    pop = Population.us_adults()
    people = pop.sample(100, seed=1, where=parse_where("age>=30,region=West"))
"""

from islands.people.interview import Answer, Job, interview, option_probs
from islands.people.persona import HEADER, persona_prefix, persona_text
from islands.people.population import FORMAT, Filter, Population, Table, Variable, parse_where
from islands.people.questions import Question, load_questions, questions_from_doc, questions_from_gss

__all__ = [
    "FORMAT",
    "HEADER",
    "Answer",
    "Filter",
    "Job",
    "Population",
    "Question",
    "Table",
    "Variable",
    "interview",
    "load_questions",
    "option_probs",
    "parse_where",
    "persona_prefix",
    "persona_text",
    "questions_from_doc",
    "questions_from_gss",
]
