"""The webhook payload contract: schema drift, bodies valid against the published schema, STIX 2.1 form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import stix2
from tests.support.receivers import sample_alert

from ewarn.dispatch.digest import window_for
from ewarn.dispatch.payload import (
    TLP_MARKINGS,
    AlertEvent,
    DigestEvent,
    alert_event,
    digest_event,
    parse_webhook_payload,
    render_body,
    stix_bundle,
    stix_pattern,
    webhook_payload_schema,
)
from ewarn.models.subscription import Digest
from ewarn.schemas import render

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "webhook-payload.v1.json"


def test_published_schema_matches_the_model() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(webhook_payload_schema()), (
        "schemas/webhook-payload.v1.json drifted from ewarn.dispatch.payload; re-export it "
        "(ewarn schemas export) and treat the change as a public API change"
    )


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize(
    ("revision", "kind"),
    [pytest.param(1, "alert.created", id="created"), pytest.param(3, "alert.updated", id="updated")],
)
def test_alert_body_is_valid_against_published_schema(revision: int, kind: str) -> None:
    alert = sample_alert(revision=revision, cves=["CVE-2024-3400"], known_exploited=True)
    body, content_type = render_body(alert.model_dump(mode="json"), payload_format="json")
    assert content_type == "application/json"
    doc = json.loads(body)
    _validator().validate(doc)
    assert doc["type"] == kind and doc["schema_version"] == 1
    data = doc["data"]
    assert data["id"] == alert.id and data["revision"] == revision
    assert data["reason"] == alert.reason and data["severity"] == "high" and data["tlp"] == "amber"
    assert data["score"] == 82.5 and data["cves"] == ["CVE-2024-3400"]
    assert data["match"]["asset_name"] == "PACS DMZ"
    assert data["matched_at"].endswith("Z") and data["ingested_at"].endswith("Z")
    parsed = parse_webhook_payload(body)
    assert isinstance(parsed, AlertEvent) and parsed.data.id == alert.id


@pytest.mark.parametrize(
    "alert",
    [
        pytest.param(sample_alert(), id="defaults"),
        pytest.param(
            sample_alert(revision=4, cves=["CVE-2024-3400"], title='Überwachung "PACS" ✓'), id="unicode"
        ),
        pytest.param(sample_alert(score=100.0, seen_at_source=None, ingested_at=None), id="nulls"),
    ],
)
def test_fast_rendering_matches_the_model_byte_for_byte(alert: Any) -> None:
    stored = json.loads(json.dumps(alert.model_dump(mode="json")))  # as it comes back from the database
    fast, _ = render_body(stored, payload_format="json")
    assert fast == alert_event(alert).model_dump_json().encode()
    missing = {k: v for k, v in stored.items() if k != "source_feeds"}
    filled = json.loads(render_body(missing, payload_format="json")[0])
    assert filled["data"]["source_feeds"] == [], "a stored alert missing a field goes the model's way"


def test_body_is_stable_across_retries() -> None:
    payload = sample_alert().model_dump(mode="json")
    assert render_body(payload, payload_format="json") == render_body(payload, payload_format="json")


def test_internal_fields_are_not_published() -> None:
    doc = alert_event(sample_alert()).model_dump(mode="json")
    assert "schema_version" not in doc["data"], (
        "the alert's internal schema_version is not part of the payload"
    )


def test_digest_body_is_valid_against_published_schema() -> None:
    alerts = [sample_alert(severity="low", asset_id=f"ast_{i}").model_dump(mode="json") for i in range(3)]
    window = window_for(Digest.HOURLY, sample_alert().matched_at)
    event = digest_event(
        subscription_id="sub_1", period="hourly", window=window.key, ends_at=window.ends_at, alerts=alerts
    )
    body = event.model_dump_json()
    _validator().validate(json.loads(body))
    parsed = parse_webhook_payload(body)
    assert isinstance(parsed, DigestEvent) and len(parsed.data.alerts) == 3


def test_schema_rejects_an_unknown_type() -> None:
    doc = json.loads(alert_event(sample_alert()).model_dump_json())
    doc["type"] = "alert.deleted"
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(doc)


PATTERNS = [
    pytest.param("ipv4:203.0.113.7", "[ipv4-addr:value = '203.0.113.7']", id="ipv4"),
    pytest.param("ipv6:2001:db8::1", "[ipv6-addr:value = '2001:db8::1']", id="ipv6"),
    pytest.param("domain:evil.example", "[domain-name:value = 'evil.example']", id="domain"),
    pytest.param(
        "url:http://evil.example/a'b", "[url:value = 'http://evil.example/a\\'b']", id="url-quote-escaped"
    ),
    pytest.param("sha256:" + "a" * 64, "[file:hashes.'SHA-256' = '" + "a" * 64 + "']", id="sha256"),
    pytest.param("asn:AS64500", "[autonomous-system:number = 64500]", id="asn"),
    pytest.param("vulnerability:CVE-2024-3400", None, id="vulnerability-has-no-pattern"),
]


@pytest.mark.parametrize(("key", "pattern"), PATTERNS)
def test_stix_pattern(key: str, pattern: str | None) -> None:
    data = alert_event(sample_alert(indicator_key=key, indicator_type=key.split(":", 1)[0])).data
    assert stix_pattern(data) == pattern


@pytest.mark.parametrize(
    ("key", "threat_type"),
    [
        pytest.param("ipv4:203.0.113.7", "indicator", id="observable"),
        pytest.param("vulnerability:CVE-2024-3400", "vulnerability", id="vulnerability"),
    ],
)
def test_stix_bundle_is_valid_stix_21(key: str, threat_type: str) -> None:
    alert = sample_alert(indicator_key=key, indicator_type=key.split(":", 1)[0], cves=["CVE-2024-3400"])
    bundle: dict[str, Any] = stix_bundle(alert)
    parsed = stix2.parse(json.dumps(bundle), allow_custom=False)
    objects = {o.type: o for o in parsed.objects}
    assert set(objects) == {"identity", threat_type, "sighting", "note"}
    sighting, note = objects["sighting"], objects["note"]
    assert sighting.sighting_of_ref == objects[threat_type].id
    assert sighting.description == alert.reason
    assert note.object_refs == [sighting.id, objects[threat_type].id]
    assert all(
        TLP_MARKINGS[alert.tlp] in o.get("object_marking_refs", [TLP_MARKINGS[alert.tlp]])
        for o in parsed.objects[1:]
    )
    assert stix_bundle(alert) == bundle, "ids are deterministic: a retried delivery carries the same objects"


def test_stix_body_content_type() -> None:
    body, content_type = render_body(sample_alert().model_dump(mode="json"), payload_format="stix")
    assert content_type == "application/stix+json;version=2.1"
    assert json.loads(body)["type"] == "bundle"
