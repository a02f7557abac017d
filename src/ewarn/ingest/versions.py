"""Version ranges as advisories write them: ``vers:`` strings, CISA free text, CVE 5 bounds.

Every range keeps the source text in ``raw``; bounds are filled where the text can be read, and text that
cannot be read stays a range with no bounds but its ``raw`` (the correlator explains it, never guesses).
"""

from __future__ import annotations

import re
from typing import Any

from ewarn.models.indicator import VersionRange

_OPERATOR = re.compile(r"^\s*(<=|>=|<|>|=|!=)\s*(.+?)\s*$")
_PRIOR_TO = re.compile(
    r"^\s*(?:prior to|before|earlier than|up to)\s+(?:version\s+)?(.+?)\s*$", re.IGNORECASE
)
_ALL = {"*", "all", "all versions", "vers:all/*", "any", "n/a", "unspecified", "-"}
_FIELD = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte", "=": "exact"}
_OPEN_START = {"0", "*", "n/a", "unspecified", "-", ""}


def _is_all(text: str) -> bool:
    return text.strip().lower() in _ALL


def parse_vers(text: str) -> list[VersionRange]:
    """``vers:<scheme>/<c1>|<c2>…`` (package-url/vers-spec); consecutive lower and upper bounds pair up."""
    body = text.strip()[len("vers:") :]
    scheme, _, constraints = body.partition("/")
    scheme = scheme or "generic"
    if constraints.strip() == "*":
        return [VersionRange(scheme=scheme, raw=text)]
    ranges: list[VersionRange] = []
    current: dict[str, str] = {}
    for part in [p.strip() for p in constraints.split("|") if p.strip()]:
        match = _OPERATOR.match(part)
        op, version = (match.group(1), match.group(2)) if match else ("=", part)
        if op == "!=":
            continue
        field = _FIELD[op]
        if field == "exact":
            ranges.append(VersionRange(exact=version, scheme=scheme, raw=text))
        elif field in ("gt", "gte"):
            if current:
                ranges.append(VersionRange(scheme=scheme, raw=text, **current))
            current = {field: version}
        else:
            current[field] = version
            ranges.append(VersionRange(scheme=scheme, raw=text, **current))
            current = {}
    if current:
        ranges.append(VersionRange(scheme=scheme, raw=text, **current))
    return ranges or [VersionRange(scheme=scheme, raw=text)]


def parse_free_text(text: str) -> list[VersionRange]:
    """CISA-style text: ``< 8.2.2``, ``<= U61 |<= L81``, ``24950 | 24952``, ``prior to 3.1``.

    ``|`` separates alternatives; a bare version is an exact version.
    """
    if text.strip().lower().startswith("vers:"):
        return parse_vers(text)
    if _is_all(text):
        return [VersionRange(raw=text)]
    ranges: list[VersionRange] = []
    for part in [p.strip() for p in text.split("|") if p.strip()]:
        match = _OPERATOR.match(part)
        prior = _PRIOR_TO.match(part)
        if match and match.group(1) != "!=":
            ranges.append(VersionRange(raw=text, **{_FIELD[match.group(1)]: match.group(2)}))
        elif prior:
            ranges.append(VersionRange(lt=prior.group(1), raw=text))
        elif _is_all(part):
            ranges.append(VersionRange(raw=text))
        else:
            ranges.append(VersionRange(exact=part, raw=text))
    return ranges or [VersionRange(raw=text)]


def _upper(value: str | None) -> str | None:
    """A CVE 5 upper bound; ``*`` and wildcard text (``log4j-core*``) mean no bound."""
    return None if value is None or "*" in value else value


def cve5_segments(entry: dict[str, Any]) -> list[tuple[str, VersionRange]]:
    """A CVE 5 ``versions`` entry as (status, range) pieces, following its ``changes`` list.

    ``{"version": "2.0-beta9", "lessThan": "…", "status": "affected", "changes": [{"at": "2.3.1",
    "status": "unaffected"}, …]}`` is affected from 2.0-beta9 up to 2.3.1, unaffected from 2.3.1 to the next
    change, and so on to ``lessThan``/``lessThanOrEqual``.
    """
    status = str(entry.get("status", "affected"))
    version = entry.get("version")
    less_than, less_equal = entry.get("lessThan"), entry.get("lessThanOrEqual")
    changes = [c for c in entry.get("changes") or [] if isinstance(c, dict) and isinstance(c.get("at"), str)]
    scheme = str(entry.get("versionType") or "generic")
    whole = from_cve5(
        version if isinstance(version, str) else None,
        less_than=less_than if isinstance(less_than, str) else None,
        less_than_or_equal=less_equal if isinstance(less_equal, str) else None,
        version_type=scheme,
    )
    if not changes:
        return [(status, whole)]
    pieces: list[tuple[str, VersionRange]] = []
    start, current = whole.gte, status
    for change in changes:
        pieces.append((current, VersionRange(gte=start, lt=change["at"], scheme=scheme, raw=whole.raw)))
        start, current = change["at"], str(change.get("status", current))
    pieces.append(
        (current, VersionRange(gte=start, lt=whole.lt, lte=whole.lte, scheme=scheme, raw=whole.raw))
    )
    return pieces


def from_cve5(
    version: str | None,
    *,
    less_than: str | None = None,
    less_than_or_equal: str | None = None,
    version_type: str | None = None,
) -> VersionRange:
    """A CVE JSON 5 ``versions`` entry: ``version`` alone is exact, with ``lessThan*`` it is the start."""
    scheme = version_type or "generic"
    raw_parts = [f"version={version}"] if version is not None else []
    if less_than is not None:
        raw_parts.append(f"lessThan={less_than}")
    if less_than_or_equal is not None:
        raw_parts.append(f"lessThanOrEqual={less_than_or_equal}")
    raw = " ".join(raw_parts) or None
    if less_than is None and less_than_or_equal is None:
        if version is None or _is_all(version):
            return VersionRange(scheme=scheme, raw=raw)
        return VersionRange(exact=version, scheme=scheme, raw=raw)
    start = None if version is None or version.strip() in _OPEN_START else version
    upper_lt, upper_lte = _upper(less_than), _upper(less_than_or_equal)
    return VersionRange(gte=start, lt=upper_lt, lte=upper_lte, scheme=scheme, raw=raw)
