"""Version comparison and ranges: ecosystem schemes via univers, a tolerant generic order for the rest.

Medical-device advisories write versions no package ecosystem defines (``U61``, ``2023.3_Build_9342``,
``1.8.4 Service Pack 01``) and ranges as free text (``< 8.2.2``, ``<= U61 |<= L81``, ``v2.3 and prior``).
The generic order splits a version into numeric and alphabetic components, as libversion does:
pre-release words < zero/absent < post-release words < non-zero numbers.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from univers import version_constraint as univers_constraint
from univers import version_range as univers_range
from univers import versions as univers_versions

from ewarn.models import VersionRange

# univers ships no annotations for these two; typed as Any at this one boundary.
_VersionConstraint: Any = univers_constraint.VersionConstraint
_contains_version: Any = univers_constraint.contains_version

_PRE_RELEASE = frozenset({"alpha", "a", "beta", "b", "pre", "preview", "rc", "cr", "dev", "snapshot", "m"})
_TOKEN = re.compile(r"\d+|[a-z]+")
_LEADING_V = re.compile(r"^\s*(?:v|ver|version|rev|release)\s*\.?\s*(?=\d)", re.IGNORECASE)
_RANK_PRE, _RANK_ZERO, _RANK_POST, _RANK_NUMBER = 0, 1, 2, 3
# Ecosystems whose own ordering univers implements; everything else (generic, custom, CISA text) is generic.
_UNIVERS_SCHEMES = frozenset(
    {
        "maven",
        "pypi",
        "npm",
        "gem",
        "nuget",
        "deb",
        "rpm",
        "golang",
        "composer",
        "cargo",
        "hex",
        "conan",
        "apk",
    }
    & set(univers_range.RANGE_CLASS_BY_SCHEMES)
)

Component = tuple[int, int | str]


@functools.lru_cache(maxsize=65536)
def components(version: str) -> tuple[Component, ...]:
    """Split a version into ranked components, with trailing zeros dropped (``1.0`` equals ``1``)."""
    text = _LEADING_V.sub("", version).lower()
    out: list[Component] = []
    for token in _TOKEN.findall(text):
        if token.isdigit():
            number = int(token)
            out.append((_RANK_NUMBER, number) if number else (_RANK_ZERO, 0))
        else:
            out.append((_RANK_PRE, token) if token in _PRE_RELEASE else (_RANK_POST, token))
    while out and out[-1][0] == _RANK_ZERO:
        out.pop()
    return tuple(out)


def _compare_components(a: tuple[Component, ...], b: tuple[Component, ...]) -> int:
    pad: Component = (_RANK_ZERO, 0)
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else pad
        y = b[i] if i < len(b) else pad
        if x == y:
            continue
        if x[0] != y[0]:
            return -1 if x[0] < y[0] else 1
        return -1 if x[1] < y[1] else 1  # type: ignore[operator]  # same rank: both int or both str
    return 0


def generic_compare(a: str, b: str) -> int | None:
    """Order two free-form versions; None when they belong to different product lines (``U61`` vs ``L81``)."""
    ca, cb = components(a), components(b)
    if ca and cb and ca[0][0] == _RANK_POST and cb[0][0] == _RANK_POST and ca[0][1] != cb[0][1]:
        return None
    return _compare_components(ca, cb)


@functools.total_ordering
class _GenericKey:
    """Sort key for the generic order, usable where univers needs a totally ordered version value."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[Component, ...]) -> None:
        self.parts = parts

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _GenericKey) and _compare_components(self.parts, other.parts) == 0

    def __lt__(self, other: _GenericKey) -> bool:
        return _compare_components(self.parts, other.parts) < 0

    def __hash__(self) -> int:
        return hash(self.parts)


class TokenVersion(univers_versions.Version):
    """A univers version in the generic order, so ``vers:generic/…`` ranges use it instead of string order."""

    @classmethod
    def build_value(cls, string: str) -> _GenericKey:
        return _GenericKey(components(string))

    @classmethod
    def is_valid(cls, string: str) -> bool:
        return bool(components(string)) or string.strip() in {"0", ""}


def _univers_version_class(scheme: str) -> Any:
    if scheme in _UNIVERS_SCHEMES:
        return univers_range.RANGE_CLASS_BY_SCHEMES[scheme].version_class
    return None


def compare(a: str, b: str, scheme: str = "generic") -> int | None:
    """Compare two versions in ``scheme``; None when they cannot be ordered."""
    version_class = _univers_version_class(scheme)
    if version_class is not None:
        try:
            va, vb = version_class(a), version_class(b)
        except Exception:  # univers raises several types for a version outside its scheme
            return generic_compare(a, b)
        return -1 if va < vb else (1 if va > vb else 0)
    return generic_compare(a, b)


@dataclass(frozen=True, slots=True)
class _Vers:
    scheme: str
    constraints: tuple[Any, ...]  # univers VersionConstraint
    version_class: Any
    everything: bool


@functools.lru_cache(maxsize=4096)
def _parse_vers(text: str) -> _Vers:
    scheme, _, spec = text.strip()[len("vers:") :].partition("/")
    scheme = scheme.lower()
    spec = spec.replace(" ", "").strip("|")
    if scheme == "all" or spec == "*":
        return _Vers(scheme, (), None, True)
    version_class = _univers_version_class(scheme) or TokenVersion
    constraints = tuple(
        _VersionConstraint.from_string(string=part, version_class=version_class)
        for part in spec.split("|")
        if part
    )
    return _Vers(scheme, constraints, version_class, False)


def _in_vers(text: str, version: str) -> bool | None:
    try:
        vers = _parse_vers(text)
        if vers.everything:
            return True
        return bool(_contains_version(vers.version_class(version), list(vers.constraints)))
    except Exception:  # malformed vers or a version outside the scheme: cannot decide
        return None


def is_unbounded(vr: VersionRange) -> bool:
    return vr.exact is None and vr.gte is None and vr.gt is None and vr.lte is None and vr.lt is None


def _contains_bounded(vr: VersionRange, version: str, scheme: str) -> bool | None:
    checks: list[tuple[str | None, tuple[int, ...]]] = [
        (vr.exact, (0,)),
        (vr.gte, (0, 1)),
        (vr.gt, (1,)),
        (vr.lte, (-1, 0)),
        (vr.lt, (-1,)),
    ]
    for bound, accepted in checks:
        if bound is None:
            continue
        order = compare(version, bound, scheme)
        if order is None:
            return None
        if order not in accepted:
            return False
    return True


def _verdicts(vr: VersionRange, version: str, scheme: str | None) -> list[tuple[VersionRange, bool | None]]:
    out: list[tuple[VersionRange, bool | None]] = []
    for part in expand(vr):
        raw = (part.raw or "").strip()
        if not is_unbounded(part):
            out.append((part, _contains_bounded(part, version, scheme or part.scheme)))
        elif raw.lower().startswith("vers:"):
            out.append((part, _in_vers(raw, version)))
        else:
            out.append((part, True))
    return out


def contains(vr: VersionRange, version: str, scheme: str | None = None) -> bool | None:
    """Is ``version`` in ``vr``? None when it cannot be compared (different product line, foreign scheme).

    A range given only as ``raw`` text is parsed first; alternatives (``<= U61 |<= L81``) match if any does.
    """
    verdicts = [v for _, v in _verdicts(vr, version, scheme)]
    if any(v is True for v in verdicts):
        return True
    return None if verdicts and all(v is None for v in verdicts) else False


def matching_part(vr: VersionRange, version: str, scheme: str | None = None) -> VersionRange | None:
    """The alternative of ``vr`` that contains ``version`` (``<= U61`` of ``<= U61 |<= L81``), or None."""
    return next((part for part, verdict in _verdicts(vr, version, scheme) if verdict is True), None)


# --- free-text ranges as CISA and CVE records write them ---------------------------------------------------

_V = r"(?P<v>[^\s|,;][^|,;]*?)"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), op)
    for p, op in (
        (r"^(?:all(?:\s+\w+)?\s+versions?|all|any|\*|-|n/a)$", "all"),
        (r"^(?:<=|=<|≤)\s*" + _V + r"$", "lte"),
        (r"^(?:>=|=>|≥)\s*" + _V + r"$", "gte"),
        (r"^<\s*" + _V + r"$", "lt"),
        (r"^>\s*" + _V + r"$", "gt"),
        (r"^==?\s*" + _V + r"$", "exact"),
        (r"^(?:versions?\s+)?" + _V + r"\s+(?:and|&)\s+(?:prior|earlier|older|before|below)$", "lte"),
        (r"^(?:versions?\s+)?" + _V + r"\s+(?:and|&)\s+(?:later|newer|after|above|higher)$", "gte"),
        (r"^(?:prior\s+to|before|earlier\s+than|older\s+than|below)\s+" + _V + r"$", "lt"),
        (r"^(?:up\s+to\s+and\s+including|through|up\s+to)\s+" + _V + r"$", "lte"),
        (r"^(?:versions?\s+)?" + _V + r"\s+or\s+(?:prior|earlier|older|lower)$", "lte"),
    )
)
_ALL_WORDS = _PATTERNS[0][0]
_BETWEEN = re.compile(
    r"^(?:versions?\s+)?(?:from\s+)?(?P<lo>\S+)\s+(?:to|through|thru|-|\u2013)\s+(?P<hi>\S+)$", re.IGNORECASE
)


_ALL_VERSIONS_PREFIX = re.compile(
    r"^all\s+versions?\s+(?=[<>=≤≥]|prior|before|up\s+to|through|earlier|older|below)", re.IGNORECASE
)


def _parse_one(part: str, scheme: str) -> VersionRange:
    raw = part.strip()
    text = _ALL_VERSIONS_PREFIX.sub("", raw)
    for pattern, op in _PATTERNS:
        found = pattern.match(text)
        if not found:
            continue
        if op == "all":
            return VersionRange(scheme=scheme, raw=raw)
        return VersionRange(scheme=scheme, raw=raw, **{op: found.group("v").strip()})
    between = _BETWEEN.match(text)
    if between:
        return VersionRange(scheme=scheme, raw=raw, gte=between.group("lo"), lte=between.group("hi"))
    return VersionRange(scheme=scheme, raw=raw, exact=text)


@functools.lru_cache(maxsize=8192)
def parse_range_text(text: str, scheme: str = "generic") -> tuple[VersionRange, ...]:
    """Parse a range as an advisory writes it; ``|`` separates alternatives (any of them matches)."""
    stripped = text.strip()
    if stripped.lower().startswith("vers:"):
        vers_scheme = stripped[5:].partition("/")[0].lower() or scheme
        return (VersionRange(scheme=vers_scheme, raw=stripped),)
    parts = [p for p in re.split(r"\s*\|\s*|\s*;\s*", stripped) if p.strip()]
    return tuple(_parse_one(p, scheme) for p in parts) or (VersionRange(scheme=scheme, raw=stripped),)


def expand(vr: VersionRange) -> tuple[VersionRange, ...]:
    """A range as given, or — when only its ``raw`` text is set — the ranges that text describes."""
    if not is_unbounded(vr) or not vr.raw:
        return (vr,)
    return parse_range_text(vr.raw, vr.scheme)


_VERS_OPERATOR = re.compile(r"^(<=|>=|!=|<|>|=)?(.*)$")


def is_all(vr: VersionRange) -> bool:
    """Every version: no bounds and no text, or text that says so (``All versions``, ``vers:all/*``)."""
    if not is_unbounded(vr):
        return False
    raw = (vr.raw or "").strip()
    if raw.lower().startswith("vers:"):
        return raw.partition("/")[2].strip() == "*"
    return not raw or bool(_ALL_WORDS.match(raw))


def _describe_vers(raw: str) -> str:
    constraints = [c.strip() for c in raw.partition("/")[2].split("|") if c.strip()]
    parts = []
    for constraint in constraints:
        found = _VERS_OPERATOR.match(constraint.replace(" ", ""))
        op, version = (found.group(1) or "=", found.group(2)) if found else ("=", constraint)
        parts.append(f"{op} {version}")
    return ", ".join(parts)


def describe(vr: VersionRange) -> str:
    """The range in plain operators (``>= 2.4, < 2.12.2``); the source's own words when it has no bounds."""
    if is_all(vr):
        return "all versions"
    if is_unbounded(vr):
        raw = (vr.raw or "").strip()
        return _describe_vers(raw) if raw.lower().startswith("vers:") else raw
    if vr.exact is not None:
        return f"= {vr.exact}"
    lower = None if vr.gte is not None and not components(vr.gte) else vr.gte  # ">= 0" says nothing
    parts = [
        f"{op} {value}"
        for op, value in ((">=", lower), (">", vr.gt), ("<=", vr.lte), ("<", vr.lt))
        if value is not None
    ]
    return ", ".join(parts) if parts else "all versions"
