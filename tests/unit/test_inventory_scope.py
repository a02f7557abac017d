"""Asset scope rules: which networks and domains a provider may register without an operator's approval."""

from __future__ import annotations

import pytest

from ewarn.inventory.scope import (
    ScopeNotApprovable,
    approvable_value,
    scope_problems,
    scope_refusal,
    scope_verdict,
)
from ewarn.inventory.validate import asset_from_mapping
from ewarn.models.asset import AssetKind
from ewarn.settings import AssetScopeSettings, Settings

RULES = AssetScopeSettings()


@pytest.mark.parametrize(
    ("kind", "value", "refused", "approvable"),
    [
        pytest.param(AssetKind.NETWORK, "0.0.0.0/0", "covers every IPv4 address", False, id="v4-everything"),
        pytest.param(AssetKind.NETWORK, "::/0", "covers every IPv6 address", False, id="v6-everything"),
        pytest.param(AssetKind.NETWORK, "10.0.0.0/8", "wider than /16", True, id="v4-slash-8"),
        pytest.param(AssetKind.NETWORK, "172.16.0.0/15", "wider than /16", True, id="v4-slash-15"),
        pytest.param(AssetKind.NETWORK, "172.16.0.0/16", None, None, id="v4-slash-16-allowed"),
        pytest.param(AssetKind.NETWORK, "198.51.100.7/32", None, None, id="v4-host"),
        pytest.param(AssetKind.NETWORK, "2001:db8::/16", "wider than /32", True, id="v6-slash-16"),
        pytest.param(AssetKind.NETWORK, "2001:db8::/32", None, None, id="v6-slash-32-allowed"),
        pytest.param(AssetKind.NETWORK, "2001:db8:1::/48", None, None, id="v6-site"),
        pytest.param(AssetKind.DOMAIN, "co.uk", "public suffix", True, id="domain-co-uk"),
        pytest.param(AssetKind.DOMAIN, "nhs.uk", "public suffix", True, id="domain-nhs-uk"),
        pytest.param(AssetKind.DOMAIN, "github.io", "public suffix", True, id="domain-private-section"),
        pytest.param(AssetKind.DOMAIN, "com", "top-level domain", False, id="domain-tld"),
        pytest.param(AssetKind.DOMAIN, "hospital.co.uk", None, None, id="domain-registered-under-suffix"),
        pytest.param(AssetKind.DOMAIN, "trust.nhs.uk", None, None, id="domain-nhs-trust"),
        pytest.param(AssetKind.DOMAIN, "klinikum.example", None, None, id="domain-unlisted-tld"),
        pytest.param(AssetKind.EMAIL_DOMAIN, "gmail.com", None, None, id="email-domain-ordinary"),
        pytest.param(AssetKind.EMAIL_DOMAIN, "com.au", "public suffix", True, id="email-domain-suffix"),
        pytest.param(AssetKind.HOSTNAME, "co.uk", None, None, id="hostname-exact-match-only"),
        pytest.param(AssetKind.ASN, "AS64500", None, None, id="asn-unscoped"),
    ],
)
def test_scope_verdict(kind: AssetKind, value: str, refused: str | None, approvable: bool | None) -> None:
    verdict = scope_verdict(kind, value, RULES)
    if refused is None:
        assert verdict is None
        return
    assert verdict is not None
    assert refused in verdict.reason and value in verdict.reason
    assert verdict.approvable is approvable


@pytest.mark.parametrize(
    ("rules", "value", "refused"),
    [
        pytest.param(AssetScopeSettings(min_ipv4_prefix=8), "10.0.0.0/8", False, id="v4-min-8-allows-8"),
        pytest.param(AssetScopeSettings(min_ipv4_prefix=24), "10.1.0.0/16", True, id="v4-min-24-refuses-16"),
        pytest.param(AssetScopeSettings(min_ipv4_prefix=1), "0.0.0.0/0", True, id="v4-everything-always"),
        pytest.param(AssetScopeSettings(min_ipv6_prefix=48), "2001:db8::/32", True, id="v6-min-48"),
    ],
)
def test_prefix_minimum_is_configurable(rules: AssetScopeSettings, value: str, refused: bool) -> None:
    assert (scope_verdict(AssetKind.NETWORK, value, rules) is not None) is refused


def test_public_suffixes_can_be_switched_off_but_top_level_domains_cannot() -> None:
    rules = AssetScopeSettings(refuse_public_suffixes=False)
    assert scope_verdict(AssetKind.DOMAIN, "co.uk", rules) is None
    assert scope_verdict(AssetKind.DOMAIN, "uk", RULES) is not None


def test_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EWARN_INVENTORY__SCOPE__MIN_IPV4_PREFIX", "20")
    monkeypatch.setenv("EWARN_INVENTORY__SCOPE__MIN_IPV6_PREFIX", "40")
    scope = Settings().inventory.scope
    assert (scope.min_ipv4_prefix, scope.min_ipv6_prefix) == (20, 40)


def test_an_approval_covers_exactly_its_provider_value() -> None:
    wide = asset_from_mapping({"kind": "network", "value": "10.0.0.0/8"}, provider_id="hosp-x")
    wider = asset_from_mapping({"kind": "network", "value": "10.0.0.0/7"}, provider_id="hosp-x")
    approved = {("network", "10.0.0.0/8")}
    assert scope_refusal(wide, RULES, approved) is None
    assert scope_refusal(wide, RULES, ()) is not None
    assert scope_refusal(wider, RULES, approved) is not None, "an approval is for one value, not wider ones"
    everything = asset_from_mapping({"kind": "network", "value": "0.0.0.0/0"}, provider_id="hosp-x")
    assert scope_refusal(everything, RULES, {("network", "0.0.0.0/0")}) is not None


def test_problems_name_the_item_of_a_batch() -> None:
    assets = [
        asset_from_mapping({"kind": "network", "value": "192.0.2.0/24"}, provider_id="p"),
        asset_from_mapping({"kind": "domain", "value": "CO.UK."}, provider_id="p"),
    ]
    problems = scope_problems(assets, RULES, ())
    assert [(p.field, "public suffix" in p.message) for p in problems] == [("[1].value", True)]


@pytest.mark.parametrize(
    ("kind", "value", "normalised", "error"),
    [
        pytest.param(AssetKind.NETWORK, "10.1.2.3/8", "10.0.0.0/8", None, id="normalised-network"),
        pytest.param(AssetKind.DOMAIN, "*.CO.UK", "co.uk", None, id="normalised-domain"),
        pytest.param(AssetKind.NETWORK, "0.0.0.0/0", None, "every IPv4 address", id="never"),
        pytest.param(AssetKind.NETWORK, "192.0.2.0/24", None, "needs no approval", id="already-allowed"),
        pytest.param(AssetKind.NETWORK, "not-a-network", None, "not an IPv4/IPv6", id="malformed"),
        pytest.param(AssetKind.SOFTWARE, "x", None, "no scope rule", id="unscoped-kind"),
    ],
)
def test_approvable_value(kind: AssetKind, value: str, normalised: str | None, error: str | None) -> None:
    if error is None:
        assert approvable_value(kind, value, RULES) == normalised
        return
    with pytest.raises(ValueError, match=error) as caught:
        approvable_value(kind, value, RULES)
    assert isinstance(caught.value, ValueError)
    if "not an IPv4" not in error:
        assert isinstance(caught.value, ScopeNotApprovable)
