"""Alerts carrying every actionable field, for the integration-format tests (Teams, Slack, TheHive, CEF)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ewarn.models.alert import Alert, MatchDetail
from tests.support.receivers import sample_alert

# Characters every format must carry safely: CEF's | \ = and line breaks, Slack's < > &, quotes, non-ASCII.
HOSTILE_TEXT = 'Block <!channel> & "quotes" | pipe \\ backslash = equals\r\nsecond line\rCR only — Größe'


def advisory_alert(**overrides: Any) -> Alert:
    """A CSAF advisory alert on an infusion pump: vendor fix, workaround, KEV required action, contact."""
    fields: dict[str, Any] = {
        "indicator_key": "vulnerability:ICSMA-24-100-01",
        "asset_id": "ast_pump",
        "title": "Baxter infusion pump firmware vulnerable (ICSMA-24-100-01)",
        "severity": "critical",
        "score": 96.5,
        "reason": "Sigma Spectrum 8.00.01 is in the affected range < 8.01.00 of ICSMA-24-100-01",
        "match": MatchDetail(
            asset_id="ast_pump",
            asset_name="Infusion pump ward 3",
            asset_kind="medical_device",
            field="vendor+product",
            asset_value="Baxter Sigma Spectrum 8.00.01",
            indicator_value="ICSMA-24-100-01",
            range="< 8.01.00",
        ),
        "tlp": "amber",
        "labels": [],
        "cves": ["CVE-2024-1111", "CVE-2024-2222"],
        "known_exploited": True,
        "advisory": "ICSMA-24-100-01",
        "advisory_url": "https://www.cisa.gov/news-events/ics-medical-advisories/icsma-24-100-01",
        "remediations": [
            {
                "category": "vendor_fix",
                "text": "Update to firmware version 8.01.00 or later.",
                "fixed_versions": ["8.01.00"],
                "url": "https://www.baxter.com/product-security",
            },
            {"category": "workaround", "text": "Disable the wireless module where it is not needed."},
            {
                "category": "required_action",
                "text": "Apply mitigations per vendor instructions or discontinue use of the product.",
                "source": "kev",
                "due_date": "2024-05-01",
            },
        ],
        "next_steps": [{"kind": "patch", "text": "Patch the pump to the fixed firmware."}],
        "references": [
            {"url": "https://www.cve.org/CVERecord?id=CVE-2024-1111", "kind": "cve", "id": "CVE-2024-1111"},
            {"url": "javascript:alert(1)", "kind": "other"},
        ],
        "asset_contact": {
            "name": "Infusion pump ward 3",
            "kind": "medical_device",
            "location": "Ward 3, bed 12",
            "owner": "biomed@st-elsewhere.example",
        },
        "exploitation": {
            "known_exploited": True,
            "known_ransomware_use": True,
            "exploited_cves": ["CVE-2024-1111"],
            "kev_due_date": "2024-05-01",
        },
        "playbook": {"url": "https://playbooks.example/medical-device-critical", "title": "Medical device"},
        "matched_at": datetime(2024, 4, 10, 8, 30, 15, 123456, tzinfo=UTC),
    }
    fields.update(overrides)
    return sample_alert(**fields)


def indicator_alert(**overrides: Any) -> Alert:
    """An IP indicator alert with next steps and first/last seen."""
    fields: dict[str, Any] = {
        "next_steps": [
            {"kind": "block", "text": "Block 203.0.113.7 at the perimeter firewall."},
            {
                "kind": "search_logs",
                "text": "Search proxy and firewall logs for 203.0.113.7.",
                "lookback_days": 30,
            },
        ],
        "indicator_first_seen": datetime(2024, 4, 1, tzinfo=UTC),
        "indicator_last_seen": datetime(2024, 4, 9, tzinfo=UTC),
    }
    fields.update(overrides)
    return sample_alert(**fields)
