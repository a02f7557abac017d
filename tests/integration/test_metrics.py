"""Prometheus metrics after a run with known counts: the embedded pipeline (in-process bus, SQLite and
PostgreSQL) ingests a feed, raises alerts, delivers some to a loopback receiver and dead-letters others; then
``/metrics`` is scraped and read with prometheus-client's own parser.

Counters are per process (one registry, as Prometheus expects): the test compares a scrape before the run with
one after it, so tests that ran earlier in this process do not count.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.support.pipeline import Harness, harness
from tests.support.promql import PROMETHEUS_OWN, referenced_series, scrape_series
from tests.support.receivers import Reply, WebhookReceiver

from ewarn.bus.base import Bus, Record
from ewarn.bus.topics import Topics
from ewarn.settings import MetricsSettings
from ewarn.status.metrics import REGISTRY, observe_fetch
from ewarn.status.metrics_export import exporting

FEED = "metrics-feed"
HIT_A = ["203.0.113.10", "203.0.113.11", "203.0.113.12"]  # in hospital A's network: delivered
HIT_B = ["198.51.100.20", "198.51.100.21"]  # in hospital B's network: its webhook answers 500 → dead
MISS = ["192.0.2.99"]  # nobody's asset: accepted, no alert
BROKEN = ["[ipv4-addr:value = ", "[no-such-object:value = 'x']"]  # patterns that cannot be read: rejected

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _indicator(n: int, pattern: str) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--6a1f0000-0000-4000-8000-{n:012d}",
        "created": "2026-11-01T00:00:00Z",
        "modified": "2026-11-01T00:00:00Z",
        "name": f"test indicator {n}",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z",
        "labels": ["malicious-activity"],
    }


def _bundle() -> bytes:
    patterns = [f"[ipv4-addr:value = '{ip}']" for ip in HIT_A + HIT_B + MISS] + BROKEN
    objects = [_indicator(n, p) for n, p in enumerate(patterns, start=1)]
    bundle = {"type": "bundle", "id": "bundle--6a1f0000-0000-4000-8000-000000000000", "objects": objects}
    return json.dumps(bundle).encode()


def parse(text: str) -> tuple[Samples, set[str]]:
    """Every sample by (name, labels), and every family name the scrape declares."""
    samples: Samples = {}
    families: set[str] = set()
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, families


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of ``name`` over every series whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


async def scrape_text(h: Harness) -> str:
    resp = await h.api.get("/metrics", headers=h.op)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return resp.text


async def scrape(h: Harness) -> Samples:
    return parse(await scrape_text(h))[0]


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[WebhookReceiver, WebhookReceiver]]:
    good, failing = WebhookReceiver(), WebhookReceiver(default=Reply(status=500))
    await good.start()
    await failing.start()
    yield good, failing
    await good.down()
    await failing.down()


@pytest.fixture
async def pipe(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(database_url, max_attempts=2) as h:
        h.runtime.settings.ingest.file_root = str(tmp_path)
        yield h


async def test_metrics_after_a_run_with_known_counts(
    pipe: Harness, receivers: tuple[WebhookReceiver, WebhookReceiver], tmp_path: Path
) -> None:
    h = pipe
    good, failing = receivers
    await h.add_csirt("cert-metrics")
    a = await h.add_tenant("hosp-metrics-a", csirt_id="cert-metrics")
    b = await h.add_tenant("hosp-metrics-b", csirt_id="cert-metrics")
    await h.add_assets(a, [{"kind": "network", "name": "A DMZ", "value": "203.0.113.0/24"}])
    await h.add_assets(b, [{"kind": "network", "name": "B DMZ", "value": "198.51.100.0/24"}])
    good.secrets = [(await h.subscribe_webhook(a, good.url()))["secret"]]
    failing.secrets = [(await h.subscribe_webhook(b, failing.url()))["secret"]]
    (tmp_path / "feed.json").write_bytes(_bundle())
    feed = {"id": FEED, "kind": "stix_bundle", "name": "metrics", "location": str(tmp_path / "feed.json")}
    await h.call("POST", "/api/v1/feeds", auth=h.op, json={**feed, "interval_seconds": 600})

    before = await scrape(h)
    report = await h.call("POST", f"/api/v1/feeds/{FEED}/poll", auth=h.op)
    await h.drained()
    for wrong in ("Bearer ewk_0000000000000000_wrong", "Bearer not-a-key"):
        assert (await h.api.get("/metrics", headers={"Authorization": wrong})).status_code == 401
    dlq_before = h.runtime.bus.size(h.runtime.topics.dlq)  # type: ignore[attr-defined]
    await h.runtime.bus.publish(h.runtime.topics.indicators, key="poison", value=b"not an indicator")
    await h.drained()
    after = await scrape(h)

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    n_read, n_ok, n_bad = len(HIT_A + HIT_B + MISS + BROKEN), len(HIT_A + HIT_B + MISS), len(BROKEN)
    assert (report["read"], report["accepted"], report["rejected"]) == (n_read, n_ok, n_bad)
    assert delta("ewarn_indicators_read_total", feed=FEED) == n_read
    assert delta("ewarn_indicators_accepted_total", feed=FEED) == n_ok
    assert delta("ewarn_indicators_rejected_total", feed=FEED) == n_bad
    assert delta("ewarn_indicators_skipped_total", feed=FEED) == report["skipped"] == 0
    assert 0 <= value(after, "ewarn_feed_last_success_age_seconds", feed=FEED) < 60
    assert value(after, "ewarn_feed_poll_interval_seconds", feed=FEED) == 600

    alerts = await h.alerts(h.op)
    assert len(alerts) == len(HIT_A + HIT_B)
    for severity, count in Counter(a["severity"] for a in alerts).items():
        assert delta("ewarn_alerts_raised_total", severity=severity) == count
    assert delta("ewarn_alerts_raised_total") == len(alerts)

    assert len(good.accepted) == len(HIT_A)
    assert delta("ewarn_deliveries_total", channel="webhook", outcome="delivered") == len(HIT_A)
    # max_attempts=2: each of B's alerts fails once (retry scheduled), then for good (dead)
    assert delta("ewarn_deliveries_total", channel="webhook", outcome="retry_scheduled") == len(HIT_B)
    assert delta("ewarn_deliveries_total", channel="webhook", outcome="dead") == len(HIT_B)
    assert value(after, "ewarn_outbox_depth", channel="webhook") == 0

    hist = "ewarn_ingest_to_delivery_seconds"
    assert delta(f"{hist}_count", channel="webhook") == len(HIT_A)
    assert delta(f"{hist}_bucket", channel="webhook", le="+Inf") == len(HIT_A)
    assert 0 < delta(f"{hist}_sum", channel="webhook") < 30 * len(HIT_A)
    status = await h.call("GET", "/api/v1/status", auth=h.op)
    p99_seconds = status["ingest_to_delivery"]["max_ms"] / 1000
    assert delta(f"{hist}_sum", channel="webhook") <= p99_seconds * len(HIT_A) + 0.5  # the same timestamps

    assert delta("ewarn_dead_letters_total") == 1 == h.runtime.bus.size(h.runtime.topics.dlq) - dlq_before  # type: ignore[attr-defined]
    assert (
        value(
            after,
            "ewarn_consumer_lag_records",
            group="ewarn-correlate",
            topic=h.runtime.topics.indicators,
            partition="0",
        )
        == 0
    )
    assert (
        "ewarn_consumer_lag_records",
        frozenset({("group", "ewarn-dispatch"), ("topic", h.runtime.topics.alerts), ("partition", "0")}),
    ) in after
    assert total(after, "ewarn_quarantined_records") == status["quarantine"]["total"]
    assert delta("ewarn_auth_failures_total", reason="unknown_key") == 2

    # every series the Grafana dashboard and the alert rules read carries samples after this run
    with_samples = scrape_series(await scrape_text(h), with_samples_only=True) | PROMETHEUS_OWN
    assert set(referenced_series()) - with_samples == set()


async def test_metrics_need_an_operator_key(pipe: Harness) -> None:
    assert (await pipe.api.get("/metrics")).status_code == 401
    tenant = await pipe.add_tenant("hosp-metrics-c")
    assert (await pipe.api.get("/metrics", headers=tenant.auth)).status_code == 403
    assert (await pipe.api.get("/metrics", headers=pipe.op)).status_code == 200


async def test_role_port_serves_the_registry_on_loopback(pipe: Harness) -> None:
    """``EWARN_METRICS__PORT``: the same series, unauthenticated, on 127.0.0.1, database gauges sampled."""
    settings = MetricsSettings(port=0, sample_seconds=0.1)
    async with exporting(settings, pipe.runtime.sessions) as port:
        assert port is not None
        async with httpx.AsyncClient() as client:
            for _ in range(50):
                resp = await client.get(f"http://127.0.0.1:{port}/metrics")
                if "ewarn_outbox_depth{" in resp.text:
                    break
        assert resp.status_code == 200
        samples, families = parse(resp.text)
        assert {"ewarn_deliveries", "ewarn_outbox_depth", "ewarn_ingest_to_delivery_seconds"} <= families
        assert ("ewarn_outbox_depth", frozenset({("channel", "webhook")})) in samples
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/metrics")


@pytest.fixture(params=["memory", "kafka"], ids=["memory", "kafka"])
def lag_bus(request: pytest.FixtureRequest) -> Bus:
    """The in-process bus and a real Kafka 3.9 broker (started by the test tooling)."""
    bus: Bus = request.getfixturevalue(f"{request.param}_bus")
    return bus


async def test_consumer_lag_per_partition_after_a_fetch(lag_bus: Bus, topics: Topics) -> None:
    """Five records on one partition, two fetched: lag 3 there, then 0 once the rest is fetched."""
    bus, bus_fixture = lag_bus, type(lag_bus).__name__  # started by its fixture
    for n in range(5):
        await bus.publish(topics.indicators, key="one-partition", value=f"{n}".encode())
    consumer = bus.consumer([topics.indicators], group=f"lag-{bus_fixture}")
    await consumer.start()
    try:
        seen: list[Record] = []
        while not seen:
            seen = await consumer.fetch(max_records=2, timeout=5)
        observe_fetch(f"lag-{bus_fixture}", consumer, seen)
        labels = {
            "group": f"lag-{bus_fixture}",
            "topic": topics.indicators,
            "partition": str(seen[0].partition),
        }
        reached = max(r.offset for r in seen) + 1
        assert REGISTRY.get_sample_value("ewarn_consumer_lag_records", labels) == 5 - reached
        while reached < 5:
            batch = await consumer.fetch(max_records=10, timeout=5)
            observe_fetch(f"lag-{bus_fixture}", consumer, batch)
            reached = max([reached, *(r.offset + 1 for r in batch)])
        assert REGISTRY.get_sample_value("ewarn_consumer_lag_records", labels) == 0
    finally:
        await consumer.stop()
