"""Dates in conversations: a session's time read from its header, relative dates in a turn
("yesterday", "last Saturday", "next month", "two weeks ago") resolved against it into
absolute ones, and absolute dates in a question put in the same words, so that a turn and
a question about the same day share words.

    when = parse_when("1:56 pm on 8 May, 2023")                 # datetime(2023, 5, 8, 13, 56)
    resolve_relative("I went there yesterday.", when)           # [("yesterday", "7 May 2023")]
    annotate("I went there yesterday.", when)                   # "I went there yesterday [7 May 2023]."
    query_dates("Who did Maria see on May 3, 2023?")            # ["3 May 2023"]
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta

from islands.errors import InvalidInput

__all__ = ["annotate", "day_words", "parse_when", "query_dates", "resolve_relative"]

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
MONTHS["sept"] = 9
WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
WEEKDAYS |= {name.lower(): i for i, name in enumerate(calendar.day_abbr)}
WEEKDAYS |= {"tues": 1, "thur": 3, "thurs": 3}
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
           "nine": 9, "ten": 10, "couple of": 2, "a couple of": 2, "few": 3, "a few": 3}

_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_WEEKDAY = "|".join(sorted(WEEKDAYS, key=len, reverse=True))
_COUNT = r"\d+|a couple of|couple of|a few|few|an|a|one|two|three|four|five|six|seven|eight|nine|ten"
RELATIVE = re.compile(
    rf"\b(?:(?P<simple>the day before yesterday|yesterday|last night|this morning|tonight|today|tomorrow)"
    rf"|(?P<rel>last|this past|past|this|next|coming) (?P<unit>week(?:end)?|month|year|summer|winter|spring|fall|autumn"
    rf"|(?:{_WEEKDAY})\b)"
    rf"|(?P<n>{_COUNT}) (?P<agounit>day|week(?:end)?|month|year)s? ago"
    rf"|(?:on |this )?(?P<bareday>{_WEEKDAY})(?= (?:night|morning|evening|afternoon)\b|[,.!?]))",
    re.IGNORECASE,
)
_WHEN = re.compile(rf"(?:(\d{{1,2}}):(\d{{2}})\s*([ap])\.?m\.?\s*(?:on\s+)?)?(\d{{1,2}})\s+({_MONTH})\.?,?\s+(\d{{4}})", re.IGNORECASE)
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?")


def day_words(day: datetime) -> str:
    """One day in the words turns and questions share: "7 May 2023"."""
    return f"{day.day} {calendar.month_name[day.month]} {day.year}"


def _month_words(year: int, month: int) -> str:
    return f"{calendar.month_name[month]} {year}"


def parse_when(text: str) -> datetime:
    """A session or turn time: "1:56 pm on 8 May, 2023", "8 May 2023", ISO 8601 or a Unix time."""
    text = str(text).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return datetime.fromtimestamp(float(text))
    m = _ISO.fullmatch(text) or _ISO.match(text)
    if m:
        parts = [int(x) if x else 0 for x in m.groups()]
        try:
            return datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
        except ValueError:
            pass
    m = _WHEN.search(text)
    if m:
        hh, mm, ap, d, month, y = m.groups()
        hour = 0 if hh is None else int(hh) % 12 + (12 if ap.lower() == "p" else 0)
        try:
            return datetime(int(y), MONTHS[month.lower()], int(d), hour, int(mm or 0))
        except ValueError:
            pass
    raise InvalidInput(f"cannot read the time {text!r} (expected e.g. '1:56 pm on 8 May, 2023' or ISO 8601)")


def _shift_month(year: int, month: int, by: int) -> tuple[int, int]:
    at = year * 12 + month - 1 + by
    return at // 12, at % 12 + 1


def _count(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else NUMBERS.get(word, 1)


def _resolve(m: re.Match[str], when: datetime) -> str | None:
    simple, rel, unit = m.group("simple"), m.group("rel"), m.group("unit")
    if simple:
        shift = {"the day before yesterday": -2, "yesterday": -1, "last night": -1, "tomorrow": 1}.get(simple.lower(), 0)
        return day_words(when + timedelta(days=shift))
    if rel:
        rel, unit = rel.lower(), unit.lower()
        step = {"last": -1, "this past": -1, "past": -1, "this": 0, "next": 1, "coming": 1}[rel]
        if unit in WEEKDAYS:
            back = (when.weekday() - WEEKDAYS[unit]) % 7
            if step < 0:
                return day_words(when - timedelta(days=back or 7))
            ahead = (WEEKDAYS[unit] - when.weekday()) % 7
            if step > 0:
                return day_words(when + timedelta(days=ahead or 7))
            return day_words(when + timedelta(days=ahead))
        if unit == "week":
            return {-1: f"the week before {day_words(when)}", 0: f"the week of {day_words(when)}",
                    1: f"the week after {day_words(when)}"}[step]
        if unit == "weekend":
            if step < 0:
                saturday = when - timedelta(days=(when.weekday() - 5) % 7 or 7)
            else:
                saturday = when + timedelta(days=(5 - when.weekday()) % 7 + (7 if step > 0 and when.weekday() < 5 else 0))
            return f"the weekend of {day_words(saturday)}"
        if unit == "month":
            return _month_words(*_shift_month(when.year, when.month, step))
        if unit == "year":
            return str(when.year + step)
        season_year = when.year + (step if step else 0)
        return f"{unit} {season_year}"
    if m.group("agounit"):
        n, agounit = _count(m.group("n")), m.group("agounit").lower()
        if agounit == "day":
            return day_words(when - timedelta(days=n))
        if agounit in ("week", "weekend"):
            return f"the week of {day_words(when - timedelta(weeks=n))}"
        if agounit == "month":
            return _month_words(*_shift_month(when.year, when.month, -n))
        return str(when.year - n)
    bare = m.group("bareday")
    if bare:  # "on Friday," in a chat about what happened: the last one
        back = (when.weekday() - WEEKDAYS[bare.lower()]) % 7
        return day_words(when - timedelta(days=back or 7))
    return None


def resolve_relative(text: str, when: datetime) -> list[tuple[str, str]]:
    """(phrase, absolute date) for each relative date in `text`, against `when`."""
    out = []
    for m in RELATIVE.finditer(text):
        resolved = _resolve(m, when)
        if resolved:
            out.append((m.group(0), resolved))
    return out


def annotate(text: str, when: datetime) -> str:
    """`text` with each relative date followed by its absolute date in brackets."""
    parts, at = [], 0
    for m in RELATIVE.finditer(text):
        resolved = _resolve(m, when)
        if resolved:
            parts += [text[at : m.end()], f" [{resolved}]"]
            at = m.end()
    return "".join(parts) + text[at:]


_Q_DMY = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\.?,?\s+(\d{{4}})\b", re.IGNORECASE)
_Q_MDY = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.IGNORECASE)
_Q_MY = re.compile(rf"\b({_MONTH})\.?,?\s+(\d{{4}})\b", re.IGNORECASE)


def query_dates(text: str) -> list[str]:
    """Absolute dates in a question, as `day_words` writes them ("3 May 2023"), or
    "May 2023" for a month."""
    out = []
    for d, month, y in _Q_DMY.findall(text):
        out.append(f"{int(d)} {calendar.month_name[MONTHS[month.lower()]]} {y}")
    for month, d, y in _Q_MDY.findall(text):
        out.append(f"{int(d)} {calendar.month_name[MONTHS[month.lower()]]} {y}")
    if not out:
        for month, y in _Q_MY.findall(text):
            if month.lower() not in ("may", "march") or month[0].isupper():
                out.append(f"{calendar.month_name[MONTHS[month.lower()]]} {y}")
    return out
