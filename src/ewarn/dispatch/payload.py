"""The webhook payload: a versioned public contract (JSON Schema in ``schemas/``) and a STIX 2.1 form.

The public models are separate from the internal ``Alert`` on purpose: a field added inside ewarn is not
published until it is added here, and the schema drift test makes every published change visible.
"""

from __future__ import annotations

import json
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
from ewarn.stixmap import TLP_MARKINGS, alert_bundle, indicator_value, stix_pattern

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
# Built in ``ewarn.stixmap`` (shared with the TAXII server and the exports); re-exported for receivers' tests.
__all__ = ["TLP_MARKINGS", "indicator_value", "stix_bundle", "stix_pattern"]


def stix_bundle(alert: Alert | dict[str, Any]) -> dict[str, Any]:
    """A STIX 2.1 bundle for SOC tools that take STIX: the threat, its sighting at the provider, a note, and
    what to do (a ``course-of-action`` per recommended action, each ``mitigates`` the threat)."""
    model = alert if isinstance(alert, Alert) else Alert.model_validate(alert)
    return alert_bundle(model)  # the actions are among ``ewarn.stixmap.alert_objects``


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
    """The body and content type a subscription asked for (``json``, ``stix`` or an integration format)."""
    if payload_format == "stix":
        return json.dumps(stix_bundle(alert), separators=(",", ":")).encode(), STIX_CONTENT_TYPE
    if (
        payload_format != "json"
    ):  # Teams, Slack, TheHive, CEF (imported here: those modules build on AlertData)
        from ewarn.dispatch.formats import render_integration

        return render_integration(alert, payload_format=payload_format)
    fast = _event_json(alert) if isinstance(alert, dict) else None
    if fast is not None:
        return fast, JSON_CONTENT_TYPE
    return alert_event(alert).model_dump_json().encode(), JSON_CONTENT_TYPE
