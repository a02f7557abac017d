"""Score 0-100 and severity of one match: how bad the threat is, times how much the asset matters.

threat (0-70): CVSS and exploitation for vulnerabilities; the strongest label for observables, weighed by the
source's confidence. impact (-15 to +30): asset criticality, the clinical role of a device and how exposed its
network is — a life-sustaining device on an internet-exposed network gets the largest lift, so for the same
threat it ranks first. Infrastructure equipment that care depends on (the UPS feeding intensive care) is
weighed by that dependency exactly as a device by its clinical role: it ranks with the clinical devices. TLP adds a little: restricted intelligence is usually targeted and fresh.

``score`` keeps the scores it worked out by everything they depend on (the indicator's threat, whether the
version was compared, the TLP and the asset's five weighing fields): a burst of indicators meets the same few
threat and asset kinds again and again, and scoring was about a tenth of building an alert (cProfile,
``bench/correlate_stage_bench.py``, 10,000 domain alerts).
"""

from __future__ import annotations

from dataclasses import dataclass

from ewarn.correlate.index import AssetRef
from ewarn.models import (
    TLP,
    ClinicalCriticality,
    Criticality,
    Indicator,
    IndicatorType,
    NetworkExposure,
    Severity,
)
from ewarn.models.asset import CareDependency

_LABEL_THREAT = {"ransomware": 65.0, "c2": 60.0, "malware": 55.0, "botnet": 55.0, "exploit": 55.0}
_LABEL_THREAT |= {"phishing": 45.0, "scanner": 25.0, "scanning": 25.0}
_DEFAULT_THREAT = 40.0
_UNKNOWN_CVSS_THREAT = 25.0  # a vulnerability without CVSS is scored as if medium (5.0)
_KNOWN_EXPLOITED = 12.0
_RANSOMWARE_USE = 8.0
_UNKNOWN_CONFIDENCE = 0.85
_VERSION_UNKNOWN = 0.8  # the asset's version is not recorded: a possible, not a certain, match

_CRITICALITY = {
    Criticality.LOW: -5.0,
    Criticality.MEDIUM: 0.0,
    Criticality.HIGH: 4.0,
    Criticality.CRITICAL: 8.0,
}
_CLINICAL = {
    ClinicalCriticality.LIFE_SUSTAINING: 10.0,
    ClinicalCriticality.TREATMENT: 7.0,
    ClinicalCriticality.DIAGNOSTIC: 4.0,
    ClinicalCriticality.SUPPORT: 1.0,
}
# care that depends on equipment counts as much as the same clinical role of a device
_CARE = {
    CareDependency.LIFE_SUSTAINING: _CLINICAL[ClinicalCriticality.LIFE_SUSTAINING],
    CareDependency.TREATMENT: _CLINICAL[ClinicalCriticality.TREATMENT],
    CareDependency.DIAGNOSTIC: _CLINICAL[ClinicalCriticality.DIAGNOSTIC],
    CareDependency.SUPPORT: _CLINICAL[ClinicalCriticality.SUPPORT],
    CareDependency.NONE: 0.0,
}
_EXPOSURE = {NetworkExposure.INTERNET: 7.0, NetworkExposure.INTERNAL: 0.0, NetworkExposure.ISOLATED: -6.0}
_LIFE_SUSTAINING_EXPOSED = 5.0
_TLP = {TLP.CLEAR: 0.0, TLP.GREEN: 1.0, TLP.AMBER: 2.0, TLP.AMBER_STRICT: 2.0, TLP.RED: 3.0}

# lowest score of each severity, highest first
_SEVERITY_FLOORS = (
    (80.0, Severity.CRITICAL),
    (60.0, Severity.HIGH),
    (40.0, Severity.MEDIUM),
    (20.0, Severity.LOW),
)


@dataclass(frozen=True, slots=True)
class Score:
    value: float
    severity: Severity
    factors: tuple[str, ...]  # what moved the score, for explanations and tests


def severity_for(value: float) -> Severity:
    for floor, severity in _SEVERITY_FLOORS:
        if value >= floor:
            return severity
    return Severity.INFO


def _threat(indicator: Indicator, factors: list[str]) -> float:
    labels = {label.lower() for label in indicator.labels}
    vuln = indicator.vulnerability
    if indicator.type is IndicatorType.VULNERABILITY:
        cvss = vuln.cvss_score if vuln is not None else None
        threat = cvss * 5.0 if cvss is not None else _UNKNOWN_CVSS_THREAT
        factors.append(f"cvss {cvss}" if cvss is not None else "cvss unknown")
        if vuln is not None and vuln.known_exploited:
            threat += _KNOWN_EXPLOITED
            factors.append("known exploited")
        if (vuln is not None and vuln.known_ransomware_use) or "ransomware" in labels:
            threat += _RANSOMWARE_USE
            factors.append("used by ransomware")
    else:
        known = [label for label in labels if label in _LABEL_THREAT]
        strongest = max(known, key=lambda label: (_LABEL_THREAT[label], label), default=None)
        threat = _LABEL_THREAT[strongest] if strongest else _DEFAULT_THREAT
        factors.append(f"label {strongest}" if strongest else "no threat label")
    if indicator.confidence is not None:
        threat *= 0.6 + 0.4 * indicator.confidence / 100
        factors.append(f"confidence {indicator.confidence}")
    elif indicator.type is not IndicatorType.VULNERABILITY:
        threat *= _UNKNOWN_CONFIDENCE
        factors.append("confidence unknown")
    return threat


def _care_role(asset: AssetRef) -> tuple[float, str] | None:
    """The clinical role of a device or the care that depends on equipment (the weightier), with its factor."""
    roles: list[tuple[float, str]] = []
    if asset.clinical_criticality is not None:
        roles.append(
            (_CLINICAL[asset.clinical_criticality], asset.clinical_criticality.value.replace("_", "-"))
        )
    if asset.care_dependency is not None:
        needs = f" ({asset.supports})" if asset.supports else ""
        dependency = asset.care_dependency.value.replace("_", "-")
        roles.append((_CARE[asset.care_dependency], f"care depends on it: {dependency}{needs}"))
    return max(roles, key=lambda role: role[0], default=None)


def _impact(asset: AssetRef, factors: list[str]) -> float:
    impact = _CRITICALITY[asset.criticality]
    factors.append(f"{asset.criticality.value} criticality")
    role = _care_role(asset)
    if role is not None:
        impact += role[0]
        factors.append(role[1])
    if asset.network_exposure is not None:
        impact += _EXPOSURE[asset.network_exposure]
        factors.append(f"{asset.network_exposure.value} exposure")
    if asset.network_exposure is NetworkExposure.INTERNET:
        if asset.clinical_criticality is ClinicalCriticality.LIFE_SUSTAINING:
            impact += _LIFE_SUSTAINING_EXPOSED
            factors.append("life-sustaining device reachable from the internet")
        elif asset.care_dependency is CareDependency.LIFE_SUSTAINING:
            impact += _LIFE_SUSTAINING_EXPOSED
            factors.append("equipment life-sustaining care depends on reachable from the internet")
    return impact


Threat = tuple[float, tuple[str, ...]]


_SCORES: dict[tuple[object, ...], Score] = {}
_SCORES_KEPT = 4096  # distinct (threat, asset weighing) kinds; cleared when full


_OBSERVABLE_THREATS: dict[tuple[tuple[str, ...], int | None], Threat] = {}


def threat_of(indicator: Indicator) -> Threat:
    """The indicator's share of the score with its factors: the same for every asset the indicator hits."""
    if indicator.type is IndicatorType.VULNERABILITY:
        factors: list[str] = []
        return _threat(indicator, factors), tuple(factors)
    key = (tuple(indicator.labels), indicator.confidence)  # all an observable's threat depends on
    found = _OBSERVABLE_THREATS.get(key)
    if found is None:
        if len(_OBSERVABLE_THREATS) >= _SCORES_KEPT:
            _OBSERVABLE_THREATS.clear()
        factors = []
        found = _OBSERVABLE_THREATS[key] = (_threat(indicator, factors), tuple(factors))
    return found


def score(
    indicator: Indicator, asset: AssetRef, *, version_known: bool = True, threat: Threat | None = None
) -> Score:
    """Score one (indicator, asset) match. Deterministic: the same inputs always give the same score.

    ``threat``: ``threat_of(indicator)`` worked out once for all the matches of one indicator.
    """
    if threat is None:
        threat = threat_of(indicator)
    key = (
        threat,
        version_known,
        indicator.tlp,
        asset.criticality,
        asset.clinical_criticality,
        asset.network_exposure,
        asset.care_dependency,
        asset.supports,
    )
    found = _SCORES.get(key)
    if found is None:
        if len(_SCORES) >= _SCORES_KEPT:
            _SCORES.clear()
        found = _SCORES[key] = _score(indicator.tlp, asset, version_known, threat)
    return found


def _score(tlp: TLP, asset: AssetRef, version_known: bool, threat: Threat) -> Score:
    value, threat_factors = threat
    factors = list(threat_factors)
    if not version_known:
        value *= _VERSION_UNKNOWN
        factors.append("version not recorded")
    value = value + _impact(asset, factors) + _TLP[tlp]  # this order: the same float sums
    if tlp is not TLP.CLEAR:
        factors.append(f"tlp {tlp.value}")
    value = round(min(100.0, max(0.0, value)), 1)
    return Score(value=value, severity=severity_for(value), factors=tuple(factors))
