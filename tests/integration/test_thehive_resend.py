"""A TheHive delivery whose answer was lost: the resend is refused as a duplicate, and that is delivered.

The loopback receiver keeps TheHive's rule (one alert per type, source and sourceRef; a second is refused with
400 and a ``CreateError`` body). Its first answer comes after the sender gave up, as a lost answer would: the
alert is stored there, the resend is refused, and ewarn must record the delivery as done rather than retry it
until dead. A refusal for anything else (an observable, another alert) stays a failure.
"""

from __future__ import annotations

import json

import pytest
from tests.support.integration_alerts import indicator_alert
from tests.support.receivers import (
    Reply,
    WebhookReceiver,
    add_provider,
    add_subscription,
    attempts,
    dispatch_settings,
    publish,
    running_dispatch,
    wait_settled,
)

from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.dispatch.formats.thehive import refused_as_stored
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.subscription_api_keys import store_api_key

TOPICS = Topics(prefix="t-thehive-resend")
HIVE_KEY = "thehive-api-key-0123456789"
DUPLICATE = '{"type":"CreateError","message":"Alert ewarn-alert:ewarn:{ref} already exists"}'


class StoringHive(WebhookReceiver):
    """TheHive's side: the API key is checked, each sourceRef stored once, a second one refused."""

    def __init__(self, refusal_status: int, refusal: str) -> None:
        super().__init__(default=Reply(status=201, body=b'{"_id":"~1"}'))
        self.refusal_status = refusal_status
        self.refusal = refusal
        self.stored: list[str] = []

    def _verify(self, body: bytes, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {HIVE_KEY}"

    def _receive(self, path: str, headers: dict[str, str], body: bytes) -> tuple[Reply, int]:
        ref = json.loads(body)["sourceRef"]
        if ref in self.stored:
            refusal = self.refusal.replace("{ref}", ref).encode()
            self.script.appendleft(Reply(status=self.refusal_status, body=refusal))
        else:
            self.stored.append(ref)
        return super()._receive(path, headers, body)


@pytest.mark.parametrize(
    ("refusal_status", "refusal", "expected"),
    [
        pytest.param(400, DUPLICATE, "delivered", id="createerror-400-is-delivered"),
        pytest.param(409, DUPLICATE, "delivered", id="createerror-409-is-delivered"),
        pytest.param(
            400, '{"type":"CreateError","message":"Observable already exists"}', "dead", id="observable-is-no"
        ),
        pytest.param(
            400,
            '{"type":"CreateError","message":"Alert ewarn-alert:ewarn:alr_other-r1 already exists"}',
            "dead",
            id="another-alert-is-no",
        ),
        pytest.param(400, '{"type":"BadRequest","message":"already exists"}', "dead", id="not-a-createerror"),
    ],
)
async def test_a_resend_refused_as_already_stored_is_delivered(
    sqlite_sessions: SessionFactory, memory_bus: MemoryBus, refusal_status: int, refusal: str, expected: str
) -> None:
    hive = StoringHive(refusal_status, refusal)
    hive.then(Reply(status=201, body=b'{"_id":"~1"}', delay=1.0))  # stored, but answered after the timeout
    await hive.start()
    try:
        await add_provider(sqlite_sessions)
        sub, _ = await add_subscription(sqlite_sessions, hive.url("/api/v1/alert"), payload_format="thehive")
        async with sqlite_sessions() as session:
            await store_api_key(session=session, subscription_id=sub.id, api_key=HIVE_KEY)
            await session.commit()
        alert = indicator_alert()
        settings = dispatch_settings(request_timeout_seconds=0.3, max_attempts=3)
        async with running_dispatch(
            sessions=sqlite_sessions, bus=memory_bus, topics=TOPICS, settings=settings
        ):
            await publish(memory_bus, TOPICS, alert)
            [row] = await wait_settled(sqlite_sessions, 1)
    finally:
        await hive.down()
    assert hive.stored == [f"{alert.id}-r1"], "TheHive holds the alert once"
    assert row.status == expected
    log = [(a.status_code, a.ok) for a in await attempts(sqlite_sessions, row.id)]
    if expected == "delivered":
        assert log == [(None, False), (refusal_status, True)] and row.attempts == 2
    else:
        assert log == [(None, False), (400, False), (400, False)]


BODY = json.dumps({"sourceRef": "alr_1-r2"}).encode()


@pytest.mark.parametrize(
    ("status", "answer", "body", "stored"),
    [
        pytest.param(400, "HTTP 400: " + DUPLICATE.replace("{ref}", "alr_1-r2"), BODY, True, id="duplicate"),
        pytest.param(
            500, "HTTP 500: " + DUPLICATE.replace("{ref}", "alr_1-r2"), BODY, False, id="server-error"
        ),
        pytest.param(
            400, "HTTP 400: " + DUPLICATE.replace("{ref}", "alr_1-r1"), BODY, False, id="older-revision"
        ),
        pytest.param(
            400, 'HTTP 400: {"type":"CreateError","message":"Alert ewa', BODY, False, id="cut-short"
        ),
        pytest.param(
            400, "HTTP 400: " + DUPLICATE.replace("{ref}", "alr_1-r2"), b"not json", False, id="odd-body"
        ),
        pytest.param(
            400, "HTTP 400: " + DUPLICATE.replace("{ref}", "alr_1-r2"), b"[]", False, id="body-no-object"
        ),
        pytest.param(None, None, BODY, False, id="no-answer"),
    ],
)
def test_only_a_refusal_naming_our_revision_counts(
    status: int | None, answer: str | None, body: bytes, stored: bool
) -> None:
    assert refused_as_stored(status, answer, body) is stored
