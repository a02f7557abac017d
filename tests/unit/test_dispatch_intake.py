"""From alert messages to outbox rows: deterministic ids, skipped reasons, digest windows."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.receivers import sample_alert

from ewarn.dispatch.digest import digest_message_id, window_for, window_from_key
from ewarn.dispatch.intake import plan_intake
from ewarn.ids import delivery_id
from ewarn.models.subscription import Channel, Digest, Subscription, SubscriptionFilters

NOW = datetime(2024, 5, 1, 13, 42, 7, tzinfo=UTC)


def _subs() -> list[Subscription]:
    return [
        Subscription(
            id="sub_hook", provider_id="st-elsewhere", channel=Channel.WEBHOOK, target="https://a/h"
        ),
        Subscription(
            id="sub_crit",
            provider_id="st-elsewhere",
            channel=Channel.WEBHOOK,
            target="https://b/h",
            filters=SubscriptionFilters(min_severity="critical"),
        ),
        Subscription(
            id="sub_digest",
            provider_id="st-elsewhere",
            channel=Channel.EMAIL,
            target="soc@h.example",
            digest=Digest.HOURLY,
            filters=SubscriptionFilters(min_severity="info"),
        ),
    ]


def test_rows_for_one_alert() -> None:
    alert = sample_alert(severity="low")
    plan = plan_intake([alert], subscriptions={"st-elsewhere": _subs()}, asset_tags={}, now=NOW)
    assert plan.events == [
        {"provider_id": "st-elsewhere", "alert_id": alert.id, "revision": 1, "created_at": NOW}
    ]
    rows = {r["subscription_id"]: r for r in plan.deliveries}
    assert rows["sub_hook"]["status"] == "pending"
    assert rows["sub_hook"]["next_attempt_at"] == NOW and rows["sub_hook"]["digest_key"] is None
    assert rows["sub_hook"]["id"] == delivery_id(alert_id=alert.id, subscription_id="sub_hook", revision=1)
    assert rows["sub_crit"]["status"] == "skipped"
    assert rows["sub_crit"]["last_error"] == "severity low below minimum critical"
    assert rows["sub_digest"]["status"] == "pending"
    assert rows["sub_digest"]["digest_key"] == "hourly:2024-05-01T13"
    assert rows["sub_digest"]["next_attempt_at"] == datetime(2024, 5, 1, 14, tzinfo=UTC)
    assert rows["sub_digest"]["payload"]["id"] == alert.id
    assert (plan.routed, plan.skipped) == (2, 1)


def test_same_message_twice_yields_the_same_rows_once() -> None:
    alert = sample_alert()
    once = plan_intake([alert], subscriptions={"st-elsewhere": _subs()}, asset_tags={}, now=NOW)
    twice = plan_intake([alert, alert], subscriptions={"st-elsewhere": _subs()}, asset_tags={}, now=NOW)
    assert once.deliveries == twice.deliveries and once.events == twice.events


def test_a_new_revision_is_a_new_delivery() -> None:
    r1 = plan_intake([sample_alert()], subscriptions={"st-elsewhere": _subs()}, asset_tags={}, now=NOW)
    r2 = plan_intake(
        [sample_alert(revision=2)], subscriptions={"st-elsewhere": _subs()}, asset_tags={}, now=NOW
    )
    assert {d["id"] for d in r1.deliveries}.isdisjoint({d["id"] for d in r2.deliveries})


def test_other_providers_alerts_find_no_subscriptions() -> None:
    alert = sample_alert(provider_id="other")
    plan = plan_intake([alert], subscriptions={"st-elsewhere": _subs()}, asset_tags={}, now=NOW)
    assert plan.deliveries == [] and len(plan.events) == 1


def test_asset_tags_are_looked_up_by_the_alerts_asset() -> None:
    sub = Subscription(
        id="sub_tag",
        provider_id="st-elsewhere",
        channel=Channel.WEBHOOK,
        target="https://a/h",
        filters=SubscriptionFilters(asset_tags=["pacs"]),
    )
    alert = sample_alert(asset_id="ast_pacs")
    tagged = plan_intake(
        [alert], subscriptions={"st-elsewhere": [sub]}, asset_tags={"ast_pacs": ["pacs"]}, now=NOW
    )
    untagged = plan_intake([alert], subscriptions={"st-elsewhere": [sub]}, asset_tags={}, now=NOW)
    assert tagged.deliveries[0]["status"] == "pending" and untagged.deliveries[0]["status"] == "skipped"


def test_digest_windows() -> None:
    hourly = window_for(Digest.HOURLY, NOW)
    daily = window_for(Digest.DAILY, NOW)
    assert (hourly.key, hourly.ends_at) == ("hourly:2024-05-01T13", datetime(2024, 5, 1, 14, tzinfo=UTC))
    assert (daily.key, daily.ends_at) == ("daily:2024-05-01", datetime(2024, 5, 2, tzinfo=UTC))
    assert window_from_key(hourly.key) == hourly and window_from_key(daily.key) == daily
    assert digest_message_id("sub", ["b", "a"]) == digest_message_id("sub", ["a", "b"])
    assert digest_message_id("sub", ["a"]) != digest_message_id("sub", ["a", "b"])
