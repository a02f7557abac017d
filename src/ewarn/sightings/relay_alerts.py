"""Writing the relay alerts of sightings inside the caller's transaction, and publishing them after it.

The relay alerts are written in the same transaction as the sightings (or the confirmation) they come from:
a refused write rolls the sighting back with them, so a request either stores its sighting and the alerts it
raises, or nothing (before, the alerts followed the commit, and a failure there answered 5xx with the
sighting stored and no hospital told). Publishing follows the commit; a revision stored but not yet
acknowledged by the bus has no ``alert_events`` row: the alert outbox (``unpublished_alerts``, flushed when a
correlator starts) sends it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ewarn.bus.base import Bus
from ewarn.bus.topics import Topics
from ewarn.correlate import repository as alert_store
from ewarn.correlate.containment import encode_alerts
from ewarn.correlate.lifecycle import next_revision
from ewarn.errors import TransientError
from ewarn.logging import get_logger
from ewarn.models import Alert
from ewarn.sightings.alerts import relay_alert
from ewarn.sightings.corroboration import Entry, entries
from ewarn.store.db import SessionFactory
from ewarn.store.repositories import sightings as store
from ewarn.store.repositories.quarantine import quarantine

log = get_logger(__name__)


class RelayRaced(TransientError):
    """Another writer moved a relay alert between its read and its write: the whole write is tried again."""


@dataclass
class RelayWrite:
    """The relay alert revisions a transaction wrote (with their message bytes) and, per key, how many
    providers got a new revision."""

    encoded: list[tuple[Alert, bytes]] = field(default_factory=list)
    told: dict[str, int] = field(default_factory=dict)


async def write_relay_alerts(*, session: Any, keys: list[str], now: datetime) -> RelayWrite:
    """Raise or revise, in ``session``'s transaction, the relay alert of every provider that did not report
    these observables (the session sees its own uncommitted sightings). ``RelayRaced`` when another writer
    moved one of them first."""
    if not keys:
        return RelayWrite()
    live = await store.live_sightings(session=session, now=now, keys=keys)
    recipients = await store.relay_recipients(session=session)
    providers = {p.id: p for p in recipients}
    candidates: list[tuple[Entry, Alert]] = [
        (entry, relay_alert(entry, p.id, providers, now=now))
        for entry in entries(live, now=now)
        for p in recipients
        if p.id not in entry.providers
    ]
    stored = await alert_store.stored_alerts(session=session, ids=[a.id for _, a in candidates])
    changes = [
        (stored.get(a.id), new, e) for e, a in candidates if (new := next_revision(stored.get(a.id), a))
    ]
    encoded, bad = encode_alerts([new for _, new, _ in changes], why="relay alert cannot be serialised")
    good = {a.id for a, _ in encoded}
    if bad:
        await quarantine(session=session, records=bad, now=now)
    lost = await alert_store.write_revisions(
        session=session, revisions=[(old, new) for old, new, _ in changes if new.id in good]
    )
    if lost:
        raise RelayRaced(f"{len(lost)} relay alert(s) moved by another writer; read again")
    written = RelayWrite(encoded=encoded)
    for _, new, entry in changes:
        if new.id in good:
            written.told[entry.indicator_key] = written.told.get(entry.indicator_key, 0) + 1
    log.info("sightings_relayed", keys=len(keys), revisions=len(encoded))
    return written


async def publish_relay_alerts(
    *, sessions: SessionFactory, bus: Bus, topics: Topics, written: RelayWrite, now: datetime
) -> None:
    """Publish committed relay alert revisions and mark them published. A bus that is down leaves them in
    the outbox (stored, not marked) and the request that stored them still succeeds: answering 5xx would
    make the reporter send the sighting again, whose alerts, unchanged, would not be sent again either."""
    if not written.encoded:
        return
    try:
        await bus.publish_many(topics.alerts, [(a.provider_id, value) for a, value in written.encoded])
    except TransientError as exc:
        log.warning("relay_alerts_left_in_outbox", alerts=len(written.encoded), error=str(exc)[:300])
        return
    async with sessions() as session, session.begin():
        await alert_store.mark_published(session=session, alerts=[a for a, _ in written.encoded], now=now)
