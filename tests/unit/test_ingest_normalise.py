"""Canonical forms of observables, labels and TLP."""

from __future__ import annotations

import ipaddress

import idna
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ewarn.ingest import normalise
from ewarn.models.common import TLP
from ewarn.models.indicator import IndicatorType


@pytest.mark.parametrize(
    ("raw", "type_", "value"),
    [
        pytest.param("203.0.113.7", IndicatorType.IPV4, "203.0.113.7", id="v4-address"),
        pytest.param(" 203.0.113.7/32 ", IndicatorType.IPV4, "203.0.113.7", id="v4-slash32-is-address"),
        pytest.param("203.0.113.7/24", IndicatorType.IPV4, "203.0.113.0/24", id="v4-host-bits-masked"),
        pytest.param("2001:DB8:10:0:0:0:0:66", IndicatorType.IPV6, "2001:db8:10::66", id="v6-compressed"),
        pytest.param("2001:db8:10::1/48", IndicatorType.IPV6, "2001:db8:10::/48", id="v6-network"),
    ],
)
def test_ip(raw: str, type_: IndicatorType, value: str) -> None:
    observed = normalise.ip(raw)
    assert (observed.type, observed.value, observed.key) == (type_, value, f"{type_.value}:{value}")


@pytest.mark.parametrize("raw", ["", "300.1.1.1", "203.0.113", "evil.example", "1.2.3.4/33"])
def test_ip_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise.ip(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        pytest.param("Evil.EXAMPLE.", "evil.example", id="case-and-trailing-dot"),
        pytest.param("bücher.example", "xn--bcher-kva.example", id="idna"),
        pytest.param("xn--bcher-kva.example", "xn--bcher-kva.example", id="already-punycode"),
    ],
)
def test_domain(raw: str, value: str) -> None:
    assert normalise.domain(raw) == value


@pytest.mark.parametrize(
    "raw", ["", ".", "localhost", "has space.example", "a" * 64 + ".example", "203.0.113.7"]
)
def test_domain_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise.domain(raw)


def _idna_domain(value: str) -> str:
    """``normalise.domain`` as it was before its plain-ASCII shortcut: every name through ``idna.encode``."""
    value = value.strip().rstrip(".")
    if not value:
        raise ValueError("empty")
    ascii_form = idna.encode(value, uts46=True).decode("ascii").lower()
    if len(ascii_form) > 253 or "." not in ascii_form:
        raise ValueError("too long or one label")
    try:
        ipaddress.ip_address(ascii_form)
    except ValueError:
        return ascii_form
    raise ValueError("an address")


def _outcome(normalise_: object, value: str) -> str:
    try:
        return f"ok {normalise_(value)}"  # type: ignore[operator]
    except (ValueError, idna.IDNAError):
        return "rejected"


NAME_PIECES = st.sampled_from(
    [
        *"abcxyzAZ0189-._",
        "--",
        "xn--",
        "xn--bcher-kva",
        "xn--zz",
        "ab--",
        "-",
        "..",
        "\u00e9",
        "\u00df",
        "\u0661",
    ]
)


@settings(max_examples=600, deadline=None)
@given(st.lists(NAME_PIECES, max_size=40).map("".join) | st.text(max_size=30))
@example("a" * 63 + ".example")
@example("a" * 64 + ".example")
@example("example." + "a" * 63)
@example("example." + "a" * 64)
@example(".".join(["a" * 61] * 4) + ".ab")  # 253 characters
@example(".".join(["a" * 61] * 4) + ".abc")  # 254
@example("ab--cd.example")
@example("xn--bcher-kva.example")
@example("EXAMPLE.ORG")
@example("a_b.example")
@example("1.2.3.4")
def test_domain_shortcut_agrees_with_idna(value: str) -> None:
    """Plain ASCII names skip ``idna.encode``; every name gets the outcome IDNA gives it."""
    assert _outcome(normalise.domain, value) == _outcome(_idna_domain, value)


@pytest.mark.parametrize(
    ("raw", "value", "host"),
    [
        pytest.param(
            "HTTPS://Portal.Example:443/Login?a=B",
            "https://portal.example/Login?a=B",
            "portal.example",
            id="default-port",
        ),
        pytest.param(
            "http://198.51.100.23:8443/beacon", "http://198.51.100.23:8443/beacon", "198.51.100.23", id="ip"
        ),
        pytest.param("http://[2001:DB8::5]/x", "http://[2001:db8::5]/x", "2001:db8::5", id="v6-host"),
        pytest.param("evil.example/dl.exe", "http://evil.example/dl.exe", "evil.example", id="no-scheme"),
        pytest.param(
            "http://bücher.example", "http://xn--bcher-kva.example/", "xn--bcher-kva.example", id="idna"
        ),
    ],
)
def test_url(raw: str, value: str, host: str) -> None:
    observed = normalise.url(raw)
    assert (observed.value, observed.url_host) == (value, host)


@pytest.mark.parametrize("raw", ["http://", "http://exa mple.example/", "http://example.example:99999/"])
def test_url_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise.url(raw)


@pytest.mark.parametrize(
    ("raw", "type_"),
    [
        ("5D41402ABC4B2A76B9719D911017C592", IndicatorType.MD5),
        ("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d", IndicatorType.SHA1),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", IndicatorType.SHA256),
        ("a" * 128, IndicatorType.SHA512),
    ],
)
def test_hash_type_from_length(raw: str, type_: IndicatorType) -> None:
    observed = normalise.file_hash(raw)
    assert (observed.type, observed.value) == (type_, raw.lower())


@pytest.mark.parametrize(
    ("raw", "declared"),
    [("z" * 32, None), ("a" * 33, None), ("a" * 32, "SHA-256"), ("a" * 64, "SSDEEP")],
)
def test_hash_rejects(raw: str, declared: str | None) -> None:
    with pytest.raises(ValueError):
        normalise.file_hash(raw, declared)


@pytest.mark.parametrize(
    ("raw", "value"), [("AS64500", "AS64500"), ("as 64500", "AS64500"), (64500, "AS64500")]
)
def test_asn(raw: str | int, value: str) -> None:
    assert normalise.asn(raw).value == value


@pytest.mark.parametrize("raw", ["AS0", "AS4294967296", "ASX", "-1"])
def test_asn_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise.asn(raw)


def test_email_keeps_local_part_and_normalises_domain() -> None:
    assert normalise.email("Billing@LockMed.EXAMPLE.").value == "Billing@lockmed.example"
    with pytest.raises(ValueError):
        normalise.email("no-at-sign.example")


@pytest.mark.parametrize(
    ("raw", "type_"),
    [
        ("198.51.100.1", IndicatorType.IPV4),
        ("https://x.example/a", IndicatorType.URL),
        ("a@b.example", IndicatorType.EMAIL),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", IndicatorType.SHA256),
        ("AS64500", IndicatorType.ASN),
        ("c2.example", IndicatorType.DOMAIN),
    ],
)
def test_guess(raw: str, type_: IndicatorType) -> None:
    assert normalise.guess(raw).type is type_


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["malicious-activity", "Ransomware"], ["ransomware", "malware"]),
        (["AsyncRAT C&C"], ["c2"]),
        (['malware_classification:malware-category="Ransomware"'], ["ransomware"]),
        (["command-and-control", "scanning", "phish"], ["c2", "phishing", "scanner"]),
        (["benign", "attribution"], []),
    ],
)
def test_labels(raw: list[str], expected: list[str]) -> None:
    assert normalise.labels(raw) == expected


@pytest.mark.parametrize(
    ("raw", "tlp"),
    [
        ("TLP:WHITE", TLP.CLEAR),
        ("tlp:clear", TLP.CLEAR),
        ("TLP:AMBER+STRICT", TLP.AMBER_STRICT),
        ("Amber", TLP.AMBER),
        ("tlp:ex:chr", None),
    ],
)
def test_tlp_from_name(raw: str, tlp: TLP | None) -> None:
    assert normalise.tlp_from_name(raw) is tlp


def test_tlp_tags_strictest_wins_and_default_applies() -> None:
    assert normalise.tlp_from_tags(["tlp:green", "tlp:amber", "osint"], TLP.CLEAR) is TLP.AMBER
    assert normalise.tlp_from_tags(["osint"], TLP.GREEN) is TLP.GREEN


def test_product_name_undoes_mojibake() -> None:
    assert (
        normalise.product_name("BD Alaris\u00e2\u201e\u00a2 Systems  Manager") == "BD Alaris Systems Manager"
    )
    assert normalise.product_name("Café") == "Café"
