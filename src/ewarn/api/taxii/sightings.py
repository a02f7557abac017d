"""The sector-sightings collection: the sighting relay's blocklist entries a principal may read, as STIX 2.1.

What a principal reads is exactly its blocklists' content (``GET /api/v1/blocklists/…``): the live *relayed*
sightings (``store.repositories.sightings.live_sightings``), kept by ``ewarn.sightings.blocklist.readable``
(a CSIRT up to TLP:AMBER) and grouped by ``ewarn.sightings.corroboration.entries``. Held-back sightings
(private ranges, allow-listed, providers' own assets, TLP:RED) are never listed.

Each entry is an ``indicator`` (pattern from the observable, ``valid_until`` when its last sighting expires,
labels ``severity:<level>``, ``corroboration:<n>``, ``kind:<kind>`` and ``csirt-confirmed``, the strictest TLP of
its sightings); each sighting behind it a ``sighting`` of that indicator with its own TLP. A sighting names its
reporter (``where_sighted_refs``, its context as ``description``) only when the reporter chose
``share_identity``; otherwise nothing in the collection says who saw it.

Versions: an indicator's ``modified`` is its newest sighting's receipt or confirmation. An entry whose
corroboration falls as sightings expire keeps that version (its labels change): TAXII clients re-reading the
whole collection see the new labels; ``added_after`` readers see it again at its next sighting.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stix2
from sqlalchemy.ext.asyncio import AsyncSession

from ewarn.api.taxii.pages import Entry, Match, Page, decode_next
from ewarn.models.common import utcnow
from ewarn.models.indicator import IndicatorType
from ewarn.models.provider import Principal
from ewarn.models.sighting import FEED_REPORTER, Sighting
from ewarn.sightings import corroboration
from ewarn.sightings.blocklist import TYPES, readable
from ewarn.stixmap import (
    PRODUCER_ID,
    TLP_MARKINGS,
    as_dict,
    producer_identity,
    provider_identity,
    provider_identity_id,
    stix_id,
    stix_pattern,
)
from ewarn.store.repositories import sightings as repo
from ewarn.store.repositories.principals import visible_provider_ids

MAX_STIX_COUNT = 999_999_999  # STIX 2.1 caps a sighting's count
_TYPES = sorted({t.value for types in TYPES.values() for t in types})


@dataclass(frozen=True)
class _Observable:
    indicator_key: str
    indicator_type: IndicatorType


def indicator_id(indicator_key: str) -> str:
    return stix_id("indicator", "sector-sighting", indicator_key)


def _modified(group: list[Sighting]) -> datetime:
    return max(max(s.received_at, s.confirmed_at or s.received_at) for s in group)


class _Cache:
    """The last built objects by everything they are built from: ``stix2`` costs milliseconds an object
    (its pattern parser most), and TAXII clients poll the same entries again and again."""

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self.items: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()

    def get(self, key: tuple[Any, ...], build: Callable[[], stix2.base._STIXBase]) -> dict[str, Any]:
        found = self.items.get(key)
        if found is None:
            found = self.items[key] = as_dict(build())
            if len(self.items) > self.size:
                self.items.popitem(last=False)
        else:
            self.items.move_to_end(key)
        return dict(found)


_indicators = _Cache()
_sightings = _Cache()


def _indicator(entry: corroboration.Entry, group: list[Sighting]) -> dict[str, Any]:
    kind = IndicatorType(entry.indicator_type)
    labels = [f"severity:{entry.severity.value}", f"corroboration:{entry.corroboration}"]
    labels += [f"kind:{k.value}" for k in sorted(entry.kinds)]
    if entry.confirmed:
        labels.append("csirt-confirmed")
    fields: dict[str, Any] = {
        "id": indicator_id(entry.indicator_key),
        "created": entry.first_received,
        "modified": _modified(group),
        "name": f"{entry.value}: reported by {len(entry.providers)} provider(s) of the sector",
        "pattern": stix_pattern(_Observable(f"{kind.value}:{entry.value}", kind)),
        "valid_from": entry.first_received,
        "valid_until": max(s.expires_at for s in group),
        "confidence": max(s.confidence for s in group),
        "labels": labels,
        "object_marking_refs": [TLP_MARKINGS[entry.tlp]],
    }
    return _indicators.get(
        tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in fields.items()),
        lambda: stix2.Indicator(
            created_by_ref=PRODUCER_ID, indicator_types=["malicious-activity"], pattern_type="stix", **fields
        ),
    )


def names_reporter(sighting: Sighting) -> bool:
    """The reporter opted in (a feed-reported sighting has no provider to name)."""
    return sighting.share_identity and not sighting.provider_id.startswith(FEED_REPORTER)


def _sighting(sighting: Sighting, of: str) -> dict[str, Any]:
    return _sightings.get((sighting.id, sighting.confirmed_at, of), lambda: _build_sighting(sighting, of))


def _build_sighting(sighting: Sighting, of: str) -> stix2.Sighting:
    named = names_reporter(sighting)
    labels = [f"kind:{sighting.kind.value}"] + (["csirt-confirmed"] if sighting.confirmed_at else [])
    return stix2.Sighting(
        id=stix_id("sighting", "sector-sighting", sighting.id),
        created=sighting.received_at,
        modified=sighting.confirmed_at or sighting.received_at,
        created_by_ref=PRODUCER_ID,
        sighting_of_ref=of,
        first_seen=sighting.first_seen,
        last_seen=sighting.last_seen,
        count=min(sighting.count, MAX_STIX_COUNT),
        confidence=sighting.confidence,
        labels=labels,
        where_sighted_refs=[provider_identity_id(sighting.provider_id)] if named else None,
        description=sighting.context if named else None,
        object_marking_refs=[TLP_MARKINGS[sighting.tlp]],
    )


def relay_entries(
    sightings: list[Sighting], principal: Principal, own: set[str] | None, now: datetime
) -> list[Entry]:
    """The collection's objects with the time each was added, oldest first (then by id)."""
    visible = [s for s in sightings if readable(s, principal, own) and s.expires_at > now]
    by_key: dict[str, list[Sighting]] = {}
    for s in visible:
        by_key.setdefault(s.indicator_key, []).append(s)
    out: list[Entry] = []
    identities: dict[str, Entry] = {}
    for entry in corroboration.entries(visible, now=now):
        group = by_key[entry.indicator_key]
        indicator = _indicator(entry, group)
        out.append(Entry(indicator, _modified(group)))
        for s in group:
            added = s.confirmed_at or s.received_at
            out.append(Entry(_sighting(s, indicator["id"]), added))
            if names_reporter(s):
                _first(identities, as_dict(provider_identity(s.provider_id)), added)
    if out:
        _first(identities, as_dict(producer_identity()), min(e.added for e in out))
    out += identities.values()
    out.sort(key=lambda e: (e.added, e.obj["id"]))
    return out


def _first(identities: dict[str, Entry], obj: dict[str, Any], added: datetime) -> None:
    known = identities.get(obj["id"])
    if known is None or added < known.added:
        identities[obj["id"]] = Entry(obj, added)


async def collection_entries(session: AsyncSession, principal: Principal) -> list[Entry]:
    """Every object of the collection ``principal`` may read now (the blocklists' query and rules)."""
    now = utcnow()
    own = await visible_provider_ids(session=session, principal=principal)
    sightings = await repo.live_sightings(session=session, now=now, types=_TYPES)
    return relay_entries(sightings, principal, own, now)


def next_token(entry: Entry) -> str:
    """``next`` for the object after ``entry``: the same shape as the alert collections' (micros, id)."""
    epoch = entry.added - datetime(1970, 1, 1, tzinfo=entry.added.tzinfo)
    micros = (epoch.days * 86_400 + epoch.seconds) * 1_000_000 + epoch.microseconds
    return f"{micros}_{entry.obj['id']}"


def page_of(
    entries: list[Entry], *, since: datetime | None, after: str | None, limit: int, match: Match
) -> Page | None:
    """One page of ``entries`` (sorted); None when ``after`` is no ``next`` this collection gives."""
    cursor = decode_next(after) if after else None
    if after and cursor is None:
        return None
    chosen = [
        e
        for e in entries
        if (since is None or e.added > since)
        and (cursor is None or (e.added, e.obj["id"]) > cursor)
        and match.accepts(e.obj)
    ]
    page = Page(entries=chosen[:limit], more=len(chosen) > limit)
    if page.more:
        page.next = next_token(page.entries[-1])
    return page


def find(entries: list[Entry], object_id: str) -> Entry | None:
    return next((e for e in entries if e.obj["id"] == object_id), None)
