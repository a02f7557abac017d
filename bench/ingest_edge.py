"""The push-API edge: ``POST /api/v1/ingest/stix`` through the real app, in this process, per CPU-second.

What ``ewarn run api`` does for a pushed bundle (parse, store the indicators, publish the new ones, audit the
push), over ``httpx.ASGITransport`` so no socket or second process blurs the figure: indicators per CPU-second
of this process (``time.process_time``: every thread, so the parse in the worker thread and SQLite's
connection threads count). Bundles are the pipeline benchmark's shape (``bench/pipeline_offer.py``): 200
domain indicators each, fresh names, one POST at a time after a few untimed warm-up posts.

Two cases: ``new`` (every indicator is new: stored and published) and ``seen_again`` (the same bundles posted
once more: every indicator is already stored, merged, and not published since nothing changed). Embedded
default: SQLite file and the in-process bus; ``--pg`` also runs them on a PostgreSQL started here (its
server's CPU is not counted: only this process's).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from ewarn import eventloop
from ewarn.api.app import create_app
from ewarn.bus.memory import MemoryBus
from ewarn.logging import configure_logging
from ewarn.models.provider import Role
from ewarn.roles import prepare
from ewarn.runtime import Runtime
from ewarn.settings import Settings
from ewarn.store.repositories.principals import create_api_key

STAMP = "2026-01-01T00:00:00.000Z"
PER_BUNDLE = 200
WARM_UP = 5


def bundle(run: str, first: int, count: int) -> bytes:
    """A STIX 2.1 bundle of ``count`` domain indicators as the pipeline benchmark posts them."""
    objects = []
    for n in range(first, first + count):
        value = f"e-{run}-{n}.elsewhere.example"
        objects.append(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, value)}",
                "created": STAMP,
                "modified": STAMP,
                "name": f"bench {n}",
                "indicator_types": ["malicious-activity"],
                "pattern": f"[domain-name:value = '{value}']",
                "pattern_type": "stix",
                "pattern_version": "2.1",
                "valid_from": STAMP,
                "confidence": 90,
                "labels": ["c2"],
            }
        )
    return json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}).encode()


async def _post_all(client: httpx.AsyncClient, key: str, bodies: list[bytes]) -> tuple[int, list[float]]:
    accepted = 0
    post_ms: list[float] = []
    for body in bodies:
        began = time.perf_counter()
        response = await client.post(
            "/api/v1/ingest/stix",
            params={"feed_id": "bench-edge"},
            content=body,
            headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
        )
        post_ms.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"push failed: {response.status_code} {response.text[:300]}")
        accepted += int(response.json()["accepted"])
    return accepted, post_ms


def _figures(accepted: int, cpu: float, wall: float, post_ms: list[float]) -> dict[str, Any]:
    return {
        "indicators": accepted,
        "cpu_seconds": round(cpu, 3),
        "indicators_per_cpu_second": round(accepted / cpu) if cpu > 0 else None,
        "indicators_per_second": round(accepted / wall) if wall > 0 else None,
        "post_ms_p50": round(statistics.median(post_ms), 1),
    }


async def _edge(database_url: str, bundles: int) -> dict[str, Any]:
    runtime = Runtime.build(Settings(database_url=database_url), bus=MemoryBus())
    await prepare(runtime)
    async with runtime.sessions() as session:
        _, key = await create_api_key(session=session, role=Role.OPERATOR, name="bench edge")
        await session.commit()
    run = uuid.uuid4().hex[:8]
    warm = [bundle(f"w{run}", n * PER_BUNDLE, PER_BUNDLE) for n in range(WARM_UP)]
    bodies = [bundle(run, n * PER_BUNDLE, PER_BUNDLE) for n in range(bundles)]
    out: dict[str, Any] = {"bundles": bundles, "indicators_per_bundle": PER_BUNDLE}
    try:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://ewarn.bench") as client:
            await _post_all(client, key, warm)
            for case in ("new", "seen_again"):
                cpu0, wall0 = time.process_time(), time.perf_counter()
                accepted, post_ms = await _post_all(client, key, bodies)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                out[case] = _figures(accepted, cpu, wall, post_ms)
        published = (
            runtime.bus.size(runtime.topics.indicators) if isinstance(runtime.bus, MemoryBus) else None
        )
        out["published"] = published  # new indicators only: the second posting changed nothing
    finally:
        http = runtime.services.get("ingest_http")
        if http is not None:
            await http.aclose()
        await runtime.close()
    return out


def edge(*, quick: bool, pg_url: str | None = None) -> dict[str, Any]:
    """The edge on SQLite (and on PostgreSQL when ``pg_url``): figures per case."""
    configure_logging(level="WARNING")
    bundles = 3 if quick else 40
    settings = Settings()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ewarn-edge-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'edge.db'}"
        result["sqlite"] = eventloop.run(
            _edge(url, bundles), kind=settings.event_loop, gc_gen0=settings.gc_gen0_threshold
        )
    if pg_url is not None:
        result["postgresql"] = eventloop.run(
            _edge(pg_url, bundles), kind=settings.event_loop, gc_gen0=settings.gc_gen0_threshold
        )
    return result
