"""Storing and publishing alert revisions a batch at a time: one read, one write transaction, one publish.

For a batch of candidate alerts (fresh matches) and alerts to close (with the reason), the writer reads the
stored revisions and their publish marks once, decides every next revision (``lifecycle``), writes them in one
transaction, publishes them with one ``publish_many`` and marks them published once the bus acknowledged.

Concurrent writers of the same alert never fail each other: the runners of one process take turns (a lock),
and across processes a write that another writer beat (a new alert created meanwhile, a row whose revision or
status moved) is left unwritten by the store; those ids alone are read again and decided afresh, so the loser
publishes the winner's revision if it is news, or nothing.

Poison stays alone: each revision is serialised on its own before it is stored or published, and a stored row
that no longer parses is quarantined and left untouched, while the rest of the batch flows.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from ewarn.bus.base import Bus
from ewarn.correlate import repository
from ewarn.correlate.containment import encode_alerts
from ewarn.correlate.lifecycle import next_revision, resolve
from ewarn.correlate.suppression import RuleProviders, apply_suppressions
from ewarn.errors import TransientError
from ewarn.logging import get_logger
from ewarn.models import Alert
from ewarn.status.metrics import ALERTS_RAISED
from ewarn.store.db import SessionFactory
from ewarn.store.repositories.quarantine import Quarantined

log = get_logger(__name__)

Quarantine = Callable[[Sequence[Quarantined]], Awaitable[None]]
Change = tuple[Alert | None, Alert]
Encoded = list[tuple[Alert, bytes]]

# Rounds of read-decide-write for ids another writer moved first; each round moves a contested id on by one
# revision of someone's, so a few rounds settle any real contention. Beyond that the runner retries later.
MAX_ROUNDS = 5


class RevisionWriter:
    """Decides, stores and publishes the revisions of a batch of alerts."""

    def __init__(
        self,
        *,
        bus: Bus,
        sessions: SessionFactory,
        alerts_topic: str,
        quarantine: Quarantine,
        clock: Callable[[], datetime],
    ) -> None:
        self._bus = bus
        self._sessions = sessions
        self._topic = alerts_topic
        self._quarantine = quarantine
        self._clock = clock
        # The indicator, reload (catch-up) and retro-hunt runners of this process may raise the same new alert
        # at once; taking turns on the read-decide-write spares them rounds of losing to each other.
        self._turn = asyncio.Lock()
        self._rule_providers = RuleProviders()

    async def commit(
        self, candidates: Sequence[Alert], closing: Sequence[tuple[str, str]] = (), *, now: datetime
    ) -> list[Alert]:
        """Store and publish what ``candidates`` (fresh matches) and ``closing`` ((alert id, why) to resolve)
        change; returns the revisions published (including stored ones whose publish had never landed).
        """
        candidates, _ = await apply_suppressions(  # counted, not stored
            self._sessions, candidates, now=now, rule_providers=self._rule_providers
        )
        fresh = {c.id: c for c in candidates}  # one candidate per alert: the last match of the batch wins
        why = {alert_id: reason for alert_id, reason in closing if alert_id not in fresh}
        if not fresh and not why:
            return []
        async with self._turn:
            return await self._commit_in_turn(fresh, why, now=now)

    async def _commit_in_turn(
        self, fresh: dict[str, Alert], why: dict[str, str], *, now: datetime
    ) -> list[Alert]:
        outgoing: Encoded = []
        written: list[Alert] = []
        pending = [*fresh, *why]
        for _ in range(MAX_ROUNDS):
            stored, published, unreadable = await self._read(pending)
            pending = [alert_id for alert_id in pending if alert_id not in unreadable]
            changes: list[Change] = []
            unchanged: list[Alert] = []
            for alert_id in pending:
                if alert_id not in stored and alert_id not in fresh:
                    continue  # nothing stored to close
                old = stored.get(alert_id)
                if alert_id in fresh:
                    new = next_revision(old, fresh[alert_id])
                else:
                    assert old is not None
                    new = resolve(old, why=why[alert_id], now=now)
                if new is not None:
                    changes.append((old, new))
                elif old is not None and published.get(alert_id, 0) < old.revision:
                    unchanged.append(old)  # stored before, but its publish never landed
            encoded = await self.encode(
                [new for _, new in changes], why="alert revision cannot be serialised"
            )
            good = {alert.id for alert, _ in encoded}
            changes = [(old, new) for old, new in changes if new.id in good]
            async with self._sessions() as session, session.begin():
                lost = await repository.write_revisions(
                    session=session,
                    revisions=changes,
                    encoded={alert.id: value for alert, value in encoded},
                )
            outgoing += [(alert, value) for alert, value in encoded if alert.id not in lost]
            written += [new for _, new in changes if new.id not in lost]
            outgoing += await self.encode(unchanged, why="pending alert cannot be published")
            if not lost:
                break
            log.info("alert_revisions_contended", alerts=len(lost))
            pending = [alert_id for alert_id in pending if alert_id in lost]
        else:
            await self.publish(outgoing)  # what this writer did store goes out before the runner retries
            raise TransientError(f"{len(pending)} alerts kept changing while their revisions were prepared")
        await self.publish(outgoing)
        for severity, count in Counter(alert.severity.value for alert in written).items():
            ALERTS_RAISED.labels(severity=severity).inc(count)  # per severity, not per alert
        return [alert for alert, _ in outgoing]

    async def _read(self, ids: Sequence[str]) -> tuple[dict[str, Alert], dict[str, int], set[str]]:
        """The stored alerts among ``ids``, their highest published revisions, and the ids whose row is unreadable.

        An unreadable stored row is quarantined and its id dropped from the batch: it must not be overwritten
        blindly, nor inserted again.
        """
        bad: list[Quarantined] = []
        async with self._sessions() as session:
            stored = await repository.stored_alerts(session=session, ids=ids, bad=bad)
            published = await repository.published_revisions(session=session, ids=list(stored))
        await self._quarantine(bad)
        return stored, published, {q.key.rsplit("@", 1)[0] for q in bad}

    async def encode(self, alerts: Sequence[Alert], *, why: str) -> Encoded:
        """Each alert with its message bytes; those that cannot be encoded are quarantined and left out."""
        out, bad = encode_alerts(alerts, why=why)
        await self._quarantine(bad)
        return out

    async def publish(self, encoded: Sequence[tuple[Alert, bytes]]) -> None:
        """Publish the stored revisions in one call; their published marks commit only after the bus acknowledged.

        The marks are written first, in a transaction held open across the publish: dispatch writes the same
        ``alert_events`` keys when the alerts reach it, and then waits for this commit instead of racing it.
        Written after the publish, the two inserted the keys in different orders and PostgreSQL found a deadlock
        (a one-second stall of correlate, measured in the Kafka benchmark). A failed publish rolls the marks
        back; a commit failing after it leaves them unmarked, so they are published again (same ids).
        """
        if not encoded:
            return
        async with self._sessions() as session, session.begin():
            await repository.mark_published(
                session=session, alerts=[a for a, _ in encoded], now=self._clock()
            )
            await self._bus.publish_many(self._topic, [(a.provider_id, value) for a, value in encoded])
