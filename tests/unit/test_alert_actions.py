"""What to do about an alert: remediations read from CSAF and KEV, chosen per match, next steps, playbooks,
references, and when a change of action is a new revision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support.receivers import sample_alert

from ewarn.actions import next_steps, references, remediations
from ewarn.actions.playbooks import PlaybookRule, playbook_for
from ewarn.actions.revisions import remediation_changes
from ewarn.correlate.engine import build_alert, match
from ewarn.correlate.index import AssetIndex
from ewarn.ingest.csaf import parse_csaf
from ewarn.ingest.csaf_remediations import advisory_links, versions_named
from ewarn.ingest.exploited import enrich, kev_action
from ewarn.ingest.records import FeedContext
from ewarn.models import Asset, AssetKind, Indicator, IndicatorType, SourceRef
from ewarn.models.alert import AssetContact, ExploitationFlags, NextStepKind, Severity
from ewarn.models.indicator import (
    Remediation,
    RemediationCategory,
    SourceRemediation,
    VulnerabilityInfo,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)
CTX = FeedContext(feed_id="csaf", feed_kind="csaf", now=NOW)


@pytest.mark.parametrize(
    ("text", "versions"),
    [
        pytest.param("Welch Allyn Connex Spot Monitor (CSM): v1.52", ["1.52"], id="colon-v"),
        pytest.param("Upgrade PowerManage to Version 4.10", ["4.10"], id="version-word"),
        pytest.param(
            "Connex Central Station (CS): v1.8.4 Service Pack 01 (released November 2022)",
            ["1.8.4 Service Pack 01"],
            id="service-pack",
        ),
        pytest.param(
            "Users of Ampla MES versions 6.4 and prior should upgrade to Ampla MES version 6.5",
            ["6.5"],
            id="affected-versions-are-not-fixed",
        ),
        pytest.param("Update to V11.44 or later version", ["11.44"], id="or-later"),
        pytest.param("Contact the vendor for a patch.", [], id="no-version"),
    ],
)
def test_fixed_versions_named_in_a_vendor_fix(text: str, versions: list[str]) -> None:
    assert versions_named(text) == versions


def advisory(**vulnerability: Any) -> dict[str, Any]:
    """A small CSAF document: two products, one vulnerability; ``vulnerability`` overrides its fields."""
    return {
        "document": {
            "csaf_version": "2.0",
            "category": "csaf_security_advisory",
            "title": "Acme pumps",
            "publisher": {"category": "vendor", "name": "Acme", "namespace": "https://acme.example"},
            "tracking": {
                "id": "ACME-2026-01",
                "initial_release_date": "2026-11-01T00:00:00Z",
                "current_release_date": "2026-11-02T00:00:00Z",
            },
            "references": [
                {"category": "self", "summary": "JSON", "url": "https://acme.example/acme-2026-01.json"},
                {"category": "self", "summary": "Web", "url": "https://acme.example/acme-2026-01"},
                {"category": "external", "summary": "Practices", "url": "https://cisa.example/practices"},
            ],
        },
        "product_tree": {
            "branches": [
                {
                    "category": "vendor",
                    "name": "Acme",
                    "branches": [
                        {
                            "category": "product_name",
                            "name": "Infusion Pump",
                            "branches": [
                                {
                                    "category": "product_version_range",
                                    "name": "<2.0",
                                    "product": {"product_id": "P1", "name": "Acme Infusion Pump <2.0"},
                                },
                                {
                                    "category": "product_version",
                                    "name": "2.0",
                                    "product": {"product_id": "P1F", "name": "Acme Infusion Pump 2.0"},
                                },
                            ],
                        },
                        {
                            "category": "product_name",
                            "name": "Gateway",
                            "branches": [
                                {
                                    "category": "product_version_range",
                                    "name": "<5.0",
                                    "product": {"product_id": "P2", "name": "Acme Gateway <5.0"},
                                }
                            ],
                        },
                    ],
                }
            ]
        },
        "vulnerabilities": [
            {
                "cve": "CVE-2026-0001",
                "product_status": {"known_affected": ["P1", "P2"], "fixed": ["P1F"]},
                "remediations": [
                    {"category": "vendor_fix", "details": "Update the pump.", "product_ids": ["P1"]},
                    {
                        "category": "vendor_fix",
                        "details": "Gateway: v5.0",
                        "product_ids": ["P2"],
                        "url": "https://acme.example/gw",
                    },
                    {"category": "workaround", "details": "Disable the web UI.", "product_ids": ["P1", "P2"]},
                    {"category": "no_fix_planned", "details": "Old pumps stay as they are."},
                    {"category": "made_up", "details": "ignored"},
                ],
                **vulnerability,
            }
        ],
    }


def parsed(document: dict[str, Any]) -> Indicator:
    result = parse_csaf(document, CTX)
    assert result.rejections == []
    (indicator,) = result.indicators
    return indicator


def test_csaf_remediations_are_kept_by_category_verbatim_with_fixed_versions() -> None:
    vuln = parsed(advisory()).vulnerability
    assert vuln is not None
    got = [
        (a.category.value, a.text, a.product_ids, a.fixed_versions, a.fixed_products) for a in vuln.actions
    ]
    assert got == [
        ("vendor_fix", "Update the pump.", ["P1"], ["2.0"], ["Acme Infusion Pump 2.0"]),
        ("vendor_fix", "Gateway: v5.0", ["P2"], ["5.0"], []),
        ("workaround", "Disable the web UI.", ["P1", "P2"], [], []),
        ("no_fix_planned", "Old pumps stay as they are.", [], [], []),
    ]
    assert all(a.cves == ["CVE-2026-0001"] and a.source == "csaf" for a in vuln.actions)
    assert vuln.actions[1].url == "https://acme.example/gw"
    assert vuln.advisory_url == "https://acme.example/acme-2026-01", "the web page before the JSON"


def test_advisory_links_keep_each_url_once_with_its_kind() -> None:
    url, links = advisory_links(advisory()["document"], "ACME-2026-01")
    assert url == "https://acme.example/acme-2026-01"
    assert [(r.kind, r.id, r.title) for r in links] == [
        ("advisory", "ACME-2026-01", "JSON"),
        ("advisory", "ACME-2026-01", "Web"),
        ("external", None, "Practices"),
    ]


def device(product: str, version: str, **extra: Any) -> Asset:
    return Asset(
        id=f"a-{product}",
        provider_id="h",
        kind=AssetKind.MEDICAL_DEVICE,
        name=f"{product} on ward 3",
        vendor="Acme",
        product=product,
        version=version,
        **extra,
    )


@pytest.mark.parametrize(
    ("product", "version", "texts", "fixed"),
    [
        pytest.param(
            "Infusion Pump",
            "1.5",
            ["Update the pump.", "Disable the web UI.", "Old pumps stay as they are."],
            ["2.0"],
            id="pump-gets-its-own-fix",
        ),
        pytest.param(
            "Gateway",
            "4.0",
            ["Gateway: v5.0", "Disable the web UI.", "Old pumps stay as they are."],
            ["5.0"],
            id="gateway-gets-its-own-fix",
        ),
    ],
)
def test_an_alert_carries_the_actions_of_the_product_that_matched(
    product: str, version: str, texts: list[str], fixed: list[str]
) -> None:
    indicator = parsed(advisory())
    asset = device(product, version, location="Ward 3", owner="Biomed, ext. 4711")
    (found,) = match(indicator, AssetIndex.build([asset]))
    alert = build_alert(indicator, found, now=NOW)
    assert [r.text for r in alert.remediations] == texts
    assert next_steps.fixed_versions(alert.remediations) == fixed
    assert alert.asset_contact == AssetContact(
        name=asset.name, kind="medical_device", location="Ward 3", owner="Biomed, ext. 4711"
    )
    assert alert.advisory_url == "https://acme.example/acme-2026-01"
    assert [r.url for r in alert.references][:2] == [
        "https://acme.example/acme-2026-01",
        "https://acme.example/acme-2026-01.json",
    ]
    assert "https://www.cve.org/CVERecord?id=CVE-2026-0001" in [r.url for r in alert.references]
    assert [s.kind for s in alert.next_steps] == [NextStepKind.PATCH]
    assert alert.exploitation == ExploitationFlags()


def kev_indicator(cve: str, *, due: str, ransomware: bool) -> Indicator:
    entry = {"requiredAction": "Apply updates per vendor instructions.", "dueDate": due}
    return Indicator(
        key=f"vulnerability:{cve}",
        type=IndicatorType.VULNERABILITY,
        value=cve,
        source=SourceRef(feed_id="kev", feed_kind="kev", record=cve),
        vulnerability=VulnerabilityInfo(
            cves=[cve],
            known_exploited=True,
            known_ransomware_use=ransomware,
            kev_date_added="2026-11-20",
            kev_due_date=due,
            actions=kev_action(cve, entry),
        ),
    )


def test_kev_required_action_and_due_date_reach_the_advisory_alert_first() -> None:
    kev = kev_indicator("CVE-2026-0001", due="2026-12-11", ransomware=True)
    assert kev.vulnerability is not None
    indicator = enrich(parsed(advisory()), {"CVE-2026-0001": kev.vulnerability})
    again = enrich(indicator, {"CVE-2026-0001": kev.vulnerability})
    assert again == indicator, "enriching twice adds nothing"
    (found,) = match(indicator, AssetIndex.build([device("Infusion Pump", "1.5")]))
    alert = build_alert(indicator, found, now=NOW)
    first = alert.remediations[0]
    assert (first.category, first.text, first.due_date, first.source) == (
        RemediationCategory.REQUIRED_ACTION,
        "Apply updates per vendor instructions.",
        "2026-12-11",
        "kev",
    )
    assert alert.exploitation == ExploitationFlags(
        known_exploited=True,
        known_ransomware_use=True,
        exploited_cves=["CVE-2026-0001"],
        kev_date_added="2026-11-20",
        kev_due_date="2026-12-11",
    )
    assert [s.kind for s in alert.next_steps] == [NextStepKind.PATCH, NextStepKind.ISOLATE]
    assert any(r.kind == "kev" for r in alert.references)


def test_remediations_of_another_cve_stay_out() -> None:
    other = SourceRemediation(
        category=RemediationCategory.MITIGATION, text="for another CVE", cves=["CVE-2026-9999"]
    )
    indicator = parsed(advisory())
    assert indicator.vulnerability is not None
    indicator.vulnerability.actions.append(other)
    chosen = remediations.for_alert(indicator, product_ids=["P1"], cves=["CVE-2026-0001"])
    assert "for another CVE" not in [r.text for r in chosen]


def observable(first_seen: datetime | None) -> Indicator:
    return Indicator(
        key="ipv4:203.0.113.7",
        type=IndicatorType.IPV4,
        value="203.0.113.7",
        source=SourceRef(feed_id="f", feed_kind="stix", record="x"),
        first_seen=first_seen,
    )


@pytest.mark.parametrize(
    ("first_seen", "days"),
    [
        pytest.param(NOW - timedelta(days=12, hours=3), 13, id="since-first-seen"),
        pytest.param(NOW - timedelta(days=2), 7, id="a-week-at-least"),
        pytest.param(NOW - timedelta(days=900), 365, id="a-year-at-most"),
        pytest.param(None, 30, id="unknown-first-seen"),
    ],
)
def test_search_the_logs_since_the_indicator_was_first_seen(first_seen: datetime | None, days: int) -> None:
    steps = next_steps.for_observable(
        observable(first_seen), relation="address_in_range", asset_name="PACS DMZ", now=NOW
    )
    assert [s.kind for s in steps] == [NextStepKind.BLOCK, NextStepKind.SEARCH_LOGS, NextStepKind.ISOLATE]
    assert steps[1].lookback_days == days and steps[1].since == NOW - timedelta(days=days)
    assert "203.0.113.7" in steps[0].text and f"past {days} days" in steps[1].text


def test_a_listed_domain_is_blocked_not_isolated() -> None:
    steps = next_steps.for_observable(observable(None), relation="same_domain", asset_name="web", now=NOW)
    assert NextStepKind.ISOLATE not in [s.kind for s in steps]


RULES = [
    PlaybookRule(
        url="https://pb.example/vuln-critical", kinds=[IndicatorType.VULNERABILITY], min_severity="critical"
    ),  # type: ignore[arg-type]
    PlaybookRule(url="https://pb.example/vuln", kinds=[IndicatorType.VULNERABILITY]),
    PlaybookRule(url="https://pb.example/any-high", min_severity="high"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("kind", "severity", "url"),
    [
        pytest.param(
            IndicatorType.VULNERABILITY, Severity.CRITICAL, "https://pb.example/vuln-critical", id="specific"
        ),
        pytest.param(IndicatorType.VULNERABILITY, Severity.LOW, "https://pb.example/vuln", id="kind"),
        pytest.param(IndicatorType.IPV4, Severity.HIGH, "https://pb.example/any-high", id="severity"),
        pytest.param(IndicatorType.IPV4, Severity.MEDIUM, None, id="none"),
    ],
)
def test_playbook_is_the_first_rule_that_covers_kind_and_severity(
    kind: IndicatorType, severity: Severity, url: str | None
) -> None:
    link = playbook_for(RULES, kind, severity)
    assert (link.url if link else None) == url


def test_references_put_the_advisory_first_and_each_url_once() -> None:
    indicator = parsed(advisory())
    refs = references.for_alert(indicator, cves=["CVE-2026-0001"], exploited=False)
    urls = [r.url for r in refs]
    assert urls[0] == "https://acme.example/acme-2026-01" and len(urls) == len(set(urls))
    assert references.KEV_CATALOGUE not in urls


FIX = Remediation(category=RemediationCategory.VENDOR_FIX, text="Update", fixed_versions=["2.0"])
KEV_DUE = Remediation(category=RemediationCategory.REQUIRED_ACTION, text="Apply", due_date="2026-12-11")
CONTACT = AssetContact(name="n", kind="network")


@pytest.mark.parametrize(
    ("before", "after", "why"),
    [
        pytest.param([FIX], [FIX.model_copy(update={"text": "Update now."})], [], id="reworded-is-not-news"),
        pytest.param(
            [FIX], [FIX.model_copy(update={"fixed_versions": ["2.1"]})], ["fixed in 2.1"], id="newer-fix"
        ),
        pytest.param([FIX], [KEV_DUE, FIX], ["required action due 2026-12-11"], id="kev-deadline"),
        pytest.param(
            [KEV_DUE],
            [KEV_DUE.model_copy(update={"due_date": "2026-12-01"})],
            ["required action due 2026-12-01"],
            id="deadline-moved",
        ),
        pytest.param(
            [FIX],
            [FIX, Remediation(category=RemediationCategory.WORKAROUND, text="w")],
            ["new recommended action: workaround"],
            id="new-kind-of-action",
        ),
    ],
)
def test_a_change_of_action_is_news_a_change_of_words_is_not(
    before: list[Remediation], after: list[Remediation], why: list[str]
) -> None:
    stored = sample_alert(remediations=before, asset_contact=CONTACT)
    candidate = sample_alert(remediations=after, asset_contact=CONTACT)
    assert remediation_changes(stored, candidate) == why


def test_alerts_stored_before_actions_existed_are_not_resent() -> None:
    stored = sample_alert()  # no asset contact: written by an older ewarn
    candidate = sample_alert(remediations=[KEV_DUE, FIX], asset_contact=CONTACT)
    assert remediation_changes(stored, candidate) == []


def test_an_alert_without_the_new_fields_still_parses() -> None:
    raw = sample_alert().model_dump(mode="json")
    for name in ("remediations", "next_steps", "advisory_url", "references", "asset_contact", "exploitation"):
        raw.pop(name)
    for name in ("indicator_first_seen", "indicator_last_seen", "playbook"):
        raw.pop(name)
    alert = type(sample_alert()).model_validate(raw)
    assert alert.remediations == [] and alert.exploitation == ExploitationFlags()
