"""One alert as STIX 2.1, built with the ``stix2`` library: for webhooks, the TAXII server and exports.

The threat is an ``indicator`` (observable pattern) or a ``vulnerability`` (CVEs); a ``sighting`` records that
it was seen at the provider (an ``identity``, sector healthcare); a ``note`` carries the plain-language
explanation; what to do is a ``course-of-action`` per recommended action, each ``mitigates`` the threat
(``ewarn.actions.stix``). Every object but the identities carries the alert's TLP 2.0 marking.

Ids are deterministic (UUIDv5 of the alert id and revision), so a retried delivery, a TAXII page read twice
and an export all name the same objects. The two identities do not depend on any alert (fixed timestamps):
they are the same object, one version, in every bundle and collection.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, Protocol

import stix2

from ewarn.models.alert import Alert
from ewarn.models.common import TLP
from ewarn.models.indicator import IndicatorType

# Deterministic STIX ids: the same alert revision always yields the same objects, so receivers can dedupe.
_STIX_NAMESPACE = uuid.UUID("5b7e4b8e-0f2b-4f4e-9a55-6f0d7c1c2a11")
# When ewarn's identities were first described: constant, so the identity objects never change version.
IDENTITY_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
# The TLP 2.0 marking definitions published by FIRST/OASIS (well-known ids).
TLP_MARKINGS = {
    TLP.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    TLP.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    TLP.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    TLP.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    TLP.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
_PATTERN_PATHS = {
    IndicatorType.IPV4: "ipv4-addr:value",
    IndicatorType.IPV6: "ipv6-addr:value",
    IndicatorType.DOMAIN: "domain-name:value",
    IndicatorType.URL: "url:value",
    IndicatorType.EMAIL: "email-addr:value",
    IndicatorType.MD5: "file:hashes.MD5",
    IndicatorType.SHA1: "file:hashes.'SHA-1'",
    IndicatorType.SHA256: "file:hashes.'SHA-256'",
    IndicatorType.SHA512: "file:hashes.'SHA-512'",
}


class HasIndicator(Protocol):
    """Anything naming an indicator by key and type (the alert, the webhook payload's ``AlertData``)."""

    @property
    def indicator_key(self) -> str: ...

    @property
    def indicator_type(self) -> IndicatorType: ...


def stix_id(kind: str, *parts: str) -> str:
    """A deterministic STIX id of ``kind`` for these parts."""
    return f"{kind}--{uuid.uuid5(_STIX_NAMESPACE, chr(31).join((kind, *parts)))}"


def indicator_value(data: HasIndicator) -> str:
    """The indicator's value without its type prefix (``ipv4:203.0.113.7`` → ``203.0.113.7``)."""
    prefix = f"{data.indicator_type.value}:"
    key = data.indicator_key
    return key[len(prefix) :] if key.startswith(prefix) else key


def stix_pattern(data: HasIndicator) -> str | None:
    """A STIX pattern for the alert's indicator; None for kinds without an observable (vulnerabilities)."""
    value = indicator_value(data)
    if data.indicator_type is IndicatorType.ASN:
        digits = value.upper().removeprefix("AS")
        return f"[autonomous-system:number = {int(digits)}]" if digits.isdigit() else None
    path = _PATTERN_PATHS.get(data.indicator_type)
    if path is None:
        return None
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{path} = '{escaped}']"


PRODUCER_ID = stix_id("identity", "ewarn")


def producer_identity() -> stix2.Identity:
    """ewarn itself, the creator of every object it publishes."""
    return stix2.Identity(
        id=PRODUCER_ID,
        created=IDENTITY_EPOCH,
        modified=IDENTITY_EPOCH,
        name="ewarn",
        identity_class="system",
    )


def provider_identity_id(provider_id: str) -> str:
    return stix_id("identity", "provider", provider_id)


def provider_identity(provider_id: str) -> stix2.Identity:
    """The provider whose asset is hit (the sighting's place).

    Unmarked on purpose: one object for every alert of the provider, whatever their TLPs (a marking per alert
    would give one id several contents). It names only the provider id, which everyone who may read any of
    its alerts knows; what is sensitive (the sighting, the note) carries the alert's TLP.
    """
    return stix2.Identity(
        id=provider_identity_id(provider_id),
        created=IDENTITY_EPOCH,
        modified=IDENTITY_EPOCH,
        created_by_ref=PRODUCER_ID,
        name=provider_id,
        identity_class="organization",
        sectors=["healthcare"],
    )


def _threat(alert: Alert, common: dict[str, Any]) -> stix2.Indicator | stix2.Vulnerability:
    rev = str(alert.revision)
    pattern = stix_pattern(alert)
    if pattern is not None:
        return stix2.Indicator(
            id=stix_id("indicator", alert.id, rev),
            name=alert.title,
            pattern=pattern,
            pattern_type="stix",
            valid_from=alert.seen_at_source or alert.matched_at,
            labels=alert.labels or None,
            **common,
        )
    cves = alert.cves or [indicator_value(alert)]
    references = [{"source_name": "cve", "external_id": c} for c in cves if c.upper().startswith("CVE-")]
    return stix2.Vulnerability(
        id=stix_id("vulnerability", alert.id, rev),
        name=cves[0],
        description=alert.title,
        external_references=references or None,
        **common,
    )


def alert_objects(alert: Alert) -> list[stix2.base._STIXBase]:
    """The STIX objects of one alert revision: both identities, the threat, the sighting, the note, and the
    recommended actions as courses of action with their ``mitigates`` relationships."""
    # Imported here: ``ewarn.actions.stix`` builds on this module's ids and markings.
    from ewarn.actions.stix import action_objects

    rev = str(alert.revision)
    common: dict[str, Any] = {
        "created": alert.created_at or alert.matched_at,
        "modified": alert.updated_at or alert.matched_at,
        "created_by_ref": PRODUCER_ID,
        "object_marking_refs": [TLP_MARKINGS[alert.tlp]],
    }
    victim = provider_identity(alert.provider_id)
    threat = _threat(alert, common)
    sighting = stix2.Sighting(
        id=stix_id("sighting", alert.id, rev),
        sighting_of_ref=threat.id,
        where_sighted_refs=[victim.id],
        first_seen=alert.matched_at,
        count=1,
        description=alert.reason,
        external_references=[{"source_name": "ewarn", "external_id": alert.id}],
        **common,
    )
    note = stix2.Note(
        id=stix_id("note", alert.id, rev),
        abstract=f"[{alert.severity.value.upper()}] {alert.title}",
        content=f"{alert.reason}\n\nSeverity {alert.severity.value} (score {alert.score:g}), "
        f"TLP:{alert.tlp.value.upper()}, ewarn alert {alert.id} revision {alert.revision}.",
        object_refs=[sighting.id, threat.id],
        **common,
    )
    return [producer_identity(), victim, threat, sighting, note, *action_objects(alert, threat.id)]


def as_dict(obj: stix2.base._STIXBase) -> dict[str, Any]:
    """A STIX object as plain JSON data (the library's own serialisation: timestamps as STIX writes them)."""
    data: dict[str, Any] = json.loads(obj.serialize())
    return data


_CACHE_SIZE = 4096
_cache: OrderedDict[tuple[str, int, datetime | None, TLP], list[dict[str, Any]]] = OrderedDict()


def alert_object_dicts(alert: Alert) -> list[dict[str, Any]]:
    """``alert_objects`` as JSON data.

    Cached per stored alert state (id, revision, last update, TLP): building and validating the objects
    with ``stix2`` costs tens of milliseconds an alert (its pattern parser most), and TAXII clients and
    exports read the same alerts again and again.
    """
    key = (alert.id, alert.revision, alert.updated_at, alert.tlp)
    cached = _cache.get(key)
    if cached is None:
        cached = [as_dict(o) for o in alert_objects(alert)]
        _cache[key] = cached
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return [dict(o) for o in cached]


def alert_bundle(alert: Alert) -> dict[str, Any]:
    """A STIX 2.1 bundle of one alert revision (the webhook STIX format)."""
    return {
        "type": "bundle",
        "id": stix_id("bundle", alert.id, str(alert.revision)),
        "objects": alert_object_dicts(alert),
    }
