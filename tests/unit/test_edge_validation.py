"""Edge validation: safe text, codes after normalisation, free-form JSON, and webhook hosts decided on the
literal in every spelling a resolver accepts (no lookup, nothing leaves the process)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import HTTPException
from pydantic import BaseModel, ValidationError

from ewarn.api.routes.providers import CsirtIn, ProviderIn
from ewarn.api.routes.subscription_checks import check_target
from ewarn.hostaddress import NotAHost, host_addresses
from ewarn.inventory.fields import purl_core
from ewarn.inventory.importers import ImportRejected
from ewarn.inventory.importers.csvfile import parse_csv
from ewarn.inventory.models import AssetIn
from ewarn.inventory.validate import AssetInvalid, normalise_asset
from ewarn.models.common import Name, json_problem, storable_text, text_problem
from ewarn.models.subscription import Channel, SubscriptionFilters


class _Named(BaseModel):
    name: Name


@pytest.mark.parametrize(
    ("value", "free_text", "problem"),
    [
        pytest.param("Radiology PACS", False, None, id="plain"),
        pytest.param("Zürich Süd \u2013 ICU", False, None, id="non-ascii-letters"),
        pytest.param("\ud800", False, "lone surrogate", id="lone-surrogate"),
        pytest.param("a\udfffb", False, "lone surrogate", id="low-surrogate-inside"),
        pytest.param("a\x00b", False, "NUL", id="nul"),
        pytest.param("\x1b[2J", False, "control", id="escape"),
        pytest.param("\x85", False, "control", id="c1-next-line"),
        pytest.param("a\nb", False, "line break", id="newline-one-line"),
        pytest.param("a\nb\tc\r\n", True, None, id="newline-free-text"),
        pytest.param("a\x0bb", True, "control", id="vertical-tab-free-text"),
        pytest.param("a\x00b", True, "NUL", id="nul-free-text"),
    ],
)
def test_text_problem(value: str, free_text: bool, problem: str | None) -> None:
    found = text_problem(value, free_text=free_text)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        pytest.param("PACS", True, id="ok"),
        pytest.param("", False, id="empty"),
        pytest.param("x" * 201, False, id="too-long"),
        pytest.param("a\x00", False, id="nul"),
        pytest.param("\ud800", False, id="surrogate"),
    ],
)
def test_name_type(value: str, ok: bool) -> None:
    if ok:
        assert _Named(name=value).name == value
    else:
        with pytest.raises(ValidationError):
            _Named(name=value)


@pytest.mark.parametrize(
    ("country", "stored"),
    [
        pytest.param("de", "DE", id="lower-case-upper-cased"),
        pytest.param("DE", "DE", id="upper"),
        pytest.param("ßx", None, id="sharp-s-upper-cases-to-three-letters"),
        pytest.param("ǆa", None, id="digraph"),
        pytest.param("D", None, id="one-letter"),
        pytest.param("D1", None, id="digit"),
        pytest.param("d\x00", None, id="nul"),
    ],
)
def test_country_is_checked_after_upper_casing(country: str, stored: str | None) -> None:
    if stored is None:
        with pytest.raises(ValidationError):
            CsirtIn(id="cert-xx", name="X", country=country)
    else:
        assert CsirtIn(id="cert-xx", name="X", country=country).country == stored


@pytest.mark.parametrize(
    ("changes", "ok"),
    [
        pytest.param({}, True, id="valid"),
        pytest.param({"csirt_id": ""}, False, id="empty-csirt-id"),
        pytest.param({"csirt_id": "Cert DE"}, False, id="csirt-id-not-a-slug"),
        pytest.param({"language": "de-CH"}, True, id="language-tag"),
        pytest.param({"language": "de\x00"}, False, id="language-nul"),
        pytest.param({"contacts": ["soc@example.org"] * 51}, False, id="too-many-contacts"),
        pytest.param({"contacts": ["soc@\ud800"]}, False, id="contact-surrogate"),
        pytest.param({"unknown": 1}, False, id="unknown-field"),
    ],
)
def test_provider_in(changes: dict[str, Any], ok: bool) -> None:
    body = {"id": "hosp-x", "name": "X", "country": "DE", **changes}
    if ok:
        ProviderIn.model_validate(body)
    else:
        with pytest.raises(ValidationError):
            ProviderIn.model_validate(body)


@pytest.mark.parametrize(
    ("filters", "ok"),
    [
        pytest.param({"asset_tags": ["icu"]}, True, id="tags"),
        pytest.param({"asset_tags": ["\x00"]}, False, id="tag-nul"),
        pytest.param({"asset_tags": [""]}, False, id="tag-empty"),
        pytest.param({"indicator_types": ["t"] * 101}, False, id="too-many-types"),
        pytest.param({"indicator_types": ["x" * 65]}, False, id="type-too-long"),
    ],
)
def test_subscription_filters(filters: dict[str, Any], ok: bool) -> None:
    if ok:
        SubscriptionFilters.model_validate(filters)
    else:
        with pytest.raises(ValidationError):
            SubscriptionFilters.model_validate(filters)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"name": "\ud800"}, "name", id="name-surrogate"),
        pytest.param({"location": "ward\x00"}, "location", id="location-nul"),
        pytest.param({"owner": "a\nb"}, "owner", id="owner-newline"),
        pytest.param({"tags": ["ok", "\x00"]}, "tags[1]", id="tag-nul"),
        pytest.param({"tags": ["x" * 65]}, "tags[0]", id="tag-too-long"),
        pytest.param({"tags": ["t"] * 1001}, "tags", id="too-many-tags"),
        pytest.param({"not_affected": ["CVE-2024-0001\x00"]}, "not_affected[0]", id="cve-nul"),
    ],
)
def test_asset_text_is_refused_by_field(changes: dict[str, Any], field: str) -> None:
    raw = AssetIn.model_validate({"kind": "domain", "value": "portal.example.org", **changes})
    with pytest.raises(AssetInvalid) as caught:
        normalise_asset(raw, provider_id="hosp-a")
    assert field in [p.field for p in caught.value.problems]


def _nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param({"a": ["b", {"c": 1}]}, None, id="fine"),
        pytest.param({"a": "\x00"}, "NUL", id="nul-value"),
        pytest.param({"\x00": 1}, "key", id="nul-key"),
        pytest.param({"a": ["\ud800"]}, "surrogate", id="surrogate-in-list"),
        pytest.param({"a": list(range(20_000))}, "values", id="too-many"),
        pytest.param(_nested(12), "deeper", id="too-deep"),
    ],
)
def test_json_problem(value: Any, problem: str | None) -> None:
    found = json_problem(value)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        assert "\x00" not in found and "\ud800" not in found  # the reason never repeats the text


def test_storable_text_replaces_what_cannot_be_stored() -> None:
    assert storable_text("a\x00b\ud800c") == "a\ufffdb\ufffdc"
    assert storable_text("Zürich\tok") == "Zürich\tok"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("2130706433", ["127.0.0.1"], id="decimal-integer"),
        pytest.param("0x7f.0.0.1", ["127.0.0.1"], id="hex-part"),
        pytest.param("0x7f000001", ["127.0.0.1"], id="hex-integer"),
        pytest.param("0177.0.0.1", ["127.0.0.1"], id="octal-part"),
        pytest.param("127.1", ["127.0.0.1"], id="two-parts"),
        pytest.param("10.1.1", ["10.1.0.1"], id="three-parts"),
        pytest.param("127.0.0.1.", ["127.0.0.1"], id="trailing-dot"),
        pytest.param("%31%32%37.0.0.1", ["127.0.0.1"], id="percent-encoded"),
        pytest.param("0", ["0.0.0.0"], id="zero"),
        pytest.param("::ffff:127.0.0.1", ["::ffff:7f00:1"], id="ipv4-mapped"),
        pytest.param("[::1]", ["::1"], id="bracketed-v6"),
        pytest.param("fe80::1%25eth0", ["fe80::1"], id="zone-id"),
        pytest.param("localhost", ["127.0.0.1", "::1"], id="localhost"),
        pytest.param("api.LOCALHOST.", ["127.0.0.1", "::1"], id="localhost-subdomain"),
        pytest.param("203.0.113.9", ["203.0.113.9"], id="dotted-public"),
        pytest.param("hooks.example.org", None, id="name"),
        pytest.param("1st.example", None, id="name-starting-with-digit"),
    ],
)
def test_host_addresses(host: str, expected: list[str] | None) -> None:
    found = host_addresses(host)
    assert (None if found is None else [str(a) for a in found]) == expected


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("1.2.3.4.5", id="five-parts"),
        pytest.param("256.0.0.1", id="part-over-255"),
        pytest.param("1.16777216", id="last-part-too-large"),
        pytest.param("08.0.0.1", id="bad-octal"),
        pytest.param("example.123", id="numeric-top-level-label"),
        pytest.param("[::g]", id="bad-v6"),
    ],
)
def test_not_a_host(host: str) -> None:
    with pytest.raises(NotAHost):
        host_addresses(host)


@pytest.mark.parametrize(
    ("target", "allowed", "ok"),
    [
        pytest.param("https://hooks.example.org/x", [], True, id="name-is-checked-at-delivery"),
        pytest.param("https://203.0.113.9/x", [], False, id="documentation-range-not-global"),
        pytest.param("https://8.8.8.8/x", [], True, id="public-literal"),
        pytest.param("http://2130706433/", [], False, id="decimal-loopback"),
        pytest.param("http://0x7f.0.0.1/", [], False, id="hex-loopback"),
        pytest.param("http://127.1/", [], False, id="short-loopback"),
        pytest.param("http://0177.0.0.1/", [], False, id="octal-loopback"),
        pytest.param("http://[::ffff:127.0.0.1]/", [], False, id="mapped-loopback"),
        pytest.param("http://[::ffff:7f00:1]/", [], False, id="mapped-loopback-hex"),
        pytest.param("http://localhost:8080/", [], False, id="localhost"),
        pytest.param("http://169.254.169.254/latest", [], False, id="metadata"),
        pytest.param("http://0xa9fea9fe/", [], False, id="metadata-hex"),
        pytest.param("http://10.1/", [], False, id="private-short"),
        pytest.param("http://0/", [], False, id="unspecified"),
        pytest.param("http://1.2.3.4.5/", [], False, id="not-an-address"),
        pytest.param("http://2130706433:9000/hook", ["127.0.0.0/8"], True, id="allow-list-honoured"),
        pytest.param("http://localhost/", ["127.0.0.0/8", "::1/128"], True, id="allow-list-localhost"),
        pytest.param("http://localhost/", ["127.0.0.0/8"], False, id="localhost-also-means-v6-loopback"),
        pytest.param("ftp://8.8.8.8/", [], False, id="scheme"),
    ],
)
def test_webhook_target_decided_on_the_literal(target: str, allowed: list[str], ok: bool) -> None:
    if ok:
        check_target(Channel.WEBHOOK, target, allowed)
    else:
        with pytest.raises(HTTPException) as caught:
            check_target(Channel.WEBHOOK, target, allowed)
        assert caught.value.status_code == 422


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"kind" + b"x" * 200_000 + b"\nnetwork\n", id="header-over-128-kib"),
        pytest.param(b'"kind' + b"x" * 200_000, id="quoted-header-never-closed"),
        pytest.param(b"kind,name\nnetwork," + b"y" * 200_000 + b"\n", id="cell-over-128-kib"),
        pytest.param(b"kind," + b"z" * 3000 + b"\nnetwork,a\n", id="long-unknown-column"),
    ],
)
def test_csv_limits_are_rejections_not_crashes(data: bytes) -> None:
    with pytest.raises(ImportRejected) as caught:
        parse_csv(data)
    assert len(str(caught.value)) < 1000  # the reason goes back in a response: never the whole header


@pytest.mark.parametrize("value", ["pkg:npm/lib\ud800@1", "pkg:npm/\udfff", "pkg:npm/a%00b@1"])
def test_purl_core_of_unencodable_text_is_none_or_clean(value: str) -> None:
    core = purl_core(value)
    assert core is None or text_problem(core) is None
