"""The API served by uvicorn on 127.0.0.1 in its own thread and event loop, over a seeded world.

For tests that drive the API from synchronous code (hypothesis, schemathesis): the server's engine lives in
the server's loop, and ``ServedApi.run`` executes a coroutine there (a database snapshot, for instance).
Throttles are off so thousands of hostile calls are answered by the routes, not by 429.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import uvicorn
from sqlalchemy import select

from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.bus.topics import Topics
from ewarn.models.provider import Csirt, Provider, Role
from ewarn.runtime import Runtime
from ewarn.settings import ApiLimits, ApiSettings, Settings
from ewarn.store.db import create_engine, create_schema, session_factory
from ewarn.store.repositories.principals import create_api_key, upsert_csirt, upsert_provider
from ewarn.store.tables import Base

T = TypeVar("T")
OWN, OTHER = "hosp-a", "hosp-b"
WRONG_KEY = "ewk_00000000deadbeef_thisisnotakeythisisnotakeythisisnotakey00"
# A webhook target by name: registration does not resolve names, and no dispatcher runs in this app.
WEBHOOK = "https://hooks.example.org/ewarn"
FEED_LOCATION = "http://127.0.0.1:9/feed.json"  # loopback, nothing listens: a poll fails without leaving


@dataclass
class ServedApi:
    """The running server: its URL, a key per role and the ids of what was seeded."""

    database_url: str
    base_url: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    runtime: Runtime | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None

    def headers(self, role: str) -> dict[str, str]:
        key = WRONG_KEY if role == "wrong" else self.keys[role]
        return {"Authorization": f"Bearer {key}"}

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        """Run a coroutine in the server's event loop and wait for its result."""
        assert self._loop is not None

        async def call() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout)

    def snapshot(self) -> dict[str, list[str]]:
        """Every row of every table, as sorted text: equal snapshots mean nothing was written."""
        assert self.runtime is not None
        runtime = self.runtime

        async def read() -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            async with runtime.sessions() as session:
                for table in Base.metadata.sorted_tables:
                    # A key's last use is bookkeeping of authentication, not a write by the request.
                    columns = [
                        c for c in table.columns if f"{table.name}.{c.name}" != "api_keys.last_used_at"
                    ]
                    rows = (await session.execute(select(*columns))).all()
                    out[table.name] = sorted(repr(tuple(r)) for r in rows)
            return out

        return self.run(read)

    def start(self) -> ServedApi:
        self._thread = threading.Thread(target=self._main, name="served-api", daemon=True)
        self._thread.start()
        if not self._ready.wait(60):
            raise TimeoutError("the API did not start within 60 s")
        if self._error is not None:
            raise self._error
        self._seed_over_http()
        return self

    def __enter__(self) -> ServedApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._server is not None and self._loop is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(30)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        off = ApiLimits(
            rate_per_principal="",
            rate_per_address="",
            auth_failures_per_address="",
            auth_failures_per_key_id="",
        )
        settings = Settings(database_url=self.database_url, api=ApiSettings(limits=off))
        engine = create_engine(self.database_url)
        self.runtime = runtime = Runtime(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            bus=MemoryBus(),
            topics=Topics("t"),
        )
        try:
            await create_schema(engine)
            await self._seed_keys(runtime)
            config = uvicorn.Config(
                create_app(runtime),
                host="127.0.0.1",
                port=0,
                log_config=None,
                access_log=False,
                lifespan="off",
            )
            self._server = server = uvicorn.Server(config)
            server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
            task = asyncio.create_task(server.serve())
            while not server.started and not task.done():
                await asyncio.sleep(0.01)
            if task.done():
                task.result()
            port = server.servers[0].sockets[0].getsockname()[1]
            self.base_url = f"http://127.0.0.1:{port}"
            self._ready.set()
            await task
        finally:
            await runtime.close()

    async def _seed_keys(self, runtime: Runtime) -> None:
        async with runtime.sessions() as session:
            await upsert_csirt(session=session, csirt=Csirt(id="cert-de", name="CERT-DE", country="DE"))
            await upsert_csirt(session=session, csirt=Csirt(id="cert-fr", name="CERT-FR", country="FR"))
            for pid, csirt in ((OWN, "cert-de"), (OTHER, "cert-fr")):
                await upsert_provider(
                    session=session, provider=Provider(id=pid, name=pid, country="DE", csirt_id=csirt)
                )
            roles: tuple[tuple[str, Role, dict[str, Any]], ...] = (
                ("provider", Role.PROVIDER, {"provider_id": OWN}),
                ("other", Role.PROVIDER, {"provider_id": OTHER}),
                ("csirt", Role.CSIRT, {"csirt_id": "cert-de"}),
                ("operator", Role.OPERATOR, {}),
            )
            for who, role, extra in roles:
                _, self.keys[who] = await create_api_key(session=session, role=role, **extra)
            await session.commit()
        self.ids.update(provider=OWN, other_provider=OTHER, csirt="cert-de")

    def _seed_over_http(self) -> None:
        """An asset, a webhook subscription and a feed of the own tenant, made the way a client makes them."""
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            op = self.headers("operator")
            asset = client.post(
                f"/api/v1/providers/{OWN}/assets",
                json={"kind": "network", "name": "DMZ", "value": "203.0.113.0/24"},
                headers=op,
            )
            asset.raise_for_status()
            sub = client.post(
                f"/api/v1/providers/{OWN}/subscriptions",
                json={"channel": "webhook", "target": WEBHOOK},
                headers=op,
            )
            sub.raise_for_status()
            feed = client.post(
                "/api/v1/feeds",
                json={"id": "seed-feed", "kind": "stix_bundle", "location": FEED_LOCATION},
                headers=op,
            )
            feed.raise_for_status()
        self.ids.update(asset=asset.json()["id"], subscription=sub.json()["id"], feed="seed-feed")
