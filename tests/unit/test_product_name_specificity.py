"""An asset named less (or more) specifically than the advisory names its product is possibly affected, never missed.

Inventories name devices the short way ("Alaris PC Unit", "Sigma Spectrum", "MyCareLink Monitor") while advisories
write the model, a leading catalogue number or descriptor words ("Alaris PC Unit Model 8015", "Sigma Spectrum LVP",
"24950 MyCareLink Monitor", "CARESCAPE Monitor B450"), and the other way round. When every word of the shorter
name is in the longer one and both start from the same product word, the alert goes out as possibly affected,
saying which names met; a different model, a generic name or another vendor's product stays silent.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ewarn.correlate.engine import Relation, build_alert, match
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

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def _device(product: str, vendor: str, version: str | None = "1.0", id_: str = "dev") -> Asset:
    return Asset(
        id=id_, provider_id="prov-a", kind=AssetKind.MEDICAL_DEVICE, name="Ward device",
        vendor=vendor, product=product, version=version,
    )  # fmt: skip


def _advisory(vendor: str, product: str, *ranges: str) -> Indicator:
    cves = ["CVE-2020-0001"]
    affected = AffectedProduct(vendor=vendor, product=product, versions=[VersionRange(raw=r) for r in ranges])
    return Indicator(
        key=Indicator.make_key(IndicatorType.VULNERABILITY, "ICSMA-00-000-00"),
        type=IndicatorType.VULNERABILITY,
        value="ICSMA-00-000-00",
        source=SourceRef(feed_id="feed-test", feed_kind="csaf", record="ICSMA-00-000-00"),
        cves=cves,
        vulnerability=VulnerabilityInfo(cves=cves, cvss_score=7.5, affected=[affected]),
    )


LESS_SPECIFIC_ASSET = [  # vendor, the asset's product, the advisory's product
    pytest.param("BD", "Alaris PC Unit", "Alaris™ PC Unit Model 8015", id="trailing-model-number"),
    pytest.param("Philips", "IntelliVue MX40", "IntelliVue MX40 Patient Worn Monitor (WLAN only)", id="descriptor-words"),
    pytest.param("Baxter", "Sigma Spectrum", "Sigma Spectrum LVP", id="trailing-variant"),
    pytest.param("Philips", "Brilliance CT", "Brilliance CT Big Bore", id="trailing-two-words"),
    pytest.param("Medtronic", "MyCareLink Monitor", "24950 MyCareLink Monitor", id="leading-catalogue-number"),
    pytest.param("GE Healthcare", "CARESCAPE B450", "CARESCAPE Monitor B450", id="descriptor-in-the-middle"),
    pytest.param("Philips", "IntelliVue MX800", "IntelliVue Patient Monitors MX800", id="plural-descriptor-in-the-middle"),
    pytest.param("Medtronic", "MiniMed 670G", "MiniMed 670G Insulin Pump", id="kind-words-after-the-model"),
]  # fmt: skip

MORE_SPECIFIC_ASSET = [
    pytest.param("Baxter", "Sigma Spectrum LVP", "Sigma Spectrum", id="variant-of-the-named-line"),
    pytest.param("Philips", "Brilliance CT Big Bore", "Brilliance CT", id="model-of-the-named-line"),
    pytest.param("BD", "Alaris PC Unit Model 8015", "Alaris PC Unit", id="model-number-of-the-named-unit"),
    pytest.param(
        "Medtronic", "24950 MyCareLink Monitor", "MyCareLink Monitor", id="catalogue-number-in-the-asset"
    ),
]

UNRELATED = [
    pytest.param("GE Healthcare", "CARESCAPE B650", "CARESCAPE B450", id="sibling-model"),
    pytest.param("Philips", "IntelliVue MX40", "IntelliVue MX400", id="model-number-prefix-is-not-a-word"),
    pytest.param("Philips", "Patient Monitor", "IntelliVue Patient Monitor MX40", id="generic-words-only"),
    pytest.param("Siemens", "Symbia", "Symbia Intevo", id="one-word-brand"),
    pytest.param(
        "Philips", "IntelliVue Information Center", "IntelliVue MX40", id="same-brand-other-product"
    ),
]


@pytest.mark.parametrize(
    ("vendor", "asset_product", "advisory_product"), LESS_SPECIFIC_ASSET + MORE_SPECIFIC_ASSET
)
def test_names_of_different_specificity_alert_as_possibly_affected(
    vendor: str, asset_product: str, advisory_product: str
) -> None:
    advisory = _advisory(vendor, advisory_product, "<= 2.0")
    found = match(advisory, AssetIndex.build([_device(asset_product, vendor)]))
    assert [(m.asset.id, m.relation, m.possibly_affected) for m in found] == [
        ("dev", Relation.VERSION_IN_RANGE, True)
    ]
    alert = build_alert(advisory, found[0], now=NOW)
    assert alert.possibly_affected
    assert alert.reason.startswith("Possibly affected")
    assert asset_product.split()[-1] in alert.reason and "names" in alert.reason


@pytest.mark.parametrize(
    ("vendor", "asset_product", "advisory_product"), LESS_SPECIFIC_ASSET + MORE_SPECIFIC_ASSET
)
def test_the_version_still_decides(vendor: str, asset_product: str, advisory_product: str) -> None:
    advisory = _advisory(vendor, advisory_product, "<= 2.0")
    assert match(advisory, AssetIndex.build([_device(asset_product, vendor, version="3.1")])) == []
    unknown = match(advisory, AssetIndex.build([_device(asset_product, vendor, version=None)]))
    assert [(m.relation, m.possibly_affected) for m in unknown] == [(Relation.VERSION_UNKNOWN, True)]


@pytest.mark.parametrize(("vendor", "asset_product", "advisory_product"), UNRELATED)
def test_other_products_stay_silent(vendor: str, asset_product: str, advisory_product: str) -> None:
    advisory = _advisory(vendor, advisory_product, "<= 2.0")
    assert match(advisory, AssetIndex.build([_device(asset_product, vendor)])) == []


@pytest.mark.parametrize(("vendor", "asset_product", "advisory_product"), LESS_SPECIFIC_ASSET[:3])
def test_another_vendors_product_of_the_same_name_stays_silent(
    vendor: str, asset_product: str, advisory_product: str
) -> None:
    advisory = _advisory("Mindray", advisory_product, "<= 2.0")
    assert match(advisory, AssetIndex.build([_device(asset_product, vendor)])) == []


def test_the_exact_name_stays_certain_and_wins_over_a_looser_one() -> None:
    exact = _device("Sigma Spectrum LVP", "Baxter", id_="exact")
    looser = _device("Sigma Spectrum", "Baxter", id_="looser")
    found = match(_advisory("Baxter", "Sigma Spectrum LVP", "<= 2.0"), AssetIndex.build([exact, looser]))
    assert sorted((m.asset.id, m.possibly_affected) for m in found) == [("exact", False), ("looser", True)]
    alert = build_alert(
        _advisory("Baxter", "Sigma Spectrum LVP", "<= 2.0"),
        next(m for m in found if m.asset.id == "exact"),
        now=NOW,
    )
    assert not alert.possibly_affected and not alert.reason.startswith("Possibly affected")


def test_a_possible_name_match_scores_below_the_certain_one() -> None:
    advisory = _advisory("Baxter", "Sigma Spectrum LVP", "<= 2.0")
    exact = _device("Sigma Spectrum LVP", "Baxter", id_="exact")
    looser = _device("Sigma Spectrum", "Baxter", id_="looser")
    alerts = {
        m.asset.id: build_alert(advisory, m, now=NOW)
        for m in match(advisory, AssetIndex.build([exact, looser]))
    }
    assert alerts["looser"].score < alerts["exact"].score


def test_the_index_finds_the_looser_names_among_many() -> None:
    """Filed among other products of the vendor (and other vendors), only the related names are found."""
    fleet = [
        _device(product, vendor, id_=f"{vendor}-{i}")
        for i, (vendor, product) in enumerate(
            [
                ("Baxter", "Sigma Spectrum"), ("Baxter", "Spectrum IQ"), ("Baxter", "Sigma Spectrum LVP 8015"),
                ("Baxter", "Sigma"), ("Baxter", "Spectrum"), ("BD", "Sigma Spectrum"), ("Baxter", "Sigma Pump"),
                ("Baxter", "LVP Sigma Spectrum"),
            ]
        )
    ]  # fmt: skip
    found = match(_advisory("Baxter", "Sigma Spectrum LVP", "<= 2.0"), AssetIndex.build(fleet))
    by_id = {m.asset.id: m.possibly_affected for m in found}
    assert by_id == {"Baxter-0": True, "Baxter-2": True, "Baxter-7": False}
