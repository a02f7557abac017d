"""Alerts: one per (provider, threat, asset), revised on material change (topic ``ewarn.alerts.v1``).

For vulnerabilities the threat is the advisory: one alert per (asset, advisory) lists every CVE of it that
hits the asset.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from ewarn.models.common import TLP, Contract, UtcDatetime
from ewarn.models.indicator import IndicatorType, Reference, Remediation


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class AlertStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"
    ACCEPTED_RISK = "accepted_risk"


class MatchDetail(Contract):
    """Which asset field matched which part of the indicator, for the explanation."""

    asset_id: str
    asset_name: str
    asset_kind: str
    field: str  # 'network', 'domain', 'cpe', 'purl', 'vendor+product', …
    asset_value: str
    indicator_value: str
    range: str | None = None  # the version range or CIDR that made it match
    asset_category: str | None = None  # infrastructure equipment: its category ('power', 'video', …)


class AlertCve(Contract):
    """One CVE of the advisory that hits the asset, with its own score (an alert lists them worst first)."""

    id: str
    cvss_score: float | None = Field(default=None, ge=0, le=10)
    cvss_vector: str | None = None
    title: str | None = None
    known_exploited: bool = False  # this CVE is in CISA KEV


class AssetContact(Contract):
    """The affected asset as the on-call analyst needs it: what it is called, where it is, who owns it."""

    name: str
    kind: str
    location: str | None = None
    owner: str | None = None  # the inventory's owner field: a team, a person, a phone or an e-mail address
    part_of: str | None = None  # the device or application an SBOM component belongs to
    supports: str | None = None  # the care that depends on infrastructure equipment ('UPS feeding ICU')


class ExploitationFlags(Contract):
    """Is it being exploited, and by ransomware? From CISA KEV for the CVEs that hit the asset."""

    known_exploited: bool = False
    known_ransomware_use: bool = False  # KEV ``knownRansomwareCampaignUse`` is "Known"
    exploited_cves: list[str] = Field(default_factory=list)
    kev_date_added: str | None = None
    kev_due_date: str | None = None


class NextStepKind(StrEnum):
    BLOCK = "block"
    SEARCH_LOGS = "search_logs"
    ISOLATE = "isolate"
    PATCH = "patch"
    VERIFY_VERSION = "verify_version"


class NextStep(Contract):
    """A concrete step ewarn recommends for the kind of match (the source's own actions are ``remediations``)."""

    kind: NextStepKind
    text: str
    lookback_days: int | None = Field(default=None, ge=1)  # search logs for the past N days
    since: UtcDatetime | None = None  # …from this moment (the indicator's first sighting, or N days back)


class PlaybookLink(Contract):
    """The operator's response playbook for this kind and severity of alert."""

    url: str
    title: str | None = None


class Alert(Contract):
    schema_version: Literal[1] = 1
    id: str
    revision: int = 1
    provider_id: str
    indicator_key: str
    indicator_type: IndicatorType
    asset_id: str
    title: str
    severity: Severity
    score: float = Field(ge=0, le=100)
    reason: str  # plain language: "203.0.113.7 is inside your range 203.0.113.0/24 'PACS DMZ'"
    match: MatchDetail
    tlp: TLP
    status: AlertStatus = AlertStatus.NEW
    labels: list[str] = Field(default_factory=list)
    cves: list[str] = Field(default_factory=list)
    known_exploited: bool = False
    fix_available: bool = False  # the advisory names a fixed version or a vendor fix for the matched product
    # The advisory names the product but ewarn could not tell whether this asset's version is affected (the
    # version text could not be compared, the asset's version is not recorded, or the advisory lists the
    # product without a status): a lower score and a human review, never silence.
    possibly_affected: bool = False
    cve_details: list[AlertCve] = Field(default_factory=list)  # the CVEs that hit the asset, worst first
    advisory: str | None = None  # the document that raised it: CSAF tracking id, CVE id, …
    # What to do: the source's actions for the CVEs and product that hit (verbatim), ewarn's next steps,
    # where to read more, who owns the asset, and the operator's playbook. Optional: older alerts parse.
    remediations: list[Remediation] = Field(default_factory=list)
    next_steps: list[NextStep] = Field(default_factory=list)
    advisory_url: str | None = None
    references: list[Reference] = Field(default_factory=list)
    asset_contact: AssetContact | None = None
    exploitation: ExploitationFlags = Field(default_factory=ExploitationFlags)
    indicator_first_seen: UtcDatetime | None = None
    indicator_last_seen: UtcDatetime | None = None
    playbook: PlaybookLink | None = None
    source_feeds: list[str] = Field(default_factory=list)
    seen_at_source: UtcDatetime | None = None
    ingested_at: UtcDatetime | None = None
    matched_at: UtcDatetime
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    # When the alert last became new (first match, a material revision, matching again after resolution):
    # the workflow's deadlines run from here. None on alerts stored before the workflow: ``created_at``.
    raised_at: UtcDatetime | None = None
