"""The sighting relay's pure rules: observables, poisoning guards, the corroboration rule, blocklist formats."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta

import pytest

from ewarn.models import Asset, AssetKind, IndicatorType
from ewarn.models.alert import Severity
from ewarn.models.common import TLP
from ewarn.models.provider import Principal, Role
from ewarn.models.sighting import HeldReason, ObservableType, Sighting, SightingKind, SightingStatus
from ewarn.settings import SightingSettings
from ewarn.sightings.alerts import ago
from ewarn.sightings.blocklist import Filters, render, select_entries
from ewarn.sightings.corroboration import entries, severity_for
from ewarn.sightings.guards import Guards, ProtectedAssets
from ewarn.sightings.observables import InvalidSighting, read_observable

NOW = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
SCAN, BLOCKED, COMPROMISED = SightingKind.SCAN, SightingKind.BLOCKED, SightingKind.COMPROMISED


@pytest.mark.parametrize(
    ("kinds", "providers", "confirmed", "expected"),
    [
        pytest.param([SCAN], 1, False, Severity.LOW, id="one-scan-low"),
        pytest.param([SCAN], 2, False, Severity.MEDIUM, id="two-providers-plus-one"),
        pytest.param([SCAN], 3, False, Severity.HIGH, id="three-providers-plus-two"),
        pytest.param([SCAN], 9, False, Severity.HIGH, id="provider-bonus-capped-at-two"),
        pytest.param([BLOCKED], 1, False, Severity.MEDIUM, id="blocked-medium"),
        pytest.param([COMPROMISED], 1, False, Severity.HIGH, id="compromised-high"),
        pytest.param([SCAN, COMPROMISED], 2, False, Severity.CRITICAL, id="strongest-kind-counts"),
        pytest.param([SCAN], 1, True, Severity.HIGH, id="confirmed-at-least-high"),
        pytest.param([BLOCKED], 2, True, Severity.CRITICAL, id="confirmed-plus-one"),
        pytest.param([COMPROMISED], 3, True, Severity.CRITICAL, id="capped-critical"),
        pytest.param([], 0, False, Severity.INFO, id="nothing-live"),
    ],
)
def test_corroboration_rule(
    kinds: list[SightingKind], providers: int, confirmed: bool, expected: Severity
) -> None:
    assert severity_for(kinds, providers, confirmed=confirmed) is expected


@pytest.mark.parametrize(
    ("type_", "value", "key"),
    [
        pytest.param(ObservableType.IP, " 185.220.101.4 ", "ipv4:185.220.101.4", id="ipv4"),
        pytest.param(ObservableType.IP, "2a02:0c7f::1", "ipv6:2a02:c7f::1", id="ipv6-compressed"),
        pytest.param(ObservableType.CIDR, "185.220.101.0/24", "ipv4:185.220.101.0/24", id="cidr"),
        pytest.param(ObservableType.DOMAIN, "Evil.Example.COM.", "domain:evil.example.com", id="domain"),
        pytest.param(
            ObservableType.URL,
            "HTTPS://Evil.example.com/x?y=1",
            "url:https://evil.example.com/x?y=1",
            id="url",
        ),
    ],
)
def test_observables_are_normalised(type_: ObservableType, value: str, key: str) -> None:
    assert read_observable(type_, value).key == key


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        pytest.param(ObservableType.IP, "185.220.101.0/24", id="network-as-ip"),
        pytest.param(ObservableType.IP, "999.1.1.1", id="bad-address"),
        pytest.param(ObservableType.CIDR, "185.220.101.4", id="address-as-cidr"),
        pytest.param(ObservableType.CIDR, "185.220.101.4/24", id="host-bits-set"),
        pytest.param(ObservableType.DOMAIN, "localhost", id="single-label"),
        pytest.param(ObservableType.DOMAIN, "1.2.3.4", id="ip-as-domain"),
        pytest.param(ObservableType.URL, "ftp://evil.example.com/x", id="not-http"),
        pytest.param(ObservableType.URL, "http://", id="no-host"),
    ],
)
def test_invalid_observables_say_why(type_: ObservableType, value: str) -> None:
    with pytest.raises(InvalidSighting):
        read_observable(type_, value)


def _asset(provider: str, kind: AssetKind, value: str) -> Asset:
    return Asset(id=f"{provider}-{value}", provider_id=provider, kind=kind, name=value, value=value)


PROTECTED = ProtectedAssets.build(
    [
        _asset("hosp-b", AssetKind.NETWORK, "185.100.86.0/24"),
        _asset("hosp-b", AssetKind.DOMAIN, "klinikum-b.de"),
        _asset("hosp-c", AssetKind.HOSTNAME, "vpn.care.nhs.example.org"),
    ]
)
GUARDS = Guards.from_settings(
    SightingSettings(allow_list=[*SightingSettings().allow_list, "sector.example.net"])
)


@pytest.mark.parametrize(
    ("type_", "value", "held"),
    [
        pytest.param(ObservableType.IP, "185.220.101.4", None, id="public-relayed"),
        pytest.param(ObservableType.IP, "10.1.2.3", HeldReason.PRIVATE_OR_RESERVED, id="rfc1918"),
        pytest.param(ObservableType.IP, "127.0.0.1", HeldReason.PRIVATE_OR_RESERVED, id="loopback"),
        pytest.param(ObservableType.IP, "100.64.1.1", HeldReason.PRIVATE_OR_RESERVED, id="cgnat"),
        pytest.param(ObservableType.IP, "203.0.113.7", HeldReason.PRIVATE_OR_RESERVED, id="documentation"),
        pytest.param(ObservableType.IP, "fe80::1", HeldReason.PRIVATE_OR_RESERVED, id="link-local-v6"),
        pytest.param(ObservableType.IP, "::ffff:10.0.0.1", HeldReason.PRIVATE_OR_RESERVED, id="v4-mapped"),
        pytest.param(
            ObservableType.CIDR, "192.168.0.0/24", HeldReason.PRIVATE_OR_RESERVED, id="private-cidr"
        ),
        pytest.param(ObservableType.IP, "8.8.8.8", HeldReason.ALLOW_LISTED, id="google-resolver"),
        pytest.param(ObservableType.IP, "1.1.1.1", HeldReason.ALLOW_LISTED, id="cloudflare-resolver"),
        pytest.param(ObservableType.IP, "9.9.9.9", HeldReason.ALLOW_LISTED, id="quad9-resolver"),
        pytest.param(ObservableType.CIDR, "8.8.8.0/24", HeldReason.ALLOW_LISTED, id="network-over-resolver"),
        pytest.param(ObservableType.URL, "https://8.8.8.8/x", HeldReason.ALLOW_LISTED, id="url-on-resolver"),
        pytest.param(ObservableType.DOMAIN, "dns.google", HeldReason.ALLOW_LISTED, id="resolver-name"),
        pytest.param(
            ObservableType.DOMAIN, "api.sector.example.net", HeldReason.ALLOW_LISTED, id="sector-service"
        ),
        pytest.param(ObservableType.CIDR, "185.0.0.0/16", HeldReason.TOO_WIDE, id="too-wide"),
        pytest.param(ObservableType.IP, "185.100.86.20", HeldReason.PROVIDER_ASSET, id="in-hospital-range"),
        pytest.param(ObservableType.CIDR, "185.100.86.128/25", HeldReason.PROVIDER_ASSET, id="cidr-in-range"),
        pytest.param(
            ObservableType.URL, "http://185.100.86.9/a", HeldReason.PROVIDER_ASSET, id="url-on-range"
        ),
        pytest.param(
            ObservableType.DOMAIN, "mail.klinikum-b.de", HeldReason.PROVIDER_ASSET, id="hospital-sub"
        ),
        pytest.param(
            ObservableType.DOMAIN, "nhs.example.org", HeldReason.PROVIDER_ASSET, id="parent-of-host"
        ),
        pytest.param(
            ObservableType.URL, "https://klinikum-b.de/login", HeldReason.PROVIDER_ASSET, id="url-host"
        ),
        pytest.param(ObservableType.DOMAIN, "klinikum-b.de.evil.example", None, id="lookalike-relayed"),
    ],
)
def test_poisoning_guards(type_: ObservableType, value: str, held: HeldReason | None) -> None:
    assert GUARDS.held_reason(read_observable(type_, value), PROTECTED) is held


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(10, "just now", id="seconds"),
        pytest.param(240, "4 minutes ago", id="minutes"),
        pytest.param(3600, "1 hour ago", id="one-hour"),
        pytest.param(3 * 86400, "3 days ago", id="days"),
    ],
)
def test_age_in_titles(seconds: int, text: str) -> None:
    assert ago(timedelta(seconds=seconds)) == text


# --- blocklist formats ---------------------------------------------------------------------------------------


def _sighting(n: int, provider: str, value: str, type_: IndicatorType, **kw: object) -> Sighting:
    fields: dict[str, object] = {
        "id": f"sgt_{n}",
        "provider_id": provider,
        "indicator_key": f"{type_.value}:{value}",
        "indicator_type": type_.value,
        "value": value,
        "kind": SCAN,
        "first_seen": NOW - timedelta(minutes=5),
        "last_seen": NOW - timedelta(minutes=4),
        "count": 1,
        "confidence": 80,
        "tlp": TLP.AMBER,
        "share_identity": False,
        "status": SightingStatus.RELAYED,
        "received_at": NOW - timedelta(minutes=3),
        "expires_at": NOW + timedelta(days=7),
    }
    fields.update(kw)
    return Sighting.model_validate(fields)


SIGHTINGS = [
    _sighting(1, "hosp-a", "185.220.101.4", IndicatorType.IPV4),
    _sighting(2, "hosp-c", "185.220.101.4", IndicatorType.IPV4),
    _sighting(3, "hosp-a", "185.220.102.0/24", IndicatorType.IPV4),
    _sighting(4, "hosp-a", "2a02:c7f::1", IndicatorType.IPV6),
    _sighting(5, "hosp-a", "evil.example.com", IndicatorType.DOMAIN),
    _sighting(6, "hosp-a", "https://evil.example.com/pay load?x=ü", IndicatorType.URL),
    _sighting(7, "hosp-a", "185.220.103.9", IndicatorType.IPV4, expires_at=NOW - timedelta(seconds=1)),
    _sighting(
        8,
        "hosp-a",
        "185.220.104.9",
        IndicatorType.IPV4,
        tlp=TLP.RED,
        status=SightingStatus.HELD,
        held_reason=HeldReason.TLP_RED,
    ),
    _sighting(
        9,
        "hosp-a",
        "185.220.105.9",
        IndicatorType.IPV4,
        status=SightingStatus.HELD,
        held_reason=HeldReason.ALLOW_LISTED,
    ),
    _sighting(10, "hosp-a", "185.220.106.9", IndicatorType.IPV4, tlp=TLP.AMBER_STRICT),
]
B = Principal(key_id="k-b", role=Role.PROVIDER, provider_id="hosp-b")
A = Principal(key_id="k-a", role=Role.PROVIDER, provider_id="hosp-a")
CSIRT = Principal(key_id="k-c", role=Role.CSIRT, csirt_id="csirt-1")


def _lines(
    principal: Principal, own: set[str] | None, types: set[IndicatorType], **filters: object
) -> list[str]:
    chosen = [s for s in SIGHTINGS if IndicatorType(s.indicator_type) in types]
    body = render(select_entries(chosen, principal, own, now=NOW, filters=Filters(**filters)))  # type: ignore[arg-type]
    assert body == b"" or body.endswith(b"\n")
    return body.decode("ascii").splitlines()


IP_TYPES = {IndicatorType.IPV4, IndicatorType.IPV6}


def _pfsense_url_table_ip(line: str) -> None:
    """pfSense/OPNsense URL table (IPs): every line one address or network in canonical form, nothing else."""
    assert line == line.strip() and line and not line.startswith("#")
    network = ipaddress.ip_network(line, strict=True)
    assert str(network.network_address if network.num_addresses == 1 else network) == line


def _paloalto_ip_edl(line: str) -> None:
    """PAN-OS IP EDL: an IPv4/IPv6 address, a CIDR or a range per line (no port, no scheme)."""
    if "-" in line:
        first, last = line.split("-", 1)
        assert ipaddress.ip_address(first) <= ipaddress.ip_address(last)  # type: ignore[operator]
    else:
        ipaddress.ip_network(line, strict=True)


def _fortinet_ip_feed(line: str) -> None:
    """FortiGate external IP address feed: addresses, CIDR or ranges, one per line, at most 128 KiB lines."""
    assert len(line) < 128
    _paloalto_ip_edl(line)


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _domain_list(line: str) -> None:
    """PAN-OS domain EDL / FortiGate domain feed: an LDH name (optionally ``*.``), ≤ 253 characters."""
    name = line.removeprefix("*.")
    assert len(name) <= 253 and "." in name
    assert all(_LABEL.match(label) for label in name.split("."))


def _url_list(line: str) -> None:
    """PAN-OS URL EDL / FortiGate URL feed: no scheme, no whitespace, ASCII, host first."""
    assert "://" not in line and not any(c.isspace() for c in line) and line.isascii()
    host = line.split("/", 1)[0].split(":", 1)[0]
    _domain_list(host) if not host[0].isdigit() else ipaddress.ip_address(host)


@pytest.mark.parametrize(
    ("validate", "types"),
    [
        pytest.param(_pfsense_url_table_ip, IP_TYPES, id="pfsense-opnsense-url-table-ip"),
        pytest.param(_paloalto_ip_edl, IP_TYPES, id="paloalto-edl-ip"),
        pytest.param(_fortinet_ip_feed, IP_TYPES, id="fortinet-threat-feed-ip"),
        pytest.param(_domain_list, {IndicatorType.DOMAIN}, id="paloalto-fortinet-domain"),
        pytest.param(_url_list, {IndicatorType.URL}, id="paloalto-fortinet-url"),
    ],
)
def test_blocklists_parse_as_the_firewall_formats(validate: object, types: set[IndicatorType]) -> None:
    lines = _lines(B, {"hosp-b"}, types)
    assert lines, "a list to check"
    for item in lines:
        validate(item)  # type: ignore[operator]
    assert len(lines) == len(set(lines))


def test_blocklist_contents_honour_expiry_tlp_and_filters() -> None:
    for_b = _lines(B, {"hosp-b"}, IP_TYPES)
    assert for_b == sorted(["185.220.101.4", "185.220.102.0/24", "185.220.106.9", "2a02:c7f::1"])
    assert "185.220.104.9" in _lines(A, {"hosp-a"}, IP_TYPES)  # TLP:RED: on its reporter's own list only
    assert "185.220.104.9" not in _lines(CSIRT, {"hosp-a"}, IP_TYPES)
    assert "185.220.106.9" not in _lines(CSIRT, {"hosp-a"}, IP_TYPES)  # AMBER+STRICT is not for CSIRTs
    assert _lines(B, {"hosp-b"}, IP_TYPES, min_corroboration=2) == ["185.220.101.4"]
    assert _lines(B, {"hosp-b"}, IP_TYPES, min_severity=Severity.MEDIUM) == ["185.220.101.4"]
    assert _lines(B, {"hosp-b"}, IP_TYPES, max_age=timedelta(minutes=1)) == []
    assert _lines(B, {"hosp-b"}, {IndicatorType.URL}) == ["evil.example.com/pay%20load?x=%C3%BC"]


def test_corroboration_decays_as_sightings_expire() -> None:
    """A second provider's sighting corroborates while live; once it expires the entry falls back."""
    key, value = "ipv4:185.220.130.1", "185.220.130.1"
    first = _sighting(20, "hosp-a", value, IndicatorType.IPV4, expires_at=NOW + timedelta(days=2))
    second = _sighting(21, "hosp-c", value, IndicatorType.IPV4, expires_at=NOW + timedelta(hours=1))
    (now_entry,) = entries([first, second], now=NOW)
    assert now_entry.indicator_key == key and now_entry.severity is Severity.MEDIUM
    (later,) = entries([first, second], now=NOW + timedelta(hours=2))
    assert later.severity is Severity.LOW and later.corroboration == 1
    assert entries([first, second], now=NOW + timedelta(days=3)) == []  # expired: off every blocklist
