"""Scoring: a table of inputs with their exact score and severity, and the ranking it must produce."""

from __future__ import annotations

from typing import Any

import pytest

from ewarn.correlate.index import AssetIndex, AssetRef
from ewarn.correlate.score import score, severity_for
from ewarn.models import (
    TLP,
    Asset,
    AssetKind,
    ClinicalCriticality,
    Criticality,
    Indicator,
    IndicatorType,
    NetworkExposure,
    Severity,
    SourceRef,
    VulnerabilityInfo,
)

SOURCE = SourceRef(feed_id="f", feed_kind="test", record="r")


def ref(**fields: Any) -> AssetRef:
    asset = Asset(id="a", provider_id="p", kind=AssetKind.MEDICAL_DEVICE, name="device", **fields)
    (only,) = AssetIndex.build([asset]).provider_assets("p")
    return only


def vuln(cvss: float | None, *, kev: bool = False, ransomware: bool = False, **fields: Any) -> Indicator:
    info = VulnerabilityInfo(cvss_score=cvss, known_exploited=kev, known_ransomware_use=ransomware)
    return Indicator(
        key="vulnerability:X",
        type=IndicatorType.VULNERABILITY,
        value="X",
        source=SOURCE,
        vulnerability=info,
        **fields,
    )


def observable(labels: list[str], confidence: int | None, **fields: Any) -> Indicator:
    return Indicator(
        key="ipv4:203.0.113.7",
        type=IndicatorType.IPV4,
        value="203.0.113.7",
        source=SOURCE,
        labels=labels,
        confidence=confidence,
        **fields,
    )


LS_INTERNET = {
    "clinical_criticality": ClinicalCriticality.LIFE_SUSTAINING,
    "network_exposure": NetworkExposure.INTERNET,
}


@pytest.mark.parametrize(
    ("indicator", "asset", "version_known", "value", "severity"),
    [
        pytest.param(
            vuln(9.8, kev=True), ref(), True, 61.0, Severity.HIGH, id="kev-critical-cvss-plain-asset"
        ),
        pytest.param(
            vuln(9.8, kev=True, ransomware=True),
            ref(**LS_INTERNET),
            True,
            91.0,
            Severity.CRITICAL,
            id="kev-ransomware-life-sustaining-internet",
        ),
        pytest.param(
            vuln(9.8, kev=True, ransomware=True, tlp=TLP.RED),
            ref(criticality=Criticality.CRITICAL, **LS_INTERNET),
            True,
            100.0,
            Severity.CRITICAL,
            id="capped-at-100",
        ),
        pytest.param(
            vuln(9.8, kev=True),
            ref(**LS_INTERNET),
            True,
            83.0,
            Severity.CRITICAL,
            id="life-sustaining-internet-lifts-to-critical",
        ),
        pytest.param(vuln(7.5), ref(), True, 37.5, Severity.LOW, id="cvss-high-not-exploited"),
        pytest.param(vuln(7.5), ref(), False, 30.0, Severity.LOW, id="version-not-recorded-discounted"),
        pytest.param(vuln(None), ref(), True, 25.0, Severity.LOW, id="no-cvss"),
        pytest.param(
            vuln(5.0),
            ref(criticality=Criticality.LOW, network_exposure=NetworkExposure.ISOLATED),
            True,
            14.0,
            Severity.INFO,
            id="isolated-low-criticality",
        ),
        pytest.param(vuln(7.5, tlp=TLP.RED), ref(), True, 40.5, Severity.MEDIUM, id="tlp-red-adds"),
        pytest.param(
            observable(["c2"], 90),
            ref(criticality=Criticality.HIGH, network_exposure=NetworkExposure.INTERNET),
            True,
            68.6,
            Severity.HIGH,
            id="c2-in-exposed-range",
        ),
        pytest.param(
            observable(["ransomware", "phishing"], 100),
            ref(),
            True,
            65.0,
            Severity.HIGH,
            id="strongest-label-wins",
        ),
        pytest.param(
            observable([], None), ref(), True, 34.0, Severity.LOW, id="unlabelled-unknown-confidence"
        ),
        pytest.param(
            observable(["scanner"], 0), ref(), True, 15.0, Severity.INFO, id="scanner-zero-confidence"
        ),
    ],
)
def test_score_table(
    indicator: Indicator, asset: AssetRef, version_known: bool, value: float, severity: Severity
) -> None:
    scored = score(indicator, asset, version_known=version_known)
    assert (scored.value, scored.severity) == (value, severity)
    assert scored == score(indicator, asset, version_known=version_known)  # deterministic


def test_life_sustaining_device_on_internet_ranks_first() -> None:
    assets = {
        "ls-internet": ref(criticality=Criticality.MEDIUM, **LS_INTERNET),
        "ls-internal": ref(
            clinical_criticality=ClinicalCriticality.LIFE_SUSTAINING,
            network_exposure=NetworkExposure.INTERNAL,
            criticality=Criticality.CRITICAL,
        ),
        "server-internet-critical": ref(
            criticality=Criticality.CRITICAL, network_exposure=NetworkExposure.INTERNET
        ),
        "diagnostic-internet": ref(
            clinical_criticality=ClinicalCriticality.DIAGNOSTIC,
            network_exposure=NetworkExposure.INTERNET,
            criticality=Criticality.CRITICAL,
        ),
        "support-isolated": ref(
            clinical_criticality=ClinicalCriticality.SUPPORT, network_exposure=NetworkExposure.ISOLATED
        ),
    }
    threat = vuln(8.8, kev=True)
    ranked = sorted(assets, key=lambda name: -score(threat, assets[name]).value)
    assert ranked == [
        "ls-internet",
        "diagnostic-internet",
        "ls-internal",
        "server-internet-critical",
        "support-isolated",
    ]


def test_factors_name_what_moved_the_score() -> None:
    factors = score(vuln(9.8, kev=True, tlp=TLP.AMBER), ref(**LS_INTERNET)).factors
    assert factors == (
        "cvss 9.8",
        "known exploited",
        "medium criticality",
        "life-sustaining",
        "internet exposure",
        "life-sustaining device reachable from the internet",
        "tlp amber",
    )


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        pytest.param(80.0, Severity.CRITICAL, id="critical-floor"),
        pytest.param(79.9, Severity.HIGH, id="below-critical"),
        pytest.param(60.0, Severity.HIGH, id="high-floor"),
        pytest.param(40.0, Severity.MEDIUM, id="medium-floor"),
        pytest.param(20.0, Severity.LOW, id="low-floor"),
        pytest.param(19.9, Severity.INFO, id="info"),
    ],
)
def test_severity_floors(value: float, severity: Severity) -> None:
    assert severity_for(value) is severity
