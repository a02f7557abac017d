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
