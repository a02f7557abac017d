"""Dates written where a version belongs: ``distributed < april 1, 2018``, ``<8/30/2024``, ``<May 2018``,
``(shipped between 26-June-2017 through 07-August 2018)``.

A date names a period (a day, a month, a year); a bound takes the side of the period its operator needs:
``< May 2018`` is before 2018-05-01, ``<= May 2018`` up to 2018-05-31. Bounds are ISO ``YYYY-MM-DD`` with
``scheme="date"``. The standard library is enough for these few forms; a date without a year
(``< august 28``) is not read (a human could not place it either).
"""

from __future__ import annotations

import calendar
import re
from datetime import date

from ewarn.models.indicator import RangeKind, VersionRange

DATE_SCHEME = "date"
_MONTHS: dict[str, int] = {
    **{name.lower(): i for i, name in enumerate(calendar.month_name) if name},
    **{name.lower(): i for i, name in enumerate(calendar.month_abbr) if name},
    "sept": 9,
}
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SLASHED = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_ORDINAL = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)$")
_BETWEEN = re.compile(r"\bbetween\s+(?P<span>[^()]+?)\s*(?:\)|$)", re.IGNORECASE)
_SPAN_WORD = re.compile(r"\s+(?:and|through|thru|to|until)\s+", re.IGNORECASE)
_BOUND = re.compile(r"^(?:[a-z][a-z ]*?\s*)?(?P<op><=|>=|<|>)\s*(?P<date>.+)$", re.IGNORECASE)
_OP_FIELD = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
# "manufactured before March 2019", "shipped after 2020-01-31": words for the operators, before a date
_WORDED = re.compile(
    r"\b(?P<word>before|prior\s+to|until|after|since|from|on\s+or\s+after|on\s+or\s+before)\s+(?P<date>[^()]+?)\s*$",
    re.IGNORECASE,
)
_WORD_OP = {"before": "<", "prior to": "<", "until": "<=", "after": ">", "since": ">=", "from": ">="}
_WORD_OP |= {"on or after": ">=", "on or before": "<="}


def _day_span(year: int, month: int, day: int | None) -> tuple[date, date] | None:
    try:
        if day is not None:
            one = date(year, month, day)
            return one, one
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    except ValueError:
        return None


def read_date(text: str, *, year_alone: bool = False) -> tuple[date, date] | None:
    """The first and last day of the period ``text`` names; None when it is not a date with a year."""
    t = text.strip().lower().rstrip(".")
    if found := _ISO.match(t):
        return _day_span(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    if found := _SLASHED.match(t):
        short = int(found.group(3))
        return _day_span(short + 2000 if short < 100 else short, int(found.group(1)), int(found.group(2)))
    month: int | None = None
    day: int | None = None
    year: int | None = None
    for token in re.split(r"[\s,.\-]+", t):
        if not token:
            continue
        if token in _MONTHS and month is None:
            month = _MONTHS[token]
        elif re.fullmatch(r"(?:19|20)\d{2}", token) and year is None:
            year = int(token)
        elif (ordinal := _ORDINAL.match(token) or re.fullmatch(r"\d{1,2}", token)) and day is None:
            day = int(ordinal.group(1) if ordinal.re is _ORDINAL else ordinal.group(0))
        else:
            return None
    if year is None or (month is None and (day is not None or not year_alone)):
        return None
    if month is None:
        return date(year, 1, 1), date(year, 12, 31)
    return _day_span(year, month, day)


def names_a_month(text: str) -> bool:
    """Does the text name a month (``< august 28``) or a slashed date, so it is about dates, read or not?"""
    words = re.split(r"[^a-z0-9/]+", text.lower())
    return any(w in _MONTHS and len(w) >= 3 for w in words) or any(_SLASHED.match(w) for w in words)


def _span(text: str) -> tuple[date, date] | None:
    """``26-June-2017 through 07-August 2018`` / ``2016-August 2018`` → (first day, last day)."""
    pieces = _SPAN_WORD.split(text.strip(), maxsplit=1)
    candidates = [(pieces[0], pieces[1])] if len(pieces) == 2 else []
    candidates += [(text[:i], text[i + 1 :]) for i, ch in enumerate(text) if ch == "-"]
    for left, right in candidates:
        start = read_date(left, year_alone=True)
        end = read_date(right, year_alone=True)
        if start and end and start[0] <= end[1]:
            return start[0], end[1]
    return None


def read_date_expression(text: str, *, raw: str | None = None) -> list[VersionRange] | None:
    """Date bounds for a text about dates; ``[unreadable]`` when it names a month it cannot place; else None.

    ``raw`` (default: ``text``) is kept on the ranges.
    """
    source = text if raw is None else raw
    if found := _BETWEEN.search(text):
        span = _span(found.group("span"))
        if span is not None:
            return [
                VersionRange(gte=span[0].isoformat(), lte=span[1].isoformat(), scheme=DATE_SCHEME, raw=source)
            ]
    bare = re.sub(r"\([^)]*\)", " ", text).strip()
    if (period := read_date(bare)) is not None:  # "8/30/2024", "April 2018": that day or month
        return [
            VersionRange(gte=period[0].isoformat(), lte=period[1].isoformat(), scheme=DATE_SCHEME, raw=source)
        ]
    if (worded := _WORDED.search(bare)) and (period := read_date(worded.group("date"))) is not None:
        op = _WORD_OP[" ".join(worded.group("word").lower().split())]
        value = period[0] if op in ("<", ">=") else period[1]
        return [VersionRange(scheme=DATE_SCHEME, raw=source, **{_OP_FIELD[op]: value.isoformat()})]
    if found := _BOUND.match(bare):
        period = read_date(found.group("date"))
        if period is not None:
            op = found.group("op")
            value = period[0] if op in ("<", ">=") else period[1]
            return [VersionRange(scheme=DATE_SCHEME, raw=source, **{_OP_FIELD[op]: value.isoformat()})]
    placed_badly = (found is not None and names_a_month(found.group("date"))) or (
        "between" in text.lower() and names_a_month(text)
    )
    return [VersionRange(kind=RangeKind.UNREADABLE, raw=source)] if placed_badly else None
