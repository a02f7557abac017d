"""TAXII envelopes, manifests and version lists from stored alerts: paging, ``added_after`` and ``match[...]``.

A page is built from whole alerts (an alert's threat, sighting and note are never split across pages); the
identities they reference are included once per page. ``next`` names the last alert of the page by the date
it was added and its id, so a page read again later yields the same continuation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ewarn.stixmap import alert_object_dicts, stix_id
from ewarn.store.repositories.alert_feed import FeedItem

# ``next`` is "<microseconds since the epoch>_<alert id>": every string the pattern admits decodes.
NEXT_PATTERN = r"^[0-9]{1,16}_[A-Za-z0-9][A-Za-z0-9._:@+~-]{0,199}$"
_NEXT = re.compile(NEXT_PATTERN)
_ALERT_KINDS = ("indicator", "vulnerability", "sighting", "note")


def taxii_time(value: datetime) -> str:
    """A TAXII timestamp: UTC with microseconds, so ``added_after`` of it excludes exactly what was seen."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> datetime | None:
    """An RFC 3339 timestamp as UTC (None when it is not one). A leap second reads as second 59."""
    text = value.strip().upper().replace(":60", ":59")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def encode_next(item: FeedItem) -> str:
    epoch = item.added.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (epoch.days * 86_400 + epoch.seconds) * 1_000_000 + epoch.microseconds
    return f"{micros}_{item.alert.id}"


def decode_next(value: str) -> tuple[datetime, str] | None:
    if not _NEXT.match(value):
        return None
    micros, alert_id = value.split("_", 1)
    seconds, rest = divmod(int(micros), 1_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest)
    return stamp, alert_id


@dataclass(frozen=True)
class Match:
    """The ``match[...]`` filters of a request; an empty one matches everything."""

    types: frozenset[str] = frozenset()
    ids: frozenset[str] = frozenset()
    versions: frozenset[str] = frozenset()  # "last", "first", "all" or timestamps
    spec_versions: frozenset[str] = frozenset()

    @classmethod
    def of(cls, types: str | None, ids: str | None, versions: str | None, specs: str | None) -> Match:
        def split(v: str | None) -> frozenset[str]:
            return frozenset(p.strip() for p in (v or "").split(",") if p.strip())

        return cls(split(types), split(ids), split(versions), split(specs))

    def accepts(self, obj: dict[str, Any]) -> bool:
        if self.types and obj["type"] not in self.types:
            return False
        if self.ids and obj["id"] not in self.ids:
            return False
        if self.spec_versions and obj.get("spec_version", "2.1") not in self.spec_versions:
            return False
        return self._version_matches(obj)

    def _version_matches(self, obj: dict[str, Any]) -> bool:
        # Each object has one version (a new alert revision is a new object), so first = last = all.
        if not self.versions or self.versions & {"last", "first", "all"}:
            return True
        modified = parse_timestamp(obj.get("modified", obj.get("created", "")))
        return modified is not None and any(parse_timestamp(v) == modified for v in self.versions)


@dataclass
class Entry:
    obj: dict[str, Any]
    added: datetime


@dataclass
class Page:
    entries: list[Entry] = field(default_factory=list)
    more: bool = False
    next: str | None = None

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {"more": self.more}
        if self.next is not None:
            body["next"] = self.next
        if self.entries:
            body["objects"] = [e.obj for e in self.entries]
        return body

    def manifest(self) -> dict[str, Any]:
        body: dict[str, Any] = {"more": self.more}
        if self.next is not None:
            body["next"] = self.next
        if self.entries:
            body["objects"] = [manifest_record(e) for e in self.entries]
        return body

    def headers(self) -> dict[str, str]:
        if not self.entries:
            return {}
        added = [e.added for e in self.entries]
        return {
            "X-TAXII-Date-Added-First": taxii_time(min(added)),
            "X-TAXII-Date-Added-Last": taxii_time(max(added)),
        }


def version_of(obj: dict[str, Any]) -> str:
    return str(obj.get("modified") or obj["created"])


def manifest_record(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.obj["id"],
        "date_added": taxii_time(entry.added),
        "version": version_of(entry.obj),
        "media_type": "application/stix+json;version=2.1",
    }


def build_page(items: list[FeedItem], *, limit: int, match: Match, fetched_more: bool) -> Page:
    """Whole alerts up to ``limit`` objects (at least one alert); ``fetched_more``: rows beyond ``items``."""
    page = Page()
    seen: set[str] = set()
    used = 0
    for item in items:
        objects = [o for o in alert_object_dicts(item.alert) if o["id"] not in seen and match.accepts(o)]
        if used and len(page.entries) + len(objects) > limit:
            break
        seen.update(o["id"] for o in objects)
        page.entries += [Entry(o, item.added) for o in objects]
        used += 1
    page.more = used < len(items) or fetched_more
    if page.more and used:
        page.next = encode_next(items[used - 1])
    return page


def object_ids_of(alert_id: str, revision: int) -> dict[str, str]:
    """The ids of an alert revision's own objects, by STIX type."""
    return {kind: stix_id(kind, alert_id, str(revision)) for kind in _ALERT_KINDS}
