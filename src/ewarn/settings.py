"""One typed Settings object, built once at start-up from ``EWARN_*`` variables and an optional file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ewarn.actions.playbooks import PlaybookRule


class KafkaSettings(BaseModel):
    """Kafka is used when ``bootstrap`` is set; otherwise the in-process bus."""

    bootstrap: str | None = None
    client_id: str = "ewarn"
    topic_prefix: str = "ewarn"
    partitions: int = 6
    replication_factor: int = 1
    # none: gzip (aiokafka compresses at level 9) cost the push edge and the broker more CPU per indicator
    # (issue 12, bench/ingest_edge.py --kafka); a deployment short of bandwidth or disk sets gzip (lz4 needs cramjam).
    compression: str = "none"
    # Latency knobs (issue 12; measured in the docstrings of ewarn.bus.kafka and kafka_consumer). The producer
    # sends at once (linger 0): what comes while a request is in flight makes up the next, larger request.
    linger_ms: int = Field(default=0, ge=0, le=1000)
    # A consumer's fetch waits at the broker until fetch_min_bytes are there (1: any record) or this long.
    fetch_max_wait_ms: int = Field(default=500, ge=0, le=30_000)
    fetch_min_bytes: int = Field(default=1, ge=1)
    # Offsets are committed in the background while the next batch is handled, at most one commit in flight
    # (only offsets of records already handled: at-least-once holds); false: the runner awaits every commit.
    commit_in_background: bool = True
    # Benchmarks only: append one JSON line per consumed batch (fetched/handled times, offsets) to this file.
    trace_file: str | None = None


class DispatchSettings(BaseModel):
    max_attempts: int = 8
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    request_timeout_seconds: float = 10.0
    max_response_bytes: int = 64 * 1024
    concurrency: int = 256  # in-flight webhook sends; the transport caps connections per endpoint at 32
    # Webhook targets resolving here are allowed even though private/loopback (operator decision).
    allowed_networks: list[str] = Field(default_factory=list)
    poll_interval_seconds: float = 0.2


class SmtpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 25
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    implicit_tls: bool = False
    sender: str = "ewarn@localhost"
    timeout_seconds: float = 10.0
    # S/MIME signing of every message, on when both PEM files are set; the chain file adds intermediates.
    smime_cert_file: Path | None = None
    smime_key_file: Path | None = None
    smime_key_password: SecretStr | None = None
    smime_chain_file: Path | None = None

    @model_validator(mode="after")
    def _smime_files_go_together(self) -> SmtpSettings:
        if (self.smime_cert_file is None) != (self.smime_key_file is None):
            raise ValueError(
                "smime_cert_file and smime_key_file go together: set both to sign e-mail, or neither"
            )
        if not self.signs_email and (
            self.smime_key_password is not None or self.smime_chain_file is not None
        ):
            raise ValueError(
                "smime_key_password and smime_chain_file need smime_cert_file and smime_key_file"
            )
        return self

    @property
    def signs_email(self) -> bool:
        return self.smime_cert_file is not None and self.smime_key_file is not None


class CorrelateSettings(BaseModel):
    batch_size: int = 500
    retrohunt_batch: int = 1000
    expiry_sweep_seconds: float = 60.0
    # the response playbook linked from each alert, by indicator kind and severity; first matching rule wins
    # (EWARN_CORRELATE__PLAYBOOKS='[{"kinds": ["vulnerability"], "min_severity": "high", "url": "https://…"}]')
    playbooks: list[PlaybookRule] = Field(default_factory=list, max_length=100)


class IngestSettings(BaseModel):
    max_concurrent_feeds: int = 4
    request_timeout_seconds: float = 30.0
    max_payload_bytes: int = 200 * 1024 * 1024
    poll_jitter_fraction: float = 0.1
    # Feed URLs (and every redirect) resolving here are allowed although private/loopback (operator decision).
    allowed_networks: list[str] = Field(default_factory=list)
    # Local feed locations (paths, file: URLs) are read only under this directory; unset: none at all.
    file_root: str | None = None
    ca_bundle: str | None = None  # extra trusted CAs (PEM) for feeds; TLS verification is never off
    max_redirects: int = Field(default=5, ge=0, le=20)


class ApiLimits(BaseModel):
    """What one caller may cost the API (README, security section). Rates use the ``limits`` notation
    ("120/minute", several joined by ";"); an empty rate switches that throttle off."""

    max_body_bytes: int = Field(default=1024 * 1024, ge=1)  # every route but the two below
    max_import_bytes: int = Field(default=64 * 1024 * 1024, ge=1)  # asset import files
    # Push of STIX/CSAF documents reads up to ``ingest.max_payload_bytes`` (its own, larger cap).
    max_import_rows: int = Field(default=20_000, ge=1)  # assets (or VEX statements) in one import file
    max_streams_per_key: int = Field(default=5, ge=1)  # open SSE streams of one API key
    db_concurrency: int = Field(default=10, ge=1)  # API requests holding a database session at once
    db_wait_seconds: float = Field(default=2.0, gt=0)  # wait for one of them, then 503
    retry_after_seconds: int = Field(default=2, ge=1)  # Retry-After of a 503
    rate_per_principal: str = "6000/minute"  # authenticated requests of one API key
    rate_per_address: str = "12000/minute"  # every /api request of one source address
    auth_failures_per_address: str = "120/minute"  # wrong keys from one address, then 429
    auth_failures_per_key_id: str = "30/minute"  # wrong secrets for one key id, then 429


class ApiSettings(BaseModel):
    limits: ApiLimits = Field(default_factory=ApiLimits)


class AssetScopeSettings(BaseModel):
    """How wide one provider's asset may be without an operator's approval (README, security section).

    A wider network, or a public suffix as domain, would match other hospitals' traffic and hand their
    intelligence to this provider; ``0.0.0.0/0`` and ``::/0`` are refused even with an approval.
    """

    min_ipv4_prefix: int = Field(default=16, ge=1, le=32)
    min_ipv6_prefix: int = Field(default=32, ge=1, le=128)
    refuse_public_suffixes: bool = True  # domain and e-mail domain assets (Public Suffix List, bundled)


class InventorySettings(BaseModel):
    scope: AssetScopeSettings = Field(default_factory=AssetScopeSettings)


class RetentionSettings(BaseModel):
    """How long finished rows are kept (README, retention). An age of 0 keeps that table's rows forever.

    ``EWARN_RETENTION__DELIVERED_DAYS=7`` etc.; the dispatch role prunes every ``interval_seconds``.
    """

    enabled: bool = True  # the background pass in the dispatch role (``ewarn prune`` runs one by hand)
    interval_seconds: float = Field(default=3600.0, gt=0)
    batch_size: int = Field(default=1000, ge=1, le=100_000)  # rows deleted per transaction
    delivered_days: float = Field(default=7.0, ge=0)  # delivered and skipped outbox rows, with their attempts
    dead_days: float = Field(default=30.0, ge=0)  # dead-lettered outbox rows (replayable until then)
    alert_events_days: float = Field(default=30.0, ge=0)  # the SSE/polling window of superseded revisions
    rejections_days: float = Field(default=30.0, ge=0)
    indicators_days: float = Field(default=90.0, ge=0)  # after expiry or revocation, if no alert names them
    heartbeats_days: float = Field(default=1.0, ge=0)  # instances that stopped beating
    quarantine_days: float = Field(default=30.0, ge=0)  # since last seen, once nothing waits on the record
    audit_days: float = Field(default=365.0, ge=0)  # audit log rows by their time (0: keep the trail forever)


class MetricsSettings(BaseModel):
    """Prometheus exposition of a role process (``ewarn run ROLE``, ``ewarn serve``) on its own port.

    Off unless ``port`` is set; unauthenticated, so bound to loopback unless the operator says otherwise.
    The API role also serves ``/metrics`` to operator keys."""

    port: int | None = Field(default=None, ge=0, le=65535)  # 0: any free port (tests)
    host: str = "127.0.0.1"
    sample_seconds: float = Field(default=15.0, gt=0)  # how often database gauges are refreshed


class SecretsSettings(BaseModel):
    """Keys sealing stored secrets (webhook signing secrets, feed credentials): comma-separated Fernet keys,
    newest first (``EWARN_SECRETS__KEYS``). Required with PostgreSQL; unset on SQLite, a key file beside the
    database is used (created on first start). Never logged."""

    keys: SecretStr | None = None


class DeadlineSettings(BaseModel):
    """How long a provider has, from an alert being raised, to acknowledge and to resolve it (hours)."""

    acknowledge_hours: float | None = Field(default=None, gt=0)  # None: no deadline
    resolve_hours: float | None = Field(default=None, gt=0)


SeverityName = Literal["info", "low", "medium", "high", "critical"]


def _default_deadlines() -> dict[SeverityName, DeadlineSettings]:
    return {
        "critical": DeadlineSettings(acknowledge_hours=48, resolve_hours=14 * 24),
        "high": DeadlineSettings(acknowledge_hours=7 * 24, resolve_hours=30 * 24),
    }


class WorkflowSettings(BaseModel):
    """Alert deadlines per severity, reminders and escalation (README, alert workflow).

    ``EWARN_WORKFLOW__DEADLINES='{"critical": {"acknowledge_hours": 48, "resolve_hours": 336}}'``; severities
    left out have no deadline. A reminder goes to the provider's subscriptions ``remind_before_hours`` before
    the acknowledgement deadline; past it, an escalation to the provider's escalation contact, then
    ``escalate_to_csirt_after_hours`` later to its CSIRT's. Nothing once the alert is acknowledged.
    """

    deadlines: dict[SeverityName, DeadlineSettings] = Field(default_factory=_default_deadlines)
    remind_before_hours: float = Field(default=12.0, ge=0)
    escalate_to_csirt_after_hours: float = Field(default=24.0, ge=0)
    scheduler_enabled: bool = True  # the loop in the dispatch role
    scheduler_interval_seconds: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=500, ge=1, le=10_000)


class SightingSettings(BaseModel):
    """The sighting relay (issue 15): quotas, poisoning guards, decay. See ``ewarn.sightings``."""

    quota_per_hour: int = Field(default=120, ge=1)  # sightings one provider may submit per hour
    ttl_hours: float = Field(
        default=168.0, gt=0
    )  # a sighting (and a confirmation) counts this long, then expires
    max_clock_skew_seconds: float = Field(default=300.0, ge=0)  # last_seen may lie this far in the future
    min_ipv4_prefix: int = Field(default=24, ge=1, le=32)  # wider networks are never blocklist entries
    min_ipv6_prefix: int = Field(default=48, ge=1, le=128)
    # Never blocklist entries: addresses/networks, or domains (with their subdomains). Add the sector's own.
    allow_list: list[str] = Field(
        default_factory=lambda: [
            "1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4", "9.9.9.9", "149.112.112.112",
            "208.67.222.222", "208.67.220.220", "2606:4700:4700::1111", "2606:4700:4700::1001",
            "2001:4860:4860::8888", "2001:4860:4860::8844", "2620:fe::fe", "2620:fe::9",
            "dns.google", "one.one.one.one", "cloudflare-dns.com", "dns.quad9.net", "opendns.com",
        ]
    )  # fmt: skip
    # Providers the operator lets share sightings as TLP:CLEAR or GREEN (everyone else: AMBER or stricter).
    clear_tlp_providers: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    """Every knob of ewarn. Nested sections use ``__``: ``EWARN_KAFKA__BOOTSTRAP=127.0.0.1:9092``."""

    model_config = SettingsConfigDict(env_prefix="EWARN_", env_nested_delimiter="__", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./ewarn.db"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    correlate: CorrelateSettings = Field(default_factory=CorrelateSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    inventory: InventorySettings = Field(default_factory=InventorySettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    sightings: SightingSettings = Field(default_factory=SightingSettings)
    workflow: WorkflowSettings = Field(default_factory=WorkflowSettings)
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # Set once to create the first operator key at start-up (never logged, stored hashed).
    bootstrap_operator_key: SecretStr | None = None
    log_level: str = "INFO"
    log_json: bool = True
    # uvloop when installed ("auto"), else asyncio's own loop; "asyncio" forces the standard loop.
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    # Generation-0 threshold of the cyclic garbage collector for serve/run (0: Python's default of 700).
    gc_gen0_threshold: int = Field(default=50_000, ge=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("EWARN_CONFIG_FILE")
        if config_file:
            sources.append(JsonConfigSettingsSource(settings_cls, json_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (and ``EWARN_CONFIG_FILE`` JSON), with explicit overrides first."""
    return Settings(**overrides)
