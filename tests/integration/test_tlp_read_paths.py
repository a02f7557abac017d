"""TLP on every read path, per role: the REST list and get, the event poll and the SSE stream.

TLP:RED and TLP:AMBER+STRICT alerts are read by their provider and the operator only; the provider's CSIRT
reads AMBER, GREEN and CLEAR of its constituency (``ewarn.models.tlp_access``); another tenant reads none.
TAXII and exports are held to the same rule in their own tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from tests.support.read_world import readable, seeded_alerts, store_alerts
from tests.support.served_api import ServedApi

from ewarn.models.common import TLP

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
