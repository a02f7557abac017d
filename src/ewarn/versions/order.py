"""The order of versions: ecosystem schemes via univers, a tolerant generic order for the rest, wildcard families.

Medical-device advisories write versions no package ecosystem defines (``U61``, ``2023.3_Build_9342``,
``1.8.4 Service Pack 01``, ``C.00.04``). The generic order splits a version into numeric and alphabetic
components, as libversion does: pre-release words < zero/absent < post-release words < non-zero numbers;
a first word is a product line or revision (never a pre-release) and one letter glued after a number is a
letter suffix after the release (``12.2a`` > ``12.2``).

Two versions are *incomparable* (``None``) when they belong to different product lines:

- letters glued to the first number name a line (``U61``, ``L81``, ``VM5.0``, ``R511.5``): other letters, or
  none (``2.0``), are another line;
- otherwise a version that starts with a word and one that starts with a number are different lines, and two
  versions starting with different words are too — except single letters (``B.12`` < ``C.00.04``, ``<=N``),
  which hardware and firmware revisions order alphabetically.

A wildcard family (``5.x.x``, ``14.1.x``, ``R16x``) compares as 0 with every version inside it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from univers import version_range as univers_range

_PRE_RELEASE = frozenset({"alpha", "a", "beta", "b", "pre", "preview", "rc", "cr", "dev", "snapshot", "m"})
_TOKEN = re.compile(r"\d+|[a-z]+")
# a label before the version: "v2.3", "Version 1.0", "Rev. 3", "Rev J" (a word-led revision keeps its letter)
_LEADING_LABEL = re.compile(
    r"^\s*(?:(?:firmware|software|fw|sw)\s*:?\s+)?"
    r"(?:(?:v|ver|version|rev|release)\s*[.:]?\s*(?=\d)|(?:rev|revision|version|release)[.:]?\s+(?=[a-z]))?",
    re.IGNORECASE,
)
_LINE = re.compile(r"^([a-z]+)(?=\d)")
_WILDCARD = re.compile(
    r"^(?P<family>[0-9a-z][0-9a-z._-]*?)(?P<sep>[._-]?)[x*]+(?:[._-][x*]+)*$", re.IGNORECASE
)
_X_INSIDE = re.compile(r"(?:^|[._-])[x*](?:$|[._-])|[x*][._-]", re.IGNORECASE)  # "5.x-R16" is no prefix
RANK_PRE, RANK_ZERO, RANK_POST, RANK_NUMBER = 0, 1, 2, 3
# Ecosystems whose own ordering univers implements; everything else (generic, custom, CISA text) is generic.
UNIVERS_SCHEMES = frozenset(
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
_PAD: Component = (RANK_ZERO, 0)


@functools.lru_cache(maxsize=65536)
def _parsed(version: str) -> tuple[str | None, tuple[str, ...], tuple[Component, ...]]:
    """(product line, raw tokens, untrimmed components) of a version."""
    text = _LEADING_LABEL.sub("", version.strip()).lower()
    line = _LINE.match(text)
    matches = list(_TOKEN.finditer(text))
    out: list[Component] = []
    for index, found in enumerate(matches):
        token = found.group(0)
        if token.isdigit():
            number = int(token)
            out.append((RANK_NUMBER, number) if number else (RANK_ZERO, 0))
        elif index == 0 or _letter_suffix(text, found.start(), found.end()):
            out.append((RANK_POST, token))  # a line or revision letter (B.06.18), a letter suffix (12.2a)
        else:
            out.append((RANK_PRE, token) if token in _PRE_RELEASE else (RANK_POST, token))
    tokens = tuple(m.group(0) for m in matches)
    return (line.group(1) if line else None), tokens, tuple(out)


def _letter_suffix(text: str, start: int, end: int) -> bool:
    """One letter glued after a number and not followed by one (``12.2a``, ``2.4A``): after the release,
    as libversion orders it — not alpha/beta (``2.0b1``, ``1.0-beta``)."""
    return (
        end - start == 1
        and start > 0
        and text[start - 1].isdigit()
        and (end == len(text) or not text[end].isdigit())
    )


@functools.lru_cache(maxsize=65536)
def components(version: str) -> tuple[Component, ...]:
    """Split a version into ranked components, with trailing zeros dropped (``1.0`` equals ``1``)."""
    out = list(_parsed(version)[2])
    while out and out[-1][0] == RANK_ZERO:
        out.pop()
    return tuple(out)


def line_of(version: str) -> str | None:
    """The letters glued to the first number (``U`` of ``U61``), lower-case; None when there are none."""
    return _parsed(version)[0]


def _compare_components(a: tuple[Component, ...], b: tuple[Component, ...]) -> int:
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else _PAD
        y = b[i] if i < len(b) else _PAD
        if x == y:
            continue
        if x[0] != y[0]:
            return -1 if x[0] < y[0] else 1
        return -1 if x[1] < y[1] else 1  # type: ignore[operator]  # same rank: both int or both str
    return 0


def _same_line(a: str, b: str, ca: tuple[Component, ...], cb: tuple[Component, ...]) -> bool:
    if line_of(a) != line_of(b):
        return False
    if not ca or not cb:
        return True
    (rank_a, first_a), (rank_b, first_b) = ca[0], cb[0]
    if (rank_a == RANK_POST) != (rank_b == RANK_POST):
        return False  # a word-led version against a number-led one
    if rank_a == RANK_POST and first_a != first_b:
        return line_of(a) is None and len(str(first_a)) == 1 and len(str(first_b)) == 1
    return True


def generic_compare(a: str, b: str) -> int | None:
    """Order two free-form versions; None when they belong to different product lines (``U61`` vs ``L81``)."""
    ca, cb = components(a), components(b)
    if not _same_line(a, b, ca, cb):
        return None
    return _compare_components(ca, cb)


def _univers_version_class(scheme: str) -> Any:
    if scheme in UNIVERS_SCHEMES:
        return univers_range.RANGE_CLASS_BY_SCHEMES[scheme].version_class
    return None


@functools.lru_cache(maxsize=65536)
def _univers_version(scheme: str, text: str) -> Any:
    """The univers version of ``text`` in ``scheme`` (parsing is the costly part), None outside the scheme."""
    try:
        return _univers_version_class(scheme)(text)
    except Exception:  # univers raises several types for a version outside its scheme
        return None


def compare(a: str, b: str, scheme: str = "generic") -> int | None:
    """Compare two versions in ``scheme``; None when they cannot be ordered."""
    if scheme in UNIVERS_SCHEMES:
        va, vb = _univers_version(scheme, a), _univers_version(scheme, b)
        if va is None or vb is None:
            return generic_compare(a, b)
        return -1 if va < vb else (1 if va > vb else 0)
    return generic_compare(a, b)


@functools.lru_cache(maxsize=8192)
def wildcard_family(text: str) -> tuple[str, bool] | None:
    """``5.x.x`` → (``5``, False); ``R16x`` → (``R16``, True: the x continues the number); None if no wildcard."""
    found = _WILDCARD.match(text.strip())
    if (
        not found
        or not any(ch.isdigit() for ch in found.group("family"))
        or _X_INSIDE.search(found.group("family"))
    ):
        return None
    return found.group("family"), not found.group("sep")


def family_compare(version: str, family: str, attached: bool = False) -> int | None:
    """0 when ``version`` is in the family, -1 below it, 1 above it, None when another product line."""
    _, tokens_v, comps_v = _parsed(version)
    _, tokens_f, comps_f = _parsed(family)
    if not comps_f or not _same_line(version, family, comps_v, comps_f):
        return None
    if not attached or comps_f[-1][0] not in (RANK_NUMBER, RANK_ZERO):
        return _compare_components(comps_v[: len(comps_f)], comps_f)
    # R16x: R16, R160 … R169, R162.10 are in; the digits after the fixed prefix decide
    prefix = comps_f[:-1]
    head = _compare_components(comps_v[: len(prefix)], prefix)
    if head != 0:
        return head
    if len(comps_v) <= len(prefix):
        return -1
    if comps_v[len(prefix)][0] not in (RANK_NUMBER, RANK_ZERO):
        return _compare_components(comps_v[len(prefix) : len(prefix) + 1], comps_f[-1:])
    digits, fixed = tokens_v[len(prefix)], tokens_f[-1]
    if digits.startswith(fixed):
        return 0
    return -1 if int(digits[: len(fixed)]) < int(fixed) else 1


def continues(version: str, bound: str) -> bool:
    """Does ``version`` continue ``bound`` with more components and the same leading ones (``12.3.1`` and
    ``12.3``, ``11.0.2`` and ``11``, ``3.1 SP1`` and ``3.1``)? An advisory that writes the shorter form as its
    last affected version (``<= 12.3``, ``10 | 11``) does not say whether such later builds are affected."""
    if line_of(version) != line_of(bound):
        return False
    comps_v, comps_b = _parsed(version)[2], _parsed(bound)[2]
    if not comps_b or len(comps_v) <= len(comps_b) or comps_v[: len(comps_b)] != comps_b:
        return False
    return any(c != _PAD for c in comps_v[len(comps_b) :])  # "12.3.0" is 12.3 itself


def compare_to_bound(version: str, bound: str, scheme: str = "generic") -> int | None:
    """Compare a version with a range bound; a wildcard bound (``<= 11.x``) stands for its whole family."""
    wildcard = wildcard_family(bound)
    if wildcard is not None:
        return family_compare(version, *wildcard)
    return compare(version, bound, scheme)
