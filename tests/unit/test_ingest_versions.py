"""Version ranges: vers strings, CISA free text, CVE 5 bounds."""

from __future__ import annotations

from typing import Any

import pytest

from ewarn.ingest import versions


def _bounds(ranges: list[Any]) -> list[dict[str, str]]:
    return [r.model_dump(exclude_none=True, exclude={"raw", "scheme", "kind"}) for r in ranges]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("< 8.2.2", [{"lt": "8.2.2"}], id="cisa-lt"),
        pytest.param("<= U61 |<= L81", [{"lte": "U61"}, {"lte": "L81"}], id="cisa-alternatives"),
        pytest.param("24950 | 24952", [{"exact": "24950"}, {"exact": "24952"}], id="cisa-exact-list"),
        pytest.param("<=2023.3_Build_9342", [{"lte": "2023.3_Build_9342"}], id="no-space"),
        pytest.param("prior to 3.1", [{"lt": "3.1"}], id="prose"),
        pytest.param("vers:all/*", [{}], id="vers-all"),
        pytest.param("vers:generic/>=2.9|<=4.1", [{"gte": "2.9", "lte": "4.1"}], id="vers-range"),
        pytest.param(
            "vers:npm/1.0.0|>=2.0|<3.0|>=4.0",
            [{"exact": "1.0.0"}, {"gte": "2.0", "lt": "3.0"}, {"gte": "4.0"}],
            id="vers-mixed",
        ),
    ],
)
def test_free_text_and_vers(text: str, expected: list[dict[str, str]]) -> None:
    ranges = versions.parse_free_text(text)
    assert _bounds(ranges) == expected
    assert all(r.raw == text for r in ranges)


def test_vers_keeps_scheme() -> None:
    assert versions.parse_vers("vers:maven/>=2.0|<2.15.0")[0].scheme == "maven"


@pytest.mark.parametrize(
    ("version", "kwargs", "expected"),
    [
        ("2.4.1", {}, {"exact": "2.4.1"}),
        ("0", {"less_than_or_equal": "12.3"}, {"lte": "12.3"}),
        ("2.0-beta9", {"less_than": "2.3.1"}, {"gte": "2.0-beta9", "lt": "2.3.1"}),
        ("n/a", {}, {}),
    ],
)
def test_cve5(version: str, kwargs: dict[str, str], expected: dict[str, str]) -> None:
    assert _bounds([versions.from_cve5(version, **kwargs)]) == [expected]


def test_cve5_changes_split_the_range_by_status() -> None:
    # CVE-2021-44228 as the Apache CNA wrote it (lessThan is wildcard text)
    entry = {
        "version": "2.0-beta9",
        "status": "affected",
        "lessThan": "log4j-core*",
        "versionType": "custom",
        "changes": [
            {"at": "2.3.1", "status": "unaffected"},
            {"at": "2.4", "status": "affected"},
            {"at": "2.12.2", "status": "unaffected"},
            {"at": "2.13.0", "status": "affected"},
            {"at": "2.15.0", "status": "unaffected"},
        ],
    }
    pieces = [(status, r.gte, r.lt) for status, r in versions.cve5_segments(entry)]
    assert pieces == [
        ("affected", "2.0-beta9", "2.3.1"),
        ("unaffected", "2.3.1", "2.4"),
        ("affected", "2.4", "2.12.2"),
        ("unaffected", "2.12.2", "2.13.0"),
        ("affected", "2.13.0", "2.15.0"),
        ("unaffected", "2.15.0", None),
    ]


def test_cve5_without_changes_is_one_piece() -> None:
    entry = {"version": "0", "lessThanOrEqual": "23.9.7", "status": "affected"}
    assert [(s, r.lte) for s, r in versions.cve5_segments(entry)] == [("affected", "23.9.7")]
