"""Version ranges: vers strings, CISA free text, CVE 5 bounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ewarn.ingest import versions
from ewarn.models.indicator import RangeKind


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


def _read(text: str) -> list[tuple[str, dict[str, str]]]:
    return [
        (r.kind.value, r.model_dump(exclude_none=True, exclude={"raw", "scheme", "kind"}))
        for r in versions.read_expression(text)
    ]


# Real strings from the CISA CSAF corpora, one class of text per group.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # all versions, spelled every way, with and without a bound
        pytest.param("All versions", [("all", {})], id="all-versions"),
        pytest.param("vers:all/*", [("all", {})], id="vers-all-star"),
        pytest.param("* (end-of-life 2011)", [("all", {})], id="star-with-note"),
        pytest.param("All versions with OIS Extension Module", [("all", {})], id="all-with-condition"),
        pytest.param("All versions < V12.2a", [("interval", {"lt": "V12.2a"})], id="all-prefix-bound"),
        pytest.param(
            "All firmware versions < V6.00.320", [("interval", {"lt": "V6.00.320"})], id="all-firmware"
        ),
        pytest.param(
            "* | 1.5.0 plus205", [("all", {}), ("exact", {"exact": "1.5.0 plus205"})], id="star-list"
        ),
        # wildcard families: x is never ordered as a word
        pytest.param("5.x.x", [("wildcard", {"family": "5"})], id="family-x-x"),
        pytest.param("14.1.x", [("wildcard", {"family": "14.1"})], id="family-minor"),
        pytest.param("2.X", [("wildcard", {"family": "2"})], id="family-capital"),
        pytest.param("1.x (formerly Power Manager)", [("wildcard", {"family": "1"})], id="family-with-note"),
        pytest.param("R15x", [("wildcard", {"family": "R15"})], id="family-glued"),
        pytest.param(
            "4.X | 5.X", [("wildcard", {"family": "4"}), ("wildcard", {"family": "5"})], id="family-list"
        ),
        pytest.param("<= 11.x", [("interval", {"lte": "11.x"})], id="bound-family"),
        pytest.param("8.x model 35700BAX2", [("wildcard", {"family": "8"})], id="family-with-model"),
        # a lower then an upper bound is one interval; bare versions are a list
        pytest.param(">= 2.5 | <= 3.11", [("interval", {"gte": "2.5", "lte": "3.11"})], id="vers-like-pair"),
        pytest.param(">= 1.0 | <= 1.6", [("interval", {"gte": "1.0", "lte": "1.6"})], id="pair-1.6"),
        pytest.param(">=V2.8<V3.1.1", [("interval", {"gte": "V2.8", "lt": "V3.1.1"})], id="glued-pair"),
        pytest.param(
            ">= V2.3 and < V6.30.016", [("interval", {"gte": "V2.3", "lt": "V6.30.016"})], id="and-pair"
        ),
        pytest.param(">=R16x|<=R162.10", [("interval", {"gte": "R16x", "lte": "R162.10"})], id="family-pair"),
        pytest.param(
            ">= 1.0 | >= 2.4", [("interval", {"gte": "1.0"}), ("interval", {"gte": "2.4"})], id="two-rays"
        ),
        pytest.param(
            "24950 | 24952", [("exact", {"exact": "24950"}), ("exact", {"exact": "24952"})], id="exact-list"
        ),
        pytest.param(
            "4.20 | 4.20 SR1 | 4.30",
            [("exact", {"exact": "4.20"}), ("exact", {"exact": "4.20 SR1"}), ("exact", {"exact": "4.30"})],
            id="list-with-service-release",
        ),
        pytest.param(
            "<= 1.12.0.27 | 1.12.13.2 | 1.12.14.5",
            [
                ("interval", {"lte": "1.12.0.27"}),
                ("exact", {"exact": "1.12.13.2"}),
                ("exact", {"exact": "1.12.14.5"}),
            ],
            id="bound-plus-list",
        ),
        pytest.param(
            "MP1.1, MP2.0, MP2.1, and MP3.0",
            [("exact", {"exact": v}) for v in ("MP1.1", "MP2.0", "MP2.1", "MP3.0")],
            id="comma-and-list",
        ),
        pytest.param(
            "(Release 1.3.2 1.4.0 1.4.1 1.4.3 1.4.5)",
            [("exact", {"exact": v}) for v in ("1.3.2", "1.4.0", "1.4.1", "1.4.3", "1.4.5")],
            id="spaced-list",
        ),
        pytest.param(
            "A.01 <= C.0x | 4.0",
            [("interval", {"gte": "A.01", "lte": "C.0x"}), ("exact", {"exact": "4.0"})],
            id="span-and-exact",
        ),
        pytest.param(
            "Rev J-M | (X3/MX100 for Rev M only)", [("interval", {"gte": "J", "lte": "M"})], id="rev-span"
        ),
        pytest.param(
            "vers:all/>=V1.80<V2.20", [("interval", {"gte": "V1.80", "lt": "V2.20"})], id="vers-all-glued"
        ),
        pytest.param("vers:all/<V2.1.6", [("interval", {"lt": "V2.1.6"})], id="vers-all-bound"),
        pytest.param(
            "< 2.3.8 and >= 2.0", [("interval", {"gte": "2.0", "lt": "2.3.8"})], id="upper-then-lower"
        ),
        pytest.param(
            ">= 7.0 | <= 10.1.3 and Wonderware Intelligence <= 2014R3 ",
            [("interval", {"gte": "7.0", "lte": "10.1.3"}), ("interval", {"lte": "2014R3"})],
            id="product-named-before-bound",
        ),
        # dates
        pytest.param("distributed  < april 1, 2018", [("date", {"lt": "2018-04-01"})], id="date-distributed"),
        pytest.param("<8/30/2024", [("date", {"lt": "2024-08-30"})], id="date-slashed"),
        pytest.param("<May 2018", [("date", {"lt": "2018-05-01"})], id="date-month"),
        pytest.param(
            "with wireless option (shipped between 26-June-2017 through 07-August 2018)",
            [("date", {"gte": "2017-06-26", "lte": "2018-08-07"})],
            id="date-shipped-between",
        ),
        pytest.param(
            "with ViewForum option (shipped between 2016-August 2018)",
            [("date", {"gte": "2016-01-01", "lte": "2018-08-31"})],
            id="date-year-to-month",
        ),
        pytest.param("< august 28", [("unreadable", {})], id="date-without-year"),
        # letter-led firmware, builds, service packs, notes
        pytest.param("<= C.00.04", [("interval", {"lte": "C.00.04"})], id="letter-revision"),
        pytest.param("U61", [("exact", {"exact": "U61"})], id="line-exact"),
        pytest.param("<=N", [("interval", {"lte": "N"})], id="single-letter"),
        pytest.param("<= VM5.0", [("interval", {"lte": "VM5.0"})], id="line-bound"),
        pytest.param("2023.3_Build_9342", [("exact", {"exact": "2023.3_Build_9342"})], id="underscore-build"),
        pytest.param("1.1.3 Build 10", [("exact", {"exact": "1.1.3 Build 10"})], id="spaced-build"),
        pytest.param("< 3.03 BN 830", [("interval", {"lt": "3.03 BN 830"})], id="build-number"),
        pytest.param("2.0 (Gold Build 683.0)", [("exact", {"exact": "2.0"})], id="gold-build-note"),
        pytest.param(
            "<= 2.0 (Build 683.003) ", [("interval", {"lte": "2.0 Build 683.003"})], id="bound-build-note"
        ),
        pytest.param(
            "<= 2.5-GA-01-22261 (Windows 11, Windows Server 2019, 2022)",
            [("interval", {"lte": "2.5-GA-01-22261"})],
            id="platform-note",
        ),
        pytest.param(
            "< NVR 5.6 Build 595 T2-Patch", [("interval", {"lt": "5.6 Build 595 T2-Patch"})], id="nvr"
        ),
        pytest.param("<R511.5_TCU4_HF4", [("interval", {"lt": "R511.5_TCU4_HF4"})], id="hotfix"),
        pytest.param(
            "<=Illustra.Ess4.01.02.10.5982",
            [("interval", {"lte": "Illustra.Ess4.01.02.10.5982"})],
            id="illustra",
        ),
        pytest.param(
            " <1.000.HW01.3.20190820", [("interval", {"lt": "1.000.HW01.3.20190820"})], id="lead-space"
        ),
        pytest.param("<= 1-02-08", [("interval", {"lte": "1-02-08"})], id="hyphenated"),
        pytest.param("<=11.2 on Windows 8.1 with IIS 7.5", [("interval", {"lte": "11.2"})], id="on-platform"),
        pytest.param("< 14.4u1 (14.x series)", [("interval", {"gte": "14.x", "lt": "14.4u1"})], id="series"),
        pytest.param("2021 R1", [("exact", {"exact": "2021 R1"})], id="year-release"),
        pytest.param(
            "9.0 Advanced Reports | Dashboards Module", [("exact", {"exact": "9.0"})], id="module-note"
        ),
        pytest.param(
            "Version A, Firmware A.03.09, Part #: M8096-67501",
            [("exact", {"exact": "A"}), ("exact", {"exact": "A.03.09"})],
            id="labelled",
        ),
        # model numbers and product names in the version field are not versions
        pytest.param("HEN643484", [("unreadable", {})], id="model-code"),
        pytest.param("DH-NVR1XXX,", [("unreadable", {})], id="model-family"),
        pytest.param("exacqVision Network Video Recorders (NVR)", [("unreadable", {})], id="product-name"),
        pytest.param("MMT-554 / MMT-754 MiniMed Veo", [("unreadable", {})], id="pump-models"),
        pytest.param("882160 Gemini Dual", [("unreadable", {})], id="number-and-name"),
        pytest.param(
            "7100 | 7900 | 100 | Protiva Carestation View",
            [
                ("exact", {"exact": "7100"}),
                ("exact", {"exact": "7900"}),
                ("exact", {"exact": "100"}),
                ("unreadable", {}),
            ],
            id="models-and-name",
        ),
    ],
)
def test_read_expression(text: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    assert _read(text) == expected
    assert all(r.raw == text for r in versions.read_expression(text))


@pytest.mark.parametrize(
    ("text", "version_like"),
    [
        pytest.param("< 6.8.9 CU01", True, id="bound"),
        pytest.param("All versions", True, id="all"),
        pytest.param("5.x.x", True, id="wildcard"),
        pytest.param("distributed  < april 1, 2018", True, id="date"),
        pytest.param("C.00.04", True, id="letter-led"),
        pytest.param("BT06", True, id="short-line"),
        pytest.param("2490C", True, id="letter-suffix"),
        pytest.param("9.0 Advanced Reports | Dashboards Module", True, id="version-with-module"),
        pytest.param("HEN643484", False, id="model-code"),
        pytest.param("H2W2PC1M", False, id="alternating-code"),
        pytest.param("DH-NVR1XXX,", False, id="dahua-family"),
        pytest.param("MMT-1710", False, id="pump-model"),
        pytest.param("exacqVision Network Video Recorders (NVR)", False, id="product-name"),
        pytest.param("MMT-554 / MMT-754 MiniMed Veo", False, id="models-and-name"),
        pytest.param("8.x model 35700BAX2", False, id="model-word"),
        pytest.param("7100 | 7900 | 100 | Protiva Carestation View", False, id="numbers-and-name"),
        pytest.param("CoaguChek XS Pro", False, id="device-name"),
    ],
)
def test_looks_like_version(text: str, version_like: bool) -> None:
    assert versions.looks_like_version(text) is version_like


@pytest.mark.parametrize(
    ("version", "kwargs", "expected"),
    [
        pytest.param(
            "7.0", {"less_than": "7.0-1234", "version_type": "semver"},
            ("generic", {"gte": "7.0", "lt": "7.0-1234"}), id="branch-build-generic-order",
        ),
        pytest.param(
            "1.0", {"less_than": "1.*", "version_type": "semver"},
            ("semver", {"gte": "1.0", "lte": "1.*"}), id="less-than-branch-star",
        ),
        pytest.param(
            "2.0", {"less_than": "*", "version_type": "custom"}, ("custom", {"gte": "2.0"}), id="less-than-star"
        ),
        pytest.param("5.x", {}, ("generic", {"family": "5"}), id="lone-family"),
        pytest.param(
            "7 for x64-based Systems Service Pack 1", {},
            ("generic", {"exact": "7 for x64-based Systems Service Pack 1"}), id="cna-label-stays-exact",
        ),
    ],
)  # fmt: skip
def test_cve5_shapes(version: str, kwargs: dict[str, str], expected: tuple[str, dict[str, str]]) -> None:
    vr = versions.from_cve5(version, **kwargs)
    assert (vr.scheme, vr.model_dump(exclude_none=True, exclude={"raw", "scheme", "kind"})) == expected


def test_cve5_records_from_the_shared_data(shared_data: Path) -> None:
    """Every versions entry of the real CVE 5 records reads into structured pieces, lessThan and changes kept."""
    pieces: dict[str, list[tuple[str, str, str | None, str | None, str | None]]] = {}
    for path in sorted((shared_data / "cve").glob("CVE-*.json")):
        containers = json.loads(path.read_text(encoding="utf-8"))["containers"]
        for item in [
            i for c in [containers["cna"], *containers.get("adp", [])] for i in c.get("affected", [])
        ]:
            for entry in item.get("versions", []):
                for status, vr in versions.cve5_segments(entry):
                    assert vr.kind is not RangeKind.UNREADABLE
                    pieces.setdefault(path.stem, []).append((status, vr.kind.value, vr.gte, vr.lt, vr.lte))
    assert ("affected", "interval", None, "2020.0", None) in pieces["CVE-2023-34362"]
    assert ("affected", "interval", "2021.0", "2021.0.7", None) in pieces["CVE-2023-34362"]
    assert ("affected", "interval", "14.1.0.0", None, "14.1.6.97") in pieces["CVE-2023-34362"]
    # changes[] inside lessThanOrEqual: the affected piece keeps the entry's own upper bound
    assert pieces["CVE-2024-1709"][:2] == [
        ("affected", "interval", None, "23.9.8", "23.9.7"),
        ("unaffected", "interval", "23.9.8", None, "23.9.7"),
    ]
    assert pieces["CVE-2021-44228"][:2] == [
        ("affected", "interval", "2.0-beta9", "2.3.1", None),
        ("unaffected", "interval", "2.3.1", "2.4", None),
    ]
    assert ("affected", "exact", None, None, None) in pieces["CVE-2019-0708"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "10.4.x before 10.4.5", [("interval", {"gte": "10.4.x", "lt": "10.4.5"})], id="family-before"
        ),
        pytest.param("from 2.0 up to 2.4", [("interval", {"gte": "2.0", "lte": "2.4"})], id="from-up-to"),
        pytest.param("All v2.x", [("wildcard", {"family": "v2"})], id="all-of-family"),
        pytest.param("Versions 8.0 and prior", [("interval", {"lte": "8.0"})], id="labelled-and-prior"),
        pytest.param(
            "Version 12.3 and earlier, 13.1",
            [("interval", {"lte": "12.3"}), ("exact", {"exact": "13.1"})],
            id="bound-then-exact",
        ),
        pytest.param(
            "Devices manufactured before March 2019", [("date", {"lt": "2019-03-01"})], id="worded-date"
        ),
        pytest.param("prior to 2016", [("interval", {"lt": "2016"})], id="a-year-alone-is-a-version"),
        pytest.param(
            "2.0/2.5", [("exact", {"exact": "2.0"}), ("exact", {"exact": "2.5"})], id="slashed-versions"
        ),
        pytest.param("8/30/2024", [("date", {"gte": "2024-08-30", "lte": "2024-08-30"})], id="bare-date"),
        pytest.param("April 2018", [("date", {"gte": "2018-04-01", "lte": "2018-04-30"})], id="bare-month"),
        pytest.param("2.0+", [("interval", {"gte": "2.0"})], id="plus-and-later"),
        pytest.param(
            ">= 3.0 | <= 2.0", [("interval", {"gte": "3.0"}), ("interval", {"lte": "2.0"})], id="never-empty"
        ),
        pytest.param("no fix planned", [("unreadable", {})], id="prose"),
    ],
)
def test_read_expression_beyond_the_corpus(text: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    """Variants of the same classes as CISA and CNAs write them elsewhere."""
    assert _read(text) == expected
