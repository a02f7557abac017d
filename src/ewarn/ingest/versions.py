"""Version ranges as advisories write them: ``vers:`` strings, CISA free text, CVE 5 bounds.

``read_expression`` (from ``ewarn.versions.reader``) turns any CSAF ``product_version`` /
``product_version_range`` name, CISA free text or ``vers:`` string into ranges of a ``RangeKind`` — or one
``unreadable`` range keeping the text, never free text stored as an exact version. ``looks_like_version``
tells a version from a model or product name written in a version field. Every range keeps the source text
in ``raw``.
"""

from __future__ import annotations

import re
from typing import Any

from ewarn.models.indicator import RangeKind, VersionRange
from ewarn.versions.order import compare, wildcard_family
from ewarn.versions.reader import looks_like_version, read_expression

__all__ = [
    "cve5_segments",
    "from_cve5",
    "looks_like_version",
    "parse_free_text",
    "parse_vers",
    "read_expression",
]

_ALL = {"*", "all", "all versions", "vers:all/*", "any", "n/a", "unspecified", "-"}
_EXPRESSION_KINDS = frozenset({RangeKind.ALL, RangeKind.INTERVAL, RangeKind.WILDCARD, RangeKind.DATE})
_OPEN_START = {"0", "*", "n/a", "unspecified", "-", ""}
# "<branch>-<build>": a build of the branch named by ``version`` (``7.0`` → ``7.0-1234``, ``7.0.b1234``)
_BUILD_SUFFIX = re.compile(r"^[-_.+ ]?(?:build|b|r)?[-_.]?\d+$", re.IGNORECASE)


def _is_all(text: str) -> bool:
    return text.strip().lower() in _ALL


def parse_vers(text: str) -> list[VersionRange]:
    """``vers:<scheme>/<c1>|<c2>…`` (package-url/vers-spec); consecutive lower and upper bounds pair up."""
    return read_expression(text)


def parse_free_text(text: str) -> list[VersionRange]:
    """CISA-style text (``< 8.2.2``, ``<= U61 |<= L81``, ``24950 | 24952``, ``All versions``) or ``vers:``."""
    return read_expression(text)


def _upper(value: str | None) -> str | None:
    """A CVE 5 upper bound: ``*`` means none; ``1.*`` (the whole 1 branch) stays a wildcard bound; wildcard
    text that names no version (``log4j-core*``) means none."""
    if value is None or "*" not in value:
        return value
    family = wildcard_family(value)
    return value if family is not None and family[0][:1].isdigit() else None


def _range(scheme: str, raw: str | None, **bounds: str | None) -> VersionRange:
    """An interval, or every version when ``bounds`` leave it open on both sides."""
    if all(b is None for b in bounds.values()):
        return VersionRange(kind=RangeKind.ALL, scheme=scheme, raw=raw)
    return VersionRange(scheme=scheme, raw=raw, **bounds)


def _is_build_of(branch: str | None, value: str | None) -> bool:
    return bool(branch and value and value.startswith(branch) and _BUILD_SUFFIX.match(value[len(branch) :]))


def _scheme(version: str | None, version_type: str | None, *bounds: str | None) -> str:
    """The order to compare in. A bound that is a build of the branch (``7.0`` … ``7.0-1234``) is ordered
    within that branch by the generic order: an ecosystem scheme would read ``-1234`` as a pre-release
    (semver) or reject it, putting the build before its own branch."""
    if any(_is_build_of(version, b) for b in bounds):
        return "generic"
    return version_type or "generic"


def cve5_segments(entry: dict[str, Any]) -> list[tuple[str, VersionRange]]:
    """A CVE 5 ``versions`` entry as (status, range) pieces, following its ``changes`` list.

    ``{"version": "2.0-beta9", "lessThan": "…", "status": "affected", "changes": [{"at": "2.3.1",
    "status": "unaffected"}, …]}`` is affected from 2.0-beta9 up to 2.3.1, unaffected from 2.3.1 to the next
    change, and so on to ``lessThan``/``lessThanOrEqual``. A ``version`` alone that is free text (``All
    versions``, ``< 3.2``, ``5.x``) is read like an advisory's text.
    """
    status = str(entry.get("status", "affected"))
    version = entry.get("version") if isinstance(entry.get("version"), str) else None
    less_than = entry.get("lessThan") if isinstance(entry.get("lessThan"), str) else None
    less_equal = entry.get("lessThanOrEqual") if isinstance(entry.get("lessThanOrEqual"), str) else None
    changes = [c for c in entry.get("changes") or [] if isinstance(c, dict) and isinstance(c.get("at"), str)]
    version_type = str(entry.get("versionType") or "generic")
    if less_than is None and less_equal is None and version is not None and not _is_all(version):
        read = read_expression(version, scheme=version_type)
        if len(read) > 1 and all(vr.kind in _EXPRESSION_KINDS for vr in read):  # "< 2.0 | >= 3.0 < 3.2"
            return [(status, vr) for vr in read]
        return [(status, from_cve5(version, version_type=version_type))]
    scheme = _scheme(version, version_type, less_than, less_equal, *(c["at"] for c in changes))
    whole = from_cve5(
        version, less_than=less_than, less_than_or_equal=less_equal, version_type=version_type
    ).model_copy(update={"scheme": scheme})
    if not changes:
        return [(status, whole)]
    pieces: list[tuple[str, VersionRange]] = []
    start, current = whole.gte, status
    for change in changes:  # each piece stays inside the entry's own upper bound
        upper = (
            whole.lt
            if whole.lt is not None and compare(whole.lt, change["at"], scheme) == -1
            else change["at"]
        )
        pieces.append((current, _range(scheme, whole.raw, gte=start, lt=upper, lte=whole.lte)))
        start, current = change["at"], str(change.get("status", current))
    pieces.append((current, _range(scheme, whole.raw, gte=start, lt=whole.lt, lte=whole.lte)))
    return pieces


def from_cve5(
    version: str | None,
    *,
    less_than: str | None = None,
    less_than_or_equal: str | None = None,
    version_type: str | None = None,
) -> VersionRange:
    """A CVE JSON 5 ``versions`` entry: ``version`` alone is exact, with ``lessThan*`` it is the start.

    ``version`` ``0`` or ``*`` starts nowhere; ``lessThan: "*"`` ends nowhere, ``lessThan: "1.*"`` ends after
    the 1 branch; a bound that is a build of the branch (``7.0`` → ``7.0-1234``) orders within the branch.
    """
    scheme = _scheme(version, version_type, less_than, less_than_or_equal)
    raw_parts = [f"version={version}"] if version is not None else []
    if less_than is not None:
        raw_parts.append(f"lessThan={less_than}")
    if less_than_or_equal is not None:
        raw_parts.append(f"lessThanOrEqual={less_than_or_equal}")
    raw = " ".join(raw_parts) or None
    if less_than is None and less_than_or_equal is None:
        if version is None or _is_all(version):
            return VersionRange(kind=RangeKind.ALL, scheme=scheme, raw=raw)
        family = wildcard_family(version)
        if family is not None:
            return VersionRange(family=family[0], scheme=scheme, raw=raw)
        read = read_expression(version, scheme=scheme)
        if len(read) == 1 and read[0].kind in _EXPRESSION_KINDS:
            return read[0].model_copy(update={"raw": raw})
        # CVE 5 defines a lone version as one version string, whatever its words ("7 for x64-based Systems
        # Service Pack 1"): the CNA's own label, compared as a whole
        return VersionRange(exact=version.strip(), scheme=scheme, raw=raw)
    start = None if version is None or version.strip() in _OPEN_START else version
    upper_lt, upper_lte = _upper(less_than), _upper(less_than_or_equal)
    if upper_lt is not None and wildcard_family(upper_lt) is not None:
        upper_lt, upper_lte = None, upper_lt  # "lessThan 1.*": every 1.x is below an arbitrarily large 1.x
    return _range(scheme, raw, gte=start, lt=upper_lt, lte=upper_lte)
