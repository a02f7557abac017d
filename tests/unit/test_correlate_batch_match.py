"""``match_many`` (the index's batch pre-check, then ``match`` on the candidates) equals ``match`` on each
indicator, on generated inventories and streams drawn from a small vocabulary so that many indicators hit."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError

from ewarn.correlate.batch_match import match_many
from ewarn.correlate.engine import match
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

NETWORKS = [
    "203.0.113.0/24",
    "203.0.113.128/25",
    "198.51.100.0/22",
    "192.0.2.10",
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/23",
    "0.0.0.0/1",
    "2001:db8::/32",
    "2001:db8:abcd::/48",
    "2001:db8:abcd:12::/64",
]
ADDRESSES = [
    "203.0.113.7",
    "203.0.113.200",
    "198.51.101.3",
    "192.0.2.10",
    "192.0.2.11",
    "10.1.2.3",
    "10.200.0.1",
    "9.9.9.9",
    "200.1.1.1",
    " 203.0.113.9 ",
    "2001:db8:abcd:12::5",
    "2001:db9::1",
    "::1",
    "203.0.113.0/26",
    "10.0.0.0/7",
    "not an address",
]
NAMES = [
    "example.com",
    "clinic.example",
    "bücher.example",
    "Mail.Hospital.example.",
    "*.wild.example",
    "test",
]
HOSTS = [
    "example.com",
    "www.example.com",
    "a.b.example.com",
    "EXAMPLE.COM.",
    "clinic.example",
    "vpn.clinic.example",
    "xn--bcher-kva.example",
    "shop.bücher.example",
    "mail.hospital.example",
    "wild.example",
    "x.wild.example",
    "evil.test",
    "test",
    ".example.com",
]
ASNS = ["AS64500", "as64501", "64502", "AS 64503"]
PRODUCTS = [
    ("Siemens", "SIMATIC S7-1500"),
    ("Philips", "IntelliVue MX40"),
    ("Johnson Controls", "Metasys ADX Server"),
    ("Tridium", "Niagara 4"),
    ("Apache", "Log4j"),
    ("Acme", "Widget Pro"),
]
ADVISED = [
    *PRODUCTS,
    ("Siemens", "S7-1500 SIMATIC"),
    ("Johnson Controls", "All Metasys ADS/ADX/OAS"),
    ("Tridium", "Niagara 4.6"),
    ("Apache Software Foundation", "log4j"),
    ("Nobody", "Nothing"),
    ("Acme", "Widget"),
]
SOURCE = SourceRef(feed_id="feed-test", feed_kind="stix", record="r-1")


def _asset(rng: random.Random, n: int) -> Asset:
    provider = f"prov-{rng.randint(1, 3)}"
    fields: dict[str, Any]
    kind = rng.choice(
        [
            AssetKind.NETWORK,
            AssetKind.DOMAIN,
            AssetKind.HOSTNAME,
            AssetKind.EMAIL_DOMAIN,
            AssetKind.ASN,
            AssetKind.SOFTWARE,
            AssetKind.MEDICAL_DEVICE,
        ]
    )
    if kind is AssetKind.NETWORK:
        fields = {"value": rng.choice(NETWORKS)}
    elif kind in (AssetKind.DOMAIN, AssetKind.HOSTNAME, AssetKind.EMAIL_DOMAIN):
        fields = {"value": rng.choice(NAMES + HOSTS[:6])}
    elif kind is AssetKind.ASN:
        fields = {"value": rng.choice(ASNS)}
    else:
        vendor, product = rng.choice(PRODUCTS)
        fields = {
            "vendor": vendor,
            "product": product,
            "version": rng.choice(["4.4", "4.6.1", "2.14.1", None]),
        }
        if rng.random() < 0.2:
            fields["cpe"] = "cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*"
        if rng.random() < 0.2:
            fields["purl"] = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    return Asset(id=f"a{n}", provider_id=provider, kind=kind, name=f"asset {n}", **fields)


def _indicator(rng: random.Random) -> Indicator:
    type_ = rng.choice(list(IndicatorType))
    fields: dict[str, Any] = {}
    if type_ in (IndicatorType.IPV4, IndicatorType.IPV6):
        value = rng.choice(ADDRESSES)
    elif type_ is IndicatorType.DOMAIN:
        value = rng.choice(HOSTS)
    elif type_ is IndicatorType.URL:
        host = rng.choice([*HOSTS, "203.0.113.7", "[2001:db8:abcd:12::5]", "cdn.nowhere.invalid"])
        value = f"https://{host}/path"
        if rng.random() < 0.7:  # ingest fills it in; without it the matcher splits the URL itself
            fields["url_host"] = urlsplit(value).hostname
    elif type_ is IndicatorType.EMAIL:
        value = f"someone@{rng.choice(HOSTS)}"
    elif type_ is IndicatorType.ASN:
        value = rng.choice([*ASNS, "AS1"])
    elif type_ is IndicatorType.VULNERABILITY:
        value = "CVE-2025-0001"
        affected = []
        for _ in range(rng.randint(0, 3)):
            vendor, product = rng.choice(ADVISED)
            extra: dict[str, Any] = {}
            if rng.random() < 0.15:
                extra["cpe"] = "cpe:2.3:a:apache:log4j:*:*:*:*:*:*:*:*"
            if rng.random() < 0.15:
                extra["purl"] = "pkg:maven/org.apache.logging.log4j/log4j-core"
            if rng.random() < 0.15:
                extra["model"] = rng.choice(["MX40", "ADX", "S7-1500"])
            versions = [VersionRange(raw=rng.choice(["< 4.6", "<= 2.15.0", "all versions"]))]
            affected.append(AffectedProduct(vendor=vendor, product=product, versions=versions, **extra))
        fields["cves"] = [value]
        fields["vulnerability"] = VulnerabilityInfo(cves=[value], cvss_score=7.5, affected=affected)
    else:
        value = f"{rng.getrandbits(256):064x}"[: {"md5": 32, "sha1": 40}.get(type_.value, 64)]
        if type_ is IndicatorType.SHA512:
            value = f"{rng.getrandbits(512):0128x}"
    return Indicator(key=Indicator.make_key(type_, value), type=type_, value=value, source=SOURCE, **fields)


def _generated(seed: int) -> tuple[AssetIndex, list[Indicator]]:
    rng = random.Random(seed)
    assets = []
    for n in range(rng.randint(5, 60)):
        try:
            assets.append(_asset(rng, n))
        except ValidationError:
            continue
    stream = []
    while len(stream) < 300:
        try:
            stream.append(_indicator(rng))
        except ValidationError:
            continue
    return AssetIndex.build(assets), stream


@pytest.mark.parametrize("seed", range(20))
def test_match_many_equals_match_on_each_indicator(seed: int) -> None:
    index, stream = _generated(seed)
    assert match_many(stream, index) == [match(indicator, index) for indicator in stream]


def test_generated_streams_hit_often_and_the_pre_check_drops_misses() -> None:
    """The property above is only worth something when hits and misses both occur in every kind."""
    hit_types: set[IndicatorType] = set()
    dropped_types: set[IndicatorType] = set()
    for seed in range(20):
        index, stream = _generated(seed)
        candidates = set(index.candidates(stream))
        for i, indicator in enumerate(stream):
            if match(indicator, index):
                hit_types.add(indicator.type)
                assert i in candidates
            elif i not in candidates:
                dropped_types.add(indicator.type)
    observable = {
        IndicatorType.IPV4,
        IndicatorType.IPV6,
        IndicatorType.DOMAIN,
        IndicatorType.URL,
        IndicatorType.EMAIL,
        IndicatorType.ASN,
        IndicatorType.VULNERABILITY,
    }
    assert observable <= hit_types
    assert observable <= dropped_types


def test_pre_check_follows_a_provider_replaced_after_the_first_batch() -> None:
    index = AssetIndex.build(
        [Asset(id="n1", provider_id="p", kind=AssetKind.NETWORK, name="n", value="192.0.2.0/24")]
    )
    hit = Indicator(key="ipv4:192.0.2.5", type=IndicatorType.IPV4, value="192.0.2.5", source=SOURCE)
    assert index.candidates([hit]) == [0]
    index.replace_provider("p", [])
    assert index.candidates([hit]) == []
    assert match_many([hit], index) == [[]]
