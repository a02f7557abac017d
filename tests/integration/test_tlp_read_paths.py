"""TLP on every read path, per role: the REST list and get, the event poll, the SSE stream, the overdue view and
the delivery logs.

TLP:RED and TLP:AMBER+STRICT alerts are read by their provider and the operator only; the provider's CSIRT
reads AMBER, GREEN and CLEAR of its constituency (``ewarn.models.tlp_access``); another tenant reads none.
TAXII and exports are held to the same rule in their own tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from tests.support.read_world import readable, seeded_alerts, store_alerts
from tests.support.served_api import OTHER, OWN, WEBHOOK, ServedApi

from ewarn.ids import stable_id
from ewarn.models.common import TLP
from ewarn.settings import DeadlineSettings, WorkflowSettings
from ewarn.store.tables import DeliveryRow
from ewarn.workflow.service import sync_ledger

ALERTS = seeded_alerts(own=20, other=3)
ROLES = ("provider", "csirt", "operator", "other")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApi]:
    api = ServedApi(database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('tlp') / 't.db'}").start()
    store_alerts(api, ALERTS)
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture(scope="module")
def client(served: ServedApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base_url, timeout=30) as c:
        yield c


def _listed(client: httpx.Client, served: ServedApi, who: str) -> list[str]:
    ids: list[str] = []
    params: dict[str, str | int] = {"limit": 7}
    while True:
        page = client.get("/api/v1/alerts", params=params, headers=served.headers(who))
        assert page.status_code == 200, page.text
        ids += [a["id"] for a in page.json()["items"]]
        if not page.json()["next_cursor"]:
            return ids
        params["cursor"] = page.json()["next_cursor"]


def test_the_csirt_reads_part_of_its_constituency() -> None:
    """The world is what the rule is about: the CSIRT's constituency holds RED and AMBER+STRICT alerts."""
    tlps = {a.tlp for a in readable(ALERTS, "provider")}
    assert {TLP.RED, TLP.AMBER_STRICT} <= tlps
    assert len(readable(ALERTS, "csirt")) == 12 and len(readable(ALERTS, "provider")) == 20


@pytest.mark.parametrize("who", ROLES)
def test_alert_list_pages_through_what_the_role_may_read(
    served: ServedApi, client: httpx.Client, who: str
) -> None:
    ids = _listed(client, served, who)
    assert len(ids) == len(set(ids))
    assert set(ids) == {a.id for a in readable(ALERTS, who)}


@pytest.mark.parametrize("who", ROLES)
def test_alert_by_id_is_not_found_beyond_the_role(served: ServedApi, client: httpx.Client, who: str) -> None:
    allowed = {a.id for a in readable(ALERTS, who)}
    for alert in ALERTS:
        response = client.get(f"/api/v1/alerts/{alert.id}", headers=served.headers(who))
        expected = 200 if alert.id in allowed else 404
        assert response.status_code == expected, (
            f"{who} {alert.tlp} {alert.provider_id}: {response.status_code}"
        )
        if expected == 404:
            assert alert.reason not in response.text


@pytest.mark.parametrize("who", ROLES)
def test_event_poll_sends_what_the_role_may_read(served: ServedApi, client: httpx.Client, who: str) -> None:
    seen: list[str] = []
    after = 0
    while True:
        page = client.get(
            "/api/v1/alert-events", params={"after": after, "limit": 5}, headers=served.headers(who)
        )
        assert page.status_code == 200
        events = page.json()["events"]
        if not events:
            break
        seen += [e["alert_id"] for e in events]
        assert all(e["alert"]["tlp"] in [t.value for t in TLP] for e in events)
        after = page.json()["next_after"]
    assert sorted(seen) == sorted(a.id for a in readable(ALERTS, who))


def _stream(served: ServedApi, who: str, count: int) -> list[dict[str, object]]:
    """Events of the SSE stream from the start; stops after ``count`` events or 3 s without one more."""
    events: list[dict[str, object]] = []
    timeout = httpx.Timeout(10, read=3)
    with (
        httpx.Client(base_url=served.base_url, timeout=timeout) as client,
        client.stream(
            "GET", "/api/v1/alert-events/stream", params={"after": "0"}, headers=served.headers(who)
        ) as r,
    ):
        assert r.status_code == 200
        try:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line.removeprefix("data:").strip()))
                    if len(events) > count:
                        break
        except httpx.ReadTimeout:
            pass  # nothing more within 3 s: the stream has sent all it will
    return events


@pytest.mark.parametrize("who", ["csirt", "provider"])
def test_sse_stream_sends_what_the_role_may_read(served: ServedApi, who: str) -> None:
    expected = readable(ALERTS, who)
    events = _stream(served, who, len(expected))
    assert sorted(str(e["alert_id"]) for e in events) == sorted(a.id for a in expected)
    if who == "csirt":
        assert not any(e["alert"]["tlp"] in ("red", "amber+strict") for e in events)  # type: ignore[index]


@pytest.mark.parametrize("who", ROLES)
def test_alert_history_follows_the_tlp_rule(served: ServedApi, client: httpx.Client, who: str) -> None:
    allowed = {a.id for a in readable(ALERTS, who)}
    for alert in ALERTS[:10]:
        response = client.get(f"/api/v1/alerts/{alert.id}/history", headers=served.headers(who))
        assert response.status_code == (200 if alert.id in allowed else 404), f"{who} {alert.tlp}"


# --- the overdue view and the delivery logs: not even an id of an alert the role may not read ----------------

EVERY_SEVERITY_AN_HOUR = WorkflowSettings(
    deadlines={
        s: DeadlineSettings(acknowledge_hours=1) for s in ("info", "low", "medium", "high", "critical")
    }
)


def _unreadable_ids(who: str) -> set[str]:
    return {a.id for a in ALERTS} - {a.id for a in readable(ALERTS, who)}


@pytest.fixture(scope="module")
def deadlines_and_deliveries(served: ServedApi, client: httpx.Client) -> dict[str, str]:
    """Every alert overdue for acknowledgement (its ledger row kept as the scheduler keeps it) and one dead
    delivery each, through its provider's webhook subscription; returns the subscription per provider."""
    subs = {OWN: served.ids["subscription"]}
    other = client.post(
        f"/api/v1/providers/{OTHER}/subscriptions",
        json={"channel": "webhook", "target": WEBHOOK},
        headers=served.headers("operator"),
    )
    assert other.status_code == 201, other.text
    subs[OTHER] = other.json()["id"]
    runtime = served.runtime
    assert runtime is not None

    async def seed() -> None:
        now = datetime.now(UTC)
        async with runtime.sessions() as session, session.begin():
            await sync_ledger(session=session, settings=EVERY_SEVERITY_AN_HOUR, now=now, limit=len(ALERTS))
            for alert in ALERTS:
                session.add(
                    DeliveryRow(
                        id=stable_id("dlv", alert.id),
                        alert_id=alert.id,
                        alert_revision=alert.revision,
                        subscription_id=subs[alert.provider_id],
                        provider_id=alert.provider_id,
                        channel="webhook",
                        status="dead",
                        attempts=8,
                        last_error="HTTP 500",
                        payload={},
                        created_at=alert.matched_at,
                    )
                )

    served.run(seed)
    return subs


def _pages(client: httpx.Client, served: ServedApi, who: str, path: str, limit: int) -> list[httpx.Response]:
    """Every page of a cursor-paged list, following X-Next-Cursor."""
    pages: list[httpx.Response] = []
    params: dict[str, str | int] = {"limit": limit}
    while True:
        page = client.get(path, params=params, headers=served.headers(who))
        assert page.status_code == 200, page.text
        pages.append(page)
        if "x-next-cursor" not in page.headers:
            return pages
        params["cursor"] = page.headers["x-next-cursor"]


@pytest.mark.parametrize("who", ROLES)
def test_overdue_view_pages_through_what_the_role_may_read(
    served: ServedApi, client: httpx.Client, deadlines_and_deliveries: dict[str, str], who: str
) -> None:
    pages = _pages(client, served, who, "/api/v1/workflow/overdue", limit=4)
    ids = [o["alert_id"] for p in pages for o in p.json()["items"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {a.id for a in readable(ALERTS, who)}
    assert all(o["due"] == "acknowledge" for p in pages for o in p.json()["items"])
    for alert_id in _unreadable_ids(who):  # no id, severity or deadline of what the role may not read
        assert not any(alert_id in p.text for p in pages), f"{who} sees {alert_id} in the overdue view"


@pytest.mark.parametrize("who", ROLES)
def test_dead_letters_list_only_deliveries_of_alerts_the_role_may_read(
    served: ServedApi, client: httpx.Client, deadlines_and_deliveries: dict[str, str], who: str
) -> None:
    pages = _pages(client, served, who, "/api/v1/deliveries/dead", limit=5)
    ids = [d["alert_id"] for p in pages for d in p.json()]
    assert sorted(ids) == sorted(a.id for a in readable(ALERTS, who))
    for alert_id in _unreadable_ids(who):
        assert not any(alert_id in p.text for p in pages), f"{who} sees {alert_id} in the dead letters"


@pytest.mark.parametrize("who", ["provider", "csirt", "operator"])
def test_a_subscriptions_delivery_log_follows_the_tlp_rule(
    served: ServedApi, client: httpx.Client, deadlines_and_deliveries: dict[str, str], who: str
) -> None:
    path = f"/api/v1/subscriptions/{deadlines_and_deliveries[OWN]}/deliveries"
    pages = _pages(client, served, who, path, limit=6)
    ids = [d["alert_id"] for p in pages for d in p.json()]
    assert sorted(ids) == sorted(a.id for a in readable(ALERTS, who) if a.provider_id == OWN)
    for alert_id in _unreadable_ids(who):
        assert not any(alert_id in p.text for p in pages), f"{who} sees {alert_id} in a delivery log"


@pytest.mark.parametrize("who", ROLES)
def test_a_delivery_by_id_is_not_found_beyond_the_role(
    served: ServedApi, client: httpx.Client, deadlines_and_deliveries: dict[str, str], who: str
) -> None:
    allowed = {a.id for a in readable(ALERTS, who)}
    for alert in ALERTS:
        response = client.get(f"/api/v1/deliveries/{stable_id('dlv', alert.id)}", headers=served.headers(who))
        assert response.status_code == (200 if alert.id in allowed else 404), f"{who} {alert.tlp}"
        if alert.id not in allowed:
            assert alert.id not in response.text
