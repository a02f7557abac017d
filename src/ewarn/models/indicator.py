"""The one indicator model every feed kind is normalised into (topic ``ewarn.indicators.v1``)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from ewarn.models.common import TLP, Contract, UtcDatetime


class IndicatorType(StrEnum):
    """What kind of observable or threat an indicator describes; the key prefix."""

    IPV4 = "ipv4"  # value: an address "203.0.113.7" or a network "203.0.113.0/24"
    IPV6 = "ipv6"  # value: canonical compressed form, address or network
    DOMAIN = "domain"  # value: lower-case, IDNA (punycode) form, no trailing dot
    URL = "url"  # value: the URL as given (scheme and host normalised); host in ``url_host``
    EMAIL = "email"  # value: an e-mail address; its domain also matches email-domain assets
    ASN = "asn"  # value: "AS64500"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    SHA512 = "sha512"
    VULNERABILITY = "vulnerability"  # value: CVE id (CVE 5, KEV), or a CSAF advisory's tracking id


class ProductStatus(StrEnum):
    """CSAF product status, also used for CVE 5 ``status`` and VEX statements."""

    AFFECTED = "affected"
    FIXED = "fixed"
    NOT_AFFECTED = "not_affected"
    UNDER_INVESTIGATION = "under_investigation"
    # listed in a CSAF product tree but in no vulnerability's product_status (a quirk of converted advisories):
    # the correlator raises "possibly affected", never silence
    UNSTATED = "unstated"


class RangeKind(StrEnum):
    """What a version range is, as the version reader understood the source's text."""

    EXACT = "exact"  # one version
    INTERVAL = "interval"  # bounds: gte/gt and/or lte/lt
    ALL = "all"  # every version
    WILDCARD = "wildcard"  # a family written with x: ``5.x.x`` (``family`` holds ``5``)
    DATE = "date"  # bounds are ISO dates (``scheme="date"``): shipped/distributed before or between
    UNREADABLE = "unreadable"  # text no reader could turn into versions; ``raw`` keeps it


class VersionRange(Contract):
    """A set of versions, of one ``kind``.

    ``raw`` keeps the text as the source wrote it (``< 8.2.2``, ``vers:npm/>=1.0|<2.0``), for explanations.
    ``kind`` is derived from the fields when a caller does not give it: a date scheme with a bound is
    ``date``, a ``family`` is ``wildcard``, ``exact`` alone is ``exact``, other bounds are ``interval``; no
    bounds and no text is ``all``, and no bounds with only ``raw`` text is ``unreadable`` until a reader
    has turned that text into ranges (the correlator reads such a range's ``raw`` before comparing).
    """

    exact: str | None = None
    gte: str | None = None
    gt: str | None = None
    lte: str | None = None
    lt: str | None = None
    scheme: str = "generic"  # version scheme: generic, semver, maven, pypi, npm, …, or date
    raw: str | None = None
    # always set: derived by the validator below when the caller does not give it
    kind: RangeKind = RangeKind.UNREADABLE
    family: str | None = None  # a wildcard family's fixed prefix: ``5`` for ``5.x.x``, ``R16`` for ``R16x``

    @model_validator(mode="before")
    @classmethod
    def _derive_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") is None:
            return {**data, "kind": range_kind_of(data)}
        return data


def range_kind_of(fields: Mapping[str, Any]) -> RangeKind:
    """The kind a version range's fields imply (see ``VersionRange``)."""
    bounded = any(fields.get(b) is not None for b in ("gte", "gt", "lte", "lt"))
    exact = fields.get("exact") is not None
    if fields.get("scheme") == "date" and (bounded or exact):
        return RangeKind.DATE
    if fields.get("family") is not None:
        return RangeKind.WILDCARD
    if bounded:
        return RangeKind.INTERVAL
    if exact:
        return RangeKind.EXACT
    raw = fields.get("raw")
    return RangeKind.UNREADABLE if isinstance(raw, str) and raw.strip() else RangeKind.ALL


class AffectedProduct(Contract):
    """A product an advisory speaks about, with the versions and the status it gives them."""

    vendor: str | None = None
    product: str | None = None
    cpe: str | None = None  # CPE 2.3 formatted string
    purl: str | None = None  # package URL without version, versions go in ``versions``
    versions: list[VersionRange] = Field(default_factory=list)
    status: ProductStatus = ProductStatus.AFFECTED
    product_id: str | None = None  # the advisory's own product id (CSAF), for traceability
    # the CVEs of the advisory this entry is about; empty: every CVE of the indicator (CVE 5, KEV)
    cves: list[str] = Field(default_factory=list)
    model: str | None = None  # a model the advisory wrote in its version field (all versions of that model)
    # how the reader understood the entry when it had to interpret (a model written in the version field,
    # a version taken from the product name, machine value and text disagreeing); quoted in explanations
    note: str | None = None


class RemediationCategory(StrEnum):
    """What kind of action a source recommends: the CSAF 2.0 remediation categories, and CISA KEV's."""

    VENDOR_FIX = "vendor_fix"  # an update, patch or fixed version from the vendor
    MITIGATION = "mitigation"  # reduces the risk without fixing (network controls, configuration)
    WORKAROUND = "workaround"  # avoids the vulnerable function
    NO_FIX_PLANNED = "no_fix_planned"  # the vendor will not fix it (end of life)
    NONE_AVAILABLE = "none_available"  # no fix exists yet
    REQUIRED_ACTION = "required_action"  # CISA KEV's "required action", due by ``due_date``


class Remediation(Contract):
    """One recommended action as the source wrote it (``text`` and ``url`` verbatim).

    ``fixed_versions`` are the versions that fix it: the advisory's ``fixed``/``first_fixed`` products, or the
    version a vendor fix names (``Connex Spot Monitor (CSM): v1.52`` → ``1.52``); ``fixed_products`` the full
    product names the advisory gives them.
    """

    category: RemediationCategory
    text: str
    url: str | None = None
    source: str = "csaf"  # csaf, kev
    cves: list[str] = Field(default_factory=list)  # the CVEs it addresses; empty: every CVE of the source
    fixed_versions: list[str] = Field(default_factory=list)
    fixed_products: list[str] = Field(default_factory=list)
    due_date: str | None = None  # KEV: the date (YYYY-MM-DD) federal agencies must act by
    date: str | None = None  # CSAF: when the remediation was published


class SourceRemediation(Remediation):
    """A remediation as an indicator stores it: with the advisory's product ids it is scoped to."""

    product_ids: list[str] = Field(default_factory=list)  # empty: every product of the advisory


class Reference(Contract):
    """A link a SOC follows: the advisory itself, a CVE record, the vendor's page."""

    url: str
    kind: str = "other"  # advisory, cve, kev, vendor, other
    id: str | None = None  # the advisory's tracking id or the CVE id the link is about
    title: str | None = None


class CveDetail(Contract):
    """One CVE of an advisory with its own score, vector and title (an advisory carries several)."""

    id: str
    title: str | None = None
    cvss_score: float | None = Field(default=None, ge=0, le=10)
    cvss_vector: str | None = None
    known_exploited: bool = False  # listed in CISA KEV (set at ingest from the CVE's own indicator)
    known_ransomware_use: bool = False  # KEV says ransomware campaigns use it


class VulnerabilityInfo(Contract):
    """What a vulnerability indicator carries beyond the common fields.

    ``cvss_score``/``cvss_vector`` are the worst of the advisory; ``cve_details`` lists every CVE with its
    own, worst first (CSAF advisories name several; CVE 5 and KEV one).
    """

    cves: list[str] = Field(default_factory=list)
    title: str | None = None
    cvss_score: float | None = Field(default=None, ge=0, le=10)
    cvss_vector: str | None = None
    known_exploited: bool = False
    known_ransomware_use: bool = False
    kev_date_added: str | None = None
    affected: list[AffectedProduct] = Field(default_factory=list)
    remediations: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    cve_details: list[CveDetail] = Field(default_factory=list)
    # the recommended actions by category, verbatim from the source (CSAF remediations, KEV required action)
    actions: list[SourceRemediation] = Field(default_factory=list)
    advisory_url: str | None = None  # the advisory's own page (CSAF ``self`` reference, web version first)
    links: list[Reference] = Field(default_factory=list)  # references with their kind and title
    kev_due_date: str | None = None  # the earliest KEV due date of its CVEs


class SourceRef(Contract):
    """Where an indicator was read: the feed and the record in it."""

    feed_id: str
    feed_kind: str
    record: str  # the record's id in its source: STIX id, CSV line number, MISP attribute uuid, CVE id…
    seen_at: UtcDatetime | None = None  # when the source says it created or modified the record


class Indicator(Contract):
    """A normalised threat indicator. ``key`` is ``<type>:<value>`` and identifies it across feeds."""

    schema_version: Literal[1] = 1
    key: str
    type: IndicatorType
    value: str
    url_host: str | None = None
    name: str | None = None
    description: str | None = None
    stix_id: str | None = None
    confidence: int | None = Field(default=None, ge=0, le=100)
    tlp: TLP = TLP.CLEAR
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    revoked: bool = False
    labels: list[str] = Field(default_factory=list)  # normalised: ransomware, c2, phishing, malware, botnet…
    cves: list[str] = Field(default_factory=list)
    vulnerability: VulnerabilityInfo | None = None
    source: SourceRef
    sources: list[str] = Field(default_factory=list)  # every feed id that reported this key (provenance)
    first_seen: UtcDatetime | None = None
    last_seen: UtcDatetime | None = None
    ingested_at: UtcDatetime | None = None

    @staticmethod
    def make_key(type_: IndicatorType, value: str) -> str:
        return f"{type_.value}:{value}"


class Rejection(Contract):
    """A record that could not be turned into an indicator, and why. Never silently dropped."""

    schema_version: Literal[1] = 1
    feed_id: str
    feed_kind: str
    record: str
    reason: str
    excerpt: str | None = Field(default=None, max_length=2000)
    rejected_at: UtcDatetime | None = None
