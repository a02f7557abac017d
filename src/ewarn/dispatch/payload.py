"""The webhook payload: a versioned public contract (JSON Schema in ``schemas/``) and a STIX 2.1 form.

The public models are separate from the internal ``Alert`` on purpose: a field added inside ewarn is not
published until it is added here, and the schema drift test makes every published change visible.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, TypeAdapter

from ewarn.models.alert import (
    Alert,
    AlertCve,
    AlertStatus,
    AssetContact,
    ExploitationFlags,
    MatchDetail,
    NextStep,
    PlaybookLink,
    Severity,
)
from ewarn.models.common import TLP, Contract, UtcDatetime
from ewarn.models.indicator import IndicatorType, Reference, Remediation

SCHEMA_VERSION: Literal[1] = 1
JSON_CONTENT_TYPE = "application/json"
STIX_CONTENT_TYPE = "application/stix+json;version=2.1"


class AlertData(Contract):
    """One alert revision as a receiver sees it: what matched, why, how bad, how shareable, and when."""

    id: str = Field(description="Deterministic alert id (alr_…); the same threat on the same asset keeps it")
    revision: int = Field(description="Raised on material change; (id, revision) identifies this message")
    provider_id: str
    title: str
    severity: Severity
    score: float = Field(ge=0, le=100)
    reason: str = Field(description="Plain-language explanation of the match")
    match: MatchDetail
    tlp: TLP
    status: AlertStatus
    indicator_key: str
    indicator_type: IndicatorType
    asset_id: str
    labels: list[str] = Field(default_factory=list)
    cves: list[str] = Field(default_factory=list)
    known_exploited: bool = False
    possibly_affected: bool = Field(
        default=False,
        description="The advisory names the product but the version could not be compared, is not recorded, "
        "or the advisory lists the product without a status: check it (never left silent)",
    )
    cve_details: list[AlertCve] = Field(
        default_factory=list, description="The advisory's CVEs that hit the asset, worst score first"
    )
    advisory: str | None = Field(
        default=None, description="The document that raised it (CSAF tracking id, CVE)"
    )
    remediations: list[Remediation] = Field(
        default_factory=list,
        description="What the source recommends for the CVEs and product that hit, verbatim: CSAF "
        "remediations (vendor_fix with fixed_versions, mitigation, workaround, no_fix_planned, none_available) "
        "and the CISA KEV required_action with its due_date; vendor fixes first",
    )
    next_steps: list[NextStep] = Field(
        default_factory=list,
        description="Concrete steps for this kind of match: block, search logs for the past N days, isolate, "
        "patch, verify the version",
    )
    advisory_url: str | None = Field(default=None, description="The advisory's own page")
    references: list[Reference] = Field(
        default_factory=list, description="The advisory, the CVE records and further reading"
    )
    asset_contact: AssetContact | None = Field(
        default=None,
        description="The affected asset's name, location and owner as the inventory records them",
    )
    exploitation: ExploitationFlags = Field(
        default_factory=ExploitationFlags,
        description="Known exploited and ransomware use (CISA KEV) for the CVEs that hit",
    )
    indicator_first_seen: UtcDatetime | None = Field(
        default=None, description="When the indicator was first seen by its sources"
    )
    indicator_last_seen: UtcDatetime | None = Field(
        default=None, description="When the indicator was last seen by its sources"
    )
    playbook: PlaybookLink | None = Field(
        default=None, description="The operator's response playbook for this kind and severity"
    )
    source_feeds: list[str] = Field(default_factory=list)
    seen_at_source: UtcDatetime | None = None
    ingested_at: UtcDatetime | None = None
    matched_at: UtcDatetime
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None

    @classmethod
    def from_alert(cls, alert: Alert | dict[str, Any]) -> AlertData:
        raw = alert.model_dump(mode="json") if isinstance(alert, Alert) else alert
        return cls.model_validate({k: v for k, v in raw.items() if k in _DATA_FIELDS})


_DATA_FIELDS = tuple(AlertData.model_fields)


class AlertEvent(Contract):
    """One alert, sent when it is created (revision 1) or materially updated."""

    type: Literal["alert.created", "alert.updated"]
    schema_version: Literal[1] = SCHEMA_VERSION
    timestamp: UtcDatetime = Field(description="When this alert revision happened (stable across retries)")
    data: AlertData


class DigestData(Contract):
    subscription_id: str
    period: Literal["hourly", "daily"]
    window: str = Field(description="The period the digest covers, e.g. 'hourly:2024-05-01T13'")
    alerts: list[AlertData]


class DigestEvent(Contract):
    """Several low-severity alerts collected over one period, for subscriptions that asked for a digest."""

    type: Literal["alert.digest"]
    schema_version: Literal[1] = SCHEMA_VERSION
    timestamp: UtcDatetime = Field(description="End of the digest window")
    data: DigestData


WebhookPayload = Annotated[AlertEvent | DigestEvent, Field(discriminator="type")]
_ADAPTER: TypeAdapter[AlertEvent | DigestEvent] = TypeAdapter(WebhookPayload)


def webhook_payload_schema() -> dict[str, Any]:
    """JSON Schema of every JSON webhook body ewarn sends (``schemas/webhook-payload.v1.json``)."""
    schema = _ADAPTER.json_schema(mode="serialization")
    schema["title"] = "ewarn webhook payload v1"
    return schema


def parse_webhook_payload(body: bytes | str) -> AlertEvent | DigestEvent:
    """Validate a webhook body against the contract (receivers and tests)."""
    return _ADAPTER.validate_json(body)


def alert_event(alert: Alert | dict[str, Any]) -> AlertEvent:
    data = AlertData.from_alert(alert)
    return AlertEvent(
        type="alert.created" if data.revision == 1 else "alert.updated",
        timestamp=data.updated_at or data.created_at or data.matched_at,
        data=data,
    )


def digest_event(
    *,
    subscription_id: str,
    period: Literal["hourly", "daily"],
    window: str,
    ends_at: datetime,
    alerts: list[dict[str, Any]],
) -> DigestEvent:
    return DigestEvent(
        type="alert.digest",
        timestamp=ends_at,
        data=DigestData(
            subscription_id=subscription_id,
            period=period,
            window=window,
            alerts=[AlertData.from_alert(a) for a in alerts],
        ),
    )


# --- STIX 2.1 -----------------------------------------------------------------------------------------------

# Deterministic STIX ids: the same alert revision always yields the same objects, so receivers can dedupe.
_STIX_NAMESPACE = uuid.UUID("5b7e4b8e-0f2b-4f4e-9a55-6f0d7c1c2a11")
# The TLP 2.0 marking definitions published by FIRST/OASIS (well-known ids).
TLP_MARKINGS = {
    TLP.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    TLP.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    TLP.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    TLP.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    TLP.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
_PATTERN_PATHS = {
    IndicatorType.IPV4: "ipv4-addr:value",
    IndicatorType.IPV6: "ipv6-addr:value",
    IndicatorType.DOMAIN: "domain-name:value",
    IndicatorType.URL: "url:value",
    IndicatorType.EMAIL: "email-addr:value",
    IndicatorType.MD5: "file:hashes.MD5",
    IndicatorType.SHA1: "file:hashes.'SHA-1'",
    IndicatorType.SHA256: "file:hashes.'SHA-256'",
    IndicatorType.SHA512: "file:hashes.'SHA-512'",
}


def _stix_id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(_STIX_NAMESPACE, chr(31).join((kind, *parts)))}"


def _stix_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def indicator_value(data: AlertData) -> str:
    prefix = f"{data.indicator_type.value}:"
    key = data.indicator_key
    return key[len(prefix) :] if key.startswith(prefix) else key


def stix_pattern(data: AlertData) -> str | None:
    """A STIX pattern for the alert's indicator; None for kinds without an observable (vulnerabilities)."""
    value = indicator_value(data)
    if data.indicator_type is IndicatorType.ASN:
        digits = value.upper().removeprefix("AS")
        return f"[autonomous-system:number = {int(digits)}]" if digits.isdigit() else None
    path = _PATTERN_PATHS.get(data.indicator_type)
    if path is None:
        return None
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{path} = '{escaped}']"


def stix_bundle(alert: Alert | dict[str, Any]) -> dict[str, Any]:
    """A STIX 2.1 bundle for SOC tools that take STIX: the threat, its sighting at the provider, and a note.

    The threat is an ``indicator`` (observable patterns) or a ``vulnerability`` (CVEs); the ``sighting``
    records that it was seen at the provider's asset; the ``note`` carries the plain-language reason.
    """
    data = AlertData.from_alert(alert)
    rev = str(data.revision)
    created = _stix_time(data.created_at or data.matched_at)
    modified = _stix_time(data.updated_at or data.matched_at)
    marking = [TLP_MARKINGS[data.tlp]]
    producer = _stix_id("identity", "ewarn")
    victim = _stix_id("identity", "provider", data.provider_id)
    common = {"spec_version": "2.1", "created": created, "modified": modified, "created_by_ref": producer}
    objects: list[dict[str, Any]] = [
        {
            "type": "identity",
            "id": producer,
            "spec_version": "2.1",
            "created": created,
            "modified": created,
            "name": "ewarn",
            "identity_class": "system",
        },
        {
            **common,
            "type": "identity",
            "id": victim,
            "name": data.provider_id,
            "identity_class": "organization",
            "sectors": ["healthcare"],
            "object_marking_refs": marking,
        },
    ]
    pattern = stix_pattern(data)
    if pattern is not None:
        threat: dict[str, Any] = {
            **common,
            "type": "indicator",
            "id": _stix_id("indicator", data.id, rev),
            "name": data.title,
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": _stix_time(data.seen_at_source or data.matched_at),
            "labels": data.labels,
            "object_marking_refs": marking,
        }
    else:
        cves = data.cves or [indicator_value(data)]
        threat = {
            **common,
            "type": "vulnerability",
            "id": _stix_id("vulnerability", data.id, rev),
            "name": cves[0],
            "description": data.title,
            "object_marking_refs": marking,
            "external_references": [
                {"source_name": "cve", "external_id": c} for c in cves if c.upper().startswith("CVE-")
            ],
        }
    if not threat.get("labels"):
        threat.pop("labels", None)
    if not threat.get("external_references"):
        threat.pop("external_references", None)
    sighting = {
        **common,
        "type": "sighting",
        "id": _stix_id("sighting", data.id, rev),
        "sighting_of_ref": threat["id"],
        "where_sighted_refs": [victim],
        "first_seen": _stix_time(data.matched_at),
        "count": 1,
        "description": data.reason,
        "object_marking_refs": marking,
        "external_references": [{"source_name": "ewarn", "external_id": data.id}],
    }
    note = {
        **common,
        "type": "note",
        "id": _stix_id("note", data.id, rev),
        "abstract": f"[{data.severity.value.upper()}] {data.title}",
        "content": f"{data.reason}\n\nSeverity {data.severity.value} (score {data.score:g}), "
        f"TLP:{data.tlp.value.upper()}, ewarn alert {data.id} revision {data.revision}.",
        "object_refs": [sighting["id"], threat["id"]],
        "object_marking_refs": marking,
    }
    objects += [threat, sighting, note]
    return {"type": "bundle", "id": _stix_id("bundle", data.id, rev), "objects": objects}


def _event_json(raw: dict[str, Any]) -> bytes | None:
    """The ``alert_event`` body straight from a stored alert (already JSON-ready, validated when it arrived).

    Byte for byte what the model would render (a test holds it to that), without validating every field
    again on the dispatch hot path. None when the stored alert lacks a field: the model path then fills in.
    """
    try:
        data = {k: raw[k] for k in _DATA_FIELDS}
    except KeyError:
        return None
    event = {
        "type": "alert.created" if data["revision"] == 1 else "alert.updated",
        "schema_version": SCHEMA_VERSION,
        "timestamp": data["updated_at"] or data["created_at"] or data["matched_at"],
        "data": data,
    }
    return orjson.dumps(event)  # compact UTF-8, as pydantic renders it, an order of magnitude faster


def render_body(alert: Alert | dict[str, Any], *, payload_format: str) -> tuple[bytes, str]:
    """The body and content type a subscription asked for (``json`` or ``stix``)."""
    if payload_format == "stix":
        return json.dumps(stix_bundle(alert), separators=(",", ":")).encode(), STIX_CONTENT_TYPE
    fast = _event_json(alert) if isinstance(alert, dict) else None
    if fast is not None:
        return fast, JSON_CONTENT_TYPE
    return alert_event(alert).model_dump_json().encode(), JSON_CONTENT_TYPE
