"""``build_alerts`` (shared per-indicator work) builds exactly the alerts ``build_alert`` builds match by match."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ewarn.actions.playbooks import PlaybookRule
from ewarn.correlate.engine import build_alert, build_alerts, match
from ewarn.correlate.index import AssetIndex
from ewarn.models import (
    AffectedProduct,
    Asset,
    AssetKind,
    Indicator,
    IndicatorType,
    SourceRef,
    VersionRange,
    VulnerabilityInfo,
)

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ASSETS = [
    Asset(id="net-a", provider_id="prov-a", kind=AssetKind.NETWORK, name="DMZ", value="203.0.113.0/24"),
    Asset(id="net-b", provider_id="prov-b", kind=AssetKind.NETWORK, name="Guests", value="203.0.0.0/16"),
    Asset(id="dom-c", provider_id="prov-c", kind=AssetKind.DOMAIN, name="Portal", value="clinic.example"),
    Asset(id="host-d", provider_id="prov-d", kind=AssetKind.HOSTNAME, name="Mail", value="mx.clinic.example"),
    Asset(
        id="pump-a",
        provider_id="prov-a",
        kind=AssetKind.MEDICAL_DEVICE,
        name="ICU pumps",
        vendor="BD",
        product="Alaris Infusion Pump",
        version="12.1.0",
    ),
    Asset(
        id="pump-b",
        provider_id="prov-b",
        kind=AssetKind.MEDICAL_DEVICE,
        name="Ward pumps",
        vendor="BD",
        product="Alaris Infusion Pump",
    ),
]
SOURCE = SourceRef(feed_id="feed", feed_kind="ioc_list", record="1", seen_at=NOW - timedelta(days=40))


def _observable(kind: IndicatorType, value: str) -> Indicator:
    return Indicator(
        key=f"{kind.value}:{value}", type=kind, value=value, source=SOURCE, labels=["c2", "c2"], confidence=80
    )


ADVISORY = Indicator(
    key="vulnerability:ICSMA-20-296-02",
    type=IndicatorType.VULNERABILITY,
    value="ICSMA-20-296-02",
    source=SourceRef(feed_id="cisa-csaf", feed_kind="csaf", record="icsma-20-296-02"),
    cves=["CVE-2020-25158"],
    vulnerability=VulnerabilityInfo(
        cves=["CVE-2020-25158"],
        cvss_score=7.6,
        affected=[
            AffectedProduct(
                vendor="BD", product="Alaris Infusion Pump", versions=[VersionRange(raw="< 12.1.2")]
            )
        ],
    ),
)


@pytest.mark.parametrize(
    ("indicator", "alerts"),
    [
        pytest.param(_observable(IndicatorType.IPV4, "203.0.113.7"), 2, id="address-in-two-providers"),
        pytest.param(_observable(IndicatorType.DOMAIN, "mx.clinic.example"), 2, id="host-and-domain"),
        pytest.param(_observable(IndicatorType.URL, "http://203.0.113.9/x"), 2, id="url-on-an-address"),
        pytest.param(ADVISORY, 2, id="advisory-two-pumps"),
        pytest.param(_observable(IndicatorType.IPV4, "198.51.100.1"), 0, id="no-match"),
    ],
)
def test_build_alerts_equals_build_alert_per_match(indicator: Indicator, alerts: int) -> None:
    index = AssetIndex.build(ASSETS)
    playbooks = (PlaybookRule(url="https://playbooks.example/ir", title="IR"),)
    found = match(indicator, index)
    together = build_alerts(indicator, found, now=NOW, playbooks=playbooks)
    one_by_one = [build_alert(indicator, f, now=NOW, playbooks=playbooks) for f in found]
    assert len(together) == alerts
    assert [a.model_dump_json() for a in together] == [a.model_dump_json() for a in one_by_one]
    # the alerts share step objects, never step lists: one alert's list does not grow another's
    if len(together) > 1:
        assert together[0].next_steps is not together[1].next_steps
