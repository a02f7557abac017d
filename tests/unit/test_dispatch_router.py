"""Routing: which subscriptions get an alert, and the recorded reason for those that do not."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.receivers import sample_alert

from ewarn.dispatch.router import route
from ewarn.models.common import TLP
from ewarn.models.subscription import Channel, Digest, Subscription, SubscriptionFilters


def sub(**kw: Any) -> Subscription:
    filters = SubscriptionFilters(**kw.pop("filters", {}))
    return Subscription(
        id=kw.pop("id", "sub_1"),
        provider_id=kw.pop("provider_id", "st-elsewhere"),
        channel=kw.pop("channel", Channel.WEBHOOK),
        target=kw.pop("target", "https://soc.example/hook"),
        filters=filters,
        **kw,
    )


CASES = [
    pytest.param({}, {}, (), True, None, id="defaults-deliver-high-amber"),
    pytest.param(
        {"enabled": False, "disabled_reason": "410"},
        {},
        (),
        False,
        "subscription disabled: 410",
        id="disabled",
    ),
    pytest.param(
        {"filters": {"min_severity": "critical"}},
        {},
        (),
        False,
        "severity high below minimum critical",
        id="below-min-severity",
    ),
    pytest.param({"filters": {"min_severity": "high"}}, {}, (), True, None, id="equal-min-severity"),
    pytest.param(
        {"filters": {"indicator_types": ["domain", "url"]}},
        {},
        (),
        False,
        "indicator type ipv4 not in",
        id="type-filtered",
    ),
    pytest.param({"filters": {"indicator_types": ["ipv4"]}}, {}, (), True, None, id="type-allowed"),
    pytest.param({"filters": {"asset_tags": ["pacs"]}}, {}, ("imaging", "pacs"), True, None, id="tag-match"),
    pytest.param(
        {"filters": {"asset_tags": ["pacs"]}}, {}, ("office",), False, "asset tags ['office']", id="tag-miss"
    ),
    pytest.param(
        {"filters": {"asset_tags": ["pacs"]}}, {}, (), False, "asset tags []", id="tag-filter-untagged-asset"
    ),
    pytest.param(
        {},
        {"tlp": "red"},
        (),
        False,
        "TLP:RED above this subscription's ceiling TLP:AMBER",
        id="red-webhook-default-ceiling",
    ),
    pytest.param(
        {"filters": {"tlp_ceiling": "red"}}, {"tlp": "red"}, (), True, None, id="red-webhook-marked-for-red"
    ),
    pytest.param(
        {"channel": Channel.EMAIL, "target": "soc@h.example", "filters": {"tlp_ceiling": "red"}},
        {"tlp": "red"},
        (),
        False,
        "TLP:RED is never sent by email",
        id="red-never-email",
    ),
    pytest.param(
        {"channel": Channel.EMAIL, "target": "soc@h.example", "filters": {"tlp_ceiling": "amber+strict"}},
        {"tlp": "amber+strict"},
        (),
        True,
        None,
        id="amber-strict-email-own-provider",
    ),
    pytest.param(
        {"filters": {"tlp_ceiling": "green"}},
        {"tlp": "amber"},
        (),
        False,
        "TLP:AMBER above",
        id="amber-over-green-ceiling",
    ),
    pytest.param(
        {"filters": {"tlp_ceiling": "clear"}}, {"tlp": "clear"}, (), True, None, id="clear-under-clear"
    ),
]


@pytest.mark.parametrize(("sub_kw", "alert_kw", "tags", "deliver", "reason"), CASES)
def test_route(
    sub_kw: dict[str, Any], alert_kw: dict[str, Any], tags: tuple[str, ...], deliver: bool, reason: str | None
) -> None:
    [decision] = route(sample_alert(**alert_kw), [sub(**sub_kw)], asset_tags=tags)
    assert decision.deliver is deliver
    if reason is None:
        assert decision.reason is None
    else:
        assert decision.reason is not None and decision.reason.startswith(reason)


@pytest.mark.parametrize("tlp", list(TLP), ids=[t.value for t in TLP])
def test_another_providers_subscription_never_gets_the_alert(tlp: TLP) -> None:
    mine = sub(id="sub_mine", filters={"tlp_ceiling": "red"})
    theirs = sub(
        id="sub_theirs", provider_id="other-hospital", filters={"tlp_ceiling": "red", "min_severity": "info"}
    )
    routes = route(sample_alert(tlp=tlp), [theirs, mine])
    assert [r.subscription.id for r in routes] == ["sub_mine"]
    assert routes[0].deliver


DIGEST_CASES = [
    pytest.param(Digest.HOURLY, "low", Digest.HOURLY, id="hourly-low-goes-to-digest"),
    pytest.param(Digest.DAILY, "medium", Digest.DAILY, id="daily-medium-goes-to-digest"),
    pytest.param(Digest.HOURLY, "high", None, id="high-never-waits"),
    pytest.param(Digest.DAILY, "critical", None, id="critical-never-waits"),
    pytest.param(Digest.NONE, "low", None, id="no-digest"),
]


@pytest.mark.parametrize(("digest", "severity", "expected"), DIGEST_CASES)
def test_digest_only_for_low_severities(digest: Digest, severity: str, expected: Digest | None) -> None:
    [decision] = route(
        sample_alert(severity=severity), [sub(digest=digest, filters={"min_severity": "info"})]
    )
    assert decision.deliver and decision.digest is expected
