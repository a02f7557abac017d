"""Merging revisions of one CSAF advisory: the newest document wins whole, its sources are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ewarn.ingest.merge import merge
from ewarn.ingest.normalise import Observable
from ewarn.ingest.records import FeedContext
from ewarn.models.indicator import AffectedProduct, Indicator, IndicatorType, VulnerabilityInfo

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ADVISORY = Observable(IndicatorType.VULNERABILITY, "ICSMA-21-152-01")
CVE = Observable(IndicatorType.VULNERABILITY, "CVE-2021-27410")


def document(
    feed: str, seen_at: datetime, products: list[str], cves: list[str], kind: str = "csaf"
) -> Indicator:
    info = VulnerabilityInfo(
        cves=cves, affected=[AffectedProduct(vendor="Hillrom", product=p) for p in products]
    )
    observable = ADVISORY if kind == "csaf" else CVE
    return FeedContext(feed_id=feed, feed_kind=kind).indicator(
        observable, record="ICSMA-21-152-01", seen_at=seen_at, cves=cves, vulnerability=info
    )


@pytest.mark.parametrize(
    ("second", "sources", "products", "cves"),
    [
        pytest.param(
            document("mirror", T0 + timedelta(days=1), ["Connex Spot Monitor"], ["CVE-2021-27410"]),
            ["mirror"],
            ["Connex Spot Monitor"],
            ["CVE-2021-27410"],
            id="newer-revision-replaces-products-cves-and-sources",
        ),
        pytest.param(
            document("mirror", T0, ["Connex Central Station", "Connex Spot Monitor"], ["CVE-2021-27408"]),
            ["cisa", "mirror"],
            ["Connex Central Station", "Connex Spot Monitor"],
            ["CVE-2021-27408"],
            id="same-revision-from-a-second-feed-adds-that-feed",
        ),
        pytest.param(
            document("mirror", T0 - timedelta(days=1), ["Old product"], ["CVE-2000-0001"]),
            ["cisa"],
            ["Connex Central Station", "Connex Spot Monitor"],
            ["CVE-2021-27408"],
            id="stale-copy-changes-nothing",
        ),
    ],
)
def test_advisory_revisions(
    second: Indicator, sources: list[str], products: list[str], cves: list[str]
) -> None:
    first = merge(
        None,
        document("cisa", T0, ["Connex Central Station", "Connex Spot Monitor"], ["CVE-2021-27408"]),
        now=T0,
    )
    merged = merge(first, second, now=T0 + timedelta(days=2))
    assert merged.sources == sources
    assert merged.vulnerability is not None
    assert [p.product for p in merged.vulnerability.affected] == products
    assert (merged.cves, merged.vulnerability.cves) == (cves, cves)
    assert merged.first_seen == T0


def test_reports_of_one_cve_are_still_united() -> None:
    cve5 = document("cvelist", T0, ["Connex Spot Monitor"], ["CVE-2021-27410"], kind="cve5")
    kev = document("kev", T0 + timedelta(days=1), ["Connex Central Station"], ["CVE-2021-27410"], kind="kev")
    merged = merge(merge(None, cve5, now=T0), kev, now=T0)
    assert merged.sources == ["cvelist", "kev"]
    assert merged.vulnerability is not None
    assert [p.product for p in merged.vulnerability.affected] == [
        "Connex Spot Monitor",
        "Connex Central Station",
    ]
