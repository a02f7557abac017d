"""Migration 0010 seals plaintext secrets left by earlier versions (and opens them on downgrade); the
``ewarn secrets rotate`` command re-encrypts with the newest key, once (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.support.processes import child_environment, ewarn_command

from ewarn.crypto.secretbox import SecretBox, generate_key, is_sealed, is_sealed_json
from ewarn.errors import ConfigurationError
from ewarn.models.common import utcnow
from ewarn.models.provider import Provider
from ewarn.models.subscription import Channel
from ewarn.runtime import Runtime
from ewarn.settings import SecretsSettings, Settings
from ewarn.store.db import create_engine, session_factory
from ewarn.store.migrate import alembic_config
from ewarn.store.repositories.principals import upsert_provider
from ewarn.store.repositories.subscriptions import create_subscription, get_subscription
from ewarn.store.tables import FeedRow, SubscriptionRow

SECRET = "whsec_" + "A" * 43 + "="
CREDENTIALS = {"username": "feeduser", "password": "pw-legacy-9d2"}


async def _migrate(engine: AsyncEngine, verb: str, revision: str) -> None:
    def go(sync_conn: Any) -> None:
        cfg = alembic_config(str(engine.url))
        cfg.attributes["connection"] = sync_conn
        getattr(command, verb)(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(go)


# The rows as a version at revision 0009 wrote them: the table classes of today have columns 0009 lacks.
_PROVIDERS = sa.table(
    "providers", sa.column("id"), sa.column("name"), sa.column("country"), sa.column("contacts", sa.JSON),
    sa.column("language"), sa.column("created_at", sa.DateTime(timezone=True)),
)  # fmt: skip
_SUBSCRIPTIONS = sa.table(
    "subscriptions", sa.column("id"), sa.column("provider_id"), sa.column("channel"), sa.column("target"),
    sa.column("secret"), sa.column("filters", sa.JSON), sa.column("payload_format"), sa.column("digest"),
    sa.column("enabled", sa.Boolean), sa.column("created_at", sa.DateTime(timezone=True)),
)  # fmt: skip
_FEEDS = sa.table(
    "feeds", sa.column("id"), sa.column("kind"), sa.column("name"), sa.column("location"),
    sa.column("config", sa.JSON), sa.column("credentials", sa.JSON), sa.column("interval_seconds"),
    sa.column("default_tlp"), sa.column("enabled", sa.Boolean), sa.column("cursor", sa.JSON),
    sa.column("accepted_total"), sa.column("rejected_total"), sa.column("skipped_total"),
    sa.column("created_at", sa.DateTime(timezone=True)),
)  # fmt: skip


async def _plaintext_rows(engine: AsyncEngine) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(
            _PROVIDERS.insert().values(
                id="p1", name="p1", country="DE", contacts=[], language="en", created_at=now
            )
        )
        await conn.execute(
            _SUBSCRIPTIONS.insert().values(
                id="sub_legacy", provider_id="p1", channel="webhook", target="https://soc.example/h",
                secret=SECRET, filters={}, payload_format="json", digest="none", enabled=True, created_at=now,
            )
        )  # fmt: skip
        await conn.execute(
            _FEEDS.insert().values(
                id="legacy", kind="stix_bundle", name="legacy", location="https://feeds.example/b.json",
                config={}, credentials=CREDENTIALS, interval_seconds=3600, default_tlp="clear", enabled=True,
                cursor={}, accepted_total=0, rejected_total=0, skipped_total=0, created_at=now,
            )
        )  # fmt: skip


async def _stored(engine: AsyncEngine) -> tuple[str | None, dict[str, Any]]:
    async with engine.connect() as conn:
        secret = (await conn.execute(select(SubscriptionRow.secret))).scalar_one()
        credentials = (await conn.execute(select(FeedRow.credentials))).scalar_one()
    return secret, credentials


async def test_upgrade_seals_plaintext_and_downgrade_opens_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_key()
    monkeypatch.setenv("EWARN_SECRETS__KEYS", key)
    engine = create_engine(database_url)
    try:
        await _migrate(engine, "upgrade", "0009")
        await _plaintext_rows(engine)
        await _migrate(engine, "upgrade", "head")
        secret, credentials = await _stored(engine)
        assert secret is not None and is_sealed(secret) and is_sealed_json(credentials)
        box = SecretBox([key])
        assert box.open(secret, row="s") == SECRET
        assert box.open_json(credentials, row="f") == CREDENTIALS
        await _migrate(engine, "upgrade", "head")  # nothing left to do: unchanged
        assert await _stored(engine) == (secret, credentials)

        await _migrate(engine, "downgrade", "0009")
        assert await _stored(engine) == (SECRET, CREDENTIALS)
    finally:
        await engine.dispose()


async def test_postgres_upgrade_without_a_key_stops_and_changes_nothing(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.plugins.services import temporary_database

    monkeypatch.delenv("EWARN_SECRETS__KEYS", raising=False)
    async with temporary_database(postgres_url) as url:
        engine = create_engine(url)
        try:
            await _migrate(engine, "upgrade", "0009")
            await _plaintext_rows(engine)
            with pytest.raises(ConfigurationError, match="EWARN_SECRETS__KEYS is required"):
                await _migrate(engine, "upgrade", "head")
            assert await _stored(engine) == (SECRET, CREDENTIALS)
        finally:
            await engine.dispose()


def _rotate(database_url: str, keys: str) -> subprocess.CompletedProcess[str]:
    env = child_environment({"EWARN_DATABASE_URL": database_url, "EWARN_SECRETS__KEYS": keys})
    return subprocess.run(
        [*ewarn_command(), "secrets", "rotate"], env=env, capture_output=True, text=True, timeout=120
    )


async def test_rotate_command(database_url: str) -> None:
    old, new = generate_key(), generate_key()
    runtime = Runtime.build(Settings(database_url=database_url, secrets=SecretsSettings(keys=SecretStr(old))))
    try:
        await _migrate(runtime.engine, "upgrade", "head")
        async with runtime.sessions() as session:
            await upsert_provider(session=session, provider=Provider(id="p1", name="p1", country="DE"))
            sub, secret = await create_subscription(
                session=session, provider_id="p1", channel=Channel.WEBHOOK, target="https://soc.example/h"
            )
            await session.commit()
    finally:
        await runtime.close()

    first = _rotate(database_url, f"{new},{old}")
    assert first.returncode == 0, first.stderr
    assert "secrets re-encrypted: 1" in first.stdout
    again = _rotate(database_url, f"{new},{old}")
    assert again.returncode == 0 and "secrets re-encrypted: 0" in again.stdout
    stranger = _rotate(database_url, generate_key())
    assert stranger.returncode == 1 and f"subscription {sub.id} (secret)" in stranger.stdout
    assert secret is not None and all(secret not in p.stdout + p.stderr for p in (first, again, stranger))

    engine = create_engine(database_url)
    sessions = session_factory(engine)
    sessions.configure(info={"secret_box": SecretBox([new])})
    try:
        async with sessions() as session:
            stored = await get_subscription(session=session, subscription_id=sub.id)
        assert stored is not None and stored.secret is not None
        assert stored.secret.get_secret_value() == secret
    finally:
        await engine.dispose()
