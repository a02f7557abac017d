"""Is an asset's version affected by an advisory's ranges? ``decide`` says affected, not affected, or unknown.

Ranges come from the version reader (``ewarn.ingest.versions.read_expression``) with a ``RangeKind``; a
range given only as ``raw`` text (kind ``unreadable`` by derivation) is read first. Each part of a range list
gives a verdict — inside, outside, or cannot compare (unreadable text, a date range against a version that
is not a date, another product line like ``U61`` against ``2.0``):

- any part contains the version → ``affected`` (with that part);
- else any part cannot compare → ``unknown`` (the caller alerts "possibly affected", never silence);
- else a part naming a major version alone that the asset's version continues (``11.0.2`` against
  ``10 | 11``) → ``unknown``: "version 11" may be the whole 11 line or the 11.0 release — unless the
  advisory itself writes that line more precisely (``11 | 11.2``); likewise a CNA's label with words
  (``7 for x64-based Systems Service Pack 1``) against an asset version with the same leading version
  (``7 SP1``). Versions with a minor part are read as written (``12.3.1`` is above ``<= 12.3`` and is not
  ``= 2.2``), and so are ecosystem schemes (npm, maven…);
- else ``not_affected``.

The order itself (generic and ecosystem schemes, wildcard families) lives in ``ewarn.versions.order``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import date
from enum import StrEnum

from ewarn.models import VersionRange
from ewarn.models.indicator import RangeKind
from ewarn.versions.dates import DATE_SCHEME, read_date
from ewarn.versions.order import (
    UNIVERS_SCHEMES,
    compare,
    compare_to_bound,
    components,
    continues,
    family_compare,
    generic_compare,
    wildcard_family,
)
from ewarn.versions.reader import read_expression
from ewarn.versions.text import is_version_text, without_label

__all__ = [
    "Decision",
    "compare",
    "components",
    "contains",
    "decide",
    "describe",
    "describe_all",
    "expand",
    "generic_compare",
    "is_all",
    "is_unbounded",
    "matching_part",
    "parse_range_text",
    "part_verdict",
]


class Decision(StrEnum):
    """What the ranges say about one version."""

    AFFECTED = "affected"
    NOT_AFFECTED = "not_affected"
    UNKNOWN = "unknown"  # no part contains it and at least one could not be compared: possibly affected


def is_unbounded(vr: VersionRange) -> bool:
    return vr.exact is None and vr.gte is None and vr.gt is None and vr.lte is None and vr.lt is None


@functools.lru_cache(maxsize=8192)
def parse_range_text(text: str, scheme: str = "generic") -> tuple[VersionRange, ...]:
    """Read a range as an advisory writes it (``read_expression``), as a tuple."""
    return tuple(read_expression(text, scheme=scheme))


def expand(vr: VersionRange) -> tuple[VersionRange, ...]:
    """A range as given, or — when only its ``raw`` text is set and not yet read — the ranges that text gives."""
    if vr.kind is RangeKind.UNREADABLE and is_unbounded(vr) and vr.raw:
        return parse_range_text(vr.raw, vr.scheme)
    return (vr,)


_ACCEPTED: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("exact", (0,)),
    ("gte", (0, 1)),
    ("gt", (1,)),
    ("lte", (-1, 0)),
    ("lt", (-1,)),
)


def _within_bounds(vr: VersionRange, version: str, scheme: str) -> bool | None:
    for field, accepted in _ACCEPTED:
        bound = getattr(vr, field)
        if bound is None:
            continue
        order = compare_to_bound(version, bound, scheme)
        if order is None:
            return None
        if order not in accepted:
            return False
    return True


@functools.lru_cache(maxsize=4096)
def _as_date(text: str) -> tuple[date, date] | None:
    return read_date(text)


def _within_dates(vr: VersionRange, version: str) -> bool | None:
    """A date range against a version: only a version that is itself a date can be placed."""
    period = _as_date(version)
    if period is None:
        return None
    for field, accepted in _ACCEPTED:
        bound = getattr(vr, field)
        if bound is None:
            continue
        edge = _as_date(bound)
        if edge is None:
            return None
        day = period[0] if field in ("gte", "gt") else period[1]
        order = (day > edge[0]) - (day < edge[0])
        if order not in accepted:
            return False
    return True


def part_verdict(part: VersionRange, version: str, scheme: str | None = None) -> bool | None:
    """Is ``version`` in this one range (already read)? None when it cannot be compared."""
    kind = part.kind
    if kind is RangeKind.ALL:
        return True
    if kind is RangeKind.UNREADABLE:
        return None
    if not version.strip() or wildcard_family(version) is not None:
        return None  # no version, or the asset's own version is a family: only all-versions decide
    if kind is RangeKind.DATE or part.scheme == DATE_SCHEME:
        return _within_dates(part, version)
    if kind is RangeKind.WILDCARD:
        if part.family is None:
            return None
        attached = bool(part.raw) and _attached(part.family, part.raw or "")
        order = family_compare(version, part.family, attached)
        return None if order is None else order == 0
    if is_unbounded(part):  # a kind given by hand without the bounds it needs: nothing to compare with
        return None
    return _within_bounds(part, version, scheme or part.scheme)


def _attached(family: str, raw: str) -> bool:
    """``R16x`` continues the number (R160…R169); ``5.x`` starts a new component."""
    lowered, fam = raw.lower(), family.lower()
    index = lowered.find(fam)
    while index != -1:
        after = lowered[index + len(fam) : index + len(fam) + 1]
        if after in ("x", "*"):
            return True
        index = lowered.find(fam, index + 1)
    return False


def _verdicts(
    ranges: Sequence[VersionRange], version: str, scheme: str | None
) -> list[tuple[VersionRange, bool | None]]:
    return [(part, part_verdict(part, version, scheme)) for vr in ranges for part in expand(vr)]


def _other_line(part: VersionRange, version: str) -> bool:
    """Could the part not be compared only because it is about another product line (``U61`` for ``U70``)?"""
    return (
        part.kind in (RangeKind.EXACT, RangeKind.INTERVAL, RangeKind.WILDCARD)
        and part.scheme != DATE_SCHEME
        and bool(version.strip())
        and wildcard_family(version) is None
    )


_BOUND_FIELDS = ("exact", "gte", "gt", "lte", "lt")
_MAJOR = re.compile(r"^\s*[vV]?\d+\s*$")


def _open_bound(part: VersionRange, version: str, scheme: str | None) -> str | None:
    """The exact value of ``part`` that leaves ``version`` undecided although unequal, if any:

    - a major version alone (``11`` of ``10 | 11``) that ``version`` continues (``11.0.2``);
    - a CNA's label with words (``7 for x64-based Systems Service Pack 1``) whose leading version the asset's
      shares (``7 SP1``): the label is compared as a whole, so ``10 Version 1809`` stays outside.

    Versions with a minor part are read as written: 12.3.1 is above ``<= 12.3`` and is not ``= 2.2``."""
    bound = part.exact
    if part.kind is not RangeKind.EXACT or bound is None or part.scheme == DATE_SCHEME:
        return None
    if (scheme or part.scheme) in UNIVERS_SCHEMES:
        return None
    if _MAJOR.match(bound):
        # "2.0-beta1" comes before 2: plainly outside "= 2"
        return bound if continues(version, bound) and generic_compare(version, bound) == 1 else None
    if not is_version_text(without_label(bound)) and _lead(version) == _lead(bound):
        return bound
    return None


def _lead(text: str) -> str:
    words = without_label(text).lower().split()
    return words[0].removeprefix("v") if words else ""


def _written_finer(parts: Sequence[VersionRange], bound: str) -> bool:
    """Does the advisory itself name a version that continues ``bound`` (``4.20 SR1`` next to ``4.20``)?"""
    return any(
        value is not None and continues(value, bound)
        for part in parts
        for value in (getattr(part, f) for f in _BOUND_FIELDS)
    )


def decide(
    ranges: Sequence[VersionRange], version: str, scheme: str | None = None
) -> tuple[Decision, VersionRange | None]:
    """Affected (with the part that contains ``version``), not affected, or unknown (with a part that could
    not be compared). ``scheme`` overrides each range's own (the asset's ecosystem); dates keep theirs.

    A part about another product line (``<= L81`` for ``U70`` in ``<= U61 |<= L81``) makes the answer unknown
    only when no part could be compared at all (``2.0`` against ``U61``/``L81``): the list speaks about the
    asset's line elsewhere, and that part decides. Unreadable text and dates make it unknown always.
    """
    unknown: VersionRange | None = None
    other_line: VersionRange | None = None
    open_bounds: list[tuple[VersionRange, str]] = []
    compared = False
    verdicts = _verdicts(ranges, version, scheme)
    for part, verdict in verdicts:
        if verdict is True:
            return Decision.AFFECTED, part
        if verdict is False:
            compared = True
            bound = _open_bound(part, version, scheme)
            if bound is not None:
                open_bounds.append((part, bound))
        elif _other_line(part, version):
            other_line = other_line or part
        else:
            unknown = unknown or part
    if unknown is not None:
        return Decision.UNKNOWN, unknown
    parts = [part for part, _ in verdicts]
    for part, bound in open_bounds:
        if not _written_finer(parts, bound):
            return Decision.UNKNOWN, part
    if other_line is not None and not compared:
        return Decision.UNKNOWN, other_line
    return Decision.NOT_AFFECTED, None


def contains(vr: VersionRange, version: str, scheme: str | None = None) -> bool | None:
    """Is ``version`` in ``vr``? None when no part contains it and none could be compared.

    A range given only as ``raw`` text is read first; alternatives (``<= U61 |<= L81``) match if any does.
    """
    verdicts = [v for _, v in _verdicts([vr], version, scheme)]
    if any(v is True for v in verdicts):
        return True
    return None if verdicts and all(v is None for v in verdicts) else False


def matching_part(vr: VersionRange, version: str, scheme: str | None = None) -> VersionRange | None:
    """The alternative of ``vr`` that contains ``version`` (``<= U61`` of ``<= U61 |<= L81``), or None."""
    return next((part for part, verdict in _verdicts([vr], version, scheme) if verdict is True), None)


def is_all(vr: VersionRange) -> bool:
    """Every version: kind ``all`` (``All versions``, ``vers:all/*``, no bounds and no text)."""
    return vr.kind is RangeKind.ALL or (
        vr.kind is RangeKind.UNREADABLE and all(p.kind is RangeKind.ALL for p in expand(vr))
    )


def _bounds_text(vr: VersionRange) -> str:
    lower = None if vr.gte is not None and not components(vr.gte) else vr.gte  # ">= 0" says nothing
    parts = [
        f"{op} {value}"
        for op, value in ((">=", lower), (">", vr.gt), ("<=", vr.lte), ("<", vr.lt))
        if value is not None
    ]
    return ", ".join(parts) if parts else "all versions"


def describe(vr: VersionRange) -> str:
    """The range in plain words: ``all versions``, ``= 1.0.2``, ``>= 2.4, < 2.12.2``, ``5.x family``,
    ``< 2018-04-01 (date)``, ``unreadable: "<raw>"``; a raw-only range is read first."""
    # read once: the unreadable remainder of a list ("7100 | 7900 | … | Protiva Carestation View") keeps
    # the whole text as raw, and reading it again would give the list again (endless recursion)
    return describe_all([vr])


def describe_all(ranges: Sequence[VersionRange]) -> str:
    """Every part of ``ranges`` in plain words, each once, joined by "or"."""
    return " or ".join(dict.fromkeys(_describe_part(part) for vr in ranges for part in expand(vr)))


def _describe_part(part: VersionRange) -> str:
    kind = part.kind
    if kind is RangeKind.ALL:
        return "all versions"
    if kind is RangeKind.UNREADABLE:
        return f'unreadable: "{(part.raw or "").strip()}"'
    if kind is RangeKind.WILDCARD and part.family is not None:
        joint = "" if _attached(part.family, part.raw or "") else "."
        return f"{part.family}{joint}x family"
    text = f"= {part.exact}" if part.exact is not None else _bounds_text(part)
    return f"{text} (date)" if kind is RangeKind.DATE else text
