"""Version order and ranges as advisories write them (CISA free text, CVE 5 bounds, ``vers:``)."""

from __future__ import annotations

import pytest

from ewarn.correlate.versions import (
    Decision,
    compare,
    contains,
    decide,
    describe,
    describe_all,
    generic_compare,
    is_all,
    parse_range_text,
)
from ewarn.ingest.versions import from_cve5, read_expression
from ewarn.models import VersionRange
from ewarn.models.indicator import RangeKind


@pytest.mark.parametrize(
    ("a", "b", "order"),
    [
        pytest.param("1.10", "1.9", 1, id="numeric-not-lexical"),
        pytest.param("2.43.02", "2.43.2", 0, id="leading-zeros"),
        pytest.param("1.0", "1", 0, id="trailing-zero"),
        pytest.param("1.0-rc1", "1.0", -1, id="release-candidate-before-release"),
        pytest.param("2.0-beta9", "2.0", -1, id="beta-before-release"),
        pytest.param("1.8.4 Service Pack 01", "1.8.4", 1, id="service-pack-after-release"),
        pytest.param("1.8.4 Service Pack 01", "1.8.5", -1, id="service-pack-before-next-release"),
        pytest.param("2023.3_Build_9342", "2023.3_Build_9343", -1, id="build-numbers"),
        pytest.param("v2.3", "2.3", 0, id="leading-v"),
        pytest.param("U61", "U62", -1, id="same-product-line"),
        pytest.param("U61", "L81", None, id="different-product-lines-incomparable"),
        pytest.param("B.05", "B.06", -1, id="letter-prefixed-line"),
        pytest.param("B.12", "C.00.04", -1, id="revision-letters-ordered"),
        pytest.param("N", "M", 1, id="single-letters-ordered"),
        pytest.param("12.2a", "12.2", 1, id="letter-suffix-after-release"),
        pytest.param("12.2a", "12.2.1", -1, id="letter-suffix-before-next"),
        pytest.param("2.0b1", "2.0", -1, id="glued-beta-still-pre-release"),
        pytest.param("2.0", "U61", None, id="number-against-line"),
        pytest.param("B.06.18", "2.0", None, id="revision-against-number"),
        pytest.param("Firmware 2.3", "2.3", 0, id="firmware-label"),
        pytest.param("Software Version 2.3", "2.4", -1, id="software-version-label"),
    ],
)
def test_generic_compare(a: str, b: str, order: int | None) -> None:
    assert generic_compare(a, b) == order


@pytest.mark.parametrize(
    ("a", "b", "scheme", "order"),
    [
        pytest.param("2.9.10", "2.9.10.1", "maven", -1, id="maven"),
        pytest.param("1.0.0-alpha", "1.0.0", "npm", -1, id="npm-prerelease"),
        pytest.param("1.0.post1", "1.0", "pypi", 1, id="pypi-post-release"),
        pytest.param("2.0 build 7", "2.0", "pypi", 1, id="invalid-for-scheme-falls-back-to-generic"),
    ],
)
def test_compare_uses_ecosystem_order(a: str, b: str, scheme: str, order: int) -> None:
    assert compare(a, b, scheme) == order


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        pytest.param("< 8.2.2", [{"lt": "8.2.2"}], id="less-than"),
        pytest.param("<=2023.3_Build_9342", [{"lte": "2023.3_Build_9342"}], id="no-space"),
        pytest.param("<= U61 |<= L81", [{"lte": "U61"}, {"lte": "L81"}], id="alternatives"),
        pytest.param("24950 | 24952", [{"exact": "24950"}, {"exact": "24952"}], id="exact-alternatives"),
        pytest.param("All versions", [{}], id="all-versions"),
        pytest.param("v2.3 and prior", [{"lte": "v2.3"}], id="and-prior"),
        pytest.param("prior to 1.4", [{"lt": "1.4"}], id="prior-to"),
        pytest.param("All versions prior to 3.0", [{"lt": "3.0"}], id="all-versions-prior-to"),
        pytest.param("3.0 and later", [{"gte": "3.0"}], id="and-later"),
        pytest.param("1.0 through 2.0", [{"gte": "1.0", "lte": "2.0"}], id="between"),
        pytest.param("1.0.2", [{"exact": "1.0.2"}], id="bare-version-is-exact"),
    ],
)
def test_parse_range_text(text: str, bounds: list[dict[str, str]]) -> None:
    fields = ("exact", "gte", "gt", "lte", "lt")
    parsed = [{f: getattr(r, f) for f in fields if getattr(r, f) is not None} for r in parse_range_text(text)]
    assert parsed == bounds


@pytest.mark.parametrize(
    ("vr", "version", "inside"),
    [
        pytest.param(VersionRange(raw="< 12.1.2"), "12.1.1", True, id="raw-only-parsed-inside"),
        pytest.param(VersionRange(raw="< 12.1.2"), "12.1.2", False, id="exclusive-bound"),
        pytest.param(VersionRange(lte="12.3", gte="0"), "12.3", True, id="inclusive-bound"),
        pytest.param(VersionRange(lte="12.3", gte="0"), "12.3.1", False, id="just-above-inclusive"),
        pytest.param(VersionRange(raw="<= U61 |<= L81"), "L80", True, id="second-alternative"),
        pytest.param(VersionRange(raw="<= U61 |<= L81"), "L82", False, id="line-l-above"),
        pytest.param(VersionRange(raw="<= U61 |<= L81"), "U62", False, id="line-u-above"),
        pytest.param(VersionRange(lt="L81"), "U10", None, id="other-line-undecidable"),
        pytest.param(VersionRange(raw="vers:all/*"), "anything", True, id="vers-all"),
        pytest.param(VersionRange(raw="vers:npm/>=1.0.0|<2.0.0"), "1.5.0", True, id="vers-npm-inside"),
        pytest.param(VersionRange(raw="vers:npm/>=1.0.0|<2.0.0"), "2.0.0", False, id="vers-npm-upper"),
        pytest.param(
            VersionRange(raw="vers:generic/>=1.2|<1.10"), "1.9", True, id="vers-generic-numeric-order"
        ),
        pytest.param(VersionRange(raw="vers:generic/>=1.2|<1.10"), "1.10", False, id="vers-generic-upper"),
        pytest.param(VersionRange(gte="2.0-beta9", lt="2.3.1"), "2.0", True, id="from-beta"),
        pytest.param(VersionRange(gte="2.0-beta9", lt="2.3.1"), "2.0-alpha1", False, id="before-beta"),
        pytest.param(
            VersionRange(raw="MR 3.0T Signa HDxt versions HD 16"),
            "HD16",
            None,
            id="unreadable-text-undecidable",
        ),
    ],
)
def test_contains(vr: VersionRange, version: str, inside: bool | None) -> None:
    assert contains(vr, version) is inside


@pytest.mark.parametrize(
    ("vr", "text", "everything"),
    [
        pytest.param(VersionRange(gte="0", lte="12.3"), "<= 12.3", False, id="zero-lower-bound-omitted"),
        pytest.param(VersionRange(gte="2.4", lt="2.12.2"), ">= 2.4, < 2.12.2", False, id="interval"),
        pytest.param(
            VersionRange(raw="vers:maven/>=2.9.0|<2.9.10.1"), ">= 2.9.0, < 2.9.10.1", False, id="vers"
        ),
        pytest.param(VersionRange(raw="vers:all/*"), "all versions", True, id="vers-all"),
        pytest.param(VersionRange(raw="All versions"), "all versions", True, id="all-words"),
        pytest.param(VersionRange(), "all versions", True, id="empty"),
        pytest.param(VersionRange(exact="1.0.2"), "= 1.0.2", False, id="exact"),
    ],
)
def test_describe_and_is_all(vr: VersionRange, text: str, everything: bool) -> None:
    assert (describe(vr), is_all(vr)) == (text, everything)


A, N, U = Decision.AFFECTED, Decision.NOT_AFFECTED, Decision.UNKNOWN


# A major version written alone (Metasys "10 | 11", Facility Explorer "11", NeuroWorks "8", CitectSCADA
# "2015 | 2016") may be the whole line or its first release: a later build of it is possibly affected, never
# silently outside. Versions with a minor part, and ecosystem schemes, are read as written.
MAJOR_ALONE = [
    pytest.param("10 | 11", "11.0.2", U, id="metasys-11-build"),
    pytest.param("10 | 11", "10.1", U, id="metasys-10-minor"),
    pytest.param("10 | 11", "11.0", A, id="metasys-11-zero"),
    pytest.param("10 | 11", "12.0", N, id="metasys-above"),
    pytest.param("10 | 11", "9.0.7", N, id="metasys-below"),
    pytest.param("11", "V11.1", U, id="snc-labelled"),
    pytest.param("8", "8.4.2", U, id="neuroworks-minor"),
    pytest.param("2015 | 2016", "2016 R1", U, id="citect-year-release"),
    pytest.param("2015 | 2016", "2017", N, id="citect-next-year"),
    pytest.param("V4", "V4.3", U, id="labelled-major"),
    pytest.param("2", "2.0-beta1", N, id="pre-release-before-the-major"),
    pytest.param("10 | 11 | 11.2", "11.1", N, id="line-written-finer-elsewhere"),
    pytest.param("10 | 11 | 11.2", "11.2", A, id="finer-member"),
    pytest.param("2.2", "2.2.1", N, id="minor-release-read-as-written"),
    pytest.param("<= 12.3", "12.3.1", N, id="inclusive-bound-read-as-written"),
    pytest.param("vers:npm/1", "1.2", N, id="ecosystem-scheme-exact"),
]


# Spans and bound pairs as advisories write them beyond this corpus: two dotted versions joined by a hyphen
# ("1.2.3-1.2.9" was one exact version: 1.2.5 silently outside), spans with qualifiers on either side,
# "up to and including", a lower and an upper bound with only a space between them, "All versions; …".
SPANS_AND_BOUNDS = [
    pytest.param("1.2.3-1.2.9", "1.2.5", A, id="hyphen-span-inside"),
    pytest.param("1.2.3-1.2.9", "1.2.9", A, id="hyphen-span-upper"),
    pytest.param("1.2.3-1.2.9", "1.2.10", N, id="hyphen-span-above"),
    pytest.param("V1.0-V1.5", "V1.2", A, id="hyphen-span-labelled"),
    pytest.param("1.0.0 \u2013 1.5.2", "1.4", A, id="en-dash-span"),
    pytest.param("1-02-08", "1-02-07", N, id="hyphenated-version-is-one-version"),
    pytest.param("5.17.1-754993421", "5.17.1-754993421", A, id="build-suffix-is-one-version"),
    pytest.param("7.0 through 7.4 SP2", "7.4 SP1", A, id="span-to-service-pack"),
    pytest.param("7.0 through 7.4 SP2", "7.4 SP3", N, id="span-above-service-pack"),
    pytest.param("2019 R1 - 2021 R2", "2020 R3", A, id="year-release-span"),
    pytest.param("2019 R1 - 2021 R2", "2022 R1", N, id="year-release-span-above"),
    pytest.param("up to and including 4.1", "4.1", A, id="up-to-and-including"),
    pytest.param("up to and including 4.1", "4.2", N, id="up-to-and-including-above"),
    pytest.param(">=2.0 <3.0", "2.9", A, id="spaced-bounds-inside"),
    pytest.param(">=2.0 <3.0", "3.0", N, id="spaced-bounds-upper"),
    pytest.param("> 2.0 <= 3.0", "2.0", N, id="spaced-bounds-lower"),
    pytest.param("All versions; end of life", "1.0", A, id="all-versions-then-a-note"),
    # words for "and earlier" / "and later" beyond prior/earlier/later ("6.1 onwards" was exact 6.1)
    pytest.param("v6.1 and previous", "6.0", A, id="and-previous"),
    pytest.param("Version 6.1 and all previous versions", "6.2", N, id="and-all-previous-versions"),
    pytest.param("6.1 and all prior versions", "5.9", A, id="and-all-prior-versions"),
    pytest.param("6.1 onwards", "6.4", A, id="onwards"),
    pytest.param("6.1 onwards", "6.0", N, id="onwards-below"),
    pytest.param("6.1 and up", "7.0", A, id="and-up"),
    pytest.param("6.1 and subsequent releases", "6.2", A, id="and-subsequent"),
    pytest.param("All versions starting from 6.1", "6.3", A, id="all-starting-from"),
    pytest.param("All versions starting from 6.1", "6.0", N, id="all-starting-from-below"),
    pytest.param("6.1 (and earlier)", "6.0", A, id="bracketed-and-earlier"),
    pytest.param("6.1 (and later)", "7.2", A, id="bracketed-and-later"),
    pytest.param("6.1 (and later)", "6.0", N, id="bracketed-and-later-below"),
    pytest.param("6.1 or greater", "6.5", A, id="or-greater"),
    pytest.param("6.1 or any later version", "8.0", A, id="any-later-version"),
    pytest.param("less than 6.1", "6.0.9", A, id="less-than"),
    pytest.param("newer than 6.1", "6.1", N, id="newer-than-excludes-itself"),
    pytest.param("1.3 (formerly Power Manager)", "1.2", N, id="other-bracketed-notes-stay-notes"),
]


# Real corpus strings; for each, versions inside, outside and on each bound.
@pytest.mark.parametrize(
    ("text", "version", "decision"),
    [
        # all versions
        pytest.param("All versions", "1.0", A, id="all-any"),
        pytest.param("vers:all/*", "R16", A, id="vers-all-any"),
        pytest.param("All versions < V12.2a", "V12.1a", A, id="all-prefix-below"),
        pytest.param("All versions < V12.2a", "V12.2", A, id="all-prefix-release-before-letter"),
        pytest.param("All versions < V12.2a", "12.2a", N, id="all-prefix-equal"),
        pytest.param("All versions < V12.2a", "V12.3", N, id="all-prefix-above"),
        # the fix itself never alerts, whatever numbering a note in parentheses adds
        pytest.param("All versions < V2.1 SP3 (2.1.670)", "V2.1 SP2", A, id="sp-note-below"),
        pytest.param("All versions < V2.1 SP3 (2.1.670)", "V2.1 SP3", N, id="sp-note-fix"),
        # wildcard families
        pytest.param("5.x.x", "5", A, id="family-base"),
        pytest.param("5.x.x", "5.9.12", A, id="family-inside"),
        pytest.param("5.x.x", "4.9", N, id="family-below"),
        pytest.param("5.x.x", "6.0", N, id="family-above"),
        pytest.param("5.x.x", "50", N, id="family-not-a-prefix-of-50"),
        pytest.param("14.1.x", "14.1.7", A, id="minor-family-inside"),
        pytest.param("14.1.x", "14.10", N, id="minor-family-14.10"),
        pytest.param("14.1.x", "14.2", N, id="minor-family-above"),
        pytest.param("2.X", "2.4", A, id="capital-x"),
        pytest.param("4.X | 5.X", "5.1", A, id="family-list-second"),
        pytest.param("4.X | 5.X", "6.1", N, id="family-list-outside"),
        pytest.param("R15x", "R159.2", A, id="glued-family-inside"),
        pytest.param("R15x", "R160", N, id="glued-family-above"),
        pytest.param("<= 11.x", "11.9.9", A, id="bound-family-inside"),
        pytest.param("<= 11.x", "10", A, id="bound-family-below"),
        pytest.param("<= 11.x", "12.0", N, id="bound-family-above"),
        pytest.param("5.x.x", "L81", U, id="family-other-line"),
        # one interval, both bounds
        pytest.param(">= 2.5 | <= 3.11", "2.4", N, id="pair-below"),
        pytest.param(">= 2.5 | <= 3.11", "2.5", A, id="pair-lower-equal"),
        pytest.param(">= 2.5 | <= 3.11", "3.9", A, id="pair-inside"),
        pytest.param(">= 2.5 | <= 3.11", "3.11", A, id="pair-upper-equal"),
        pytest.param(">= 2.5 | <= 3.11", "3.12", N, id="pair-above"),
        pytest.param(">= 1.0 | <= 1.6", "1.7", N, id="pair-1.6-above"),
        pytest.param(">=R16x|<=R162.10", "R150", N, id="r16x-below"),
        pytest.param(">=R16x|<=R162.10", "R160", A, id="r16x-lower-edge"),
        pytest.param(">=R16x|<=R162.10", "R162.10", A, id="r16x-upper-equal"),
        pytest.param(">=R16x|<=R162.10", "R162.11", N, id="r16x-above"),
        pytest.param(">=R16x|<=R162.10", "2.0", U, id="r16x-number-line"),
        pytest.param("vers:all/>=V1.80<V2.20", "V2.19", A, id="vers-glued-inside"),
        pytest.param("vers:all/>=V1.80<V2.20", "V2.20", N, id="vers-glued-upper"),
        pytest.param(">= 1.0 | >= 2.4", "0.9", N, id="two-rays-below"),
        pytest.param(">= 1.0 | >= 2.4", "1.5", A, id="two-rays-union"),
        # lists
        pytest.param("24950 | 24952", "24951", N, id="list-between"),
        pytest.param("24950 | 24952", "24952", A, id="list-member"),
        pytest.param("4.20 | 4.20 SR1 | 4.30", "4.20 SR1", A, id="list-service-release"),
        pytest.param("4.20 | 4.20 SR1 | 4.30", "4.20 SR2", N, id="list-other-service-release"),
        pytest.param("<= 1.12.0.27 | 1.12.13.2 | 1.12.14.5", "1.12.0.27", A, id="bound-list-equal"),
        pytest.param("<= 1.12.0.27 | 1.12.13.2 | 1.12.14.5", "1.12.13.2", A, id="bound-list-member"),
        pytest.param("<= 1.12.0.27 | 1.12.13.2 | 1.12.14.5", "1.12.13.3", N, id="bound-list-outside"),
        # dates: a version is not a date
        pytest.param("distributed  < april 1, 2018", "2.0", U, id="date-against-version"),
        pytest.param("distributed  < april 1, 2018", "2018-03-31", A, id="date-before"),
        pytest.param("distributed  < april 1, 2018", "2018-04-01", N, id="date-equal"),
        pytest.param("<8/30/2024", "2024-09-01", N, id="date-after"),
        pytest.param(
            "with wireless option (shipped between 26-June-2017 through 07-August 2018)",
            "2018-08-07",
            A,
            id="date-span-last-day",
        ),
        pytest.param("< august 28", "1.0", U, id="unreadable-date"),
        # letter-led firmware and builds
        pytest.param("<= C.00.04", "B.12", A, id="revision-letter-below"),
        pytest.param("<= C.00.04", "C.00.04", A, id="revision-equal"),
        pytest.param("<= C.00.04", "C.00.05", N, id="revision-above"),
        pytest.param("<= C.00.04", "2.0", U, id="revision-against-number"),
        pytest.param("< B.06.18", "B.06.17", A, id="b-below"),
        pytest.param("< B.06.18", "B.06.18", N, id="b-equal"),
        pytest.param("<= U61 |<= L81", "U70", N, id="line-above-other-line-listed"),
        pytest.param("<= U61 |<= L81", "2.0", U, id="no-line-matches"),
        pytest.param("U61", "U61", A, id="line-exact"),
        pytest.param("BT06", "BT07", N, id="line-exact-other"),
        pytest.param("<= VM5.0", "VM4.9", A, id="vm-below"),
        pytest.param("<= VM5.0", "VM5.1", N, id="vm-above"),
        pytest.param("<=N", "M", A, id="letter-below"),
        pytest.param("<=N", "N", A, id="letter-equal"),
        pytest.param("<=N", "O", N, id="letter-above"),
        pytest.param("Rev B-M", "Rev C", A, id="rev-span-inside"),
        pytest.param("Rev B-M", "Rev N", N, id="rev-span-above"),
        pytest.param("<=2023.3_Build_9342", "2023.3_Build_9341", A, id="underscore-build-below"),
        pytest.param("<=2023.3_Build_9342", "2023.3 Build 9342", A, id="underscore-build-equal"),
        pytest.param("<=2023.3_Build_9342", "2023.4", N, id="underscore-build-above"),
        pytest.param("< 3.03 BN 830", "3.03", A, id="release-before-its-builds"),
        pytest.param("< 3.03 BN 830", "3.03 BN 830", N, id="bn-equal"),
        pytest.param("< 3.03 BN 830", "3.04", N, id="bn-next-release"),
        pytest.param("<1.69 release 166", "1.69 release 165", A, id="release-below"),
        pytest.param("< 6.8.9 CU01", "6.8.9", A, id="cu-release-before-update"),
        pytest.param("< 6.8.9 CU01", "6.8.9 CU01", N, id="cu-equal"),
        pytest.param("< 6.8.9 CU01", "6.8.10", N, id="cu-above"),
        pytest.param("< 4.4 SP7", "4.4 SP6", A, id="sp-below"),
        pytest.param("< 4.4 SP7", "4.5", N, id="sp-above"),
        pytest.param("<= 1.2 build 09123015 ", "1.2 build 09123014", A, id="build-below"),
        pytest.param("<= 1.2 build 09123015 ", "1.3", N, id="build-next"),
        pytest.param("< NVR 5.6 Build 595 T2-Patch", "5.6 Build 595", A, id="nvr-before-patch"),
        pytest.param("< NVR 5.6 Build 595 T2-Patch", "5.7", N, id="nvr-above"),
        pytest.param("<R511.5_TCU4_HF4", "R511.5_TCU4_HF3", A, id="hotfix-below"),
        pytest.param("<R511.5_TCU4_HF4", "R511.5_TCU4_HF4", N, id="hotfix-equal"),
        pytest.param("<R511.5_TCU4_HF4", "R520.1", N, id="hotfix-next-release"),
        pytest.param("<=Illustra.Ess4.01.02.10.5982", "Illustra.Ess4.01.02.10.5983", N, id="illustra-above"),
        pytest.param(" <1.000.HW01.3.20190820", "1.000.HW01.3.20190819", A, id="dahua-below"),
        pytest.param("<= 1-02-08", "1-02-08", A, id="hyphens-equal"),
        pytest.param("<= 1-02-08", "1-02-09", N, id="hyphens-above"),
        pytest.param("<= 2.0 (Build 683.003) ", "2.0 Build 600", A, id="build-note-below"),
        pytest.param("<= 2.0 (Build 683.003) ", "2.0 Build 700", N, id="build-note-above"),
        pytest.param("< 14.4u1 (14.x series)", "13.9", N, id="series-below-family"),
        pytest.param("< 14.4u1 (14.x series)", "14.4", A, id="series-inside"),
        pytest.param("< 14.4u1 (14.x series)", "14.4u1", N, id="series-upper-equal"),
        pytest.param("MP1.1, MP2.0, MP2.1, and MP3.0", "MP2.1", A, id="mp-list-member"),
        pytest.param("MP1.1, MP2.0, MP2.1, and MP3.0", "MP2.2", N, id="mp-list-outside"),
        pytest.param("A.01 <= C.0x | 4.0", "C.05", A, id="span-to-family-inside"),
        pytest.param("A.01 <= C.0x | 4.0", "C.10", N, id="span-to-family-above"),
        # model or product text is never compared as a version
        pytest.param("HEN643484", "HEN643484", U, id="model-code-unknown"),
        pytest.param("7100 | 7900 | 100 | Protiva Carestation View", "200", U, id="name-in-list-unknown"),
        pytest.param("7100 | 7900 | 100 | Protiva Carestation View", "7900", A, id="number-in-list"),
        *MAJOR_ALONE,
        *SPANS_AND_BOUNDS,
    ],
)
def test_decide_on_corpus_expressions(text: str, version: str, decision: Decision) -> None:
    ranges = read_expression(text)
    verdict, part = decide(ranges, version)
    assert verdict is decision
    assert (part is None) is (decision is Decision.NOT_AFFECTED)


def test_describe_a_list_with_an_unreadable_part_reads_it_once() -> None:
    """The unreadable remainder of a list keeps the whole text: describing it read the list again, endlessly
    (a RecursionError for an asset without a version, or one that cannot be compared)."""
    ranges = read_expression("7100 | 7900 | 100 | Protiva Carestation View")
    text = '= 7100 or = 7900 or = 100 or unreadable: "7100 | 7900 | 100 | Protiva Carestation View"'
    assert describe(ranges[-1]) == text
    assert describe_all(ranges) == text
    assert describe_all(read_expression("< 2.0 | >= 3.0")) == "< 2.0 or >= 3.0"


def test_decide_reads_raw_only_ranges_and_honours_the_asset_scheme() -> None:
    ranges = [VersionRange(raw="vers:npm/>=1.0.0|<2.0.0")]
    assert decide(ranges, "2.0.0-rc.1", "npm")[0] is Decision.AFFECTED  # npm: a pre-release precedes 2.0.0
    assert decide(ranges, "2.0.0", "npm")[0] is Decision.NOT_AFFECTED
    assert decide([], "1.0") == (Decision.NOT_AFFECTED, None)
    assert decide(read_expression("< 12.1.2"), " ")[0] is Decision.UNKNOWN  # a blank version is no version
    assert decide(read_expression("< 12.1.2"), "12.x")[0] is Decision.UNKNOWN  # nor is a family
    assert decide(read_expression("All versions"), "12.x")[0] is Decision.AFFECTED
    # a kind set by hand without its fields compares nothing: unknown, never affected
    assert decide([VersionRange(kind=RangeKind.WILDCARD, raw="5.x")], "5.1")[0] is Decision.UNKNOWN
    assert decide([VersionRange(kind=RangeKind.INTERVAL, raw="< 2")], "1")[0] is Decision.UNKNOWN


def test_decide_cve5_branch_build() -> None:
    """``version 7.0, lessThan 7.0-1234`` (semver): builds of the 7.0 branch before 1234 are affected."""
    vr = from_cve5("7.0", less_than="7.0-1234", version_type="semver")
    assert [decide([vr], v)[0] for v in ("7.0", "7.0-1100", "7.0-1234", "7.0-1300", "7.1", "6.9")] == [
        A, A, N, N, N, N,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("vr", "text"),
    [
        pytest.param(VersionRange(kind=RangeKind.ALL, raw="All versions"), "all versions", id="all"),
        pytest.param(read_expression("5.x.x")[0], "5.x family", id="wildcard"),
        pytest.param(read_expression("R16x")[0], "R16x family", id="glued-wildcard"),
        pytest.param(read_expression("distributed  < april 1, 2018")[0], "< 2018-04-01 (date)", id="date"),
        pytest.param(read_expression("HEN643484")[0], 'unreadable: "HEN643484"', id="unreadable"),
        pytest.param(VersionRange(raw=">= 2.5 | <= 3.11"), ">= 2.5, <= 3.11", id="raw-only-read"),
        pytest.param(VersionRange(raw="24950 | 24952"), "= 24950 or = 24952", id="raw-only-list"),
    ],
)
def test_describe_every_kind(vr: VersionRange, text: str) -> None:
    assert describe(vr) == text
