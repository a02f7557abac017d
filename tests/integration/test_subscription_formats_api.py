"""Integration formats and the syslog channel through the subscriptions API: what is accepted, the 422 reasons,
and the TheHive API key stored sealed and never shown."""

from __future__ import annotations

from typing import Any

import pytest
from tests.integration.test_dispatch_api import Api, api  # noqa: F401 (the fixture)

from ewarn.store.repositories.secrets import box_of
from ewarn.store.tables import SubscriptionRow

CREATE = "/api/v1/providers/st-elsewhere/subscriptions"
HIVE_KEY = "hive-KEY-0123456789abcdef"


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        pytest.param(
            {"channel": "webhook", "target": "https://x.example/wf", "payload_format": "teams"},
            "teams",
            id="teams",
        ),
        pytest.param(
            {"channel": "webhook", "target": "https://hooks.slack.example/s", "payload_format": "slack"},
            "slack",
            id="slack",
        ),
        pytest.param(
            {"channel": "syslog", "target": "syslog+tls://siem.example:6514"},
            "cef",
            id="syslog-tls-default-cef",
        ),
        pytest.param(
            {
                "channel": "syslog",
                "target": "syslog+tcp://siem.st-elsewhere.example",
                "payload_format": "cef",
            },
            "cef",
            id="syslog-tcp",
        ),
        pytest.param({"channel": "email", "target": "soc@st-elsewhere.example"}, "json", id="email-default"),
    ],
)
async def test_formats_accepted(api: Api, body: dict[str, Any], fmt: str) -> None:  # noqa: F811
    created = await api.call("a", "POST", CREATE, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["payload_format"] == fmt
    got = await api.call("a", "GET", f"/api/v1/subscriptions/{created.json()['id']}")
    assert got.json()["payload_format"] == fmt and got.json()["channel"] == body["channel"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            {"channel": "email", "target": "soc@h.example", "payload_format": "teams"},
            "cannot be sent by the email channel",
            id="teams-on-email",
        ),
        pytest.param(
            {"channel": "syslog", "target": "syslog+tcp://siem.example:514", "payload_format": "json"},
            "carries cef",
            id="json-on-syslog",
        ),
        pytest.param(
            {"channel": "webhook", "target": "https://x.example/", "payload_format": "cef"},
            "cannot be sent by the webhook",
            id="cef-on-webhook",
        ),
        pytest.param(
            {"channel": "syslog", "target": "https://siem.example/"}, "syslog+tcp://", id="syslog-http-url"
        ),
        pytest.param(
            {"channel": "syslog", "target": "syslog+tcp://siem.example:514/path"},
            "host and port only",
            id="syslog-path",
        ),
        pytest.param(
            {"channel": "syslog", "target": "syslog+tls://10.0.0.5:6514"}, "not allowed", id="syslog-private"
        ),
        pytest.param(
            {"channel": "syslog", "target": "syslog+tcp://0x0a.0.0.1:514"},
            "not allowed",
            id="syslog-odd-spelling",
        ),
        pytest.param(
            {"channel": "webhook", "target": "https://h.example/", "payload_format": "thehive"},
            "needs api_key",
            id="hive-no-key",
        ),
        pytest.param(
            {
                "channel": "webhook",
                "target": "https://h.example/",
                "payload_format": "slack",
                "api_key": HIVE_KEY,
            },
            "api_key is only",
            id="key-on-slack",
        ),
        pytest.param(
            {
                "channel": "webhook",
                "target": "https://h.example/",
                "payload_format": "thehive",
                "api_key": HIVE_KEY,
                "digest": "hourly",
            },
            "digest must be none",
            id="hive-digest",
        ),
        pytest.param(
            {
                "channel": "webhook",
                "target": "https://h.example/",
                "payload_format": "slack",
                "filters": {"tlp_ceiling": "red"},
            },
            "TLP ceiling",
            id="slack-red",
        ),
        pytest.param(
            {"channel": "webhook", "target": "https://h.example/", "payload_format": "yaml"},
            None,
            id="unknown-format",
        ),
    ],
)
async def test_refused_with_a_reason(api: Api, body: dict[str, Any], reason: str | None) -> None:  # noqa: F811
    resp = await api.call("a", "POST", CREATE, json=body)
    assert resp.status_code == 422, resp.text
    if reason is not None:
        assert reason in resp.text
    assert (await api.call("a", "GET", "/api/v1/subscriptions")).json() == [], "nothing stored"


async def test_thehive_api_key_sealed_never_shown(api: Api) -> None:  # noqa: F811
    body = {"channel": "webhook", "target": "https://hive.example/api/v1/alert", "payload_format": "thehive"}
    created = await api.call("a", "POST", CREATE, json={**body, "api_key": HIVE_KEY})
    assert created.status_code == 201, created.text
    assert created.json()["secret"] is None and HIVE_KEY not in created.text
    sub_id = created.json()["id"]

    async def stored() -> str:
        async with api.runtime.sessions() as session:
            row = await session.get(SubscriptionRow, sub_id, populate_existing=True)
            assert row is not None and row.secret is not None and row.secret.startswith("fernet:")
            assert HIVE_KEY not in row.secret
            return box_of(session).open(row.secret, row="t")

    assert await stored() == HIVE_KEY
    rotated = await api.call("a", "POST", f"/api/v1/subscriptions/{sub_id}/rotate-secret")
    assert rotated.status_code == 409 and "api_key" in rotated.text
    patched = await api.call(
        "a", "PATCH", f"/api/v1/subscriptions/{sub_id}", json={"api_key": "new-key-98765"}
    )
    assert patched.status_code == 200 and "new-key-98765" not in patched.text
    assert await stored() == "new-key-98765"
    switch = await api.call("a", "PATCH", f"/api/v1/subscriptions/{sub_id}", json={"payload_format": "json"})
    assert switch.status_code == 422 and "create a new subscription" in switch.text
    spaced = await api.call(
        "a", "PATCH", f"/api/v1/subscriptions/{sub_id}", json={"api_key": "has a space 123"}
    )
    assert spaced.status_code == 422 and "has a space" not in spaced.text, "a refused key is not echoed"
    listed = await api.call("operator", "GET", "/api/v1/subscriptions")
    assert HIVE_KEY not in listed.text and "new-key-98765" not in listed.text


async def test_patch_keeps_the_channel_rules(api: Api) -> None:  # noqa: F811
    sub = (
        await api.call("a", "POST", CREATE, json={"channel": "webhook", "target": "https://x.example/h"})
    ).json()
    ok = await api.call("a", "PATCH", f"/api/v1/subscriptions/{sub['id']}", json={"payload_format": "teams"})
    assert ok.status_code == 200 and ok.json()["payload_format"] == "teams"
    red = await api.call(
        "a", "PATCH", f"/api/v1/subscriptions/{sub['id']}", json={"filters": {"tlp_ceiling": "red"}}
    )
    assert red.status_code == 422 and "TLP ceiling" in red.text
    syslog = (
        await api.call("a", "POST", CREATE, json={"channel": "syslog", "target": "syslog+tcp://siem.example"})
    ).json()
    bad = await api.call(
        "a", "PATCH", f"/api/v1/subscriptions/{syslog['id']}", json={"payload_format": "slack"}
    )
    assert bad.status_code == 422 and "cannot be sent by the syslog channel" in bad.text
