"""A multi-process ewarn deployment for tests: its own PostgreSQL database, topic prefix and hospitals.

- ``deployment`` creates a brand-new database (Alembic migrations, as production does), a unique topic prefix
  with the partition count asked for, and the ``EWARN_*`` environment every ``ewarn run ROLE`` process gets.
- ``register_hospitals`` stores providers, network and domain assets and one webhook subscription each,
  directly through the repositories.
- ``synthetic_indicators`` builds indicators from documentation ranges (192.0.2.0/24, 198.51.100.0/24,
  203.0.113.0/24, 2001:db8::/32, ``.example``); ``expected_alerts`` says which alerts they must raise using
  ``ipaddress`` and plain suffix rules, independently of the correlation engine.
- ``Deliveries`` reads what a signature-verifying ``WebhookReceiver`` accepted: (webhook-id, alert) pairs,
  duplicates included.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ewarn.bus.kafka import KafkaBus
from ewarn.bus.topics import Topics
from ewarn.correlate.repository import unpublished_alerts
from ewarn.ids import alert_id
from ewarn.inventory.models import AssetIn
from ewarn.inventory.validate import normalise_asset
from ewarn.models.alert import Severity
from ewarn.models.asset import AssetKind
from ewarn.models.indicator import Indicator, IndicatorType, SourceRef
from ewarn.models.provider import Provider
from ewarn.models.subscription import Channel, SubscriptionFilters
from ewarn.settings import KafkaSettings
from ewarn.store.db import SessionFactory, create_engine, session_factory
from ewarn.store.migrate import upgrade_to_head
from ewarn.store.repositories.assets import upsert_assets
from ewarn.store.repositories.principals import upsert_provider
from ewarn.store.repositories.subscriptions import create_subscription
from ewarn.store.tables import AlertRow, DeliveryRow, HeartbeatRow
from tests.support.postgres_server import temporary_database
from tests.support.processes import Fleet
from tests.support.receivers import Request, WebhookReceiver

SHARED_DOMAIN = "shared-vendor.example"  # every hospital registers it: one indicator, an alert for each
MAX_HOSPITALS = 8  # 203.0.113.0/24 is cut into one /27 per hospital


# --- the deployment -----------------------------------------------------------------------------------------


@dataclass
class Deployment:
    """One database and one topic prefix, shared by the test process and every role process it starts."""

    database_url: str
    engine: AsyncEngine
    sessions: SessionFactory
    kafka: KafkaSettings
    topics: Topics
    operator_key: str = field(default_factory=lambda: f"ewk_test_{secrets.token_urlsafe(24)}")

    def env(self, **extra: str) -> dict[str, str]:
        """``EWARN_*`` for a role process: Kafka + PostgreSQL, loopback webhooks allowed, fast retries."""
        values = {
            "EWARN_DATABASE_URL": self.database_url,
            "EWARN_KAFKA__BOOTSTRAP": str(self.kafka.bootstrap),
            "EWARN_KAFKA__TOPIC_PREFIX": self.topics.prefix,
            "EWARN_KAFKA__PARTITIONS": str(self.kafka.partitions),
            "EWARN_DISPATCH__ALLOWED_NETWORKS": json.dumps(["127.0.0.0/8"]),
            "EWARN_DISPATCH__REQUEST_TIMEOUT_SECONDS": "2",
            "EWARN_DISPATCH__BACKOFF_BASE_SECONDS": "0.1",
            "EWARN_DISPATCH__BACKOFF_MAX_SECONDS": "1",
            "EWARN_DISPATCH__POLL_INTERVAL_SECONDS": "0.05",
            "EWARN_BOOTSTRAP_OPERATOR_KEY": self.operator_key,
            "EWARN_API_HOST": "127.0.0.1",
            "EWARN_LOG_LEVEL": "INFO",
            "EWARN_LOG_JSON": "true",
        }
        return {**values, **extra}

    def bus(self) -> KafkaBus:
        """A Kafka bus on this deployment's topics for the test process (not started)."""
        return KafkaBus(self.kafka, self.topics)

    async def alert_count(self) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(AlertRow)) or 0)

    async def unpublished_alerts(self) -> int:
        """Alert revisions stored by a correlator whose publish was never acknowledged (yet)."""
        async with self.sessions() as session:
            return len(await unpublished_alerts(session=session))

    async def delivery_statuses(self) -> Counter[str]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
            )
            return Counter({status: int(n) for status, n in rows.all()})

    async def leased_deliveries(self) -> int:
        """Pending deliveries some dispatcher holds a lease on right now (claimed, outcome not recorded)."""
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(DeliveryRow)
                .where(DeliveryRow.status == "pending", DeliveryRow.lease_until > datetime.now(UTC))
            )
            return int(count or 0)

    async def heartbeat_stats(self, role: str) -> dict[int, dict[str, Any]]:
        """The latest heartbeat counters of each process of ``role``, by pid."""
        async with self.sessions() as session:
            rows = await session.scalars(select(HeartbeatRow).where(HeartbeatRow.role == role))
            return {row.pid: dict(row.stats or {}) for row in rows}


@asynccontextmanager
async def deployment(*, postgres_url: str, bootstrap: str, partitions: int) -> AsyncIterator[Deployment]:
    """A fresh database at the newest migration and a unique topic prefix; the database is dropped after."""
    async with temporary_database(postgres_url) as url:
        engine = create_engine(url)
        topics = Topics(prefix=f"t{uuid.uuid4().hex[:12]}")
        kafka = KafkaSettings(
            bootstrap=bootstrap, client_id="ewarn-test", topic_prefix=topics.prefix, partitions=partitions
        )
        try:
            await upgrade_to_head(engine)
            yield Deployment(
                database_url=url, engine=engine, sessions=session_factory(engine), kafka=kafka, topics=topics
            )
        finally:
            await engine.dispose()


# --- hospitals ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hospital:
    """A provider with an IPv4 and an IPv6 network, its own domain and the shared vendor domain."""

    provider_id: str
    ipv4: ipaddress.IPv4Network
    ipv6: ipaddress.IPv6Network
    domain: str
    asset_ids: dict[str, str]  # asset value -> asset id, as registered
    subscription_id: str
    secret: str

    @property
    def domains(self) -> tuple[str, ...]:
        return (self.domain, SHARED_DOMAIN)

    def asset_hit_by(self, indicator: Indicator) -> str | None:
        """The asset id ``indicator`` hits in this hospital, by plain containment rules (None: no hit)."""
        if indicator.type in (IndicatorType.IPV4, IndicatorType.IPV6):
            address = ipaddress.ip_address(indicator.value)
            for network in (self.ipv4, self.ipv6):
                if address.version == network.version and address in network:
                    return self.asset_ids[str(network)]
            return None
        if indicator.type is IndicatorType.DOMAIN:
            for domain in self.domains:
                if indicator.value == domain or indicator.value.endswith("." + domain):
                    return self.asset_ids[domain]
        return None


async def register_hospitals(sessions: SessionFactory, count: int, webhook_url: str) -> list[Hospital]:
    """Providers ``hospital-0..count-1``, their assets and one webhook subscription each (every severity)."""
    if not 0 < count <= MAX_HOSPITALS:
        raise ValueError(f"between 1 and {MAX_HOSPITALS} hospitals")
    hospitals: list[Hospital] = []
    async with sessions() as session:
        for n in range(count):
            provider_id = f"hospital-{n}"
            ipv4 = ipaddress.IPv4Network(f"203.0.113.{32 * n}/27")
            ipv6 = ipaddress.IPv6Network(f"2001:db8:{n + 1:x}::/48")
            domain = f"hospital-{n}.example"
            await upsert_provider(
                session=session, provider=Provider(id=provider_id, name=f"Hospital {n}", country="DE")
            )
            wanted = [
                AssetIn(kind=AssetKind.NETWORK, name="Clinical LAN", value=str(ipv4)),
                AssetIn(kind=AssetKind.NETWORK, name="IPv6 campus", value=str(ipv6)),
                AssetIn(kind=AssetKind.DOMAIN, name="Public web", value=domain),
                AssetIn(kind=AssetKind.DOMAIN, name="EHR vendor", value=SHARED_DOMAIN),
            ]
            assets = [normalise_asset(a, provider_id=provider_id) for a in wanted]
            stored = await upsert_assets(session=session, provider_id=provider_id, assets=assets)
            subscription, secret = await create_subscription(
                session=session,
                provider_id=provider_id,
                channel=Channel.WEBHOOK,
                target=webhook_url,
                filters=SubscriptionFilters(min_severity=Severity.INFO),
            )
            assert secret is not None
            hospitals.append(
                Hospital(
                    provider_id=provider_id,
                    ipv4=ipv4,
                    ipv6=ipv6,
                    domain=domain,
                    asset_ids={str(a.value): a.id for a in stored},
                    subscription_id=subscription.id,
                    secret=secret,
                )
            )
        await session.commit()
    return hospitals


# --- indicators and the alerts they must raise --------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedAlert:
    provider_id: str
    indicator_key: str
    asset_id: str

    @property
    def id(self) -> str:
        return alert_id(
            provider_id=self.provider_id, indicator_key=self.indicator_key, asset_id=self.asset_id
        )


def _indicator(kind: IndicatorType, value: str, n: int) -> Indicator:
    return Indicator(
        key=Indicator.make_key(kind, value),
        type=kind,
        value=value,
        name=f"synthetic {kind.value} #{n}",
        confidence=90,
        labels=["c2"],
        source=SourceRef(feed_id="synthetic", feed_kind="stix_bundle", record=f"indicator-{n}"),
    )


def synthetic_indicators(
    hospitals: Sequence[Hospital], count: int, *, cycle: int = 20, shared_every: int = 100
) -> list[Indicator]:
    """``count`` distinct indicators.

    In every ``cycle``, three hit one hospital (IPv6, domain, and IPv4 while the hospital's /27 lasts,
    else IPv6 again) and the rest miss; every ``shared_every``-th is in the vendor domain all hospitals
    registered, so it hits every one of them.
    """
    misses_v4 = [
        str(a) for net in ("192.0.2.0/24", "198.51.100.0/24") for a in ipaddress.IPv4Network(net).hosts()
    ]
    v4_free = {h.provider_id: list(h.ipv4.hosts()) for h in hospitals}
    out: list[Indicator] = []
    for n in range(count):
        slot = n % cycle
        hospital = hospitals[(n // cycle) % len(hospitals)]
        if n % shared_every == shared_every - 1:
            out.append(_indicator(IndicatorType.DOMAIN, f"n{n}.{SHARED_DOMAIN}", n))
        elif slot == 0:
            out.append(_indicator(IndicatorType.IPV6, str(hospital.ipv6[n + 1]), n))
        elif slot == 1:
            out.append(_indicator(IndicatorType.DOMAIN, f"n{n}.{hospital.domain}", n))
        elif slot == 2 and v4_free[hospital.provider_id]:
            out.append(_indicator(IndicatorType.IPV4, str(v4_free[hospital.provider_id].pop(0)), n))
        elif slot == 2:
            out.append(_indicator(IndicatorType.IPV6, str(hospital.ipv6[n + 1]), n))
        elif slot % 3 == 0 and misses_v4:
            out.append(_indicator(IndicatorType.IPV4, misses_v4.pop(0), n))
        elif slot % 3 == 1:
            out.append(_indicator(IndicatorType.DOMAIN, f"n{n}.elsewhere.example", n))
        else:
            out.append(_indicator(IndicatorType.IPV6, str(ipaddress.IPv6Address("2001:db8:ffff::") + n), n))
    assert len({i.key for i in out}) == count, "synthetic indicators must be distinct"
    return out


def expected_alerts(
    hospitals: Sequence[Hospital], indicators: Iterable[Indicator]
) -> dict[str, ExpectedAlert]:
    """Every (hospital, indicator, asset) hit, by alert id."""
    expected: dict[str, ExpectedAlert] = {}
    for indicator in indicators:
        for hospital in hospitals:
            asset = hospital.asset_hit_by(indicator)
            if asset is not None:
                alert = ExpectedAlert(hospital.provider_id, indicator.key, asset)
                expected[alert.id] = alert
    return expected


async def produce_indicators(
    bus: KafkaBus, topics: Topics, indicators: Sequence[Indicator], *, chunk: int = 1000
) -> None:
    """What the ingest role does after storing: publish each indicator keyed by its indicator key."""
    for start in range(0, len(indicators), chunk):
        items = [(i.key, i.model_dump_json().encode()) for i in indicators[start : start + chunk]]
        await bus.publish_many(topics.indicators, items)


def stix_bundle(indicators: Iterable[Indicator]) -> bytes:
    """A STIX 2.1 bundle with one indicator object per indicator (ipv4/ipv6/domain patterns)."""
    objects_ = {
        IndicatorType.IPV4: "ipv4-addr",
        IndicatorType.IPV6: "ipv6-addr",
        IndicatorType.DOMAIN: "domain-name",
    }
    stamp = "2026-01-05T08:00:00.000Z"
    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, i.key)}",
            "created": stamp,
            "modified": stamp,
            "name": i.name,
            "indicator_types": ["malicious-activity"],
            "pattern": f"[{objects_[i.type]}:value = '{i.value}']",
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": stamp,
            "confidence": 90,
        }
        for i in indicators
    ]
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    return json.dumps(bundle).encode()


# --- what the receiver got ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    webhook_id: str
    alert_id: str
    revision: int
    provider_id: str
    indicator_key: str
    asset_id: str


class Deliveries:
    """The accepted (verified, 2xx) requests of a receiver, as (webhook-id, alert) pairs, duplicates kept."""

    def __init__(self, requests: Sequence[Request]) -> None:
        self.requests = list(requests)
        self.unverified = [r for r in self.requests if not r.verified]
        self.items: list[Received] = []
        for r in self.requests:
            if not (r.verified and 200 <= r.status < 300):
                continue
            data = r.json()["data"]
            self.items.append(
                Received(
                    webhook_id=str(r.webhook_id),
                    alert_id=data["id"],
                    revision=data["revision"],
                    provider_id=data["provider_id"],
                    indicator_key=data["indicator_key"],
                    asset_id=data["asset_id"],
                )
            )

    @property
    def alert_ids(self) -> set[str]:
        return {i.alert_id for i in self.items}

    @property
    def webhook_ids(self) -> set[str]:
        return {i.webhook_id for i in self.items}

    @property
    def redelivered(self) -> int:
        """Requests beyond the first per webhook-id."""
        return len(self.items) - len(self.webhook_ids)

    def alerts_per_webhook_id(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for item in self.items:
            found[item.webhook_id].add(item.alert_id)
        return found

    def webhook_ids_per_alert(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for item in self.items:
            found[item.alert_id].add(item.webhook_id)
        return found

    def triples(self) -> set[ExpectedAlert]:
        return {ExpectedAlert(i.provider_id, i.indicator_key, i.asset_id) for i in self.items}


def signed_by_own_subscription(request: Request, hospitals: Sequence[Hospital]) -> bool:
    """True when the request verifies with the secret of the subscription of the alert's own provider."""
    provider = request.json()["data"]["provider_id"]
    secret = next(h.secret for h in hospitals if h.provider_id == provider)
    try:
        Webhook(secret).verify(request.body, request.headers)
    except WebhookVerificationError:
        return False
    return True


def assert_exactly_expected(
    got: Deliveries, expected: dict[str, ExpectedAlert], hospitals: Sequence[Hospital]
) -> None:
    """The checks every pipeline test ends with; messages name the first differences."""
    assert not got.unverified, f"{len(got.unverified)} requests failed signature verification"
    missing = set(expected) - got.alert_ids
    unexpected = got.alert_ids - set(expected)
    assert not missing, (
        f"{len(missing)} of {len(expected)} expected alerts never arrived, e.g. {sorted(missing)[:3]}"
    )
    assert not unexpected, f"{len(unexpected)} alerts nobody expected, e.g. {sorted(unexpected)[:3]}"
    assert got.triples() == set(expected.values()), "alert bodies name other providers/indicators/assets"
    mixed = {w: a for w, a in got.alerts_per_webhook_id().items() if len(a) > 1}
    assert not mixed, f"webhook-ids reused for different alerts: {dict(list(mixed.items())[:3])}"
    split = {a: w for a, w in got.webhook_ids_per_alert().items() if len(w) > 1}
    assert not split, (
        f"alerts sent under several webhook-ids (a spurious new revision?): {dict(list(split.items())[:3])}"
    )
    assert {i.revision for i in got.items} == {1}, "every alert is new: revision 1 only"
    wrong_key = [r for r in got.requests if r.verified and not signed_by_own_subscription(r, hospitals)]
    assert not wrong_key, (
        f"{len(wrong_key)} requests not signed with their own provider's subscription secret"
    )


# --- reading Kafka from the outside -------------------------------------------------------------------------


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The offsets ``group`` committed on ``topic``, by partition (what a restarted member resumes from)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ewarn-test-admin")
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def read_topic(
    bootstrap: str, topic: str, *, timeout: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the start up to its current end (no group, nothing committed)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,  # no group: every partition is assigned to us, nothing is committed
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        while not consumer.assignment():
            if time.monotonic() > deadline:
                raise AssertionError(f"no partitions of {topic} assigned within {timeout:.0f}s")
            await asyncio.sleep(0.05)
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end within {timeout:.0f}s")
            batches = await consumer.getmany(timeout_ms=500)
            records.extend(r for batch in batches.values() for r in batch)
        return records
    finally:
        await consumer.stop()


# --- everything together ------------------------------------------------------------------------------------


@dataclass
class Rig:
    """A deployment, its hospitals, the receiver of their webhooks, a started producer and the processes."""

    deployment: Deployment
    hospitals: list[Hospital]
    receiver: WebhookReceiver
    bus: KafkaBus
    fleet: Fleet
    seen: set[str] = field(default_factory=set)  # alert ids accepted so far (kept up to date as they arrive)

    def deliveries(self) -> Deliveries:
        return Deliveries(self.receiver.requests)

    async def wait_delivered(self, expected: Iterable[str], *, timeout: float, what: str = "") -> float:
        """Wait until every alert id in ``expected`` was accepted; returns the seconds it took."""
        wanted = set(expected)

        async def done() -> bool:
            return wanted <= self.seen

        def progress() -> str:
            return f"{len(wanted & self.seen)} of {len(wanted)} alerts delivered"

        return await self.fleet.wait_for(
            done, timeout=timeout, what=what or f"{len(wanted)} alerts at the receiver", progress=progress
        )


@asynccontextmanager
async def pipeline_rig(
    *, postgres_url: str, bootstrap: str, partitions: int, hospitals: int, logdir: Path
) -> AsyncIterator[Rig]:
    """Database, topics (created with ``partitions``), hospitals subscribed to a verifying receiver."""
    receiver = WebhookReceiver()
    url = await receiver.start()
    try:
        async with deployment(postgres_url=postgres_url, bootstrap=bootstrap, partitions=partitions) as dep:
            registered = await register_hospitals(dep.sessions, hospitals, url)
            receiver.secrets = [h.secret for h in registered]
            bus = dep.bus()
            await bus.start()
            fleet = Fleet(logdir, dep.env())
            rig = Rig(deployment=dep, hospitals=registered, receiver=receiver, bus=bus, fleet=fleet)

            def note(request: Request) -> None:
                if request.verified and 200 <= request.status < 300:
                    rig.seen.add(request.json()["data"]["id"])

            receiver.on_request = note
            try:
                yield rig
            finally:
                await fleet.close()
                await bus.stop()
    finally:
        await receiver.down()
