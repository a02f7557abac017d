"""API key lifecycle on SQLite and PostgreSQL: create, list, revoke, rotate, expire, last use, bootstrap.

Two API applications share one database, each with its own engine and pool (as two API processes would):
a key revoked through one is refused by the other on its very next request, because the guard reads the
key's row on every request. The CLI runs as a real child process against the same database.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import event, update
from tests.support.processes import child_environment, ewarn_command

from ewarn.api.app import create_app
from ewarn.bootstrapkey import install_bootstrap_key
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.errors import ConfigurationError
from ewarn.models.common import utcnow
from ewarn.models.provider import Csirt, Provider, Role
from ewarn.runtime import Runtime
from ewarn.settings import Settings
from ewarn.store.db import create_engine, session_factory
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.repositories.principals import create_api_key, upsert_csirt, upsert_provider
from ewarn.store.tables import ApiKeyRow

STRONG = "ewk_bootstrap_Vq3xR8mZ2pL7nK4wT9sJ6hF1cY5gD0aB"
STRONG_NEXT = "ewk_bootstrap_Hq9tN2vC7xW4mR1pZ8kL5jS3fG6dY0eA"


@dataclass
class World:
    url: str
    runtimes: list[Runtime]
    apis: list[httpx.AsyncClient]  # two applications on the same database: two "processes"
    keys: dict[str, str] = field(default_factory=dict)  # operator, a, a2, b, csirt1
    ids: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def call(self, method: str, url: str, who: str, api: int = 0, **kw: Any) -> httpx.Response:
        return await self.apis[api].request(method, url, headers=self.auth(who), **kw)


@pytest.fixture
def database(database_url: str) -> str:
    """An empty database per test (SQLite / PostgreSQL), under the name the tests below use."""
    return database_url


def _runtime(url: str, bootstrap: str | None = None) -> Runtime:
    settings = Settings(database_url=url, bootstrap_operator_key=SecretStr(bootstrap) if bootstrap else None)
    engine = create_engine(url)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        bus=MemoryBus(),
        topics=Topics(prefix="ewarn"),
    )


@pytest.fixture
async def world(database: str) -> AsyncIterator[World]:
    runtimes = [_runtime(database), _runtime(database)]
    try:
        await upgrade_to_head(runtimes[0].engine)
        w = World(url=database, runtimes=runtimes, apis=[])
        await _seed(w)
        apps = [create_app(runtime) for runtime in runtimes]
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]), base_url="http://a") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]), base_url="http://b") as b,
        ):
            w.apis = [a, b]
            yield w
    finally:
        for runtime in runtimes:
            await runtime.close()


async def _seed(w: World) -> None:
    async with w.runtimes[0].sessions() as session:
        await upsert_csirt(session=session, csirt=Csirt(id="csirt-1", name="CSIRT 1", country="FR"))
        await upsert_csirt(session=session, csirt=Csirt(id="csirt-2", name="CSIRT 2", country="DE"))
        for pid, csirt in (("hosp-a", "csirt-1"), ("hosp-b", "csirt-2")):
            await upsert_provider(
                session=session, provider=Provider(id=pid, name=pid, country="FR", csirt_id=csirt)
            )
        for who, role, tenant in (
            ("operator", Role.OPERATOR, {}),
            ("a", Role.PROVIDER, {"provider_id": "hosp-a"}),
            ("a2", Role.PROVIDER, {"provider_id": "hosp-a"}),
            ("b", Role.PROVIDER, {"provider_id": "hosp-b"}),
            ("csirt1", Role.CSIRT, {"csirt_id": "csirt-1"}),
        ):
            principal, key = await create_api_key(session=session, role=role, name=who, **tenant)
            w.keys[who], w.ids[who] = key, principal.key_id
        await session.commit()


async def test_revoked_key_fails_at_once_in_the_other_process(world: World) -> None:
    assert (await world.call("GET", "/api/v1/whoami", "a", api=1)).status_code == 200  # warm: seen as valid
    revoked = await world.call("POST", f"/api/v1/keys/{world.ids['a']}/revoke", "operator", api=0)
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert body["state"] == "revoked" and body["revoked_by"] == f"key:{world.ids['operator']}"
    assert (await world.call("GET", "/api/v1/whoami", "a", api=1)).status_code == 401
    assert (await world.call("GET", "/api/v1/whoami", "a", api=0)).status_code == 401
    again = await world.call("POST", f"/api/v1/keys/{world.ids['a']}/revoke", "operator")
    assert again.json()["revoked_at"] == body["revoked_at"]  # idempotent: first revocation kept
    listed = (await world.call("GET", "/api/v1/keys", "operator")).json()
    assert world.ids["a"] not in {k["id"] for k in listed}
    everything = (await world.call("GET", "/api/v1/keys?include_inactive=true", "operator")).json()
    assert {k["id"]: k["state"] for k in everything}[world.ids["a"]] == "revoked"


async def test_created_key_expires_and_is_then_refused(world: World) -> None:
    # long enough for a loaded machine to create and use the key before it expires, then wait it out
    expires_at = utcnow() + timedelta(seconds=4)
    expires = expires_at.isoformat()
    made = await world.call(
        "POST",
        "/api/v1/keys",
        "operator",
        json={"role": "provider", "provider_id": "hosp-b", "expires_at": expires},
    )
    assert made.status_code == 201, made.text
    key, key_id = made.json()["key"], made.json()["info"]["id"]
    assert made.json()["info"]["state"] == "active"
    headers = {"Authorization": f"Bearer {key}"}
    assert (await world.apis[1].get("/api/v1/whoami", headers=headers)).status_code == 200
    await asyncio.sleep(max(0.0, (expires_at - utcnow()).total_seconds()) + 0.1)
    assert (await world.apis[1].get("/api/v1/whoami", headers=headers)).status_code == 401
    info = (await world.call("GET", f"/api/v1/keys/{key_id}", "operator")).json()
    assert info["state"] == "expired"


@pytest.mark.parametrize(
    "expires_at",
    [pytest.param("2001-01-01T00:00:00Z", id="past"), pytest.param("2026-12-03T10:00:00", id="naive")],
)
async def test_expiry_must_be_a_future_aware_time(world: World, expires_at: str) -> None:
    resp = await world.call(
        "POST", "/api/v1/keys", "operator", json={"role": "operator", "expires_at": expires_at}
    )
    assert resp.status_code == 422


async def test_rotation_replaces_the_key_now_or_after_a_grace_period(world: World) -> None:
    now = await world.call("POST", f"/api/v1/keys/{world.ids['a']}/rotate", "a")  # a provider rotates itself
    assert now.status_code == 200, now.text
    new = now.json()
    assert new["info"]["rotated_from"] == world.ids["a"] and new["replaced"]["state"] == "revoked"
    assert new["info"]["provider_id"] == "hosp-a" and new["info"]["name"] == "a"
    assert (await world.call("GET", "/api/v1/whoami", "a", api=1)).status_code == 401
    world.keys["a"] = new["key"]
    assert (await world.call("GET", "/api/v1/whoami", "a", api=1)).json()["provider_id"] == "hosp-a"
    graced = await world.call(
        "POST", f"/api/v1/keys/{new['info']['id']}/rotate", "operator", json={"grace_seconds": 600}
    )
    assert graced.status_code == 200
    assert graced.json()["replaced"]["state"] == "active" and graced.json()["replaced"]["expires_at"]
    assert (await world.call("GET", "/api/v1/whoami", "a", api=1)).status_code == 200  # old still works
    new_headers = {"Authorization": f"Bearer {graced.json()['key']}"}
    assert (await world.apis[1].get("/api/v1/whoami", headers=new_headers)).status_code == 200
    refused = await world.call("POST", f"/api/v1/keys/{world.ids['a']}/rotate", "operator")  # revoked above
    assert refused.status_code == 409


# (who, method, path template, expected status): {own}/{other}/{csirt} are key ids.
PERMISSIONS = [
    pytest.param("a", "GET", "/api/v1/keys/{own}", 200, id="provider-reads-own-tenant"),
    pytest.param("a", "GET", "/api/v1/keys/{other}", 404, id="provider-reads-other-tenant"),
    pytest.param("a", "POST", "/api/v1/keys/{other}/revoke", 404, id="provider-revokes-other-tenant"),
    pytest.param("a", "POST", "/api/v1/keys/{other}/rotate", 404, id="provider-rotates-other-tenant"),
    pytest.param("a", "GET", "/api/v1/keys/{csirt}", 404, id="provider-reads-csirt-key"),
    pytest.param("a", "POST", "/api/v1/keys/{own}/revoke", 200, id="provider-revokes-own-tenant"),
    pytest.param("a", "POST", "/api/v1/keys", 403, id="provider-creates"),
    pytest.param("csirt1", "GET", "/api/v1/keys/{own}", 200, id="csirt-reads-constituency"),
    pytest.param("csirt1", "GET", "/api/v1/keys/{other}", 404, id="csirt-reads-outside"),
    pytest.param("csirt1", "POST", "/api/v1/keys/{own}/revoke", 403, id="csirt-revokes"),
    pytest.param("csirt1", "POST", "/api/v1/keys/{own}/rotate", 403, id="csirt-rotates"),
    pytest.param("csirt1", "POST", "/api/v1/keys/{other}/revoke", 404, id="csirt-revokes-outside"),
    pytest.param("operator", "POST", "/api/v1/keys/{other}/revoke", 200, id="operator-revokes-any"),
]


@pytest.mark.parametrize(("who", "method", "path", "expected"), PERMISSIONS)
async def test_who_may_manage_which_key(
    world: World, who: str, method: str, path: str, expected: int
) -> None:
    url = path.format(own=world.ids["a2"], other=world.ids["b"], csirt=world.ids["csirt1"])
    kw = {"json": {"role": "provider", "provider_id": "hosp-a"}} if url == "/api/v1/keys" else {}
    resp = await world.call(method, url, who, **kw)
    assert resp.status_code == expected, resp.text
    b_alive = (await world.call("GET", "/api/v1/whoami", "b")).status_code
    assert b_alive == (401 if who == "operator" else 200)  # only the operator's revocation reached B


@pytest.mark.parametrize(
    ("who", "sees", "hidden"),
    [
        pytest.param("operator", {"operator", "a", "a2", "b", "csirt1"}, set(), id="operator"),
        pytest.param("a", {"a", "a2"}, {"operator", "b", "csirt1"}, id="provider"),
        pytest.param("csirt1", {"a", "a2", "csirt1"}, {"operator", "b"}, id="csirt"),
    ],
)
async def test_lists_show_only_the_callers_keys_and_never_a_secret(
    world: World, who: str, sees: set[str], hidden: set[str]
) -> None:
    resp = await world.call("GET", "/api/v1/keys", who)
    assert resp.status_code == 200
    ids = {k["id"] for k in resp.json()}
    assert {world.ids[n] for n in sees} <= ids
    assert not ids & {world.ids[n] for n in hidden}
    for key in world.keys.values():
        assert key not in resp.text
    assert "hash" not in resp.text


async def test_last_use_is_written_at_most_once_a_minute(world: World) -> None:
    engine = world.runtimes[1].engine
    writes: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            writes.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        for _ in range(20):
            assert (await world.call("GET", "/api/v1/whoami", "b", api=1)).status_code == 200
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len(writes) == 1, writes
    first = (await world.call("GET", f"/api/v1/keys/{world.ids['b']}", "operator")).json()["last_used_at"]
    assert first is not None
    async with world.runtimes[0].sessions() as session:  # the last note is now two minutes old
        await session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.id == world.ids["b"])
            .values(last_used_at=utcnow() - timedelta(minutes=2))
        )
        await session.commit()
    await world.call("GET", "/api/v1/whoami", "b", api=1)
    later = (await world.call("GET", f"/api/v1/keys/{world.ids['b']}", "operator")).json()["last_used_at"]
    assert later >= first


async def test_cli_revocation_in_another_process_holds_at_once(world: World) -> None:
    env = child_environment({"EWARN_DATABASE_URL": world.url, "EWARN_LOG_LEVEL": "WARNING"})
    assert (await world.call("GET", "/api/v1/whoami", "b", api=1)).status_code == 200
    done = await asyncio.to_thread(
        subprocess.run,
        [*ewarn_command(), "keys", "revoke", world.ids["b"]],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert "revoked" in done.stdout.decode()
    assert (await world.call("GET", "/api/v1/whoami", "b", api=1)).status_code == 401
    listed = await asyncio.to_thread(
        subprocess.run, [*ewarn_command(), "keys", "list"], env=env, capture_output=True, timeout=60
    )
    assert listed.returncode == 0
    assert world.ids["b"] not in listed.stdout.decode() and world.ids["a"] in listed.stdout.decode()
    for key in world.keys.values():
        assert key not in listed.stdout.decode() + listed.stderr.decode()


async def test_bootstrap_key_only_while_no_operator_exists(database: str) -> None:
    runtime = _runtime(database)
    try:
        await upgrade_to_head(runtime.engine)
        assert await install_bootstrap_key(runtime.sessions, SecretStr(STRONG)) == "created"
        assert await install_bootstrap_key(runtime.sessions, SecretStr(STRONG)) == "present"  # a restart
        # Another key configured while an operator exists is not added (replacing it is explicit).
        assert await install_bootstrap_key(runtime.sessions, SecretStr(STRONG_NEXT)) == "skipped"
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://a"
        ) as api:
            assert (await api.get("/api/v1/whoami", headers={"X-API-Key": STRONG})).status_code == 200
            assert (await api.get("/api/v1/whoami", headers={"X-API-Key": STRONG_NEXT})).status_code == 401
            env = child_environment(
                {"EWARN_DATABASE_URL": database, "EWARN_BOOTSTRAP_OPERATOR_KEY": STRONG_NEXT}
            )
            done = await asyncio.to_thread(
                subprocess.run,
                [*ewarn_command(), "keys", "rotate-bootstrap"],
                env=env,
                capture_output=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr.decode()
            assert STRONG_NEXT not in done.stdout.decode() + done.stderr.decode()
            assert (await api.get("/api/v1/whoami", headers={"X-API-Key": STRONG})).status_code == 401
            assert (await api.get("/api/v1/whoami", headers={"X-API-Key": STRONG_NEXT})).status_code == 200
        assert await install_bootstrap_key(runtime.sessions, SecretStr(STRONG)) == "skipped"  # not revived
    finally:
        await runtime.close()


@pytest.mark.parametrize(
    "weak",
    [
        pytest.param("change-me", id="placeholder"),
        pytest.param("a" * 64, id="one-character"),
        pytest.param("password1234" * 4, id="repeated"),
        pytest.param("ewk_supersecret", id="short"),
    ],
)
async def test_weak_bootstrap_key_stops_start_up(database: str, weak: str) -> None:
    runtime = _runtime(database, bootstrap=weak)
    try:
        await upgrade_to_head(runtime.engine)
        with pytest.raises(ConfigurationError, match="EWARN_BOOTSTRAP_OPERATOR_KEY is too weak") as raised:
            await install_bootstrap_key(runtime.sessions, runtime.settings.bootstrap_operator_key)
        assert weak not in str(raised.value)
    finally:
        await runtime.close()
