"""The offer of the pipeline benchmarks: STIX 2.1 bundles posted to the push API on a fixed schedule.

``build_offer`` makes one step's bundles before the clock starts: ``rate`` indicators per second, one bundle
every ``TICK`` seconds, a ``fraction`` of them (domains under a hospital's registered domain) matching exactly one
hospital's asset each, the rest (under ``elsewhere.example``) nothing. ``offer`` posts them open-loop (a slow edge
does not slow the offer; up to ``MAX_POSTS_IN_FLIGHT`` posts open) and stamps every indicator with the wall-clock
time its POST started and returned.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from ewarn.models.indicator import Indicator, IndicatorType

TICK = 0.1  # one bundle every 100 ms: at 1,000/s a bundle holds 100 indicators
MAX_POSTS_IN_FLIGHT = 16
STAMP = "2026-01-05T08:00:00.000Z"


class Offered(Protocol):
    """What ``build_offer`` needs of a step."""

    @property
    def rate(self) -> int: ...

    @property
    def fraction(self) -> float: ...

    @property
    def seconds(self) -> float: ...


@dataclass
class Offer:
    """The bundles of one step, built before the clock starts, and which keys must raise an alert."""

    bundles: list[tuple[bytes, list[str]]]
    matching: set[str]


def build_offer(step: Offered, step_no: int, hospital_domains: Sequence[str]) -> Offer:
    per_tick = max(1, round(step.rate * TICK))
    ticks = max(1, round(step.seconds / TICK))
    run = uuid.uuid4().hex[:6]  # fresh names in every run and step: nothing is deduplicated away
    bundles: list[tuple[bytes, list[str]]] = []
    matching: set[str] = set()
    n = 0
    for _ in range(ticks):
        objects = []
        keys = []
        for _ in range(per_tick):
            hits = int((n + 1) * step.fraction) > int(n * step.fraction)
            parent = hospital_domains[n % len(hospital_domains)] if hits else "elsewhere.example"
            value = f"s{step_no}-{run}-{n}.{parent}"
            key = Indicator.make_key(IndicatorType.DOMAIN, value)
            keys.append(key)
            if hits:
                matching.add(key)
            objects.append(stix_indicator(value, key, n))
            n += 1
        bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
        bundles.append((json.dumps(bundle).encode(), keys))
    return Offer(bundles, matching)


def stix_indicator(value: str, key: str, n: int) -> dict[str, object]:
    """One benchmark STIX 2.1 indicator object: domain ``value`` (indicator key ``key``), named ``bench n``."""
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, key)}",
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


@dataclass
class Posts:
    sent_at: dict[str, float] = field(default_factory=dict)  # indicator key -> wall clock at its POST
    answered_at: dict[str, float] = field(default_factory=dict)  # indicator key -> when its POST returned
    accepted: int = 0
    failed: int = 0
    post_ms: list[float] = field(default_factory=list)
    behind: int = 0  # ticks that found MAX_POSTS_IN_FLIGHT posts still open (the edge fell behind)
    first_sent: float = 0.0
    last_done: float = 0.0


async def offer(client: httpx.AsyncClient, bundles: Sequence[tuple[bytes, list[str]]]) -> Posts:
    """Post one bundle per tick on a fixed schedule (open-loop: a slow edge does not slow the offer)."""
    posts = Posts()
    slots = asyncio.Semaphore(MAX_POSTS_IN_FLIGHT)
    loop = asyncio.get_running_loop()

    async def post(body: bytes, keys: list[str]) -> None:
        started = time.time()
        for key in keys:
            posts.sent_at[key] = started
        try:
            response = await client.post(
                "/api/v1/ingest/stix",
                params={"feed_id": "bench"},
                content=body,
                headers={"content-type": "application/json"},
            )
            if response.status_code == 200:
                posts.accepted += int(response.json()["accepted"])
            else:
                posts.failed += len(keys)
        except httpx.HTTPError:
            posts.failed += len(keys)
        finally:
            posts.last_done = time.time()
            posts.post_ms.append((posts.last_done - started) * 1000)
            for key in keys:
                posts.answered_at[key] = posts.last_done
            slots.release()

    tasks = []
    began = loop.time()
    posts.first_sent = time.time()
    for i, (body, keys) in enumerate(bundles):
        delay = began + i * TICK - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if slots.locked():
            posts.behind += 1
        await slots.acquire()
        tasks.append(asyncio.create_task(post(body, keys)))
    await asyncio.gather(*tasks)
    return posts
