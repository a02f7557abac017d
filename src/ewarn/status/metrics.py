"""Prometheus metrics of this process: one registry, every ``ewarn_*`` series, and how they are exported.

Counters are incremented where the stages already count (ingest pages, alert revisions, delivery outcomes,
the runner's retries and dead letters, the API guard's refusals). Gauges that describe the database (outbox
depth, quarantined records, feed freshness) are set by ``ewarn.status.metrics_export``, which also serves
the registry. This module imports nothing of ours but models, so every layer (the bus included) may count.

Labels stay bounded: feed ids (operator-configured), channel, outcome, severity, stage, reason, quarantine
kind, and topic/partition/group. Never a provider id, alert id or URL.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from ewarn import __version__
from ewarn.models.alert import Severity
from ewarn.models.subscription import Channel

disable_created_metrics()  # type: ignore[no-untyped-call]  # no ``*_created`` series beside every counter: half the series, nothing lost

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

BUILD = Info("ewarn_build", "Version of ewarn running in this process", registry=REGISTRY)
BUILD.info({"version": __version__})

INDICATORS_READ = Counter(
    "ewarn_indicators_read",
    "Records read from a feed (accepted + rejected + skipped)",
    ["feed"],
    registry=REGISTRY,
)
INDICATORS_ACCEPTED = Counter(
    "ewarn_indicators_accepted", "Indicators a feed delivered that were stored", ["feed"], registry=REGISTRY
)
INDICATORS_REJECTED = Counter(
    "ewarn_indicators_rejected", "Records of a feed refused with a reason", ["feed"], registry=REGISTRY
)
INDICATORS_SKIPPED = Counter(
    "ewarn_indicators_skipped", "Records of a feed left out on purpose", ["feed"], registry=REGISTRY
)
FEED_LAST_SUCCESS_AGE = Gauge(
    "ewarn_feed_last_success_age_seconds",
    "Seconds since the feed's last successful poll (since it was added when it never succeeded)",
    ["feed"],
    registry=REGISTRY,
)
FEED_INTERVAL = Gauge(
    "ewarn_feed_poll_interval_seconds",
    "The feed's configured poll interval (enabled feeds)",
    ["feed"],
    registry=REGISTRY,
)
ALERTS_RAISED = Counter(
    "ewarn_alerts_raised",
    "Alert revisions stored and published (a new alert or a new revision)",
    ["severity"],
    registry=REGISTRY,
)
ALERTS_SUPPRESSED = Counter(
    "ewarn_alerts_suppressed",
    "Matches a suppression rule kept from becoming an alert revision, by the rule's kind",
    ["rule"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "ewarn_deliveries",
    "Delivery attempts settled: delivered, retry_scheduled or dead (no attempt left / cannot be sent)",
    ["channel", "outcome"],
    registry=REGISTRY,
)
STAGE_RETRIES = Counter(
    "ewarn_stage_retries",
    "Bus records a stage retries after an error (outages, timeouts)",
    ["stage"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "ewarn_dead_letters", "Bus records a stage sent to the dead-letter topic", ["stage"], registry=REGISTRY
)
OUTBOX_DEPTH = Gauge(
    "ewarn_outbox_depth",
    "Deliveries pending in the outbox (due now or later)",
    ["channel"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "ewarn_consumer_lag_records",
    "Records of a partition not yet fetched by this consumer group member (at its last fetch)",
    ["group", "topic", "partition"],
    registry=REGISTRY,
)
QUARANTINED = Gauge(
    "ewarn_quarantined_records",
    "Records set aside alone with their reason, by kind",
    ["kind"],
    registry=REGISTRY,
)
INGEST_TO_DELIVERY = Histogram(
    "ewarn_ingest_to_delivery_seconds",
    "From the indicator's ingestion to the alert's delivery (per delivered alert)",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
    registry=REGISTRY,
)

QUARANTINE_KINDS = ("indicator", "alert", "asset")  # what the stages set aside (store: quarantine)
DELIVERY_OUTCOMES = ("delivered", "retry_scheduled", "dead")
SUPPRESSION_RULE_KINDS = ("asset_indicator", "product_cve")

# Bounded label sets exist from the start, so a rate() or an alert rule sees 0 rather than no series.
for _severity in Severity:
    ALERTS_RAISED.labels(severity=_severity.value)
for _channel in Channel:
    OUTBOX_DEPTH.labels(channel=_channel.value)
    for _outcome in DELIVERY_OUTCOMES:
        DELIVERIES.labels(channel=_channel.value, outcome=_outcome)
for _rule_kind in SUPPRESSION_RULE_KINDS:
    ALERTS_SUPPRESSED.labels(rule=_rule_kind)


class _AuthCounts(Protocol):
    auth_failures: int
    auth_missing: int
    auth_throttled: int


class AuthFailureCollector(Collector):
    """``ewarn_auth_failures_total{reason}``, read at scrape time from the API guards' own counters (the
    guard counts every refusal already; one counter, not two kept in step)."""

    REASONS = {"unknown_key": "auth_failures", "missing_key": "auth_missing", "throttled": "auth_throttled"}

    def __init__(self) -> None:
        # Strong references: a guard's counts must not vanish from a counter (one guard per API process;
        # a few ints each in tests that build many applications).
        self._watched: list[_AuthCounts] = []

    def watch(self, counts: _AuthCounts) -> None:
        if not any(c is counts for c in self._watched):
            self._watched.append(counts)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "ewarn_auth_failures",
            "API requests refused authentication: unknown_key (wrong or revoked), missing_key, throttled",
            labels=["reason"],
        )
        for reason, field in self.REASONS.items():
            family.add_metric([reason], float(sum(getattr(c, field, 0) for c in self._watched)))
        yield family


AUTH_FAILURES = AuthFailureCollector()
REGISTRY.register(AUTH_FAILURES)


def watch_auth_failures(counts: _AuthCounts) -> None:
    """Export the refusals an API guard counts (called once per application)."""
    AUTH_FAILURES.watch(counts)


# ---------------------------------------------------------------------------------------------------------
# one-line hooks called by the stages


def register_stage(stage: str) -> None:
    """A stage runs in this process: its retry and dead-letter counters exist from now on, at 0."""
    STAGE_RETRIES.labels(stage=stage)
    DEAD_LETTERS.labels(stage=stage)


def count_feed_page(feed: str, *, read: int, accepted: int, rejected: int, skipped: int) -> None:
    """One ingested page of ``feed``."""
    INDICATORS_READ.labels(feed=feed).inc(read)
    INDICATORS_ACCEPTED.labels(feed=feed).inc(accepted)
    INDICATORS_REJECTED.labels(feed=feed).inc(rejected)
    INDICATORS_SKIPPED.labels(feed=feed).inc(skipped)


def count_alerts(severities: Iterable[str]) -> None:
    """Alert revisions published, by severity."""
    for severity in severities:
        ALERTS_RAISED.labels(severity=str(severity)).inc()


_OUTCOME_OF_STATUS = {"delivered": "delivered", "pending": "retry_scheduled", "dead": "dead"}


class _Settled(Protocol):
    @property
    def channel(self) -> str: ...

    @property
    def payload(self) -> Mapping[str, Any] | None: ...


def count_deliveries(
    status: str, deliveries: Iterable[_Settled], *, finished: datetime | None = None
) -> None:
    """Deliveries settled with ``status`` (``delivered``/``pending``/``dead``); delivered ones observe their
    ingest-to-delivery latency from the payload's ``ingested_at`` (the alert's timestamp, kept end to end)."""
    outcome = _OUTCOME_OF_STATUS.get(status, status)
    for d in deliveries:
        _deliveries_child(d.channel, outcome).inc()
        ingested = _timestamp((d.payload or {}).get("ingested_at")) if finished is not None else None
        if outcome == "delivered" and finished is not None and ingested is not None:
            seconds = max(0.0, (finished - ingested).total_seconds())
            _ingest_to_delivery_child(d.channel).observe(seconds)


# Once per delivery on the dispatch hot path: the labelled series looked up once, not per call (``labels``
# checks and locks every time; it was a sixth of recording an outcome on the dispatch bench).
@functools.cache
def _deliveries_child(channel: str, outcome: str) -> Any:
    return DELIVERIES.labels(channel=channel, outcome=outcome)


@functools.cache
def _ingest_to_delivery_child(channel: str) -> Any:
    return INGEST_TO_DELIVERY.labels(channel=channel)


class _Positioned(Protocol):
    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


def observe_fetch(group: str, consumer: object, batch: Sequence[_Positioned]) -> None:
    """Consumer lag per partition after a fetch: the partition's end offset minus the position reached.

    Uses the consumer's ``highwater(topic, partition)`` when the bus offers it (both buses do)."""
    highwater = getattr(consumer, "highwater", None)
    if highwater is None:
        return
    reached: dict[tuple[str, int], int] = {}
    for record in batch:
        key = (record.topic, record.partition)
        reached[key] = max(reached.get(key, 0), record.offset + 1)
    for (topic, partition), position in reached.items():
        end = highwater(topic, partition)
        if end is not None:
            CONSUMER_LAG.labels(group=group, topic=topic, partition=str(partition)).set(
                max(0, end - position)
            )


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
