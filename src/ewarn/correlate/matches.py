"""What a match is: the asset an indicator hits, how it relates to it, and what the explanation quotes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ewarn.correlate.index import AssetRef


class Relation(StrEnum):
    """How the indicator relates to the asset; selects the sentence of the explanation."""

    ADDRESS_IN_RANGE = "address_in_range"
    RANGE_IN_RANGE = "range_in_range"  # the indicator's network lies inside the asset's
    RANGE_COVERS = "range_covers"  # the asset's network lies inside the indicator's
    SAME_DOMAIN = "same_domain"
    SUBDOMAIN = "subdomain"
    HOSTNAME = "hostname"
    EMAIL_DOMAIN = "email_domain"
    ASN = "asn"
    VERSION_IN_RANGE = "version_in_range"
    ALL_VERSIONS = "all_versions"
    VERSION_UNKNOWN = "version_unknown"  # the asset's version is not recorded
    PRODUCT_NAMED = "product_named"  # the advisory names the product but no versions (KEV)
    VERSION_NOT_COMPARABLE = "version_not_comparable"  # the advisory's version text could not be compared
    STATUS_NOT_STATED = "status_not_stated"  # listed in the advisory's product tree without a status


# Matches that are possible, not certain: a lower score, marked for review, never silence.
POSSIBLE = frozenset({Relation.VERSION_UNKNOWN, Relation.VERSION_NOT_COMPARABLE, Relation.STATUS_NOT_STATED})
# Matches whose score is lowered because no version of the asset was compared with a range.
VERSION_NOT_COMPARED = POSSIBLE | {Relation.PRODUCT_NAMED}


@dataclass(frozen=True, slots=True)
class Match:
    """One asset an indicator hits, with what matched and the range that made it match.

    For vulnerabilities, ``cves`` lists the CVEs of the advisory that hit this asset (empty when the
    indicator names none) and ``quote`` the advisory's own words the explanation cites.
    """

    asset: AssetRef
    relation: Relation
    field: str  # network, domain, hostname, email_domain, asn, cpe, purl, vendor+product
    asset_value: str
    indicator_value: str
    range: str | None = None
    fix_available: bool = False
    cves: tuple[str, ...] = ()
    quote: str | None = None  # the version text as the advisory wrote it, when it could not be compared
    note: str | None = None  # how the reader interpreted the advisory's entry (model, name, text)
    product_ids: tuple[str, ...] = ()  # the advisory's products that matched the asset (its remediations')
    # the asset's product name is less (or more) specific than the advisory's: it may be another model
    name_uncertain: bool = False

    @property
    def possibly_affected(self) -> bool:
        return self.name_uncertain or self.relation in POSSIBLE
