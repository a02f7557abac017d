"""Tables of the system of record. Alembic migrations in ``ewarn/store/migrations`` create them.

Each section is owned by one stage; the full pydantic model is kept in ``data`` where the row is mostly read
whole, with the columns that queries filter or order on beside it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = JSON().with_variant(JSON(none_as_null=True), "postgresql")
TS = DateTime(timezone=True)
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# --- tenants and access ----------------------------------------------------------------------------------


class CsirtRow(Base):
    __tablename__ = "csirts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    escalation_contact: Mapped[str | None] = mapped_column(String(320))  # 0011: e-mail for overdue alerts


class ProviderRow(Base):
    __tablename__ = "providers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    csirt_id: Mapped[str | None] = mapped_column(ForeignKey("csirts.id"), index=True)
    contacts: Mapped[list[str]] = mapped_column(Json, default=list)
    language: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(TS)
    escalation_contact: Mapped[str | None] = mapped_column(String(320))  # 0011: e-mail for overdue alerts


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("providers.id"), index=True)
    csirt_id: Mapped[str | None] = mapped_column(ForeignKey("csirts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TS)
    # Lifecycle (migration 0008): a key authenticates while not revoked and before expires_at.
    expires_at: Mapped[datetime | None] = mapped_column(TS)
    last_used_at: Mapped[datetime | None] = mapped_column(TS)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)
    revoked_by: Mapped[str | None] = mapped_column(String(255))
    rotated_from: Mapped[str | None] = mapped_column(String(64))


# --- inventory ---------------------------------------------------------------------------------------------


class AssetRow(Base):
    __tablename__ = "assets"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str | None] = mapped_column(String(512))
    data: Mapped[dict[str, Any]] = mapped_column(Json)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS, index=True)
    __table_args__ = (Index("ix_assets_provider_kind", "provider_id", "kind"),)


# --- ingest ------------------------------------------------------------------------------------------------


class FeedRow(Base):
    __tablename__ = "feeds"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # kind-specific options (column maps…)
    credentials: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # never returned by the API
    interval_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    default_tlp: Mapped[str] = mapped_column(String(16), default="clear")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    cursor: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    last_polled_at: Mapped[datetime | None] = mapped_column(TS)
    last_success_at: Mapped[datetime | None] = mapped_column(TS)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(TS)
    accepted_total: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected_total: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(TS)
    skipped_total: Mapped[int] = mapped_column(BigInteger, default=0)
    counts: Mapped[dict[str, int] | None] = mapped_column(Json)  # skipped/noted records by reason


class IndicatorRow(Base):
    __tablename__ = "indicators"
    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(Json)  # the merged Indicator
    tlp: Mapped[str] = mapped_column(String(16))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_until: Mapped[datetime | None] = mapped_column(TS, index=True)
    first_seen: Mapped[datetime] = mapped_column(TS)
    last_seen: Mapped[datetime] = mapped_column(TS, index=True)


class RejectionRow(Base):
    __tablename__ = "rejections"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # hash(feed, record, reason): idempotent
    feed_id: Mapped[str] = mapped_column(String(64), index=True)
    feed_kind: Mapped[str] = mapped_column(String(32))
    record: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    excerpt: Mapped[str | None] = mapped_column(Text)
    rejected_at: Mapped[datetime] = mapped_column(TS, index=True)


# --- correlate ---------------------------------------------------------------------------------------------


class AlertRow(Base):
    __tablename__ = "alerts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    indicator_key: Mapped[str] = mapped_column(String(1024), index=True)
    asset_id: Mapped[str] = mapped_column(String(64), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(Json)  # the Alert
    matched_at: Mapped[datetime] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)
    __table_args__ = (Index("ix_alerts_provider_updated", "provider_id", "updated_at"),)


class AlertEventRow(Base):
    """One row per published alert revision: the ordered per-tenant stream behind SSE and polling."""

    __tablename__ = "alert_events"
    seq: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    provider_id: Mapped[str] = mapped_column(String(64))
    alert_id: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TS)
    __table_args__ = (
        UniqueConstraint("alert_id", "revision", name="uq_alert_events_alert_revision"),
        Index("ix_alert_events_provider_seq", "provider_id", "seq"),
    )


# --- dispatch ----------------------------------------------------------------------------------------------


class SubscriptionRow(Base):
    __tablename__ = "subscriptions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("providers.id"), index=True)  # None: CSIRT's
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(String(256))
    previous_secret: Mapped[str | None] = mapped_column(String(256))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(TS)
    filters: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    payload_format: Mapped[str] = mapped_column(String(16), default="json")
    digest: Mapped[str] = mapped_column(String(16), default="none")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS)
    disabled_at: Mapped[datetime | None] = mapped_column(TS)
    # Soft delete: the delivery log of a deleted subscription stays readable for operators.
    deleted_at: Mapped[datetime | None] = mapped_column(TS)
    # 0011: "alerts" (routed by filters) or "escalation" (the workflow's overdue notices to a contact only).
    purpose: Mapped[str] = mapped_column(String(16), default="alerts", server_default="alerts")  # or "csirt"
    csirt_id: Mapped[str | None] = mapped_column(ForeignKey("csirts.id"), index=True)  # 0011: a CSIRT's own


class DeliveryRow(Base):
    """The outbox: a delivery is due when status is pending and next_attempt_at has passed."""

    __tablename__ = "deliveries"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(64), index=True)
    alert_revision: Mapped[int] = mapped_column(Integer)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    provider_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(TS)
    lease_until: Mapped[datetime | None] = mapped_column(TS)  # a worker holds it until then
    payload: Mapped[dict[str, Any]] = mapped_column(Json)  # the alert revision as it will be sent
    created_at: Mapped[datetime] = mapped_column(TS)
    dispatched_at: Mapped[datetime | None] = mapped_column(TS)
    delivered_at: Mapped[datetime | None] = mapped_column(TS)
    # Set when the delivery waits for its subscription's digest window ("hourly:2024-05-01T13").
    digest_key: Mapped[str | None] = mapped_column(String(64))
    # A replay gets a fresh attempt budget: attempts counted from here on.
    attempts_before_replay: Mapped[int] = mapped_column(Integer, default=0)
    replayed_at: Mapped[datetime | None] = mapped_column(TS)
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)


class DeliveryAttemptRow(Base):
    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(TS)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    ok: Mapped[bool] = mapped_column(Boolean)
    __table_args__ = (UniqueConstraint("delivery_id", "attempt", name="uq_delivery_attempts_attempt"),)


# --- status ------------------------------------------------------------------------------------------------


class HeartbeatRow(Base):
    """Each running role writes its heartbeat and counters here; the status endpoint reads all of them."""

    __tablename__ = "heartbeats"
    instance_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(TS)
    last_beat_at: Mapped[datetime] = mapped_column(TS)
    stats: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


# --- containment -------------------------------------------------------------------------------------------


class QuarantineRow(Base):
    """A record a stage could not serialise, store, publish or deliver, set aside alone with its reason.

    One row per (kind, key): meeting the same record again (a restart's republish) counts it, not repeats it.
    """

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # alert, asset, delivery, ...
    key: Mapped[str] = mapped_column(String(255))  # the record's id (an alert: "<id>@<revision>")
    stage: Mapped[str] = mapped_column(String(32))
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    excerpt: Mapped[str] = mapped_column(Text)  # the start of the record, made printable
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(TS)
    last_seen_at: Mapped[datetime] = mapped_column(TS, index=True)
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_quarantine_kind_key"),)


class ScopeApprovalRow(Base):
    """An operator's approval of one provider asset wider than the scope rules allow (the audit trail)."""

    __tablename__ = "scope_approvals"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(255))  # the normalised asset value the approval covers
    reason: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str] = mapped_column(String(255))  # the operator key's id and name
    approved_at: Mapped[datetime] = mapped_column(TS)
    __table_args__ = (
        UniqueConstraint("provider_id", "kind", "value", name="uq_scope_approvals_provider_id"),
    )


# --- vendor aliases ----------------------------------------------------------------------------------------


class VendorAliasRow(Base):
    """An operator's vendor alias: one spelling read as a brand of an owner group, on top of the shipped table."""

    __tablename__ = "vendor_aliases"
    alias_key: Mapped[str] = mapped_column(String(255), primary_key=True)  # the spelling folded (ewarn.names)
    alias: Mapped[str] = mapped_column(String(255))  # as the operator wrote it
    brand: Mapped[str] = mapped_column(String(255))
    owner_group: Mapped[str] = mapped_column(String(255))
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(TS)


class VendorAliasChangeRow(Base):
    """The audit trail of vendor aliases: who changed which spelling, when, from what to what."""

    __tablename__ = "vendor_alias_changes"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(TS, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(16))  # add, update, remove
    alias_key: Mapped[str] = mapped_column(String(255), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)


# --- advisories by CVE (ingest: KEV enrichment) ---------------------------------------------------------


class IndicatorCveRow(Base):
    """Which CVEs an advisory indicator (``vulnerability:<tracking id>``) names, to find it by CVE.

    Ingest keeps it on every store of an advisory; a KEV entry that newly marks a CVE known exploited looks
    up the advisories naming that CVE here and republishes them with the flag.
    """

    __tablename__ = "indicator_cves"
    indicator_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    cve: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


# --- audit log (every write by API or CLI) ---------------------------------------------------------------


class AuditLogRow(Base):
    """One write by the API or the CLI: who, what, when, on which ids; a redacted summary, never a secret.

    ``provider_id`` is the tenant the write concerns (None: a global write), so a provider reads its own rows
    and a CSIRT those of its constituency.
    """

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(TS, index=True)
    actor: Mapped[str] = mapped_column(String(255), index=True)  # an API key id, or "cli:<os user>"
    actor_role: Mapped[str] = mapped_column(String(16))  # operator, provider, csirt, cli
    actor_name: Mapped[str] = mapped_column(String(255), default="")
    action: Mapped[str] = mapped_column(String(32))
    resource: Mapped[str] = mapped_column(String(32), index=True)
    target_ids: Mapped[list[str]] = mapped_column(Json)
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(Json)


# --- alert workflow (0011) ---------------------------------------------------------------------------------


class AlertTransitionRow(Base):
    """One change of an alert's workflow state, with who made it, when and why (the history)."""

    __tablename__ = "alert_transitions"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(64), index=True)
    provider_id: Mapped[str] = mapped_column(String(64), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(255))
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(255), default="")
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(TS)


class AlertWorkflowRow(Base):
    """An alert's deadlines and the notices sent about them; kept in step with the alert by its revision."""

    __tablename__ = "alert_workflow"
    alert_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    raised_at: Mapped[datetime] = mapped_column(TS)
    acknowledged_at: Mapped[datetime | None] = mapped_column(TS)
    resolved_at: Mapped[datetime | None] = mapped_column(TS)
    acknowledge_due_at: Mapped[datetime | None] = mapped_column(TS)
    resolve_due_at: Mapped[datetime | None] = mapped_column(TS)
    # reminder, escalation_contact, escalation_csirt
    next_notice: Mapped[str | None] = mapped_column(String(32))
    next_notice_at: Mapped[datetime | None] = mapped_column(TS, index=True)
    notices: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)  # sent: kind, at, delivery ids
    updated_at: Mapped[datetime] = mapped_column(TS)


class SuppressionRuleRow(Base):
    """A provider's rule that turns future matches into counted, suppressed ones (asset+indicator, product+CVE)."""

    __tablename__ = "suppression_rules"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"), index=True)
    asset_id: Mapped[str | None] = mapped_column(String(255))
    indicator_key: Mapped[str | None] = mapped_column(String(1024))
    vendor: Mapped[str | None] = mapped_column(String(255))
    product: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(255))
    cve: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(TS)
    expires_at: Mapped[datetime | None] = mapped_column(TS)
    source_alert_id: Mapped[str | None] = mapped_column(String(64))
    hits: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hit_at: Mapped[datetime | None] = mapped_column(TS)
    deleted_at: Mapped[datetime | None] = mapped_column(TS)


# --- sighting relay (migration 0012) -------------------------------------------------------------------------


class SightingRow(Base):
    """One provider's sighting of one observable; blocklist entries are the live relayed rows per key."""

    __tablename__ = "sightings"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # the reporting provider, or ``feed:<feed id>`` for a sighting read from an ingested STIX bundle
    provider_id: Mapped[str] = mapped_column(String(128), index=True)
    indicator_key: Mapped[str] = mapped_column(String(1024))
    indicator_type: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    tlp: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # relayed, held
    held_reason: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(Json)  # the Sighting
    received_at: Mapped[datetime] = mapped_column(TS, index=True)
    expires_at: Mapped[datetime] = mapped_column(TS, index=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None] = mapped_column(TS)
    __table_args__ = (Index("ix_sightings_key_expires", "indicator_key", "expires_at"),)
