"""Every list pages by cursor: follow ``X-Next-Cursor`` (or ``Link: rel="next"``) and get each item once.

The bodies stay JSON arrays (clients that read one page keep working); ties on the sort time are broken by
id, so rows created in the same instant are neither skipped nor repeated.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from tests.support.served_api import OTHER, OWN, ServedApi

from ewarn.models.provider import Csirt, Provider, Role
from ewarn.models.sighting import Sighting, SightingKind, SightingStatus
from ewarn.store.repositories.principals import create_api_key, upsert_csirt, upsert_provider
from ewarn.store.repositories.sightings import insert_sighting
from ewarn.store.tables import (
    ApiKeyRow,
    DeliveryRow,
    RejectionRow,
    ScopeApprovalRow,
    SubscriptionRow,
    VendorAliasChangeRow,
)

SAME_INSTANT = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApi]:
    api = ServedApi(database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('pg') / 'p.db'}").start()
    runtime = api.runtime
    assert runtime is not None
    with httpx.Client(base_url=api.base_url, timeout=30) as client:
        for n in range(6):
            made = client.post(
                f"/api/v1/providers/{OWN}/subscriptions",
                json={"channel": "webhook", "target": f"https://hooks.example.org/{n}"},
                headers=api.headers("provider"),
            )
            assert made.status_code == 201, made.text
        for n in range(4):
            feed = client.post(
                "/api/v1/feeds",
                json={"id": f"feed-{n}", "kind": "stix_bundle", "location": f"http://127.0.0.1:9/{n}.json"},
                headers=api.headers("operator"),
            )
            assert feed.status_code == 201, feed.text
        for n in range(5):
            made = client.post(
                "/api/v1/csirts/cert-de/subscriptions",
                json={"channel": "webhook", "target": f"https://hooks.example.org/csirt/{n}"},
                headers=api.headers("csirt"),
            )
            assert made.status_code == 201, made.text
        for n in range(5):
            made = client.post(
                f"/api/v1/providers/{OWN}/assets",
                json={"kind": "domain", "name": f"site {n}", "value": f"site{n}.example.org"},
                headers=api.headers("provider"),
            )
            assert made.status_code in (200, 201), made.text

    async def seed() -> None:
        async with runtime.sessions() as session:
            for n in range(4):
                await upsert_csirt(session=session, csirt=Csirt(id=f"cert-x{n}", name="x", country="DE"))
            for n in range(5):
                await create_api_key(session=session, role=Role.PROVIDER, provider_id=OWN, name=f"page-{n}")
            await session.execute(  # every key and CSIRT subscription created in the same instant
                update(ApiKeyRow).values(created_at=SAME_INSTANT)
            )
            await session.execute(
                update(SubscriptionRow)
                .where(SubscriptionRow.csirt_id.is_not(None))
                .values(created_at=SAME_INSTANT)
            )
            for n in range(6):
                session.add(
                    VendorAliasChangeRow(
                        at=SAME_INSTANT, actor="op", action="add", alias_key=f"v{n}", before=None, after=None
                    )
                )
                session.add(
                    ScopeApprovalRow(
                        provider_id=OWN,
                        kind="network",
                        value=f"10.{n}.0.0/8",
                        reason="wide",
                        approved_by="op",
                        approved_at=SAME_INSTANT + timedelta(seconds=max(0, n - 3)),
                    )
                )
            for n in range(8):  # sightings, five of them received at the very same instant
                await insert_sighting(session=session, sighting=_sighting(n, OWN if n < 7 else OTHER))
            for n in range(5):
                await upsert_provider(
                    session=session, provider=Provider(id=f"extra-{n}", name="x", country="DE")
                )
            for n in range(7):  # dead letters, four of them at the very same instant
                session.add(
                    DeliveryRow(
                        id=f"dlv_{n:02d}",
                        alert_id="alr_x",
                        alert_revision=1,
                        subscription_id=api.ids["subscription"],
                        provider_id=OWN,
                        channel="webhook",
                        status="dead",
                        attempts=3,
                        payload={},
                        created_at=SAME_INSTANT + timedelta(seconds=max(0, n - 3)),
                    )
                )
            for n in range(6):  # rejections, three at the very same instant
                session.add(
                    RejectionRow(
                        id=f"rej_{n:02d}",
                        feed_id="seed-feed",
                        feed_kind="stix_bundle",
                        record=f"indicator--{n}",
                        reason="no pattern",
                        excerpt=None,
                        rejected_at=SAME_INSTANT + timedelta(seconds=max(0, n - 2)),
                    )
                )
            await session.commit()

    api.run(seed)
    try:
        yield api
    finally:
        api.stop()


def _sighting(n: int, provider_id: str) -> Sighting:
    received = SAME_INSTANT + timedelta(seconds=max(0, n - 4))
    return Sighting(
        id=f"sgt_{n:02d}",
        provider_id=provider_id,
        indicator_key=f"ipv4:198.51.100.{n}",
        indicator_type="ipv4",
        value=f"198.51.100.{n}",
        kind=SightingKind.BLOCKED,
        first_seen=received,
        last_seen=received,
        count=1,
        confidence=50,
        tlp="green",
        share_identity=False,
        status=SightingStatus.RELAYED,
        received_at=received,
        expires_at=received + timedelta(days=30),
    )


def _key(item: dict[str, Any]) -> str:
    return str(item.get("id") or item.get("record") or item["value"])


def _pages(served: ServedApi, url: str, who: str, limit: int) -> tuple[list[str], int]:
    ids: list[str] = []
    pages = 0
    next_url: str | None = f"{served.base_url}{url}?limit={limit}"
    with httpx.Client(timeout=30) as client:
        while next_url:
            response = client.get(next_url, headers=served.headers(who))
            assert response.status_code == 200, response.text
            pages += 1
            body = response.json()
            ids += [_key(item) for item in (body["items"] if isinstance(body, dict) else body)]
            cursor = response.headers.get("x-next-cursor")
            link = response.headers.get("link")
            assert (cursor is None) == (link is None)
            next_url = link.split(">", 1)[0].removeprefix("<") if link else None
            assert cursor is None or f"cursor={cursor}" in str(next_url)
    return ids, pages


@pytest.mark.parametrize(
    ("url", "who"),
    [
        pytest.param("/api/v1/providers", "operator", id="providers"),
        pytest.param("/api/v1/subscriptions", "provider", id="subscriptions"),
        pytest.param(f"/api/v1/providers/{OWN}/subscriptions", "csirt", id="provider-subscriptions"),
        pytest.param("/api/v1/deliveries/dead", "provider", id="dead-letters"),
        pytest.param(
            "/api/v1/subscriptions/{subscription}/deliveries", "operator", id="subscription-deliveries"
        ),
        pytest.param("/api/v1/feeds", "operator", id="feeds"),
        pytest.param("/api/v1/feeds/seed-feed/rejections", "operator", id="rejections"),
        pytest.param("/api/v1/csirts", "operator", id="csirts"),
        pytest.param("/api/v1/keys", "operator", id="api-keys"),
        pytest.param("/api/v1/vendor-aliases/changes", "operator", id="alias-changes"),
        pytest.param("/api/v1/sightings", "provider", id="sightings"),
        pytest.param(f"/api/v1/providers/{OWN}/scope-approvals", "csirt", id="scope-approvals"),
        pytest.param("/api/v1/csirts/cert-de/subscriptions", "csirt", id="csirt-subscriptions"),
        pytest.param(f"/api/v1/providers/{OWN}/assets", "csirt", id="assets-body-and-headers"),
        pytest.param("/api/v1/audit", "operator", id="audit-body-and-headers"),
    ],
)
def test_paging_by_cursor_returns_each_item_once(served: ServedApi, url: str, who: str) -> None:
    url = url.format(subscription=served.ids["subscription"])
    whole, _ = _pages(served, url, who, limit=500)
    paged, pages = _pages(served, url, who, limit=2)
    assert len(whole) >= 5 and pages >= 3
    assert paged == whole and len(set(paged)) == len(paged)
    if who != "operator":
        assert OTHER not in paged


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("/api/v1/deliveries/dead", id="dead-letters"),
        pytest.param("/api/v1/keys", id="api-keys"),
        pytest.param("/api/v1/sightings", id="sightings"),
        pytest.param(f"/api/v1/providers/{OWN}/scope-approvals", id="scope-approvals"),
        pytest.param("/api/v1/csirts/cert-de/subscriptions", id="csirt-subscriptions"),
    ],
)
@pytest.mark.parametrize("cursor", ["bm9wZQ", "W10", "WyJ4Il0", "WyIyMDI2LTExLTAxIiwiYSJd"])
def test_a_cursor_this_list_never_gave_is_422(served: ServedApi, url: str, cursor: str) -> None:
    response = httpx.get(
        f"{served.base_url}{url}",
        params={"cursor": cursor},
        headers=served.headers("operator"),
        timeout=10,
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("url", "cursor"),
    [
        pytest.param("/api/v1/csirts", "WyJhIiwiYiJd", id="csirts-two-values"),
        pytest.param("/api/v1/vendor-aliases/changes", "WyJ4Il0", id="alias-changes-not-an-id"),
    ],
)
def test_a_cursor_of_the_wrong_shape_is_422(served: ServedApi, url: str, cursor: str) -> None:
    response = httpx.get(
        f"{served.base_url}{url}", params={"cursor": cursor}, headers=served.headers("operator"), timeout=10
    )
    assert response.status_code == 422, response.text


def test_sightings_pages_hold_only_the_callers_own(served: ServedApi) -> None:
    paged, _ = _pages(served, "/api/v1/sightings", "provider", limit=2)
    everyone, _ = _pages(served, "/api/v1/sightings", "operator", limit=3)
    assert sorted(paged) == [f"sgt_{n:02d}" for n in range(7)]
    assert "sgt_07" in everyone and "sgt_07" not in paged


def test_rejections_offset_still_pages(served: ServedApi) -> None:
    url = f"{served.base_url}/api/v1/feeds/seed-feed/rejections"
    headers = served.headers("operator")
    whole = httpx.get(url, headers=headers, timeout=10).json()
    shifted = httpx.get(url, params={"offset": 2, "limit": 3}, headers=headers, timeout=10).json()
    assert len(whole) == 6 and shifted == whole[2:5]
