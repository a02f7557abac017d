"""Secrets at rest, SQLite and PostgreSQL: what the API was given is nowhere in the raw database, and still works.

A webhook subscription and a feed with credentials are created through the API; every row of every table is read
back with plain SQL and holds neither the signing secret nor the feed token. Deliveries still verify with the
original secret at a real receiver, and a poll still sends the token to a loopback feed server. Keys rotate
(new key first, ``reseal_all``, old key dropped) and a row sealed under a key no longer configured fails alone.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from tests.support.processes import child_environment
from tests.support.receivers import (
    WebhookReceiver,
    deliveries,
    dispatch_settings,
    publish,
    running_dispatch,
    sample_alert,
    wait_until,
)

from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.crypto.secretbox import generate_key
from ewarn.models.provider import Provider, Role
from ewarn.runtime import Runtime
from ewarn.settings import IngestSettings, SecretsSettings
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.repositories.principals import create_api_key, upsert_provider
from ewarn.store.repositories.secrets import reseal_all
from ewarn.store.tables import Base

PROVIDER = "st-elsewhere"
FEED_TOKEN = "feed-token-7f3a9c1e5b"
BUNDLE = json.dumps(
    {
        "type": "bundle",
        "id": "bundle--1",
        "objects": [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--00000000-0000-4000-8000-000000000001",
                "created": "2026-01-01T00:00:00Z",
                "modified": "2026-01-01T00:00:00Z",
                "pattern": "[ipv4-addr:value = '203.0.113.7']",
                "pattern_type": "stix",
                "valid_from": "2026-01-01T00:00:00Z",
            }
        ],
    }
).encode()


class FeedServer:
    """A STIX bundle on 127.0.0.1 that answers only with the right bearer token; it records what it got."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                got = self.headers.get("Authorization")
                owner.authorizations.append(got)
                ok = got == f"Bearer {FEED_TOKEN}"
                body = BUNDLE if ok else b"{}"
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bundle.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hook = WebhookReceiver()
    await hook.start()
    yield hook
    await hook.stop()


@dataclass
class Stack:
    runtime: Runtime
    bus: MemoryBus
    client: httpx.AsyncClient
    operator: dict[str, str]

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.client.request(method, path, headers=self.operator, **kw)

    async def subscribe(self, target: str) -> tuple[str, str]:
        resp = await self.call(
            "POST",
            f"/api/v1/providers/{PROVIDER}/subscriptions",
            json={"channel": "webhook", "target": target},
        )
        assert resp.status_code == 201, resp.text
        return resp.json()["id"], resp.json()["secret"]

    async def add_feed(self, feed_id: str, location: str) -> None:
        body = {
            "id": feed_id,
            "kind": "stix_bundle",
            "location": location,
            "credentials": {"token": FEED_TOKEN},
        }
        resp = await self.call("POST", "/api/v1/feeds", json=body)
        assert resp.status_code == 201, resp.text

    async def poll(self, feed_id: str) -> httpx.Response:
        return await self.call("POST", f"/api/v1/feeds/{feed_id}/poll")

    async def raw_rows(self) -> str:
        """Every row of every table, as plain SQL reads it."""
        out: list[str] = []
        async with self.runtime.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                rows = (await conn.execute(text(f'SELECT * FROM "{table.name}"'))).all()
                out += [f"{table.name}: {tuple(row)}" for row in rows]
        return "\n".join(out)


@contextlib.asynccontextmanager
async def stack(database_url: str, keys: Sequence[str]) -> AsyncIterator[Stack]:
    """The API (and, on demand, dispatch) of one process whose ``EWARN_SECRETS__KEYS`` is ``keys``."""
    settings = dispatch_settings().model_copy(
        update={
            "database_url": database_url,
            "secrets": SecretsSettings(keys=SecretStr(",".join(keys))),
            "ingest": IngestSettings(allowed_networks=["127.0.0.1/32"], request_timeout_seconds=5),
        }
    )
    bus = MemoryBus()
    runtime = Runtime.build(settings, bus=bus)
    await upgrade_to_head(runtime.engine)
    async with runtime.sessions() as session:
        await upsert_provider(session=session, provider=Provider(id=PROVIDER, name=PROVIDER, country="DE"))
        _, key = await create_api_key(session=session, role=Role.OPERATOR)
        await session.commit()
    transport = httpx.ASGITransport(app=create_app(runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ewarn.test") as client:
            yield Stack(runtime, bus, client, {"Authorization": f"Bearer {key}"})
    finally:
        await runtime.close()


async def delivered_to(stack_: Stack, receiver: WebhookReceiver, count: int, asset_id: str) -> None:
    """Publish an alert and wait until ``count`` verified deliveries arrived in total."""
    settings = stack_.runtime.settings
    async with running_dispatch(
        sessions=stack_.runtime.sessions, bus=stack_.bus, topics=stack_.runtime.topics, settings=settings
    ):
        await publish(stack_.bus, stack_.runtime.topics, sample_alert(asset_id=asset_id))
        await receiver.wait_accepted(count)


async def test_raw_database_holds_no_secret_and_both_still_work(
    database_url: str, receiver: WebhookReceiver, feed_server: FeedServer
) -> None:
    async with stack(database_url, [generate_key()]) as api:
        sub_id, secret = await api.subscribe(receiver.url())
        await api.add_feed("guarded", feed_server.url)
        raw = await api.raw_rows()
        assert sub_id in raw and "guarded" in raw, "the rows are there"
        for needle in (secret, secret.removeprefix("whsec_"), FEED_TOKEN):
            assert needle not in raw
        assert "fernet:" in raw

        receiver.secrets = [secret]
        await delivered_to(api, receiver, 1, "ast_1")
        assert receiver.accepted[0].verified

        polled = await api.poll("guarded")
        assert polled.status_code == 200 and polled.json()["accepted"] == 1, polled.text
        assert feed_server.authorizations == [f"Bearer {FEED_TOKEN}"]


async def test_rotation_then_old_key_dropped(
    database_url: str, receiver: WebhookReceiver, feed_server: FeedServer
) -> None:
    old, new = generate_key(), generate_key()
    async with stack(database_url, [old]) as api:
        _, secret = await api.subscribe(receiver.url())
        await api.add_feed("guarded", feed_server.url)
        before = await api.raw_rows()
    async with stack(database_url, [new, old]) as api:
        first = await reseal_all(sessions=api.runtime.sessions, batch=1)
        again = await reseal_all(sessions=api.runtime.sessions)
        assert (first.resealed, first.unreadable) == (2, [])  # the signing secret and the feed's credentials
        assert (again.resealed, again.unreadable) == (0, []), "a second run has nothing left to do"
        after = await api.raw_rows()
        assert after != before and secret not in after and FEED_TOKEN not in after
    async with stack(database_url, [new]) as api:
        receiver.secrets = [secret]
        await delivered_to(api, receiver, 1, "ast_1")
        polled = await api.poll("guarded")
        assert polled.status_code == 200 and polled.json()["accepted"] == 1, polled.text
        assert feed_server.authorizations[-1] == f"Bearer {FEED_TOKEN}"


async def test_a_row_no_key_opens_fails_alone(
    database_url: str, receiver: WebhookReceiver, feed_server: FeedServer
) -> None:
    lost, current = generate_key(), generate_key()
    async with stack(database_url, [lost]) as api:
        lost_sub, _ = await api.subscribe(receiver.url("/lost"))
        await api.add_feed("lost-feed", feed_server.url)
    async with stack(database_url, [current]) as api:
        good_sub, secret = await api.subscribe(receiver.url())
        await api.add_feed("good-feed", feed_server.url)
        listed = await api.call("GET", f"/api/v1/providers/{PROVIDER}/subscriptions")
        assert listed.status_code == 200 and {s["id"] for s in listed.json()} >= {lost_sub, good_sub}

        receiver.secrets = [secret]
        sessions = api.runtime.sessions
        async with running_dispatch(
            sessions=sessions, bus=api.bus, topics=api.runtime.topics, settings=api.runtime.settings
        ):
            await publish(api.bus, api.runtime.topics, sample_alert(asset_id="ast_1"))
            await receiver.wait_accepted(1)

            async def lost_one_failed() -> bool:
                rows = await deliveries(sessions, subscription_id=lost_sub)
                return bool(rows) and rows[0].attempts >= 1 and rows[0].last_error is not None

            await wait_until(lost_one_failed, what="the unreadable subscription's delivery attempted")
        [lost_delivery] = await deliveries(sessions, subscription_id=lost_sub)
        assert lost_delivery.status != "delivered"
        assert f"subscription {lost_sub}" in (lost_delivery.last_error or "")
        assert "cannot be decrypted" in (lost_delivery.last_error or "")
        assert all(r.path == "/hook" for r in receiver.requests), "nothing went out unsigned or mis-signed"

        good = await api.poll("good-feed")
        assert good.status_code == 200 and good.json()["accepted"] == 1, good.text
        bad = await api.poll("lost-feed")
        assert bad.status_code == 422 and "feed lost-feed (credentials)" in bad.text
        assert "cannot be decrypted" in bad.text and FEED_TOKEN not in bad.text

        report = await reseal_all(sessions=sessions)
        assert sorted(report.unreadable) == [
            "feed lost-feed (credentials)",
            f"subscription {lost_sub} (secret)",
        ]


_LOGGING_PROGRAM = """
import asyncio, logging, sys
from ewarn.ingest import repository
from ewarn.ingest.models import FeedIn
from ewarn.logging import configure_logging
from ewarn.models.provider import Provider
from ewarn.models.subscription import Channel
from ewarn.runtime import Runtime
from ewarn.settings import load_settings
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.repositories.principals import upsert_provider
from ewarn.store.repositories.subscriptions import create_subscription

async def main():
    runtime = Runtime.build(load_settings())
    await upgrade_to_head(runtime.engine)
    async with runtime.sessions() as session:
        await upsert_provider(session=session, provider=Provider(id="p1", name="p1", country="DE"))
        _, secret = await create_subscription(
            session=session, provider_id="p1", channel=Channel.WEBHOOK, target="https://soc.example/h"
        )
        await repository.create_feed(session=session, feed=FeedIn(
            id="f1", kind="stix_bundle", location="https://feeds.example/b.json", credentials={"token": sys.argv[1]}
        ))
        await session.commit()
    await runtime.close()
    print(secret)

configure_logging(level="DEBUG", json=True)
logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)  # worse than any setting allows: parameters too
asyncio.run(main())
"""


async def test_no_secret_in_the_log_even_when_sql_parameters_are_logged(tmp_path: Any) -> None:
    env = child_environment(
        {"EWARN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'log.db'}", "EWARN_LOG_LEVEL": "DEBUG"}
    )
    done = subprocess.run(
        [sys.executable, "-c", _LOGGING_PROGRAM, FEED_TOKEN],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    secret = done.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    assert "INSERT INTO subscriptions" in done.stderr and "fernet:" in done.stderr, "parameters were logged"
    for needle in (secret, secret.removeprefix("whsec_"), FEED_TOKEN):
        assert needle not in done.stderr
