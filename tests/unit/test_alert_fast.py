"""``alert_json`` writes exactly ``model_dump_json``'s bytes; ``trusted`` builds what validation would build.

The correlator stores and publishes ``alert_json``'s bytes, and dispatch, the API and stored rows read them
with the pydantic model: any difference would change the wire format.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError
from tests.unit.test_correlate_build_alerts import ADVISORY, ASSETS, NOW, SOURCE

from ewarn.actions.playbooks import PlaybookRule
from ewarn.correlate.containment import encode_alerts
from ewarn.correlate.engine import build_alerts, match
from ewarn.correlate.index import AssetIndex
from ewarn.models import Alert, Indicator, IndicatorType, VulnerabilityInfo
from ewarn.models.alert import AlertStatus, MatchDetail, NextStep, NextStepKind
from ewarn.models.alert_fast import alert_json, replaced, trusted
from ewarn.models.indicator import CveDetail, Reference, SourceRemediation
from ewarn.models.sighting import SIGHTING_FEED

HOSTILE = "x\x00\x01\x1f\x7f\x80\u2028<>&'\"\\/é😀\t\n\r\b\f"
PLAYBOOKS = (PlaybookRule(url="https://playbooks.example/ir", title="IR"),)
KEV_ADVISORY = ADVISORY.model_copy(
    update={
        "labels": ["exploit"],
        "vulnerability": VulnerabilityInfo(
            cves=["CVE-2020-25158"],
            title=f"Alaris {HOSTILE}",
            cvss_score=7.6,
            known_exploited=True,
            known_ransomware_use=True,
            kev_date_added="2024-01-02",
            kev_due_date="2024-01-23",
            affected=ADVISORY.vulnerability.affected if ADVISORY.vulnerability else [],
            cve_details=[CveDetail(id="CVE-2020-25158", cvss_score=7.6, known_exploited=True)],
            actions=[
                SourceRemediation(
                    category="vendor_fix", text="Update to 12.1.2.", fixed_versions=["12.1.2"], product_ids=[]
                )
            ],
            advisory_url="https://www.cisa.gov/icsma-20-296-02",
            links=[Reference(url="https://www.cve.org/CVERecord?id=CVE-2020-25158", kind="cve")],
        ),
    }
)


def _indicators() -> list[Indicator]:
    offset = timezone(timedelta(hours=2))
    observable = Indicator(
        key="ipv4:203.0.113.7",
        type=IndicatorType.IPV4,
        value="203.0.113.7",
        name=f"bench {HOSTILE}",
        source=SOURCE,
        labels=["c2", "ransomware"],
        confidence=80,
        first_seen=datetime(2026, 2, 1, 11, 30, 15, 123456, tzinfo=offset),  # not UTC: written in UTC
        last_seen=datetime(2026, 2, 2, tzinfo=UTC),
        ingested_at=datetime(2026, 2, 2, 0, 0, 1, tzinfo=UTC),
    )
    sighting = observable.model_copy(update={"key": "ipv4:203.0.113.8", "sources": [SIGHTING_FEED]})
    domain = Indicator(
        key="domain:mx.clinic.example", type=IndicatorType.DOMAIN, value="mx.clinic.example", source=SOURCE
    )
    return [observable, sighting, domain, ADVISORY, KEV_ADVISORY]


def _alerts() -> list[Alert]:
    index = AssetIndex.build(ASSETS)
    out = [a for i in _indicators() for a in build_alerts(i, match(i, index), now=NOW, playbooks=PLAYBOOKS)]
    assert len(out) >= 9
    return out


def test_alert_json_writes_pydantics_bytes_for_alerts_of_every_kind() -> None:
    alerts = _alerts()
    resolved = alerts[0].model_copy(
        update={"status": AlertStatus.RESOLVED, "reason": HOSTILE, "score": 10.0, "revision": 3}
    )
    for alert in [*alerts, resolved]:
        assert alert_json(alert) == alert.model_dump_json().encode()
    assert any(a.remediations for a in alerts) and any(a.exploitation.known_exploited for a in alerts)
    assert any(a.playbook is not None for a in alerts)


def test_alert_json_of_stored_alerts_round_trips() -> None:
    for alert in _alerts():
        stored = Alert.model_validate_json(alert_json(alert))
        assert stored == alert
        assert alert_json(stored) == stored.model_dump_json().encode()


def test_built_alerts_equal_validated_ones() -> None:
    for alert in _alerts():
        validated = Alert.model_validate(alert.model_dump())
        assert validated == alert
        assert list(validated.__dict__) == list(alert.__dict__)  # the declared order, which the JSON follows


def test_trusted_fills_defaults_and_refuses_missing_or_unknown_fields() -> None:
    step = trusted(NextStep, kind=NextStepKind.BLOCK, text="Block it")
    assert step == NextStep(kind=NextStepKind.BLOCK, text="Block it")
    with pytest.raises(TypeError, match="text"):
        trusted(NextStep, kind=NextStepKind.BLOCK)
    with pytest.raises(TypeError, match="colour"):
        trusted(NextStep, kind=NextStepKind.BLOCK, text="x", colour="red")
    with pytest.raises(ValidationError):  # the validated path still refuses what trusted would not check
        MatchDetail(asset_id="a", asset_name="b", asset_kind="c", field="d", asset_value="e")  # type: ignore[call-arg]


def test_a_lone_surrogate_is_quarantined_not_encoded() -> None:
    clean = next(a for a in _alerts() if b"\\u0000" not in alert_json(a))
    alert = clean.model_copy(update={"id": "alr_poison", "reason": "bad \ud800 text"})
    with pytest.raises(TypeError, match="surrogates not allowed"):
        alert_json(alert)
    encoded, bad = encode_alerts([clean, alert], why="test")
    assert [a.id for a, _ in encoded] == [clean.id]
    assert [q.key for q in bad] == ["alr_poison@1"] and "surrogates not allowed" in bad[0].reason


@pytest.mark.parametrize(
    ("text", "needs"),
    [
        ('{"a":"plain"}', False),
        ('{"a":"caf\\u00e9 é"}', False),
        ('{"a":"\\u0000"}', True),
        ('{"a":"\\uD800"}', True),
        ('{"a":"é\\ud83d\\ude00"}', True),  # an escaped pair takes the slow path too: correct, only slower
        ('{"a":"\x00"}', True),
        ('{"a":"é\ud800"}', True),
    ],
)
def test_stored_text_goes_through_repair_when_it_holds_nul_or_a_surrogate(text: str, needs: bool) -> None:
    from ewarn.correlate.repository import _needs_repair

    assert _needs_repair(text) is needs


def test_replaced_copies_as_model_copy_does_and_refuses_unknown_fields() -> None:
    for alert in _alerts():
        changes = {"revision": 3, "raised_at": NOW - timedelta(hours=1), "status": AlertStatus.ACKNOWLEDGED}
        copied, expected = replaced(alert, **changes), alert.model_copy(update=changes)
        assert copied == expected and copied is not alert
        assert list(copied.__dict__) == list(expected.__dict__)  # the declared order, which the JSON follows
        assert copied.model_fields_set == expected.model_fields_set
        assert alert_json(copied) == expected.model_dump_json().encode()
        assert alert.revision == 1  # the original is left as it was
    with pytest.raises(TypeError, match="colour"):
        replaced(_alerts()[0], colour="red")
