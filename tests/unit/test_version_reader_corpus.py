"""Every product/version expression of the shared CSAF corpora goes through the version reader.

Walks the ``product_tree`` of every advisory in the three CISA folders and reads the name of every
``product_version`` / ``product_version_range`` branch. Each must come out as a structured kind (exact,
interval, all, wildcard, date) or explicitly ``unreadable``; none may be free text stored as an exact version
or a bound (an exact holding prose words, an ``x`` wildcard, an operator). ``-s`` prints the totals per kind.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ewarn.correlate.versions import Decision, decide
from ewarn.ingest.versions import looks_like_version, read_expression
from ewarn.models.indicator import RangeKind, VersionRange
from ewarn.versions.order import wildcard_family

FOLDERS = ("cisa-icsma-corpus", "cisa-icsa-hospital-infrastructure", "cisa-icsma")
VERSION_CATEGORIES = ("product_version", "product_version_range")
# words a version may carry (builds, service packs, patches, editions); any other word is prose
QUALIFIERS = {
    "build", "bn", "sp", "service", "pack", "patch", "hf", "hotfix", "update", "upd", "cu", "mr",
    "release", "rev", "edition", "ga", "sr", "plus",
}  # fmt: skip
OPERATOR = re.compile(r"[<>=|]|≤|≥")
WILDCARD = re.compile(r"(?:^|[._\-\s])[xX*](?:$|[._\-])|\d[xX]+$")
WILDCARD_TAIL = re.compile(r"[._-]?[xX*]+(?:[._-][xX*]+)*$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# a date the advisory wrote without a year: a human cannot place it either
AMBIGUOUS_RANGES = {"< august 28"}


def _branches(branch: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if branch.get("category") in VERSION_CATEGORIES and isinstance(branch.get("name"), str):
        yield branch["category"], branch["name"]
    for child in branch.get("branches") or []:
        if isinstance(child, dict):
            yield from _branches(child)


@pytest.fixture(scope="module")
def expressions(shared_data: Path) -> list[tuple[str, str, str]]:
    """(document, category, text) of every version branch in the three folders."""
    found: list[tuple[str, str, str]] = []
    for folder in FOLDERS:
        for path in sorted((shared_data / "csaf" / folder).rglob("*.json")):
            tree = json.loads(path.read_text(encoding="utf-8")).get("product_tree") or {}
            for top in tree.get("branches") or []:
                found.extend((path.name, category, text) for category, text in _branches(top))
    assert len(found) > 1000, "the three CSAF folders hold some 1,500 version branches"
    return found


def _is_plain_version(text: str) -> bool:
    """One version: no operator, no wildcard, no prose word (qualifiers and one-letter revisions allowed)."""
    if not text.strip() or OPERATOR.search(text) or WILDCARD.search(text) or "(" in text:
        return False
    return all(
        any(c.isdigit() for c in word) or word.lower() in QUALIFIERS or len(word) == 1
        for word in text.split()
    )


def range_problems(vr: VersionRange) -> list[str]:
    """Why a read range is not a structured reading (empty when it is)."""
    problems = []
    if vr.kind is RangeKind.EXACT and (vr.exact is None or not _is_plain_version(vr.exact)):
        problems.append(f"free text stored as exact: {vr.exact!r}")
    bounds = [b for b in (vr.gte, vr.gt, vr.lte, vr.lt) if b is not None]
    if vr.kind is RangeKind.INTERVAL:
        for bound in bounds:
            if not _is_plain_version(WILDCARD_TAIL.sub("", bound)):  # a wildcard bound stands for its family
                problems.append(f"free text stored as bound: {bound!r}")
    if vr.kind is RangeKind.DATE and (vr.scheme != "date" or not all(ISO_DATE.match(b) for b in bounds)):
        problems.append(f"date bounds not ISO: {bounds}")
    if vr.kind is RangeKind.WILDCARD and (not vr.family or WILDCARD.search(vr.family)):
        problems.append(f"wildcard without a fixed family: {vr.family!r}")
    if vr.kind is RangeKind.ALL and (bounds or vr.exact):
        problems.append("all versions with bounds")
    if vr.kind is RangeKind.UNREADABLE and not vr.raw:
        problems.append("unreadable without the source text")
    return problems


def _verdict(ranges: list[VersionRange]) -> str:
    kinds = {vr.kind for vr in ranges}
    if RangeKind.UNREADABLE in kinds:
        return "unreadable"
    if len(ranges) > 1:
        return "list"
    return ranges[0].kind.value


def test_every_expression_is_structured_or_explicitly_unreadable(
    expressions: list[tuple[str, str, str]],
) -> None:
    failures = []
    for document, _, text in expressions:
        ranges = read_expression(text)
        if not ranges:
            failures.append(f"{document}: {text!r} gave no range")
        failures.extend(f"{document}: {text!r}: {p}" for vr in ranges for p in range_problems(vr))
        failures.extend(f"{document}: {text!r}: raw not kept" for vr in ranges if vr.raw != text)
    assert failures == []


def test_version_ranges_are_read_and_unreadable_text_is_a_model_or_ambiguous(
    expressions: list[tuple[str, str, str]],
) -> None:
    """A ``product_version_range`` is a range; what stays unreadable in ``product_version`` names a model or
    a product (the CSAF reader folds it into the product) — never a version expression the reader missed."""
    unreadable_ranges = {
        text
        for _, category, text in expressions
        if category == "product_version_range" and _verdict(read_expression(text)) == "unreadable"
    }
    assert unreadable_ranges == AMBIGUOUS_RANGES
    misread_versions = sorted(
        {
            text
            for _, category, text in expressions
            if category == "product_version"
            and _verdict(read_expression(text)) == "unreadable"
            and looks_like_version(text)
        }
    )
    assert misread_versions == []


def test_totals_per_kind(expressions: list[tuple[str, str, str]]) -> None:
    """The report's totals: per expression (verdict) and per range (kind), over every branch and distinct text."""
    per_entry = Counter(_verdict(read_expression(text)) for _, _, text in expressions)
    per_text = Counter(_verdict(read_expression(text)) for text in {t for _, _, t in expressions})
    per_range = Counter(vr.kind.value for _, _, text in expressions for vr in read_expression(text))
    models = sum(1 for _, _, text in expressions if not looks_like_version(text))
    print(f"\nversion expressions: {len(expressions)} branches, {sum(per_text.values())} distinct texts")
    print(f"per branch: {dict(per_entry.most_common())}")
    print(f"per distinct text: {dict(per_text.most_common())}")
    print(f"per range: {dict(per_range.most_common())}")
    print(f"model or product text in a version field (looks_like_version False): {models}")
    assert sum(per_entry.values()) == len(expressions)
    # unreadable is a minority, and almost all of it model/product text in product_version fields
    assert per_entry["unreadable"] <= models
    assert per_entry["unreadable"] < 0.1 * len(expressions)


# Text made of the pieces real expressions are made of, in any order: the reader never fails and never stores
# prose as a version, and each range decides its own bounds the way its operator says.
PIECES = st.sampled_from(
    [
        "<", "<=", ">=", ">", "=", "|", ",", " and ", " / ", "(", ")", "All versions", "all", "*", "vers:all/",
        "vers:generic/", "1", "2.4", "10.1.3", "5.x", "x", "R16x", "U61", "C.00.04", "V2.1 SP3", "Build 595",
        "build", "prior to", "and prior", "through", "april 1, 2018", "8/30/2024", "shipped between",
        "2016-August 2018", "Gemini", "HEN643484", "DH-NVR1XXX", "model", "Rev B-M", "N", "2021 R1", "-", " ",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None, database=None)
@given(
    pieces=st.lists(PIECES, min_size=1, max_size=7),
    version=st.sampled_from(["1", "2.4", "U62", "C.01", "2.0"]),
)
def test_any_mix_of_real_pieces_reads_to_structured_ranges(pieces: list[str], version: str) -> None:
    text = "".join(pieces)
    ranges = read_expression(text)
    assert ranges
    assert all(vr.raw == text for vr in ranges)
    assert [p for vr in ranges for p in range_problems(vr)] == []
    decision, _ = decide(ranges, version)
    if any(vr.kind is RangeKind.ALL for vr in ranges):
        assert decision is Decision.AFFECTED
    for vr in ranges:
        if vr.kind is RangeKind.EXACT and vr.exact is not None:
            assert decide([vr], vr.exact)[0] is Decision.AFFECTED
        if vr.kind is not RangeKind.INTERVAL or vr.gte is not None or vr.gt is not None:
            continue
        if vr.lt is not None and wildcard_family(vr.lt) is None:
            assert decide([vr], vr.lt)[0] is Decision.NOT_AFFECTED
        if vr.lte is not None and wildcard_family(vr.lte) is None:
            assert decide([vr], vr.lte)[0] is Decision.AFFECTED
