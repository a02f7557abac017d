"""Validation and normalisation of assets by kind, and their deterministic ids."""

from __future__ import annotations

from typing import Any

import pytest

from ewarn.ids import asset_id
from ewarn.inventory import fields
from ewarn.inventory.models import AssetIn
from ewarn.inventory.validate import AssetInvalid, asset_from_mapping, natural_key, normalise_asset
from ewarn.models.asset import AssetKind, ClinicalCriticality

P = "prov-1"
LOG4J_CPE = "cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*"


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        pytest.param({"kind": "network", "value": "10.20.0.0/16"}, "value", "10.20.0.0/16", id="cidr-v4"),
        pytest.param(
            {"kind": "network", "value": "10.20.3.4/16"}, "value", "10.20.0.0/16", id="cidr-v4-host-bits"
        ),
        pytest.param(
            {"kind": "network", "value": " 192.0.2.7 "}, "value", "192.0.2.7/32", id="bare-v4-is-32"
        ),
        pytest.param(
            {"kind": "network", "value": "2001:DB8:0:0::1"}, "value", "2001:db8::1/128", id="bare-v6-is-128"
        ),
        pytest.param(
            {"kind": "network", "value": "2001:0db8:0000:0000:0000:0000:0000:0000/32"},
            "value",
            "2001:db8::/32",
            id="v6-canonical-compressed",
        ),
        pytest.param(
            {"kind": "domain", "value": "Klinikum.Example."},
            "value",
            "klinikum.example",
            id="domain-lower-dot",
        ),
        pytest.param(
            {"kind": "domain", "value": "*.klinikum.example"},
            "value",
            "klinikum.example",
            id="domain-wildcard",
        ),
        pytest.param(
            {"kind": "domain", "value": "Bücher.example"}, "value", "xn--bcher-kva.example", id="domain-idna"
        ),
        pytest.param(
            {"kind": "domain", "value": "xn--bcher-kva.example"},
            "value",
            "xn--bcher-kva.example",
            id="domain-a-label",
        ),
        pytest.param({"kind": "hostname", "value": "PACS01"}, "value", "pacs01", id="hostname-single-label"),
        pytest.param(
            {"kind": "hostname", "value": "pacs.klinikum.example"},
            "value",
            "pacs.klinikum.example",
            id="hostname",
        ),
        pytest.param(
            {"kind": "email_domain", "value": "@Klinikum.Example"}, "value", "klinikum.example", id="email-at"
        ),
        pytest.param(
            {"kind": "email_domain", "value": "soc@klinikum.example"},
            "value",
            "klinikum.example",
            id="email-address",
        ),
        pytest.param({"kind": "asn", "value": "64500"}, "value", "AS64500", id="asn-number"),
        pytest.param({"kind": "asn", "value": "as64500"}, "value", "AS64500", id="asn-lower"),
        pytest.param({"kind": "asn", "value": "AS 64500"}, "value", "AS64500", id="asn-space"),
        pytest.param({"kind": "asn", "value": "AS1.10"}, "value", "AS65546", id="asn-asdot"),
        pytest.param(
            {"kind": "software", "cpe": LOG4J_CPE.upper().replace("CPE:", "cpe:")},
            "cpe",
            LOG4J_CPE,
            id="cpe-lower",
        ),
        pytest.param(
            {"kind": "software", "purl": "pkg:PyPI/Django_Rest@3.0"},
            "purl",
            "pkg:pypi/django-rest@3.0",
            id="purl-canonical",
        ),
        pytest.param(
            {"kind": "software", "purl": "pkg:maven/org.x/y@1?type=jar&classifier=a"},
            "purl",
            "pkg:maven/org.x/y@1?classifier=a&type=jar",
            id="purl-qualifiers-sorted",
        ),
        pytest.param(
            {"kind": "software", "vendor": " Example ", "product": "Viewer", "version": "7.2"},
            "name",
            "Example Viewer 7.2",
            id="software-default-name",
        ),
        pytest.param(
            {
                "kind": "medical_device",
                "vendor": "Philips",
                "product": "IntelliVue MX800",
                "udi_di": "00884838001237",
            },
            "udi_di",
            "00884838001237",
            id="device-gs1-udi",
        ),
        pytest.param(
            {"kind": "medical_device", "vendor": "BD", "product": "Alaris", "udi_di": "+H123ABC1"},
            "udi_di",
            "+H123ABC1",
            id="device-hibcc-udi",
        ),
        pytest.param(
            {
                "kind": "medical_device",
                "vendor": "BD",
                "product": "Alaris",
                "clinical_criticality": "life_sustaining",
            },
            "clinical_criticality",
            ClinicalCriticality.LIFE_SUSTAINING,
            id="device-clinical",
        ),
        pytest.param(
            {"kind": "network", "value": "10.0.0.0/8", "tags": ["b", " a ", "b", ""]},
            "tags",
            ["a", "b"],
            id="tags",
        ),
        pytest.param(
            {"kind": "software", "purl": "pkg:npm/x@1", "not_affected": ["cve-2021-44228", "CVE-2021-44228"]},
            "not_affected",
            ["CVE-2021-44228"],
            id="not-affected-upper-unique",
        ),
    ],
)
def test_valid_assets_are_normalised(data: dict[str, Any], field: str, expected: object) -> None:
    asset = asset_from_mapping(data, provider_id=P)
    assert getattr(asset, field) == expected
    assert asset.provider_id == P
    assert asset.id == asset_id(provider_id=P, kind=asset.kind.value, natural_key=natural_key(asset))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"kind": "network"}, "value", id="network-missing-value"),
        pytest.param({"kind": "network", "value": "10.0.0.300"}, "value", id="network-bad-octet"),
        pytest.param({"kind": "network", "value": "10.0.0.0/33"}, "value", id="network-bad-prefix"),
        pytest.param(
            {"kind": "network", "value": "10.0.0.0/8", "cpe": LOG4J_CPE}, "cpe", id="network-with-cpe"
        ),
        pytest.param({"kind": "domain", "value": "example"}, "value", id="domain-tld-only"),
        pytest.param({"kind": "domain", "value": "192.0.2.1"}, "value", id="domain-is-ip"),
        pytest.param({"kind": "domain", "value": "a..example"}, "value", id="domain-empty-label"),
        pytest.param({"kind": "domain", "value": "-bad.example"}, "value", id="domain-leading-hyphen"),
        pytest.param({"kind": "domain", "value": "x" * 64 + ".example"}, "value", id="domain-label-too-long"),
        pytest.param({"kind": "domain", "value": "xn--zz.example"}, "value", id="domain-bad-a-label"),
        pytest.param({"kind": "hostname", "value": "*.example.org"}, "value", id="hostname-wildcard"),
        pytest.param({"kind": "email_domain", "value": "soc@"}, "value", id="email-empty"),
        pytest.param({"kind": "asn", "value": "AS0"}, "value", id="asn-zero"),
        pytest.param({"kind": "asn", "value": "AS4294967296"}, "value", id="asn-too-big"),
        pytest.param({"kind": "asn", "value": "ASX"}, "value", id="asn-not-number"),
        pytest.param({"kind": "software"}, "cpe/purl/vendor+product", id="software-no-identity"),
        pytest.param(
            {"kind": "software", "vendor": "Example"}, "cpe/purl/vendor+product", id="software-vendor-only"
        ),
        pytest.param({"kind": "software", "cpe": "cpe:/a:apache:log4j:2.14.1"}, "cpe", id="cpe-22-uri"),
        pytest.param({"kind": "software", "cpe": "cpe:2.3:a:apache:log4j"}, "cpe", id="cpe-too-few-parts"),
        pytest.param(
            {"kind": "software", "cpe": "cpe:2.3:x:apache:log4j:1:*:*:*:*:*:*:*"}, "cpe", id="cpe-bad-part"
        ),
        pytest.param(
            {"kind": "software", "cpe": "cpe:2.3:a:apa che:log4j:1:*:*:*:*:*:*:*"}, "cpe", id="cpe-space"
        ),
        pytest.param({"kind": "software", "purl": "maven/org.x/y@1"}, "purl", id="purl-no-scheme"),
        pytest.param({"kind": "software", "purl": "pkg:maven"}, "purl", id="purl-no-name"),
        pytest.param(
            {"kind": "software", "value": "10.0.0.1", "purl": "pkg:npm/x@1"}, "value", id="software-value"
        ),
        pytest.param(
            {"kind": "software", "purl": "pkg:npm/x@1", "udi_di": "+H1"}, "udi_di", id="software-udi"
        ),
        pytest.param({"kind": "medical_device", "product": "Alaris"}, "vendor", id="device-no-manufacturer"),
        pytest.param({"kind": "medical_device", "vendor": "BD"}, "product", id="device-no-model"),
        pytest.param(
            {"kind": "medical_device", "vendor": "BD", "product": "A", "udi_di": "00884838001234"},
            "udi_di",
            id="device-gs1-check-digit",
        ),
        pytest.param(
            {"kind": "medical_device", "vendor": "BD", "product": "A", "udi_di": "12345"},
            "udi_di",
            id="device-gs1-length",
        ),
        pytest.param(
            {"kind": "medical_device", "vendor": "BD", "product": "A", "udi_di": "has space"},
            "udi_di",
            id="device-udi-space",
        ),
        pytest.param(
            {"kind": "software", "purl": "pkg:npm/x@1", "not_affected": ["GHSA-1"]},
            "not_affected[0]",
            id="not-a-cve",
        ),
        pytest.param({"kind": "router", "value": "x"}, "kind", id="unknown-kind"),
        pytest.param(
            {"kind": "network", "value": "10.0.0.0/8", "criticality": "urgent"}, "criticality", id="bad-enum"
        ),
        pytest.param(
            {"kind": "network", "value": "10.0.0.0/8", "colour": "red"}, "colour", id="unknown-field"
        ),
        pytest.param(
            {"kind": "network", "value": "10.0.0.0/8", "name": "x" * 513}, "name", id="name-too-long"
        ),
    ],
)
def test_invalid_assets_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(AssetInvalid) as caught:
        asset_from_mapping(data, provider_id=P)
    assert field in [p.field for p in caught.value.problems]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(AssetInvalid) as caught:
        asset_from_mapping({"kind": "medical_device", "value": "10.0.0.1", "cpe": "cpe:/h:x"}, provider_id=P)
    assert {p.field for p in caught.value.problems} == {"value", "cpe", "vendor", "product"}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param({"value": "192.0.2.7"}, {"value": "192.0.2.7/32"}, id="bare-and-32"),
        pytest.param({"value": "2001:db8::/32"}, {"value": "2001:0DB8::0/32"}, id="v6-spellings"),
        pytest.param(
            {"value": "10.0.0.0/8", "name": "a"}, {"value": "10.0.0.0/8", "name": "b"}, id="name-not-key"
        ),
    ],
)
def test_same_natural_key_same_id(first: dict[str, str], second: dict[str, str]) -> None:
    a = asset_from_mapping({"kind": "network", **first}, provider_id=P)
    b = asset_from_mapping({"kind": "network", **second}, provider_id=P)
    assert a.id == b.id


def test_ids_differ_by_provider_and_kind() -> None:
    domain = asset_from_mapping({"kind": "domain", "value": "klinikum.example"}, provider_id=P)
    mail = asset_from_mapping({"kind": "email_domain", "value": "klinikum.example"}, provider_id=P)
    other = asset_from_mapping({"kind": "domain", "value": "klinikum.example"}, provider_id="prov-2")
    assert len({domain.id, mail.id, other.id}) == 3


def test_device_identity_is_model_and_name_not_firmware() -> None:
    base = {"kind": "medical_device", "vendor": "BD", "product": "Alaris 8015", "name": "ICU pump 12"}
    v1 = asset_from_mapping({**base, "version": "9.1"}, provider_id=P)
    v2 = asset_from_mapping({**base, "version": "12.1"}, provider_id=P)
    other_unit = asset_from_mapping({**base, "name": "ICU pump 13"}, provider_id=P)
    assert v1.id == v2.id
    assert other_unit.id != v1.id


def test_software_identity_includes_version_and_parent() -> None:
    def make(**extra: str) -> str:
        return asset_from_mapping({"kind": "software", **extra}, provider_id=P).id

    assert make(purl="pkg:npm/x@1") != make(purl="pkg:npm/x@2")
    assert make(purl="pkg:npm/x@1") != make(purl="pkg:npm/x@1", parent_id="ast_device")
    assert make(vendor="Ex", product="V", version="1") == make(vendor="EX", product="v", version="1")


def test_asset_in_is_accepted_directly() -> None:
    raw = AssetIn(kind=AssetKind.ASN, value="as64500", name="Uplink")
    assert normalise_asset(raw, provider_id=P).value == "AS64500"


@pytest.mark.parametrize(
    ("digits", "check"),
    [
        pytest.param("0088483800123", 7, id="gtin14"),
        pytest.param("400638133393", 1, id="gtin13"),
        pytest.param("9638507", 4, id="gtin8"),
    ],
)
def test_gs1_check_digit(digits: str, check: int) -> None:
    assert fields.gs1_check_digit(digits) == check


@pytest.mark.parametrize(
    ("purl", "core"),
    [
        pytest.param(
            "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar",
            "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0",
            id="qualifiers-dropped",
        ),
        pytest.param("pkg:npm/%40angular/core@1.0#sub", "pkg:npm/%40angular/core@1.0", id="subpath-dropped"),
        pytest.param("asm89/stack-cors-1.3.0.0", None, id="not-a-purl"),
    ],
)
def test_purl_core(purl: str, core: str | None) -> None:
    assert fields.purl_core(purl) == core
