"""Version order and ranges as advisories write them (CISA free text, CVE 5 bounds, ``vers:``)."""

from __future__ import annotations

import pytest

from ewarn.correlate.versions import compare, contains, describe, generic_compare, is_all, parse_range_text
from ewarn.models import VersionRange


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
