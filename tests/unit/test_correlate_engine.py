"""Matching rules, one named case per rule and per near-miss, asserting which assets match and the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ewarn.correlate.engine import Relation, build_alert, explain, is_active, match
from ewarn.correlate.index import AssetIndex
from ewarn.ids import alert_id
from ewarn.models import (
    AffectedProduct,
    Asset,
    AssetKind,
    ClinicalCriticality,
    Indicator,
    IndicatorType,
    NetworkExposure,
    ProductStatus,
    SourceRef,
    VersionRange,
    VulnerabilityInfo,
)
from ewarn.models.indicator import CveDetail, RangeKind

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def asset(id_: str, kind: AssetKind, name: str, provider: str = "prov-a", **fields: Any) -> Asset:
    return Asset(id=id_, provider_id=provider, kind=kind, name=name, **fields)


def indicator(type_: IndicatorType, value: str, **fields: Any) -> Indicator:
    return Indicator(
        key=Indicator.make_key(type_, value),
        type=type_,
        value=value,
        source=SourceRef(feed_id="feed-test", feed_kind="stix", record="r-1"),
        **fields,
    )


def advisory(value: str, *affected: AffectedProduct, **fields: Any) -> Indicator:
    cves = fields.pop("cves", [value] if value.startswith("CVE-") else [])
    remediations = fields.pop("remediations", [])
    return indicator(
        IndicatorType.VULNERABILITY,
        value,
        cves=cves,
        vulnerability=VulnerabilityInfo(
            cves=cves, cvss_score=7.5, affected=list(affected), remediations=remediations
        ),
        **fields,
    )


def product(vendor: str | None, name: str | None, *ranges: str, **fields: Any) -> AffectedProduct:
    return AffectedProduct(
        vendor=vendor, product=name, versions=[VersionRange(raw=r) for r in ranges], **fields
    )


NETWORK_INVENTORY = [
    asset("net-pacs", AssetKind.NETWORK, "PACS DMZ", value="203.0.113.0/24"),
    asset("net-campus", AssetKind.NETWORK, "Campus", value="198.51.100.0/22"),
    asset("net-mail", AssetKind.NETWORK, "Mail gateway", value="192.0.2.10"),
    asset("net-v6", AssetKind.NETWORK, "IPv6 campus", value="2001:db8:abcd::/48"),
    asset("dom-portal", AssetKind.DOMAIN, "Patient portal", value="example.com"),
    asset("dom-idn", AssetKind.DOMAIN, "Library", value="bücher.example"),
    asset("host-vpn", AssetKind.HOSTNAME, "VPN gateway", value="vpn.clinic.example"),
    asset("mail", AssetKind.EMAIL_DOMAIN, "Staff mail", value="hospital.example"),
    asset("asn", AssetKind.ASN, "Hospital uplink", value="AS64500"),
    asset("b-ward", AssetKind.NETWORK, "Ward B", provider="prov-b", value="203.0.113.0/25"),
    # the same provider's wider range: the more specific one explains an address inside both
    asset("b-site", AssetKind.NETWORK, "Site B", provider="prov-b", value="203.0.0.0/16"),
]


@pytest.fixture(scope="module")
def network_index() -> AssetIndex:
    return AssetIndex.build(NETWORK_INVENTORY)


V4, V6, DOMAIN, URL, EMAIL, ASN = (
    IndicatorType.IPV4,
    IndicatorType.IPV6,
    IndicatorType.DOMAIN,
    IndicatorType.URL,
    IndicatorType.EMAIL,
    IndicatorType.ASN,
)


@pytest.mark.parametrize(
    ("ind", "expected"),
    [
        pytest.param(
            indicator(V4, "203.0.113.7"),
            {
                "net-pacs": "203.0.113.7 is inside your range 203.0.113.0/24 'PACS DMZ'",
                "b-ward": "203.0.113.7 is inside your range 203.0.113.0/25 'Ward B'",
            },
            id="ipv4-inside-range-two-providers-most-specific-each",
        ),
        pytest.param(
            indicator(V4, "203.0.113.200"),
            {
                "net-pacs": "203.0.113.200 is inside your range 203.0.113.0/24 'PACS DMZ'",
                "b-site": "203.0.113.200 is inside your range 203.0.0.0/16 'Site B'",
            },
            id="ipv4-outside-ward-falls-back-to-wider-range",
        ),
        pytest.param(indicator(V4, "203.1.0.1"), {}, id="ipv4-adjacent-to-16-near-miss"),
        pytest.param(indicator(V4, "198.51.104.0"), {}, id="ipv4-adjacent-cidr-near-miss"),
        pytest.param(
            indicator(V4, "198.51.103.255"),
            {"net-campus": "198.51.103.255 is inside your range 198.51.100.0/22 'Campus'"},
            id="ipv4-last-address-of-range",
        ),
        pytest.param(
            indicator(V4, "192.0.2.10"),
            {"net-mail": "192.0.2.10 is inside your range 192.0.2.10/32 'Mail gateway'"},
            id="ipv4-single-address-asset",
        ),
        pytest.param(indicator(V4, "192.0.2.11"), {}, id="ipv4-next-to-single-address-near-miss"),
        pytest.param(
            indicator(V4, "203.0.113.128/26"),
            {
                "net-pacs": "the range 203.0.113.128/26 is inside your range 203.0.113.0/24 'PACS DMZ'",
                "b-site": "the range 203.0.113.128/26 is inside your range 203.0.0.0/16 'Site B'",
            },
            id="ipv4-network-indicator-inside-asset",
        ),
        pytest.param(
            indicator(V4, "198.51.96.0/20"),
            {"net-campus": "the range 198.51.96.0/20 covers your range 198.51.100.0/22 'Campus'"},
            id="ipv4-network-indicator-covers-asset",
        ),
        pytest.param(indicator(V4, "198.51.104.0/22"), {}, id="ipv4-network-indicator-adjacent-near-miss"),
        pytest.param(
            indicator(V6, "2001:db8:abcd:12::1"),
            {"net-v6": "2001:db8:abcd:12::1 is inside your range 2001:db8:abcd::/48 'IPv6 campus'"},
            id="ipv6-inside-range",
        ),
        pytest.param(
            indicator(V6, "2001:0db8:abcd:0012:0000:0000:0000:0001"),
            {"net-v6": None},
            id="ipv6-uncompressed-form",
        ),
        pytest.param(indicator(V6, "2001:db8:abce::1"), {}, id="ipv6-adjacent-near-miss"),
        pytest.param(
            indicator(DOMAIN, "example.com"),
            {"dom-portal": "example.com is your domain example.com 'Patient portal'"},
            id="domain-exact",
        ),
        pytest.param(
            indicator(DOMAIN, "www.example.com"),
            {"dom-portal": "www.example.com is a subdomain of your domain example.com 'Patient portal'"},
            id="domain-subdomain",
        ),
        pytest.param(
            indicator(DOMAIN, "a.b.c.example.com"), {"dom-portal": None}, id="domain-deep-subdomain"
        ),
        pytest.param(indicator(DOMAIN, "WWW.Example.COM."), {"dom-portal": None}, id="domain-case-and-dot"),
        pytest.param(indicator(DOMAIN, "evil-example.com"), {}, id="domain-lookalike-hyphen-near-miss"),
        pytest.param(indicator(DOMAIN, "notexample.com"), {}, id="domain-lookalike-prefix-near-miss"),
        pytest.param(
            indicator(DOMAIN, "example.com.evil.net"), {}, id="domain-as-subdomain-of-other-near-miss"
        ),
        pytest.param(indicator(DOMAIN, "com"), {}, id="domain-tld-only-near-miss"),
        pytest.param(indicator(DOMAIN, "shop.xn--bcher-kva.example"), {"dom-idn": None}, id="domain-idna"),
        pytest.param(
            indicator(DOMAIN, "vpn.clinic.example"),
            {"host-vpn": "vpn.clinic.example is your host vpn.clinic.example 'VPN gateway'"},
            id="hostname-exact",
        ),
        pytest.param(indicator(DOMAIN, "a.vpn.clinic.example"), {}, id="hostname-no-subdomains-near-miss"),
        pytest.param(indicator(DOMAIN, "clinic.example"), {}, id="hostname-parent-near-miss"),
        pytest.param(
            indicator(URL, "https://login.example.com/reset", url_host="login.example.com"),
            {
                "dom-portal": "https://login.example.com/reset is hosted on login.example.com, which is a "
                "subdomain of your domain example.com 'Patient portal'"
            },
            id="url-host-subdomain",
        ),
        pytest.param(
            indicator(URL, "http://203.0.113.9:8080/payload.exe"),
            {
                "net-pacs": "http://203.0.113.9:8080/payload.exe (host 203.0.113.9) is inside your range "
                "203.0.113.0/24 'PACS DMZ'",
                "b-ward": None,
            },
            id="url-ip-host-without-url-host-field",
        ),
        pytest.param(
            indicator(URL, "https://example.com.attacker.net/x", url_host="example.com.attacker.net"),
            {},
            id="url-lookalike-host-near-miss",
        ),
        pytest.param(
            indicator(EMAIL, "billing@hospital.example"),
            {"mail": "billing@hospital.example sends from your e-mail domain hospital.example 'Staff mail'"},
            id="email-domain",
        ),
        pytest.param(indicator(EMAIL, "x@mail.hospital.example"), {}, id="email-subdomain-near-miss"),
        pytest.param(indicator(EMAIL, "x@hospital-example.com"), {}, id="email-lookalike-near-miss"),
        pytest.param(
            indicator(DOMAIN, "hospital.example"),
            {"mail": "hospital.example is your e-mail domain hospital.example 'Staff mail'"},
            id="domain-equals-email-domain",
        ),
        pytest.param(
            indicator(ASN, "AS64500"),
            {"asn": "AS64500 is your autonomous system AS64500 'Hospital uplink'"},
            id="asn-exact",
        ),
        pytest.param(indicator(ASN, "as64500"), {"asn": None}, id="asn-lower-case"),
        pytest.param(indicator(ASN, "AS64501"), {}, id="asn-next-number-near-miss"),
        pytest.param(indicator(IndicatorType.SHA256, "a" * 64), {}, id="hash-matches-no-asset-kind"),
        pytest.param(indicator(IndicatorType.MD5, "b" * 32), {}, id="md5-matches-no-asset-kind"),
    ],
)
def test_network_and_name_rules(
    network_index: AssetIndex, ind: Indicator, expected: dict[str, str | None]
) -> None:
    found = {m.asset.id: m for m in match(ind, network_index)}
    assert sorted(found) == sorted(expected)
    for asset_id, reason in expected.items():
        if reason is not None:
            assert explain(ind, found[asset_id]) == reason


PRODUCT_INVENTORY = [
    asset(
        "pump-1210",
        AssetKind.MEDICAL_DEVICE,
        "ICU pumps",
        vendor="BD",
        product="Alaris Infusion Pump",
        version="12.1.0",
    ),
    asset(
        "pump-1212",
        AssetKind.MEDICAL_DEVICE,
        "Ward pumps",
        vendor="BD",
        product="Alaris Infusion Pump",
        version="12.1.2",
    ),
    asset(
        "pump-nover",
        AssetKind.MEDICAL_DEVICE,
        "Spare pumps",
        vendor="Becton Dickinson",
        product="Alaris Infusion Pump",
    ),
    asset(
        "mgr",
        AssetKind.SOFTWARE,
        "Pump server",
        vendor="BD",
        product="Alaris Systems Manager",
        version="12.3",
    ),
    asset(
        "mgr-vex",
        AssetKind.SOFTWARE,
        "Pump server (lab)",
        provider="prov-b",
        vendor="BD",
        product="Alaris Systems Manager",
        version="12.1",
        not_affected=["CVE-2023-30563"],
    ),
    asset(
        "mx40",
        AssetKind.MEDICAL_DEVICE,
        "Telemetry",
        vendor="Philips",
        product="IntelliVue MX40",
        version="B.05",
    ),
    asset(
        "spacecom-u61",
        AssetKind.MEDICAL_DEVICE,
        "SpaceCom US",
        vendor="B. Braun Melsungen AG",
        product="SpaceCom",
        version="U61",
    ),
    asset(
        "spacecom-u62",
        AssetKind.MEDICAL_DEVICE,
        "SpaceCom US new",
        vendor="B. Braun",
        product="SpaceCom",
        version="U62",
    ),
    asset(
        "spacecom-l82",
        AssetKind.MEDICAL_DEVICE,
        "SpaceCom EU new",
        vendor="B. Braun",
        product="SpaceCom",
        version="L82",
    ),
    asset(
        "acme-spacecom", AssetKind.SOFTWARE, "Other SpaceCom", vendor="Acme", product="SpaceCom", version="1"
    ),
    asset(
        "optima",
        AssetKind.MEDICAL_DEVICE,
        "CT room 2",
        vendor="GE Healthcare",
        product="Optima 520",
        version="whatever",
    ),
    asset(
        "moveit",
        AssetKind.SOFTWARE,
        "File transfer",
        cpe="cpe:2.3:a:progress:moveit_transfer:2021.0.3:*:*:*:*:*:*:*",
    ),
    asset(
        "moveit-named",
        AssetKind.SOFTWARE,
        "File transfer 2",
        vendor="Progress Software Corporation",
        product="MOVEit Transfer",
        version="2022.0.1",
    ),
    asset(
        "moveit-cloud",
        AssetKind.SOFTWARE,
        "Cloud transfer",
        cpe="cpe:2.3:a:progress:moveit_cloud:14.1.0.0:*:*:*:*:*:*:*",
    ),
    asset(
        "jackson",
        AssetKind.SOFTWARE,
        "jackson-databind",
        purl="pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.10",
        parent_id="pump-gateway",
    ),
    asset(
        "pump-gateway",
        AssetKind.MEDICAL_DEVICE,
        "Infusion gateway",
        vendor="BD",
        product="Gateway",
        version="1.0",
        clinical_criticality=ClinicalCriticality.LIFE_SUSTAINING,
        network_exposure=NetworkExposure.INTERNET,
    ),
    asset(
        "jackson-fixed",
        AssetKind.SOFTWARE,
        "jackson patched",
        provider="prov-b",
        purl="pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.10.1",
    ),
    asset(
        "jackson-fork",
        AssetKind.SOFTWARE,
        "jackson fork",
        purl="pkg:maven/org.example/jackson-databind@2.9.10",
    ),
    asset("net", AssetKind.NETWORK, "Not a product", value="10.0.0.0/8"),
]

ALARIS = product("Becton, Dickinson and Company", "Alaris™ Infusion Pump", "< 12.1.2")
JACKSON = AffectedProduct(
    purl="pkg:maven/com.fasterxml.jackson.core/jackson-databind",
    versions=[VersionRange(raw="vers:maven/>=2.9.0|<2.9.10.1", scheme="maven")],
)


@pytest.fixture(scope="module")
def product_index() -> AssetIndex:
    return AssetIndex.build(PRODUCT_INVENTORY)


@pytest.mark.parametrize(
    ("ind", "expected"),
    [
        pytest.param(
            advisory("ICSMA-20-296-02", ALARIS),
            {
                "pump-1210": "BD Alaris Infusion Pump firmware 12.1.0 on your device 'ICU pumps' is "
                "within the affected range < 12.1.2 of ICSMA-20-296-02.",
                "pump-nover": "Possibly affected — version not recorded: Becton Dickinson Alaris Infusion "
                "Pump on your device 'Spare pumps' is named by ICSMA-20-296-02 for versions < 12.1.2; its "
                "firmware version is not recorded, so check it.",
            },
            id="vendor-alias-and-range-version-just-outside-and-unknown",
        ),
        pytest.param(
            advisory(
                "CVE-2023-30563",
                product("Becton Dickinson & Co", "BD Alaris\u00e2\u201e\u00a2 Systems Manager", "<= 12.3"),
            ),
            {
                "mgr": "BD Alaris Systems Manager version 12.3 on your software 'Pump server' is within the "
                "affected range <= 12.3 of CVE-2023-30563."
            },
            id="mojibake-product-inclusive-bound-and-vex-suppresses-other-provider",
        ),
        pytest.param(
            advisory(
                "ICSMA-XX-1",
                product("BD", "Alaris Systems Manager", "<= 12.3"),
                cves=["CVE-2023-30563", "CVE-2023-99999"],
            ),
            {"mgr": None, "mgr-vex": None},
            id="vex-covering-only-one-of-two-cves-does-not-suppress",
        ),
        pytest.param(
            advisory("ICSMA-XX-2", product("Phillips", "IntelliVue MX40", "< B.06")),
            {"mx40": None},
            id="vendor-misspelling-phillips",
        ),
        pytest.param(
            advisory("ICSMA-XX-3", product("Philips", "IntelliVue MX40", "< B.05")),
            {},
            id="version-equal-to-exclusive-bound-near-miss",
        ),
        pytest.param(
            advisory("ICSMA-20-296-02-braun", product("B. Braun Medical", "SpaceCom", "<= U61 |<= L81")),
            {
                "spacecom-u61": "B. Braun Melsungen AG SpaceCom firmware U61 on your device 'SpaceCom US' is "
                "within the affected range <= U61 of ICSMA-20-296-02-braun."
            },
            id="cisa-alternatives-per-product-line",
        ),
        pytest.param(
            advisory("ICSMA-18-037-02", product("GE Healthcare", "Optima 520", "vers:all/*")),
            {
                "optima": "GE Healthcare Optima 520 on your device 'CT room 2' is affected in all "
                "versions by ICSMA-18-037-02."
            },
            id="all-versions",
        ),
        pytest.param(
            advisory("ICSMA-18-037-02", product("GE Healthcare", "Optima 540", "vers:all/*")),
            {},
            id="sibling-model-near-miss",
        ),
        pytest.param(
            advisory(
                "ICSMA-XX-4",
                product("BD", "Alaris Infusion Pump", "< 13.0"),
                product("BD", "Alaris Infusion Pump", ">= 12.1.1", status=ProductStatus.FIXED),
            ),
            {"pump-1210": None, "pump-nover": None},
            id="fixed-version-does-not-match",
        ),
        pytest.param(
            advisory(
                "ICSMA-XX-5",
                product("BD", "Alaris Infusion Pump", "< 13.0"),
                product("BD", "Alaris Infusion Pump", status=ProductStatus.NOT_AFFECTED),
            ),
            {},
            id="known-not-affected-suppresses",
        ),
        pytest.param(
            advisory(
                "ICSMA-XX-6", product("BD", "Alaris Infusion Pump", status=ProductStatus.UNDER_INVESTIGATION)
            ),
            {},
            id="under-investigation-no-alert",
        ),
        pytest.param(
            advisory(
                "CVE-2023-34362",
                AffectedProduct(
                    cpe="cpe:2.3:a:progress:moveit_transfer:*:*:*:*:*:*:*:*",
                    versions=[
                        VersionRange(gte="2021.0", lt="2021.0.7"),
                        VersionRange(gte="2022.0.0", lt="2022.0.5"),
                    ],
                ),
            ),
            {
                "moveit": "progress moveit_transfer version 2021.0.3 on your software 'File transfer' is "
                "within the affected range >= 2021.0, < 2021.0.7 of CVE-2023-34362.",
                "moveit-named": None,
            },
            id="cpe-and-cpe-implied-vendor-product",
        ),
        pytest.param(
            advisory(
                "CVE-2023-34362",
                AffectedProduct(cpe="cpe:2.3:a:progress:moveit_transfer:2021.0.3:*:*:*:*:*:*:*"),
            ),
            {"moveit": None},
            id="cpe-with-exact-version",
        ),
        pytest.param(
            advisory(
                "CVE-2023-34362",
                AffectedProduct(cpe="cpe:2.3:a:progress:moveit_transfer:2021.0.4:*:*:*:*:*:*:*"),
            ),
            {},
            id="cpe-other-exact-version-near-miss",
        ),
        pytest.param(
            advisory("CVE-2019-12384", JACKSON),
            {
                "jackson": "pkg:maven/com.fasterxml.jackson.core/jackson-databind version 2.9.10 on your "
                "software 'jackson-databind' (part of 'Infusion gateway') is within the affected range "
                ">= 2.9.0, < 2.9.10.1 of CVE-2019-12384."
            },
            id="purl-maven-range-fixed-release-and-fork-near-misses",
        ),
        pytest.param(
            advisory("ICSMA-XX-7", product("Acme Corp", "SpaceCom", "< 2")),
            {"acme-spacecom": None},
            id="same-product-other-vendor-only-its-own",
        ),
        pytest.param(advisory("ICSMA-XX-8"), {}, id="advisory-without-products"),
        pytest.param(
            advisory(
                "CVE-2023-34362",
                AffectedProduct(vendor="Progress", product="MOVEit Transfer"),
                AffectedProduct(
                    cpe="cpe:2.3:a:progress:moveit_transfer:*:*:*:*:*:*:*:*",
                    versions=[VersionRange(gte="2022.0.0", lt="2022.0.5")],
                ),
            ),
            {"moveit-named": None},
            id="versionless-kev-entry-defers-to-the-ranges-given",
        ),
        pytest.param(
            advisory("CVE-2023-34362", AffectedProduct(vendor="Progress", product="MOVEit Transfer")),
            {
                "moveit": None,
                "moveit-named": "Progress Software Corporation MOVEit Transfer on your software "
                "'File transfer 2' is named by CVE-2023-34362, which gives no affected versions.",
            },
            id="versionless-kev-entry-alone-names-the-product",
        ),
    ],
)
def test_product_rules(product_index: AssetIndex, ind: Indicator, expected: dict[str, str | None]) -> None:
    found = {m.asset.id: m for m in match(ind, product_index)}
    assert sorted(found) == sorted(expected)
    for asset_id, reason in expected.items():
        if reason is not None:
            assert explain(ind, found[asset_id]) == reason


def test_relations_and_fields(product_index: AssetIndex, network_index: AssetIndex) -> None:
    moveit = advisory(
        "CVE-2023-34362",
        AffectedProduct(
            cpe="cpe:2.3:a:progress:moveit_transfer:*:*:*:*:*:*:*:*", versions=[VersionRange(lt="2023")]
        ),
    )
    by_id = {m.asset.id: m for m in match(moveit, product_index)}
    assert (by_id["moveit"].field, by_id["moveit-named"].field) == ("cpe", "vendor+product")
    assert by_id["moveit"].relation is Relation.VERSION_IN_RANGE
    (net,) = match(indicator(V4, "198.51.96.0/20"), network_index)
    assert (net.relation, net.field, net.range) == (Relation.RANGE_COVERS, "network", "198.51.100.0/22")


def test_fix_available_from_fixed_entry_or_vendor_fix_remediation(product_index: AssetIndex) -> None:
    with_fixed = advisory(
        "ICSMA-XX-4",
        product("BD", "Alaris Infusion Pump", "< 13.0"),
        product("BD", "Alaris Infusion Pump", ">= 13.0", status=ProductStatus.FIXED),
    )
    assert {m.asset.id: m.fix_available for m in match(with_fixed, product_index)} == {
        "pump-1210": True,
        "pump-1212": True,
        "pump-nover": True,
    }
    mitigation_only = advisory("ICSMA-XX-9", ALARIS, remediations=["mitigation: restrict network access"])
    assert {m.fix_available for m in match(mitigation_only, product_index)} == {False}
    vendor_fix = advisory("ICSMA-XX-9", ALARIS, remediations=["vendor_fix: update to firmware 12.1.2"])
    found = match(vendor_fix, product_index)
    assert {m.fix_available for m in found} == {True}
    assert explain(vendor_fix, found[0]).endswith("A fix is available.")


def test_sbom_component_inherits_device_clinical_role(product_index: AssetIndex) -> None:
    (component,) = match(advisory("CVE-2019-12384", JACKSON), product_index)
    assert component.asset.clinical_criticality is ClinicalCriticality.LIFE_SUSTAINING
    assert component.asset.network_exposure is NetworkExposure.INTERNET
    assert component.asset.parent_name == "Infusion gateway"


@pytest.mark.parametrize(
    ("fields", "active"),
    [
        pytest.param({}, True, id="no-expiry"),
        pytest.param({"valid_until": NOW + timedelta(seconds=1)}, True, id="expires-later"),
        pytest.param({"valid_until": NOW}, False, id="expires-now"),
        pytest.param({"valid_until": NOW - timedelta(days=1)}, False, id="expired"),
        pytest.param({"revoked": True}, False, id="revoked"),
    ],
)
def test_is_active(fields: dict[str, Any], active: bool) -> None:
    assert is_active(indicator(V4, "203.0.113.7", **fields), NOW) is active


def test_build_alert_carries_identity_scores_and_provenance(network_index: AssetIndex) -> None:
    ind = indicator(V4, "203.0.113.7", labels=["c2"], confidence=90, cves=["CVE-2024-0001"])
    alerts = {a.asset_id: a for a in (build_alert(ind, m, now=NOW) for m in match(ind, network_index))}
    pacs = alerts["net-pacs"]
    assert pacs.id == alert_id(provider_id="prov-a", indicator_key="ipv4:203.0.113.7", asset_id="net-pacs")
    assert (pacs.revision, pacs.provider_id, pacs.indicator_type) == (1, "prov-a", IndicatorType.IPV4)
    assert (pacs.match.field, pacs.match.asset_value, pacs.match.range) == (
        "network",
        "203.0.113.0/24",
        "203.0.113.0/24",
    )
    assert pacs.source_feeds == ["feed-test"]
    assert pacs.cves == ["CVE-2024-0001"]
    assert pacs.matched_at == NOW
    assert pacs.reason == "203.0.113.7 is inside your range 203.0.113.0/24 'PACS DMZ'"
    assert alerts["b-ward"].provider_id == "prov-b"
    assert alerts["b-ward"].id != pacs.id


# --- one alert per (asset, advisory), possibly affected ----------------------------------------------------

UNREADABLE = VersionRange(kind=RangeKind.UNREADABLE, raw="see the vendor's customer notice")
DISTRIBUTED = VersionRange(
    kind=RangeKind.DATE, lt="2018-04-01", scheme="date", raw="distributed  < april 1, 2018"
)


def multi_cve(
    *affected: AffectedProduct, cves: tuple[str, ...] = ("CVE-2020-0001", "CVE-2020-0002")
) -> Indicator:
    """An advisory with two CVEs, the first scored 5.0, the second 9.8."""
    details = [
        CveDetail(id=c, cvss_score=s, title=f"t{i}")
        for i, (c, s) in enumerate(zip(cves, (5.0, 9.8), strict=True))
    ]
    return indicator(
        IndicatorType.VULNERABILITY,
        "ICSMA-XX-10",
        cves=list(cves),
        vulnerability=VulnerabilityInfo(
            cves=list(cves), cvss_score=9.8, affected=list(affected), cve_details=details
        ),
    )


@pytest.mark.parametrize(
    ("ind", "expected"),
    [
        pytest.param(
            multi_cve(
                product("BD", "Alaris Infusion Pump", "< 13.0", cves=["CVE-2020-0001"]),
                product("BD", "Alaris Infusion Pump", "< 12.1.1", cves=["CVE-2020-0002"]),
            ),
            {
                "pump-1210": (("CVE-2020-0001", "CVE-2020-0002"), Relation.VERSION_IN_RANGE),
                "pump-1212": (("CVE-2020-0001",), Relation.VERSION_IN_RANGE),
                "pump-nover": (("CVE-2020-0001", "CVE-2020-0002"), Relation.VERSION_UNKNOWN),
            },
            id="one-match-per-asset-listing-the-cves-that-hit-it",
        ),
        pytest.param(
            multi_cve(
                product("BD", "Alaris Infusion Pump", "< 13.0"),
                product(
                    "BD",
                    "Alaris Infusion Pump",
                    "< 13.0",
                    status=ProductStatus.NOT_AFFECTED,
                    cves=["CVE-2020-0002"],
                ),
            ),
            {
                "pump-1210": (("CVE-2020-0001",), Relation.VERSION_IN_RANGE),
                "pump-1212": (("CVE-2020-0001",), Relation.VERSION_IN_RANGE),
                "pump-nover": (("CVE-2020-0001", "CVE-2020-0002"), Relation.VERSION_UNKNOWN),
            },
            id="known-not-affected-removes-only-its-cve",
        ),
        pytest.param(
            multi_cve(
                product("BD", "Alaris Systems Manager", "<= 12.3"), cves=("CVE-2023-30563", "CVE-2023-99999")
            ),
            {
                "mgr": (("CVE-2023-30563", "CVE-2023-99999"), Relation.VERSION_IN_RANGE),
                "mgr-vex": (("CVE-2023-99999",), Relation.VERSION_IN_RANGE),
            },
            id="vex-removes-only-its-cve",
        ),
        pytest.param(
            multi_cve(AffectedProduct(vendor="BD", product="Alaris Infusion Pump", versions=[UNREADABLE])),
            {
                "pump-1210": (("CVE-2020-0001", "CVE-2020-0002"), Relation.VERSION_NOT_COMPARABLE),
                "pump-1212": (("CVE-2020-0001", "CVE-2020-0002"), Relation.VERSION_NOT_COMPARABLE),
                "pump-nover": (("CVE-2020-0001", "CVE-2020-0002"), Relation.VERSION_UNKNOWN),
            },
            id="unreadable-text-is-possibly-affected-never-silent",
        ),
        pytest.param(
            multi_cve(AffectedProduct(vendor="BD", product="Alaris Infusion Pump", versions=[DISTRIBUTED])),
            {
                "pump-1210": (("CVE-2020-0001", "CVE-2020-0002"), Relation.VERSION_NOT_COMPARABLE),
                "pump-1212": (("CVE-2020-0001", "CVE-2020-0002"), Relation.VERSION_NOT_COMPARABLE),
                "pump-nover": (("CVE-2020-0001", "CVE-2020-0002"), Relation.VERSION_UNKNOWN),
            },
            id="date-bound-against-a-firmware-version-is-possibly-affected",
        ),
        pytest.param(
            multi_cve(
                product("BD", "Alaris Infusion Pump", "< 12.1.1", status=ProductStatus.UNSTATED),
            ),
            {
                "pump-1210": (("CVE-2020-0001", "CVE-2020-0002"), Relation.STATUS_NOT_STATED),
                "pump-nover": (("CVE-2020-0001", "CVE-2020-0002"), Relation.STATUS_NOT_STATED),
            },
            id="listed-without-status-is-possibly-affected-within-its-range",
        ),
        pytest.param(
            multi_cve(
                product("BD", "Alaris Infusion Pump", "< 12.1.1", status=ProductStatus.UNSTATED),
                product("BD", "Alaris Infusion Pump", "< 2.0", status=ProductStatus.UNSTATED),
            ),
            {
                "pump-1210": (("CVE-2020-0001", "CVE-2020-0002"), Relation.STATUS_NOT_STATED),
                "pump-nover": (("CVE-2020-0001", "CVE-2020-0002"), Relation.STATUS_NOT_STATED),
            },
            id="an-unstated-variant-outside-its-range-does-not-silence-another",
        ),
        pytest.param(
            multi_cve(
                product("BD", "Alaris Infusion Pump", "< 12.1.1"),
                product("BD", "Alaris Infusion Pump", ">= 12.1.1", status=ProductStatus.UNSTATED),
            ),
            {
                "pump-1210": (("CVE-2020-0001", "CVE-2020-0002"), Relation.VERSION_IN_RANGE),
                "pump-nover": (("CVE-2020-0001", "CVE-2020-0002"), Relation.VERSION_UNKNOWN),
            },
            id="an-affected-entry-with-versions-decides-over-an-unstated-one",
        ),
    ],
)
def test_advisory_rules(
    product_index: AssetIndex, ind: Indicator, expected: dict[str, tuple[tuple[str, ...], Relation]]
) -> None:
    found = {m.asset.id: (m.cves, m.relation) for m in match(ind, product_index)}
    assert found == expected


def test_alert_lists_the_cves_that_hit_worst_first_and_scores_the_worst(product_index: AssetIndex) -> None:
    ind = multi_cve(
        product("BD", "Alaris Infusion Pump", "< 13.0", cves=["CVE-2020-0001"]),
        product("BD", "Alaris Infusion Pump", "< 12.1.1", cves=["CVE-2020-0002"]),
    )
    alerts = {a.asset_id: a for a in (build_alert(ind, m, now=NOW) for m in match(ind, product_index))}
    both, one = alerts["pump-1210"], alerts["pump-1212"]
    assert both.cves == ["CVE-2020-0002", "CVE-2020-0001"]  # 9.8 before 5.0
    assert [(c.id, c.cvss_score) for c in both.cve_details] == [
        ("CVE-2020-0002", 9.8),
        ("CVE-2020-0001", 5.0),
    ]
    assert one.cves == ["CVE-2020-0001"]
    assert one.score < both.score  # scored by the worst CVE that hits, not the advisory's worst
    assert both.reason == (
        "BD Alaris Infusion Pump firmware 12.1.0 on your device 'ICU pumps' is within the affected range "
        "< 13.0 of ICSMA-XX-10 (CVE-2020-0001, CVE-2020-0002)."
    )
    assert not both.possibly_affected and both.advisory == "r-1"
    assert alerts["pump-nover"].possibly_affected


@pytest.mark.parametrize(
    ("versions", "status", "reason"),
    [
        pytest.param(
            [UNREADABLE],
            ProductStatus.AFFECTED,
            "Possibly affected — version could not be compared: BD Alaris Infusion Pump firmware 12.1.0 on "
            "your device 'ICU pumps' is named by ICSMA-XX-10 (CVE-2020-0001, CVE-2020-0002), and the advisory "
            'says "see the vendor\'s customer notice". Check it.',
            id="unreadable-quotes-the-advisory",
        ),
        pytest.param(
            [DISTRIBUTED],
            ProductStatus.AFFECTED,
            "Possibly affected — version could not be compared: BD Alaris Infusion Pump firmware 12.1.0 on "
            "your device 'ICU pumps' is named by ICSMA-XX-10 (CVE-2020-0001, CVE-2020-0002), and the advisory "
            'says "distributed  < april 1, 2018". Check it.',
            id="date-quotes-the-advisory",
        ),
        pytest.param(
            [VersionRange(kind=RangeKind.ALL)],
            ProductStatus.UNSTATED,
            "Possibly affected — listed in the advisory, status not stated: BD Alaris Infusion Pump on your "
            "device 'ICU pumps' is listed in ICSMA-XX-10 (CVE-2020-0001, CVE-2020-0002) without saying whether "
            "it is affected. Check it.",
            id="listed-without-status",
        ),
    ],
)
def test_possibly_affected_alerts_quote_the_advisory_and_score_lower(
    product_index: AssetIndex, versions: list[VersionRange], status: ProductStatus, reason: str
) -> None:
    certain = multi_cve(
        AffectedProduct(vendor="BD", product="Alaris Infusion Pump", versions=[VersionRange(lt="13.0")])
    )
    possible = multi_cve(
        AffectedProduct(vendor="BD", product="Alaris Infusion Pump", versions=versions, status=status)
    )
    by_asset = {m.asset.id: m for m in match(possible, product_index)}
    alert = build_alert(possible, by_asset["pump-1210"], now=NOW)
    sure = build_alert(
        certain, next(m for m in match(certain, product_index) if m.asset.id == "pump-1210"), now=NOW
    )
    assert alert.possibly_affected and not sure.possibly_affected
    assert alert.reason == reason
    assert alert.score < sure.score


@pytest.mark.parametrize(
    ("model_asset", "matched"),
    [
        pytest.param("DH-NVR1104HS-S3", True, id="model-family-named-in-the-version-field"),
        pytest.param("DH-XVR5104HS", False, id="sibling-model-near-miss"),
    ],
)
def test_model_in_the_version_field_is_looked_up_alone(model_asset: str, matched: bool) -> None:
    recorder = asset(
        "nvr", AssetKind.MEDICAL_DEVICE, "Recorder", vendor="Dahua", product=model_asset, version="3.2"
    )
    dahua = advisory(
        "ICSA-17-124-02",
        AffectedProduct(
            vendor="Dahua Technology Co, Ltd",
            product="Digital Video Recorders and IP Cameras DH-NVR1XXX",
            model="DH-NVR1XXX",
            versions=[VersionRange(kind=RangeKind.ALL)],
        ),
        cves=["CVE-2017-7927"],
    )
    found = match(dahua, AssetIndex.build([recorder]))
    assert [(m.asset.id, m.relation) for m in found] == ([("nvr", Relation.ALL_VERSIONS)] if matched else [])


def test_kev_flags_follow_the_cves_that_hit_the_asset(product_index: AssetIndex) -> None:
    """An advisory whose other CVE is in KEV does not make this asset's alert known exploited."""
    ind = multi_cve(
        product("BD", "Alaris Infusion Pump", "< 13.0", cves=["CVE-2020-0001"]),
        product("BD", "Alaris Infusion Pump", "< 12.1.1", cves=["CVE-2020-0002"]),
    )
    vuln = ind.vulnerability
    assert vuln is not None
    details = [
        d.model_copy(update={"known_exploited": True, "known_ransomware_use": True})
        if d.id == "CVE-2020-0002"
        else d
        for d in vuln.cve_details
    ]
    kev = vuln.model_copy(
        update={"known_exploited": True, "known_ransomware_use": True, "cve_details": details}
    )
    flagged = ind.model_copy(update={"vulnerability": kev, "labels": ["exploit", "ransomware"]})
    alerts = {
        a.asset_id: a for a in (build_alert(flagged, m, now=NOW) for m in match(flagged, product_index))
    }
    both, one = alerts["pump-1210"], alerts["pump-1212"]  # 12.1.0 meets both CVEs; 12.1.2 only the first
    assert both.known_exploited and set(both.labels) == {"exploit", "ransomware"}
    assert [(c.id, c.known_exploited) for c in both.cve_details] == [
        ("CVE-2020-0002", True),
        ("CVE-2020-0001", False),
    ]
    assert not one.known_exploited and one.labels == []
    assert [(c.id, c.known_exploited) for c in one.cve_details] == [("CVE-2020-0001", False)]
    unflagged = {a.asset_id: a for a in (build_alert(ind, m, now=NOW) for m in match(ind, product_index))}
    assert one.score == unflagged["pump-1212"].score
    assert both.score > unflagged["pump-1210"].score


@pytest.mark.parametrize(
    ("fixed_ranges", "flagged"),
    [
        pytest.param((), ["pump-1210"], id="fixed-without-version-removes-nothing"),
        pytest.param((">= 12.1.0",), [], id="fixed-range-containing-the-version-removes-it"),
        pytest.param(("12.1.1",), ["pump-1210"], id="fixed-version-elsewhere"),
    ],
)
def test_fixed_entry_without_a_version_never_silences_the_affected_range(
    fixed_ranges: tuple[str, ...], flagged: list[str]
) -> None:
    """CSAF "fixed" lists product ids; one that names the product without any version node says a fix
    exists, not which versions have it: the affected range of the same advisory still decides."""
    pump = asset(
        "pump-1210", AssetKind.MEDICAL_DEVICE, "ICU pumps", vendor="BD", product="Alaris Infusion Pump",
        version="12.1.0",
    )  # fmt: skip
    ind = advisory(
        "ICSMA-99-001-01",
        product("BD", "Alaris Infusion Pump", "< 12.1.1", cves=["CVE-2099-0001"]),
        product(
            "BD", "Alaris Infusion Pump", *fixed_ranges, status=ProductStatus.FIXED, cves=["CVE-2099-0001"]
        ),
        cves=["CVE-2099-0001"],
    )
    found = match(ind, AssetIndex.build([pump]))
    assert [m.asset.id for m in found] == flagged
    assert all(m.fix_available for m in found)


@pytest.mark.parametrize(
    ("asset_product", "matched"),
    [
        pytest.param("MiniMed 670G", True, id="the-product-the-models-belong-to"),
        pytest.param("MMT-1741", True, id="a-listed-model"),
        pytest.param("MiniMed 640G", False, id="a-sibling-product"),
    ],
)
def test_product_of_a_model_written_in_the_version_field_is_looked_up(
    asset_product: str, matched: bool
) -> None:
    """ICSMA-22-263-01 writes the models of "MiniMed 670G" in its version field ("MMT-1740 | MMT-1741 | …"):
    the reader folds them into the name, and a pump registered as "MiniMed 670G" is still found."""
    pump = asset("pump", AssetKind.MEDICAL_DEVICE, "Insulin pump", vendor="Medtronic", product=asset_product)
    ind = advisory(
        "ICSMA-22-263-01",
        AffectedProduct(
            vendor="Medtronic",
            product="MiniMed 670G MMT-1740 | MMT-1741 | MMT-1742",
            model="MMT-1740 | MMT-1741 | MMT-1742",
            versions=[VersionRange(kind=RangeKind.ALL)],
        ),
        cves=["CVE-2022-32537"],
    )
    found = match(ind, AssetIndex.build([pump]))
    assert [m.asset.id for m in found] == (["pump"] if matched else [])
