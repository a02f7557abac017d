"""Version ranges: vers strings, CISA free text, CVE 5 bounds."""

from __future__ import annotations

from typing import Any

import pytest

from ewarn.ingest import versions


def _bounds(ranges: list[Any]) -> list[dict[str, str]]:
    return [r.model_dump(exclude_none=True, exclude={"raw", "scheme"}) for r in ranges]


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
