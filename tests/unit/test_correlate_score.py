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
from ewarn.models.asset import CareDependency, EquipmentCategory

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


# --- infrastructure equipment that care depends on ranks with the clinical devices -------------------------


def equipment(**fields: Any) -> AssetRef:
    """An infrastructure asset as the index decodes it (care dependency, category and supports encoded)."""
    asset = Asset(
        id="e",
        provider_id="p",
        kind=AssetKind.INFRASTRUCTURE,
        name="equipment",
        vendor="Schneider Electric",
        product="APC Smart-UPS",
        **fields,
    )
    (only,) = AssetIndex.build([asset]).provider_assets("p")
    return only


def device(clinical: ClinicalCriticality, exposure: NetworkExposure) -> AssetRef:
    return ref(clinical_criticality=clinical, network_exposure=exposure)


@pytest.mark.parametrize(
    ("equipment_asset", "device_asset"),
    [
        pytest.param(
            equipment(
                category=EquipmentCategory.POWER,
                care_dependency=CareDependency.LIFE_SUSTAINING,
                supports="UPS feeding ICU",
                network_exposure=NetworkExposure.INTERNAL,
            ),
            device(ClinicalCriticality.LIFE_SUSTAINING, NetworkExposure.INTERNAL),
            id="ups-feeding-icu-internal-like-ventilator-internal",
        ),
        pytest.param(
            equipment(
                category=EquipmentCategory.BUILDING_AUTOMATION,
                care_dependency=CareDependency.LIFE_SUSTAINING,
                supports="air handling of operating theatres",
                network_exposure=NetworkExposure.INTERNET,
            ),
            device(ClinicalCriticality.LIFE_SUSTAINING, NetworkExposure.INTERNET),
            id="theatre-air-handling-internet-like-life-sustaining-internet",
        ),
        pytest.param(
            equipment(
                category=EquipmentCategory.LAB_AUTOMATION,
                care_dependency=CareDependency.DIAGNOSTIC,
                supports="blood analysis line",
                network_exposure=NetworkExposure.INTERNAL,
            ),
            device(ClinicalCriticality.DIAGNOSTIC, NetworkExposure.INTERNAL),
            id="lab-line-like-diagnostic-device",
        ),
        pytest.param(
            equipment(
                category=EquipmentCategory.LAB_AUTOMATION,
                care_dependency=CareDependency.TREATMENT,
                supports="pharmacy dispensing robot",
                network_exposure=NetworkExposure.ISOLATED,
            ),
            device(ClinicalCriticality.TREATMENT, NetworkExposure.ISOLATED),
            id="pharmacy-robot-like-treatment-device",
        ),
        pytest.param(
            equipment(
                category=EquipmentCategory.COMMUNICATION,
                care_dependency=CareDependency.SUPPORT,
                network_exposure=NetworkExposure.INTERNAL,
            ),
            device(ClinicalCriticality.SUPPORT, NetworkExposure.INTERNAL),
            id="ward-intercom-like-support-device",
        ),
    ],
)
@pytest.mark.parametrize(
    "threat",
    [
        pytest.param(vuln(9.8, kev=True), id="kev-critical"),
        pytest.param(vuln(5.3), id="medium-cvss"),
        pytest.param(observable(["c2"], 80), id="c2-observable"),
    ],
)
def test_equipment_care_depends_on_scores_as_the_clinical_device(
    equipment_asset: AssetRef, device_asset: AssetRef, threat: Indicator
) -> None:
    as_equipment, as_device = score(threat, equipment_asset), score(threat, device_asset)
    assert (as_equipment.value, as_equipment.severity) == (as_device.value, as_device.severity)


def test_equipment_ranks_by_the_care_that_depends_on_it() -> None:
    candidates = {
        "ups-feeding-icu": equipment(
            category=EquipmentCategory.POWER,
            care_dependency=CareDependency.LIFE_SUSTAINING,
            supports="UPS feeding ICU",
            network_exposure=NetworkExposure.INTERNAL,
        ),
        "ventilator": device(ClinicalCriticality.LIFE_SUSTAINING, NetworkExposure.INTERNAL),
        "infusion-pump": device(ClinicalCriticality.TREATMENT, NetworkExposure.INTERNAL),
        "lobby-camera": equipment(
            category=EquipmentCategory.VIDEO,
            care_dependency=CareDependency.NONE,
            network_exposure=NetworkExposure.INTERNAL,
        ),
        "camera-no-care-stated": equipment(
            category=EquipmentCategory.VIDEO, network_exposure=NetworkExposure.INTERNAL
        ),
        "isolated-door-controller": equipment(
            category=EquipmentCategory.ACCESS_CONTROL,
            care_dependency=CareDependency.NONE,
            network_exposure=NetworkExposure.ISOLATED,
        ),
    }
    threat = vuln(8.8, kev=True)
    scores = {name: score(threat, asset).value for name, asset in candidates.items()}
    assert scores["ups-feeding-icu"] == scores["ventilator"]
    assert scores["ups-feeding-icu"] > scores["infusion-pump"] > scores["lobby-camera"]
    assert scores["lobby-camera"] == scores["camera-no-care-stated"] > scores["isolated-door-controller"]
    assert score(threat, candidates["ups-feeding-icu"]).severity is Severity.HIGH  # 66.0
    assert score(threat, candidates["lobby-camera"]).severity is Severity.MEDIUM  # 56.0


def test_equipment_factors_say_which_care_depends_on_it() -> None:
    ups = equipment(
        category=EquipmentCategory.POWER,
        care_dependency=CareDependency.LIFE_SUSTAINING,
        supports="UPS feeding ICU",
        network_exposure=NetworkExposure.INTERNET,
    )
    assert score(vuln(9.8), ups).factors == (
        "cvss 9.8",
        "medium criticality",
        "care depends on it: life-sustaining (UPS feeding ICU)",
        "internet exposure",
        "equipment life-sustaining care depends on reachable from the internet",
    )


def test_component_of_equipment_inherits_the_care_that_depends_on_it() -> None:
    ups = Asset(
        id="ups",
        provider_id="p",
        kind=AssetKind.INFRASTRUCTURE,
        name="UPS ICU-1",
        vendor="Schneider Electric",
        product="Smart-UPS",
        category=EquipmentCategory.POWER,
        care_dependency=CareDependency.LIFE_SUSTAINING,
        supports="UPS feeding ICU",
        network_exposure=NetworkExposure.INTERNAL,
    )
    card = Asset(
        id="nmc",
        provider_id="p",
        kind=AssetKind.SOFTWARE,
        name="Network Management Card 2",
        vendor="Schneider Electric",
        product="Network Management Card 2",
        parent_id="ups",
    )
    refs = {r.id: r for r in AssetIndex.build([ups, card]).provider_assets("p")}
    component = refs["nmc"]
    assert (component.care_dependency, component.supports, component.category) == (
        CareDependency.LIFE_SUSTAINING,
        "UPS feeding ICU",
        EquipmentCategory.POWER,
    )
    assert component.parent_name == "UPS ICU-1"
    assert score(vuln(9.8), component).value == score(vuln(9.8), refs["ups"]).value


def test_scores_kept_for_reuse_still_follow_every_input_they_depend_on() -> None:
    """``score`` keeps what it worked out: each asset field, the TLP and the version check still count."""
    threat = observable(["c2"], 90)
    base = score(threat, ref(), version_known=True)
    variants = [
        score(threat, ref(criticality=Criticality.CRITICAL)),
        score(threat, ref(clinical_criticality=ClinicalCriticality.DIAGNOSTIC)),
        score(threat, ref(network_exposure=NetworkExposure.ISOLATED)),
        score(threat, ref(care_dependency=CareDependency.TREATMENT, supports="ward B")),
        score(threat, ref(), version_known=False),
        score(observable(["c2"], 90, tlp=TLP.RED), ref()),
        score(observable(["phishing"], 90), ref()),
        score(observable(["c2"], 40), ref()),
    ]
    assert all(v.factors != base.factors for v in variants)
    supported = score(threat, ref(care_dependency=CareDependency.TREATMENT, supports="ICU"))
    assert "care depends on it: treatment (ICU)" in supported.factors
    assert score(threat, ref(), version_known=True) == base  # the same inputs, the same score
