"""The words of an alert: its title and the plain-language reason an asset matched."""

from __future__ import annotations

from ewarn.correlate.addresses import normalise_host
from ewarn.correlate.index import AssetRef
from ewarn.correlate.matches import Match, Relation
from ewarn.correlate.matching import url_host
from ewarn.correlate.vulnerability import asset_display
from ewarn.models import AssetKind, Indicator, IndicatorType


def _advisory(indicator: Indicator, cves: tuple[str, ...] = ()) -> str:
    """The advisory and the CVEs of it that hit: ``ICSMA-20-296-02 (CVE-2020-25150, …)`` or the CVE itself."""
    named = [c for c in cves if c.upper() != indicator.value.upper()]
    return f"{indicator.value} ({', '.join(named)})" if named else indicator.value


_NOUN = {AssetKind.MEDICAL_DEVICE: "device", AssetKind.INFRASTRUCTURE: "equipment"}


def _version_word(asset: AssetRef) -> str:
    return "version" if asset.kind is AssetKind.SOFTWARE else "firmware"


def _owner_phrase(asset: AssetRef) -> str:
    noun = _NOUN.get(asset.kind, "software")
    phrase = f"your {noun} '{asset.name}'"
    return f"{phrase} (part of '{asset.parent_name}')" if asset.parent_name else phrase


def _explain_product(indicator: Indicator, found: Match) -> str:
    said = _product_sentence(indicator, found)
    if found.name_uncertain and not said.startswith("Possibly affected"):
        return f"Possibly affected — the product names differ: {said}"
    return said


def _product_sentence(indicator: Indicator, found: Match) -> str:
    asset, relation = found.asset, found.relation
    product, version, owner = asset_display(asset), asset.effective_version, _owner_phrase(asset)
    advisory = _advisory(indicator, found.cves)
    tail = (f" Note: {found.note}." if found.note else "") + (
        " A fix is available." if found.fix_available else ""
    )
    if relation is Relation.VERSION_IN_RANGE:
        return (
            f"{product} {_version_word(asset)} {version} on {owner} is within the affected range "
            f"{found.range} of {advisory}.{tail}"
        )
    if relation is Relation.ALL_VERSIONS:
        return f"{product} on {owner} is affected in all versions by {advisory}.{tail}"
    if relation is Relation.PRODUCT_NAMED:
        return f"{product} on {owner} is named by {advisory}, which gives no affected versions.{tail}"
    if relation is Relation.VERSION_NOT_COMPARABLE:
        return (
            f"Possibly affected — version could not be compared: {product} {_version_word(asset)} {version} "
            f"on {owner} is named by {advisory}, and the advisory says {found.quote}. Check it.{tail}"
        )
    if relation is Relation.STATUS_NOT_STATED:
        said = f" for versions {found.range}" if found.range and found.range != "all versions" else ""
        return (
            f"Possibly affected — listed in the advisory, status not stated: {product} on {owner} is listed "
            f"in {advisory}{said} without saying whether it is affected. Check it.{tail}"
        )
    return (
        f"Possibly affected — version not recorded: {product} on {owner} is named by {advisory} for "
        f"versions {found.range}; its {_version_word(asset)} version is not recorded, so check it.{tail}"
    )


def explain(indicator: Indicator, found: Match) -> str:
    """The plain-language reason: the asset, the field that matched and the range."""
    value, name = found.indicator_value, f"'{found.asset.name}'"
    relation = found.relation
    if relation is Relation.ADDRESS_IN_RANGE:
        subject = (
            value if indicator.type is not IndicatorType.URL else f"{value} (host {url_host(indicator)})"
        )
        return f"{subject} is inside your range {found.range} {name}"
    if relation is Relation.RANGE_IN_RANGE:
        return f"the range {value} is inside your range {found.range} {name}"
    if relation is Relation.RANGE_COVERS:
        return f"the range {value} covers your range {found.range} {name}"
    if relation in (Relation.SAME_DOMAIN, Relation.SUBDOMAIN, Relation.HOSTNAME, Relation.EMAIL_DOMAIN):
        host = normalise_host(url_host(indicator) or "") if indicator.type is IndicatorType.URL else None
        subject = f"{value} is hosted on {host}, which" if host else value
        if relation is Relation.SUBDOMAIN:
            return f"{subject} is a subdomain of your domain {found.range} {name}"
        if relation is Relation.SAME_DOMAIN:
            return f"{subject} is your domain {found.range} {name}"
        if relation is Relation.HOSTNAME:
            return f"{subject} is your host {found.asset_value} {name}"
        if indicator.type is IndicatorType.EMAIL:
            return f"{value} sends from your e-mail domain {found.asset_value} {name}"
        return f"{subject} is your e-mail domain {found.asset_value} {name}"
    if relation is Relation.ASN:
        return f"{value} is your autonomous system {found.asset_value} {name}"
    return _explain_product(indicator, found)


def title(indicator: Indicator) -> str:
    vuln = indicator.vulnerability
    if indicator.name:
        return indicator.name
    if vuln is not None and vuln.title:
        return f"{indicator.value}: {vuln.title}"
    labels = f" ({', '.join(indicator.labels)})" if indicator.labels else ""
    return f"{indicator.type.value} {indicator.value}{labels}"
