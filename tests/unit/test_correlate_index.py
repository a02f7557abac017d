"""The asset index: what each asset is filed under, per-provider replacement and full rebuild."""

from __future__ import annotations

import pytest

from ewarn.correlate.addresses import V4, V6, normalise_host, parse_address, parse_asn, parse_network
from ewarn.correlate.index import AssetIndex, Entry, records
from ewarn.models import Asset, AssetKind, Criticality


def asset(id_: str, kind: AssetKind, provider: str = "p1", **fields: object) -> Asset:
    return Asset(id=id_, provider_id=provider, kind=kind, name=f"name {id_}", **fields)


def ids(index: AssetIndex, entry: Entry | None) -> set[str]:
    return set() if entry is None else {index.ref(r).id for r in records(entry)}


def containing(index: AssetIndex, address: str) -> set[str]:
    parsed = parse_address(address)
    assert parsed is not None
    return {index.ref(r).id for _, _, e in index.networks_containing(*parsed) for r in records(e)}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        pytest.param("203.0.113.7/24", (V4, 0xCB007100, 24), id="host-bits-cleared"),
        pytest.param("192.0.2.1", (V4, 0xC0000201, 32), id="address-is-32"),
        pytest.param("2001:db8::/32", (V6, 0x20010DB8 << 96, 32), id="ipv6"),
        pytest.param("203.0.113.0/33", None, id="prefix-too-long"),
        pytest.param("203.0.113.0/x", None, id="prefix-not-a-number"),
        pytest.param("example.com", None, id="not-an-address"),
    ],
)
def test_parse_network(text: str, parsed: tuple[int, int, int] | None) -> None:
    assert parse_network(text) == parsed


def test_name_normalisers() -> None:
    assert normalise_host("*.Example.COM.") == "example.com"
    assert normalise_host("bücher.example") == "xn--bcher-kva.example"
    assert normalise_host("  ") is None
    assert (parse_asn("AS64500"), parse_asn("as1"), parse_asn("64500"), parse_asn("ASX")) == (
        64500,
        1,
        64500,
        None,
    )


def test_every_kind_is_filed_under_its_key() -> None:
    index = AssetIndex.build(
        [
            asset("n", AssetKind.NETWORK, value="10.1.0.0/16"),
            asset("d", AssetKind.DOMAIN, value="Example.org"),
            asset("h", AssetKind.HOSTNAME, value="vpn.example.net"),
            asset("e", AssetKind.EMAIL_DOMAIN, value="@mail.example"),
            asset("a", AssetKind.ASN, value="AS64500"),
            asset(
                "s",
                AssetKind.SOFTWARE,
                vendor="Progress Software",
                product="MOVEit Transfer",
                version="1",
                cpe="cpe:2.3:a:progress:moveit_transfer:1:*:*:*:*:*:*:*",
                purl="pkg:generic/progress/moveit-transfer@1",
            ),
            asset("m", AssetKind.MEDICAL_DEVICE, vendor="Phillips", product="IntelliVue MX40"),
        ]
    )
    assert containing(index, "10.1.2.3") == {"n"}
    assert [d for d, _ in index.domains_covering("www.example.org")] == ["example.org"]
    assert ids(index, index.hostname("vpn.example.net")) == {"h"}
    assert ids(index, index.email_domain("mail.example")) == {"e"}
    assert ids(index, index.asn(64500)) == {"a"}
    assert ids(index, index.by_name("progress|moveit transfer")) == {"s"}
    assert ids(index, index.by_cpe("progress:moveit_transfer")) == {"s"}
    assert ids(index, index.by_purl("generic/progress/moveit-transfer")) == {"s"}
    assert ids(index, index.by_name("philips|intellivue mx40")) == {"m"}
    assert (len(index), index.provider_count) == (7, 1)


def test_record_round_trips_the_fields_correlation_needs() -> None:
    original = asset(
        "m",
        AssetKind.MEDICAL_DEVICE,
        vendor="BD",
        product="Alaris",
        version="12.1",
        criticality=Criticality.CRITICAL,
        not_affected=["cve-2024-1"],
        location="ICU 3",
    )
    (ref,) = AssetIndex.build([original]).provider_assets("p1")
    assert (ref.id, ref.provider_id, ref.kind, ref.name, ref.vendor, ref.product, ref.version) == (
        "m",
        "p1",
        AssetKind.MEDICAL_DEVICE,
        "name m",
        "BD",
        "Alaris",
        "12.1",
    )
    assert (ref.criticality, ref.not_affected, ref.location) == (
        Criticality.CRITICAL,
        frozenset({"CVE-2024-1"}),
        "ICU 3",
    )


def test_replace_provider_drops_old_keys_and_keeps_others() -> None:
    index = AssetIndex.build(
        [
            asset("old-net", AssetKind.NETWORK, value="10.0.0.0/24"),
            asset("shared-1", AssetKind.NETWORK, value="172.16.0.0/16"),
            asset("old-dom", AssetKind.DOMAIN, value="old.example"),
            asset("other", AssetKind.NETWORK, provider="p2", value="10.0.0.0/24"),
            asset("shared-2", AssetKind.NETWORK, provider="p2", value="172.16.0.0/16"),
        ]
    )
    assert containing(index, "10.0.0.1") == {"old-net", "other"}
    index.replace_provider("p1", [asset("new-net", AssetKind.NETWORK, value="10.0.1.0/24")])
    assert containing(index, "10.0.0.1") == {"other"}
    assert containing(index, "10.0.1.1") == {"new-net"}
    assert containing(index, "172.16.9.9") == {"shared-2"}
    assert list(index.domains_covering("old.example")) == []
    index.remove_provider("p2")
    assert containing(index, "10.0.0.1") == set()
    assert (len(index), index.provider_count) == (1, 1)


def test_replace_provider_ignores_assets_of_other_providers() -> None:
    index = AssetIndex()
    index.replace_provider(
        "p1", [asset("mine", AssetKind.ASN, value="AS1"), asset("x", AssetKind.ASN, "p2", value="AS2")]
    )
    assert (ids(index, index.asn(1)), index.asn(2)) == ({"mine"}, None)


def test_overlap_query_sees_networks_added_after_a_previous_query() -> None:
    index = AssetIndex.build([asset("a", AssetKind.NETWORK, value="10.0.0.0/24")])
    wide = parse_network("10.0.0.0/16")
    assert wide is not None
    assert {index.ref(r).id for _, _, e in index.networks_overlapping(wide) for r in records(e)} == {"a"}
    index.replace_provider("p2", [asset("b", AssetKind.NETWORK, "p2", value="10.0.200.0/24")])
    assert {index.ref(r).id for _, _, e in index.networks_overlapping(wide) for r in records(e)} == {"a", "b"}


def test_rebuild_replaces_everything() -> None:
    index = AssetIndex.build([asset("a", AssetKind.ASN, value="AS1")])
    index.rebuild([asset("b", AssetKind.ASN, "p9", value="AS2")])
    assert (index.asn(1), ids(index, index.asn(2)), len(index)) == (None, {"b"}, 1)


def test_invalid_values_are_not_filed() -> None:
    index = AssetIndex.build(
        [asset("bad-net", AssetKind.NETWORK, value="not-an-ip"), asset("bad-asn", AssetKind.ASN, value="ASX")]
    )
    assert len(index) == 2  # kept (the inventory is the provider's), but reachable by no key
    assert containing(index, "10.0.0.1") == set()


@pytest.mark.parametrize(
    ("networks", "address", "lengths"),
    [
        pytest.param(
            [
                "10.0.0.0/8",
                "10.1.0.0/16",
                "10.1.0.0/20",
                "10.1.2.0/23",
                "10.1.2.0/24",
                "10.1.2.0/28",
                "10.1.2.3/32",
            ],
            "10.1.2.3",
            [32, 28, 24, 23, 20, 16, 8],
            id="ipv4-every-level-longest-first",
        ),
        pytest.param(["10.1.2.0/24", "10.1.3.0/24"], "10.1.4.1", [], id="ipv4-empty-bucket"),
        pytest.param(["10.1.2.0/28"], "10.1.2.16", [], id="ipv4-bucket-set-but-outside-network"),
        pytest.param(
            ["2001:db8::/32", "2001:db8:1::/48", "2001:db8:1:2::/64", "2001:db8:1:2::5/128"],
            "2001:db8:1:2::5",
            [128, 64, 48, 32],
            id="ipv6-levels",
        ),
    ],
)
def test_containing_across_bucket_levels(networks: list[str], address: str, lengths: list[int]) -> None:
    index = AssetIndex.build(
        [asset(f"n{i}", AssetKind.NETWORK, f"p{i}", value=v) for i, v in enumerate(networks)]
    )
    parsed = parse_address(address)
    assert parsed is not None
    assert [length for length, _, _ in index.networks_containing(*parsed)] == lengths


def test_stale_bucket_bit_after_removal_matches_nothing() -> None:
    index = AssetIndex.build([asset("gone", AssetKind.NETWORK, value="10.9.9.0/26")])
    index.replace_provider("p1", [])
    assert containing(index, "10.9.9.1") == set()


# --- product lookup through canonical vendors and product keys ---------------------------------------------


def _device(
    id_: str, vendor: str | None, product: str | None, provider: str = "p1", **fields: object
) -> Asset:
    return asset(id_, AssetKind.MEDICAL_DEVICE, provider, vendor=vendor, product=product, **fields)


def _looked_up(index: AssetIndex, vendor: str, product: str) -> dict[str, str]:
    return {
        index.ref(r).id: hit.how for hit in index.lookup_product(vendor, product) for r in records(hit.entry)
    }


@pytest.mark.parametrize(
    ("registered", "advisory", "how"),
    [
        pytest.param(
            ("Welch Allyn", "Connex Spot Monitor"),
            ("Hillrom", "Welch Allyn Connex Spot Monitor (CSM)"),
            "exact key",
            id="brand-asset-owner-advisory",
        ),
        pytest.param(
            ("Welch Allyn", "Product Configuration Tool"),
            ("Baxter", "Welch Allyn Product Configuration Tool"),
            "exact key",
            id="acquired-brand-in-product-name",
        ),
        pytest.param(
            ("Becton Dickinson", "Alaris PC Unit"),
            ("Becton, Dickinson and Company (BD)", "Alaris PC Unit"),
            "exact key",
            id="parenthesised-short-form",
        ),
        pytest.param(
            ("GE Healthcare", "Image Vault"),
            ("GE Healthcare", "Image Vault 3.x medical imaging software"),
            "version in the name",
            id="family-in-product-name",
        ),
        pytest.param(
            ("Tridium", "Niagara"),
            ("Tridium", "Niagara 4.4u2"),
            "version in the name",
            id="update-in-product-name",
        ),
        pytest.param(
            ("Johnson Controls", "Metasys ADX Server"),
            ("Johnson Controls Inc", "Metasys ADS/ADX/OAS Servers"),
            "model in a list",
            id="slash-list-and-plural",
        ),
        pytest.param(
            ("Siemens", "Cerberus PRO UL Compact Panel FC924"),
            ("Siemens", "Cerberus PRO UL Compact Panel FC922/924"),
            "model in a list",
            id="slash-list-shared-letters",
        ),
        pytest.param(
            ("Johnson Controls", "NIE59"),
            ("Johnson Controls Inc", "Network Integration Engine (NIE55/NIE59)"),
            "model in a list",
            id="model-in-brackets",
        ),
        pytest.param(
            ("Dahua", "IPC-HDBW2431E-S"),
            ("Dahua Technology Co, Ltd", "Dahua IPC-HDBW2XXX"),
            "family pattern",
            id="wildcard-family",
        ),
        pytest.param(
            ("Geutebrück", "G-Cam EFD-2250"),
            ("GeutebrÃ¼ck", "EFD-22xx"),
            "family pattern",
            id="wildcard-family-mojibake-vendor",
        ),
        pytest.param(
            ("APC", "AP7900B"),
            ("Schneider Electric Software, LLC", "AP7xxx and AP8xxx with NMC3"),
            "family pattern",
            id="apc-under-schneider",
        ),
        pytest.param(
            ("Philips", "IntelliVue Patient Monitor MX400"),
            ("Philips", "IntelliVue MX400 Patient Monitor"),
            "word order",
            id="word-order",
        ),
        pytest.param(
            ("Exacq", "exacqVision Server"),
            ("Exacq Technologies, Johnson Controls Inc.", "exacqVision Server"),
            "exact key",
            id="brand-comma-owner",
        ),
        pytest.param(
            ("Johnson Controls", "C-CURE 9000"),
            ("Sensormatic Electronics, LLC, a subsidiary of Johnson Controls Inc.", "C-CURE 9000"),
            "exact key",
            id="subsidiary-of",
        ),
    ],
)
def test_lookup_product_meets_the_advisory_name(
    registered: tuple[str, str], advisory: tuple[str, str], how: str
) -> None:
    index = AssetIndex.build([_device("d", *registered)])
    assert _looked_up(index, *advisory) == {"d": how}


@pytest.mark.parametrize(
    ("registered", "advisory"),
    [
        pytest.param(
            ("Dahua", "IPC-HDBW3431E"), ("Dahua", "Dahua IPC-HDBW2XXX"), id="other-family-same-vendor"
        ),
        pytest.param(("APC", "AP79001"), ("APC", "AP7xxx with NMC3"), id="family-digit-count"),
        pytest.param(
            ("Siemens", "Cerberus PRO UL Compact Panel FC926"), ("Siemens", "FC922/924"), id="not-listed"
        ),
        pytest.param(("Philips", "IntelliVue MX40"), ("Philips", "IntelliVue MX400"), id="other-model"),
        pytest.param(("Acme Medical", "Pump"), ("Acme", "Pump"), id="unknown-vendor-only-its-own-name"),
        pytest.param(("Baxter", "Spectrum IQ"), ("Dahua", "Spectrum IQ"), id="other-vendor-same-product"),
        pytest.param(("Welch Allyn", "Connex Spot Monitor"), ("Welch Allyn", "n/a"), id="unknown-product"),
    ],
)
def test_lookup_product_near_misses(registered: tuple[str, str], advisory: tuple[str, str]) -> None:
    index = AssetIndex.build([_device("d", *registered)])
    assert _looked_up(index, *advisory) == {}


def test_purl_only_and_cpe_only_assets_get_name_keys() -> None:
    index = AssetIndex.build(
        [
            asset("purl", AssetKind.SOFTWARE, purl="pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"),
            asset("cpe", AssetKind.SOFTWARE, cpe="cpe:2.3:a:progress:moveit_transfer:2023.0.1:*:*:*:*:*:*:*"),
        ]
    )
    assert _looked_up(index, "Apache Software Foundation", "log4j-core") == {"purl": "exact key"}
    assert _looked_up(index, "Progress Software Corporation", "MOVEit Transfer") == {"cpe": "exact key"}
    assert ids(index, index.by_name("progress|moveit transfer")) == {"cpe"}


def test_lookup_product_returns_the_version_hint_of_the_advisory_name() -> None:
    index = AssetIndex.build([_device("d", "Siemens", "Siveillance Identity", version="1.5")])
    [hit] = index.lookup_product("Siemens", "Siveillance Identity V1.5")
    assert (hit.how, hit.version_hint, hit.field) == ("version in the name", "1.5", "vendor+product")


@pytest.mark.parametrize(
    ("registered", "advisory"),
    [
        pytest.param(
            ("Vertiv", "Liebert SiteScan Web"),
            ("Automated Logic Corporation (ALC)", "Liebert SiteScan Web"),
            id="oem",
        ),
        pytest.param(
            ("Pelco", "VideoXpert Enterprise"),
            ("Motorola Solutions", "Pelco VideoXpert Enterprise"),
            id="sold-brand",
        ),
        pytest.param(
            ("CareFusion", "Upgrade Utility"), ("Vyaire Medical", "CareFusion Upgrade Utility"), id="spun-off"
        ),
    ],
)
def test_a_brand_of_another_group_leading_the_product_name(
    registered: tuple[str, str], advisory: tuple[str, str]
) -> None:
    index = AssetIndex.build([_device("d", *registered)])
    assert set(_looked_up(index, *advisory)) == {"d"}


def test_a_product_line_brand_is_not_read_as_another_owner() -> None:
    index = AssetIndex.build([_device("d", "Google", "Things")])
    assert _looked_up(index, "Siemens", "Android Things") == {}  # Android is kept in product names


@pytest.mark.parametrize(
    ("registered", "version", "advisory", "found"),
    [
        pytest.param(
            ("Tridium", "Niagara 4"), "4.4.93.40.1", ("Tridium", "Niagara 4.4u2"), True, id="line-in-name"
        ),
        pytest.param(
            ("Tridium", "Niagara 4"), "4.4.93.40.1", ("Tridium", "Niagara 4.6"), False, id="other-line"
        ),
        pytest.param(
            ("GE Healthcare", "Xeleris"), "1.1.2", ("GE Healthcare", "Xeleris 1.0"), False, id="xeleris-1.0"
        ),
        pytest.param(
            ("GE Healthcare", "Image Vault"), "3.2", ("GE Healthcare", "Image Vault 3.x"), True, id="3.x"
        ),
        pytest.param(
            ("GE Healthcare", "Image Vault"), None, ("GE Healthcare", "Image Vault 3.x"), True, id="unknown"
        ),
        pytest.param(
            ("Johnson Controls", "Metasys ADX Server"),
            "11.0",
            ("Johnson Controls Inc", "All Metasys ADS/ADX/OAS"),
            True,
            id="listed-model-prefix",
        ),
        pytest.param(
            ("Johnson Controls", "Metasys ADXL"),
            "11.0",
            ("Johnson Controls Inc", "All Metasys ADS/ADX/OAS"),
            False,
            id="prefix-whole-words",
        ),
        pytest.param(
            ("Geutebrück", "G-Cam/EFD-2250"),
            "1.12.0.19",
            ("GeutebrÃ¼ck", "G-Code EFD-22xx"),
            True,
            id="family-after-line",
        ),
    ],
)
def test_version_lines_and_listed_models(
    registered: tuple[str, str], version: str | None, advisory: tuple[str, str], found: bool
) -> None:
    index = AssetIndex.build([_device("d", *registered, version=version)])
    assert bool(_looked_up(index, *advisory)) is found
